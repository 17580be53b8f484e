"""Where a scan's images come from, and how they are decoded into model inputs a batch at a time.

A scan accepts the datasets people already hold: a folder of image files, a list of paths or PIL images, a torch
``Dataset`` or ``DataLoader``, or a Hugging Face ``datasets.Dataset``. :func:`as_source` turns each into a
:class:`Source`: random access to item ``i`` (so a scan can be split into shards and a patch fetched again), a name
per item, labels and class names when the dataset has them, and a fingerprint of the item list for the on-disk
cache. A source is picklable, so Ray can ship it to its workers.

:func:`batches` decodes items into the model's input in ``DataLoader`` worker processes, so decoding overlaps the
forward pass. A file that cannot be read (truncated, not an image) is skipped and reported in the batch; a dataset
that yields tensors of the wrong shape is the dataset's bug, not a bad file, and stops the scan with a message.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..checks import check_int
from ..errors import ImageError, ScanError
from ..images import load_image
from ..model import Preprocess

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""File name endings a folder scan reads (in any case)."""
ACCEPTED = (
    "a folder of image files, a list of paths or PIL images, a torch Dataset or DataLoader (yielding an image "
    "or (image, label)), or a Hugging Face datasets.Dataset with an Image column"
)
IMAGE_KEYS = ("image", "img")
"""Keys of a dict item that hold the image (the label is under ``"label"``)."""
UNREADABLE = (ImageError, OSError, SyntaxError, Image.DecompressionBombError)
"""What reading a bad image file raises: the item is skipped, the scan goes on."""

Item = Union[Image.Image, torch.Tensor]


class Source:
    """Random access to a dataset's items, with a name per item, labels and class names when known.

    Parameters
    ----------
    names : list of str
        One per item: the path relative to the folder, the path as given, or ``"#i"``.
    classes : tuple of str, optional
        Class names, indexed by the labels.
    fingerprint : str, optional
        A stable hex id of the item list: it changes when an item does. ``None`` when it cannot be known cheaply
        (a torch ``Dataset``), which turns the scan's disk cache off.
    """

    def __init__(self, names: List[str], classes: Optional[Tuple[str, ...]], fingerprint: Optional[str]):
        self.names = names
        self.classes = classes
        self.fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        classes = f", {len(self.classes)} classes" if self.classes else ""
        return f"{type(self).__name__}({len(self)} items{classes})"

    def read(self, i: int) -> Tuple[Item, int]:
        """Item ``i`` and its label (-1 when unknown), from one read; raises :class:`ImageError` for a bad file."""
        raise NotImplementedError

    def item(self, i: int) -> Item:
        """Item ``i``: a PIL image, or a tensor that is already the model's input; :class:`ImageError` when its
        file cannot be read."""
        return self.read(i)[0]

    def label(self, i: int) -> int:
        """The label of item ``i``; -1 when unknown."""
        return self.read(i)[1]


def _digest(parts: Iterator[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def _file_stamp(path: Path, name: str) -> bytes:
    """``name`` with the size and modification time of the file at ``path``: what changes when the file does."""
    try:
        st = path.stat()
    except OSError:
        return f"{name}\0missing\n".encode()
    return f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()


class FolderSource(Source):
    """The image files under a folder, at any depth, in sorted order of their relative paths (hidden files and
    folders left out). When every file lies in a first-level sub-folder, those sub-folders are the classes, as in
    torchvision's ``ImageFolder``."""

    def __init__(self, root: Path):
        root = root.resolve()  # Ray workers may run elsewhere than here
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                if not name.startswith(".") and name.lower().endswith(EXTENSIONS):
                    files.append((Path(folder) / name).relative_to(root).as_posix())
        if not files:
            raise ScanError(f"no image files ({' '.join(EXTENSIONS)}) in the folder {str(root)!r} or below it")
        files.sort()
        self.root = root
        classes = None
        self.labels = np.full(len(files), -1, np.int64)
        if all("/" in f for f in files):
            tops = [f.split("/", 1)[0] for f in files]
            classes = tuple(sorted(set(tops)))
            lookup = {c: k for k, c in enumerate(classes)}
            self.labels = np.array([lookup[t] for t in tops], np.int64)
        fingerprint = _digest(_file_stamp(root / f, f) for f in files)
        super().__init__(files, classes, fingerprint)

    def read(self, i: int) -> Tuple[Item, int]:
        return load_image(self.root / self.names[i]), int(self.labels[i])

    def label(self, i: int) -> int:
        return int(self.labels[i])


def _stamp(obj: Union[str, Path, Image.Image]) -> bytes:
    """What changes when a list's item does: a picture's pixels, a file's absolute path, size and time."""
    if isinstance(obj, Image.Image):
        return hashlib.sha256(f"{obj.mode}{obj.size}".encode() + obj.tobytes()).digest()
    path = Path(obj).resolve()
    return _file_stamp(path, str(path))


class ListSource(Source):
    """A list of image paths and PIL images (mixed is fine), unlabelled."""

    def __init__(self, items: Sequence[Any]):
        if len(items) == 0:
            raise ScanError(f"the list of images is empty; pass {ACCEPTED}")
        for k, obj in enumerate(items):
            if not isinstance(obj, (str, Path, Image.Image)):
                raise ScanError(
                    f"item {k} of the list is a {type(obj).__name__}; a list may hold paths and PIL images "
                    "(for arrays or tensors, wrap them in a torch Dataset)"
                )
        self.items = list(items)
        names = [f"#{k}" if isinstance(obj, Image.Image) else str(obj) for k, obj in enumerate(items)]
        super().__init__(names, None, _digest(map(_stamp, self.items)))

    def read(self, i: int) -> Tuple[Item, int]:
        return load_image(self.items[i]), -1

    def label(self, i: int) -> int:
        return -1


def _label_of(value: Any, classes: Optional[Tuple[str, ...]]) -> int:
    """A label as an int: a whole number, a one-element tensor or array, or a class name; -1 for anything else."""
    if (isinstance(value, torch.Tensor) and value.numel() == 1) or (isinstance(value, np.ndarray) and value.size == 1):
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and classes is not None and value in classes:
        return classes.index(value)
    return -1


def _image_of(value: Any, where: str) -> Item:
    """The picture in one item of a dataset: a tensor as it is (the model's input), anything else read as an
    image (a PIL image, an array of pixels, a path or bytes)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict) and ("bytes" in value or "path" in value):  # a Hugging Face Image(decode=False)
        value = value.get("bytes") or value.get("path")
    if not isinstance(value, (Image.Image, np.ndarray, str, Path, bytes)):
        raise ScanError(
            f"{where} is a {type(value).__name__}; the image of an item must be a PIL image, an array of pixels, a "
            "path, or a (C, H, W) tensor ready for the model"
        )
    return load_image(value)


class TorchSource(Source):
    """A map-style torch ``Dataset`` whose items are an image, or a tuple, list or dict holding the image (first
    element, or key ``"image"``/``"img"``) and the label (second element, or key ``"label"``). Class names come
    from ``.classes`` (also of the dataset a ``Subset`` wraps), labels from ``.targets`` when it has one per item.
    The fingerprint (for the on-disk cache) is the dataset's own ``fingerprint`` text when it declares one; otherwise
    none, since what a dataset yields cannot be known without reading all of it."""

    def __init__(self, dataset: Dataset):
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            raise ScanError(
                f"a {type(dataset).__name__} has no random access (an IterableDataset or no __len__); a scan needs "
                "a map-style Dataset with __len__ and __getitem__"
            )
        n = len(dataset)
        if n == 0:
            raise ScanError(f"the {type(dataset).__name__} is empty; pass {ACCEPTED}")
        self.dataset = dataset
        inner: Any = dataset
        while getattr(inner, "classes", None) is None and hasattr(inner, "dataset"):
            inner = inner.dataset
        classes = getattr(inner, "classes", None)
        targets = getattr(dataset, "targets", None)
        self.targets = list(targets) if targets is not None and len(targets) == n else None
        own = getattr(dataset, "fingerprint", None)
        fingerprint = _digest(iter([f"{type(dataset).__name__}\0{own}".encode()])) if isinstance(own, str) else None
        super().__init__([f"#{k}" for k in range(n)], tuple(str(c) for c in classes) if classes else None, fingerprint)

    def read(self, i: int) -> Tuple[Item, int]:
        try:
            value = self.dataset[i]
        except UNREADABLE as exc:
            raise ImageError(f"the dataset could not read item {i} ({type(exc).__name__}: {exc})") from None
        label: Any = None
        if isinstance(value, dict):
            key = next((k for k in IMAGE_KEYS if k in value), None)
            if key is None:
                raise ScanError(
                    f"item {i} of the dataset is a dict with keys {sorted(map(str, value))}; the image must be "
                    f"under one of: {', '.join(IMAGE_KEYS)}"
                )
            value, label = value[key], value.get("label")
        elif isinstance(value, (tuple, list)):
            value, label = value[0], (value[1] if len(value) > 1 else None)
        if self.targets is not None:
            label = self.targets[i]
        return _image_of(value, f"item {i} of the dataset"), _label_of(label, self.classes)

    def label(self, i: int) -> int:
        return _label_of(self.targets[i], self.classes) if self.targets is not None else self.read(i)[1]


def _feature_kind(feature: Any) -> str:
    return type(feature).__name__


def is_hugging_face(obj: Any) -> bool:
    """Whether ``obj`` looks like a Hugging Face ``datasets.Dataset``: ``.features`` with an ``Image`` feature."""
    features: Any = getattr(obj, "features", None)
    return hasattr(features, "items") and any(_feature_kind(f) == "Image" for f in features.values())


class HuggingFaceSource(Source):
    """A Hugging Face ``datasets.Dataset`` (duck-typed): its ``Image`` column, and its first ``ClassLabel`` column
    for labels and class names. Read in Python format, so the image column gives PIL images even when the dataset
    is formatted as torch or numpy arrays (a custom transform is kept). The fingerprint is the dataset's own,
    which changes whenever its data or transforms do."""

    def __init__(self, dataset: Any):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise ScanError("a streaming Hugging Face dataset has no random access; load it without streaming=True")
        if len(dataset) == 0:
            raise ScanError(f"the Hugging Face dataset is empty; pass {ACCEPTED}")
        fmt = getattr(dataset, "format", None)
        if isinstance(fmt, dict) and fmt.get("type") not in (None, "custom") and hasattr(dataset, "with_format"):
            dataset = dataset.with_format(None)
        features = dataset.features
        self.dataset = dataset
        self.column = next(name for name, f in features.items() if _feature_kind(f) == "Image")
        label = next((name for name, f in features.items() if _feature_kind(f) == "ClassLabel"), None)
        classes = tuple(features[label].names) if label is not None else None
        self.labels = np.asarray(list(dataset[label]) if label is not None else [-1] * len(dataset), np.int64)
        own = getattr(dataset, "_fingerprint", None)
        fingerprint = _digest(iter([f"{own}\0{self.column}".encode()])) if own else None
        super().__init__([f"#{k}" for k in range(len(dataset))], classes, fingerprint)

    def read(self, i: int) -> Tuple[Item, int]:
        try:
            row = self.dataset[i]
        except UNREADABLE as exc:
            raise ImageError(f"the dataset could not read row {i} ({type(exc).__name__}: {exc})") from None
        if self.column not in row:
            raise ScanError(f"row {i} has no column {self.column!r}; its columns: {', '.join(map(str, row))}")
        return _image_of(row[self.column], f"row {i}'s {self.column!r}"), int(self.labels[i])

    def label(self, i: int) -> int:
        return int(self.labels[i])


def as_source(images: Any) -> Source:
    """The :class:`Source` of whatever holds the images; :class:`ScanError` for an empty or unsupported one.

    Parameters
    ----------
    images : path, list, torch Dataset or DataLoader, datasets.Dataset or Source
        A folder (str or Path; read recursively, files ending in :data:`EXTENSIONS`, classes from first-level
        sub-folders); a list or tuple of paths and PIL images; a map-style torch ``Dataset``, or a ``DataLoader``
        (its ``.dataset`` is read; its sampler and batching are not used); a Hugging Face ``datasets.Dataset``
        with an ``Image`` column (labels from a ``ClassLabel`` column); a :class:`Source` is returned as it is.
    """
    if isinstance(images, Source):
        return images
    if isinstance(images, (str, Path)):
        path = Path(images).expanduser()
        if path.is_dir():
            return FolderSource(path)
        if path.is_file():
            raise ScanError(f"{str(images)!r} is one file; pass its folder, or a list of paths [{str(images)!r}]")
        raise ScanError(f"no folder at {str(images)!r}; pass {ACCEPTED}")
    if isinstance(images, DataLoader):
        return TorchSource(images.dataset)
    if is_hugging_face(images):
        return HuggingFaceSource(images)
    if isinstance(images, Dataset):
        return TorchSource(images)
    if isinstance(images, (list, tuple)):
        return ListSource(images)
    if isinstance(images, Image.Image):
        raise ScanError("a scan reads many images; pass a list, [image], for one")
    raise ScanError(f"cannot scan a {type(images).__name__}; pass {ACCEPTED}")


@dataclass
class Batch:
    """A batch of decoded items.

    Attributes
    ----------
    indices : torch.Tensor
        ``(n,)`` int64 dataset indices of the items decoded fine.
    x : torch.Tensor
        ``(n, C, H, W)`` float32 model input (normalised), on the CPU.
    labels : torch.Tensor
        ``(n,)`` int64 labels, -1 unknown.
    failed : list of (int, str)
        The dataset index and the reason of each item skipped in this batch.
    """

    indices: torch.Tensor
    x: torch.Tensor
    labels: torch.Tensor
    failed: List[Tuple[int, str]]


Decoded = Tuple[int, Optional[torch.Tensor], int, Union[None, str, ScanError]]


class _Decoding(Dataset):
    """``source`` items at ``indices`` as model inputs; what went wrong comes back as a value, never raised, so a
    bad file only skips its item and a dataset's error reaches the caller with its own message from a worker."""

    def __init__(self, source: Source, preprocess: Preprocess, indices: np.ndarray):
        self.source = source
        self.preprocess = preprocess
        self.indices = indices
        self.shape = (preprocess.channels, preprocess.size, preprocess.size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> Decoded:
        i = int(self.indices[j])
        try:
            item, label = self.source.read(i)
            if isinstance(item, torch.Tensor):
                return i, self._checked(item, i), label, None
            return i, self.preprocess.normalise(self.preprocess.view(item))[0], label, None
        except ScanError as exc:
            return i, None, -1, exc
        except UNREADABLE as exc:
            return i, None, -1, str(exc) if isinstance(exc, ImageError) else f"{type(exc).__name__}: {exc}"

    def _checked(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """A tensor item, which is used as the model's input as it is: it must have that shape and be float."""
        if tuple(x.shape) != self.shape or not x.is_floating_point():
            raise ScanError(
                f"item {i} of the dataset is a {x.dtype} tensor of shape {tuple(x.shape)}; a tensor item is used as "
                f"the model's input as it is, so it must be a float tensor of shape (C, H, W) = {self.shape}, "
                "normalised. Yield PIL images instead (the scan resizes and normalises them with the model's "
                f"preprocessing), or transform the tensors to {self.shape} (e.g. Resize, ToTensor, Normalize)"
            )
        return x.detach().to("cpu", torch.float32)


class _Collate:
    """A picklable ``collate_fn``: the items decoded fine stacked, the others listed as failed; a dataset's error
    is handed on as it is."""

    def __init__(self, shape: Tuple[int, int, int]):
        self.shape = shape  # of x when every item of the batch failed

    def __call__(self, items: List[Decoded]) -> Union[Batch, ScanError]:
        problem = next((p for _, _, _, p in items if isinstance(p, ScanError)), None)
        if problem is not None:
            return problem
        good = [(i, x, label) for i, x, label, _ in items if x is not None]
        return Batch(
            indices=torch.tensor([i for i, _, _ in good], dtype=torch.int64),
            x=torch.stack([x for _, x, _ in good]) if good else torch.empty((0, *self.shape)),
            labels=torch.tensor([label for _, _, label in good], dtype=torch.int64),
            failed=[(i, str(p)) for i, x, _, p in items if x is None],
        )


def batches(
    source: Source, preprocess: Preprocess, indices: Sequence[int], batch_size: int, workers: int
) -> Iterator[Batch]:
    """The items at ``indices`` decoded into model inputs, ``batch_size`` at a time, in the order of ``indices``.

    PIL items are fitted with ``preprocess.view`` and normalised; tensor items are used as they are and must have
    the model's input shape. An unreadable item is skipped and listed in its batch's ``failed``; a tensor of the
    wrong shape raises :class:`ScanError`.

    Parameters
    ----------
    source : Source
        From :func:`as_source`.
    preprocess : Preprocess
        The model's preprocessing.
    indices : sequence of int
        Dataset indices to decode, each in ``0..len(source) - 1``.
    batch_size : int
        Items per batch (the last may have fewer).
    workers : int
        ``DataLoader`` worker processes that decode; 0 decodes in this process.
    """
    batch_size = check_int("batch_size", batch_size, 1, error=ScanError)
    workers = check_int("workers", workers, 0, error=ScanError)
    order = np.asarray(indices, dtype=np.int64).reshape(-1)
    if order.size and (order.min() < 0 or order.max() >= len(source)):
        raise ScanError(f"indices must lie in 0..{len(source) - 1}, got {order.min()}..{order.max()}")
    decoding = _Decoding(source, preprocess, order)
    loader = DataLoader(
        decoding, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_Collate(decoding.shape)
    )
    for batch in loader:
        if isinstance(batch, ScanError):
            raise batch
        yield batch
