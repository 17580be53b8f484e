"""PLACEHOLDER for the sources helper's module: the spec'd API (``Source``, ``as_source``, ``Batch``, ``batches``)
implemented simply, so the scan core can be written and tested; replaced by the real module at merge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..errors import ScanError
from ..images import load_image
from ..model import Preprocess

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class Source:
    """Random access to a dataset's items (picklable)."""

    def __init__(self, items: Any, names: List[str], fingerprint: Optional[str], kind: str) -> None:
        self.items, self.names, self.fingerprint, self.kind = items, names, fingerprint, kind
        self.classes: Optional[Tuple[str, ...]] = None

    def __len__(self) -> int:
        return len(self.names)

    def label(self, i: int) -> int:
        if self.kind == "dataset":
            got = self.items[i]
            return int(got[1]) if isinstance(got, tuple) and len(got) > 1 else -1
        return -1

    def item(self, i: int) -> Union[Image.Image, torch.Tensor]:
        got = self.items[i]
        if self.kind == "dataset":
            return got[0] if isinstance(got, tuple) else got
        return load_image(got)


def as_source(images: Any) -> Source:
    """A :class:`Source` for a folder, a list of paths or PIL images, or a torch ``Dataset``."""
    if isinstance(images, Source):
        return images
    if isinstance(images, (str, Path)):
        root = Path(images)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise ScanError(f"no image files in {root}")
        digest = hashlib.blake2b(digest_size=16)
        for p in files:
            st = p.stat()
            digest.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return Source(files, [str(p.relative_to(root)) for p in files], digest.hexdigest(), "files")
    if isinstance(images, Dataset):
        return Source(images, [f"#{i}" for i in range(len(images))], None, "dataset")  # type: ignore[arg-type]
    if isinstance(images, (list, tuple)) and images:
        digest = hashlib.blake2b(digest_size=16)
        for item in images:
            digest.update(item.tobytes() if isinstance(item, Image.Image) else str(item).encode())
        return Source(list(images), [f"#{i}" for i in range(len(images))], digest.hexdigest(), "list")
    raise ScanError(f"cannot scan {type(images).__name__}; give a folder, a list of images or a torch Dataset")


@dataclass
class Batch:
    indices: torch.Tensor
    x: torch.Tensor
    labels: torch.Tensor
    failed: List[Tuple[int, str]]


class _Decoded(Dataset):
    def __init__(self, source: Source, preprocess: Preprocess, indices: Sequence[int]) -> None:
        self.source, self.preprocess, self.indices = source, preprocess, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> Tuple[int, Optional[torch.Tensor], int, str]:
        i = self.indices[j]
        try:
            item = self.source.item(i)
            x = item if isinstance(item, torch.Tensor) else self.preprocess.normalise(self.preprocess.view(item))[0]
            return i, x, self.source.label(i), ""
        except Exception as exc:  # noqa: BLE001 - any unreadable item is skipped and counted
            return i, None, -1, str(exc)


def _collate(rows: List[Tuple[int, Optional[torch.Tensor], int, str]]) -> Batch:
    good = [r for r in rows if r[1] is not None]
    x = torch.stack([r[1] for r in good]) if good else torch.zeros(0)  # type: ignore[misc]
    return Batch(
        torch.tensor([r[0] for r in good], dtype=torch.int64),
        x,
        torch.tensor([r[2] for r in good], dtype=torch.int64),
        [(r[0], r[3]) for r in rows if r[1] is None],
    )


def batches(
    source: Source, preprocess: Preprocess, indices: Sequence[int], batch_size: int, workers: int
) -> Iterator[Batch]:
    """Decoded batches of ``indices`` in order (decoding in ``workers`` DataLoader workers)."""
    loader = DataLoader(
        _Decoded(source, preprocess, indices), batch_size=batch_size, num_workers=workers, collate_fn=_collate
    )
    yield from loader
