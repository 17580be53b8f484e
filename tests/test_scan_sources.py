"""Scan sources: every kind of dataset gives the right names, labels, classes and model inputs; bad files are
skipped and reported; the stand-in set is deterministic and its synthetic classes are what their names say."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset

from cnnviz_widgets.datasets import BLOBS, GRATINGS, SKIMAGE_PHOTOS, stand_in, write_stand_in
from cnnviz_widgets.engine.errors import ScanError
from cnnviz_widgets.engine.model import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from cnnviz_widgets.engine.scan.sources import Batch, as_source, batches

S = 32
PREP = Preprocess(size=S)  # squash: a picture already S x S is only converted, so the hand computation is exact


def by_hand(rgb: np.ndarray) -> torch.Tensor:
    """The model input of an S x S RGB uint8 array: scaled to [0, 1] and normalised with ImageNet's mean/std."""
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)
    return (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]


def picture(seed: int, size: int = S) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def everything(source, indices=None, batch_size=4, workers=0, prep=PREP) -> Batch:
    """All batches of ``indices`` joined into one."""
    parts = list(batches(source, prep, range(len(source)) if indices is None else indices, batch_size, workers))
    return Batch(
        torch.cat([b.indices for b in parts]),
        torch.cat([b.x for b in parts]),
        torch.cat([b.labels for b in parts]),
        [f for b in parts for f in b.failed],
    )


@pytest.fixture
def folder(tmp_path):
    """Two class folders (one with a nested folder), PNG and JPEG, and files a scan must leave out."""
    arrays = {}
    for k, rel in enumerate(["dogs/b.png", "cats/z.png", "cats/a.png", "dogs/deep/c.png", "cats/m.jpg"]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        arrays[rel] = picture(k)
        Image.fromarray(arrays[rel]).save(tmp_path / rel, quality=95)
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    Image.fromarray(picture(9)).save(tmp_path / "dogs" / ".hidden.png")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    Image.fromarray(picture(9)).save(tmp_path / ".ipynb_checkpoints" / "x.png")
    return tmp_path, arrays


def test_folder_names_classes_labels_and_pixels(folder):
    root, arrays = folder
    source = as_source(root)
    assert source.names == ["cats/a.png", "cats/m.jpg", "cats/z.png", "dogs/b.png", "dogs/deep/c.png"]
    assert source.classes == ("cats", "dogs")
    assert [source.label(i) for i in range(5)] == [0, 0, 0, 1, 1]
    out = everything(source, batch_size=2)
    assert out.indices.tolist() == [0, 1, 2, 3, 4] and out.labels.tolist() == [0, 0, 0, 1, 1] and not out.failed
    for i, name in enumerate(source.names):
        with Image.open(root / name) as img:  # the JPEG as decoded, the PNGs exactly the arrays written
            expected = np.asarray(img.convert("RGB"))
        if name.endswith(".png"):
            assert (expected == arrays[name]).all()
        torch.testing.assert_close(out.x[i], by_hand(expected), rtol=0, atol=1e-6)
    again = pickle.loads(pickle.dumps(source))  # Ray ships sources to its workers
    assert again.names == source.names and np.array_equal(np.asarray(again.item(3)), arrays["dogs/b.png"])


def test_folder_without_class_folders_is_unlabelled(tmp_path):
    Image.fromarray(picture(0)).save(tmp_path / "top.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(picture(1)).save(tmp_path / "sub" / "x.PNG")  # endings in any case
    source = as_source(str(tmp_path))
    assert source.names == ["sub/x.PNG", "top.png"] and source.classes is None
    assert everything(source).labels.tolist() == [-1, -1]


def test_list_of_paths_and_pictures_and_resizing(tmp_path):
    Image.fromarray(picture(0, 50)).save(tmp_path / "p.png")
    pil = Image.fromarray(picture(1, 40))
    source = as_source([tmp_path / "p.png", pil])
    assert source.names == [str(tmp_path / "p.png"), "#1"] and source.classes is None
    out = everything(source)
    assert out.labels.tolist() == [-1, -1]
    for i, arr in enumerate([picture(0, 50), picture(1, 40)]):  # resized by PIL here, by hand
        resized = np.asarray(Image.fromarray(arr).resize((S, S), Image.BILINEAR))
        torch.testing.assert_close(out.x[i], by_hand(resized), rtol=0, atol=1e-6)


class Items(Dataset):
    """A torch dataset whose items are made by ``make(i)``."""

    def __init__(self, make, n, classes=None):
        self.make, self.n = make, n
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.make(i)


def test_torch_dataset_item_kinds():
    tensors = [torch.randn(3, S, S, generator=torch.Generator().manual_seed(i)) for i in range(6)]
    kinds = [
        lambda i: (Image.fromarray(picture(i)), i % 2),  # (PIL, label)
        lambda i: {"img": picture(i), "label": torch.tensor(i % 2)},  # dict, ndarray of pixels, tensor label
        lambda i: [picture(i)],  # a list without a label
        lambda i: (tensors[i], np.int64(i % 2)),  # a tensor ready for the model
    ]
    for k, make in enumerate(kinds):
        dataset = Items(make, 6, classes=["even", "odd"])
        for images in (dataset, DataLoader(dataset, batch_size=4), Subset(dataset, range(6))):
            source = as_source(images)
            assert source.names == [f"#{i}" for i in range(6)] and source.classes == ("even", "odd")
            assert source.fingerprint is None  # what a dataset yields is unknown without reading it all
            out = everything(source, indices=[5, 0, 3])
            assert out.indices.tolist() == [5, 0, 3]
            assert out.labels.tolist() == ([-1] * 3 if k == 2 else [1, 0, 1])
            for row, i in enumerate([5, 0, 3]):
                expected = tensors[i] if k == 3 else by_hand(picture(i))
                torch.testing.assert_close(out.x[row], expected, rtol=0, atol=1e-6)


def test_targets_give_labels_without_reading():
    dataset = Items(lambda i: 1 / 0, 3)  # reading an item would fail
    dataset.targets = [2, 0, 1]
    assert [as_source(dataset).label(i) for i in range(3)] == [2, 0, 1]


def test_hugging_face_dataset():
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"photo": datasets.Image(), "kind": datasets.ClassLabel(names=["a", "b", "c"])})
    data = {"photo": [Image.fromarray(picture(i)) for i in range(4)], "kind": [2, 0, 1, 2]}
    ds = datasets.Dataset.from_dict(data, features=features)
    for images in (ds, ds.with_format("torch")):  # as arrays, the image column would be pixels, not model inputs
        source = as_source(images)
        assert source.classes == ("a", "b", "c") and source.names == ["#0", "#1", "#2", "#3"]
        assert source.fingerprint is not None
        out = everything(source)
        assert out.labels.tolist() == [2, 0, 1, 2]
        torch.testing.assert_close(out.x, torch.stack([by_hand(picture(i)) for i in range(4)]), rtol=0, atol=1e-6)
    changed = ds.map(lambda row: {"kind": 0})
    assert as_source(changed).fingerprint != as_source(ds).fingerprint


class ClassLabel:
    def __init__(self, names):
        self.names = names


class FakeHF:
    """What a scan reads of a Hugging Face dataset: ``features`` (known by their class names), ``len``, rows and
    whole columns."""

    features = {"id": object(), "pic": type("Image", (), {})(), "y": ClassLabel(["no", "yes"])}

    def __len__(self):
        return 3

    def __getitem__(self, key):
        if key == "y":
            return [1, 0, 1]
        return {"id": key, "pic": Image.fromarray(picture(key)), "y": [1, 0, 1][key]}


def test_duck_typed_hugging_face_dataset():
    source = as_source(FakeHF())
    assert source.classes == ("no", "yes") and source.fingerprint is None
    out = everything(source)
    assert out.labels.tolist() == [1, 0, 1]
    torch.testing.assert_close(out.x, torch.stack([by_hand(picture(i)) for i in range(3)]), rtol=0, atol=1e-6)


def test_bad_files_are_skipped_and_odd_modes_decoded(tmp_path):
    grey = picture(0)[..., 0]
    Image.fromarray(grey).save(tmp_path / "a_grey.png")
    rgba = np.dstack([picture(1), np.full((S, S), 64, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b_rgba.png")
    Image.fromarray(picture(2)).convert("P").save(tmp_path / "c_palette.gif")
    Image.fromarray(picture(3)).save(tmp_path / "d_good.jpg")
    whole = (tmp_path / "d_good.jpg").read_bytes()
    (tmp_path / "e_truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "f_text.png").write_text("this is not a PNG")
    source = as_source(tmp_path)
    out = everything(source, batch_size=4, workers=0)
    assert out.indices.tolist() == [0, 1, 2, 3]
    assert [i for i, _ in out.failed] == [4, 5] and all(reason for _, reason in out.failed)
    torch.testing.assert_close(out.x[0], by_hand(np.repeat(grey[..., None], 3, 2)), rtol=0, atol=1e-6)
    on_white = np.round(picture(1) * (64 / 255) + 255 * (1 - 64 / 255))  # alpha composited on white
    assert (out.x[1] - by_hand(on_white.astype(np.uint8))).abs().max() <= 1.01 / 255 / min(IMAGENET_STD)
    with Image.open(tmp_path / "c_palette.gif") as gif:
        torch.testing.assert_close(out.x[2], by_hand(np.asarray(gif.convert("RGB"))), rtol=0, atol=1e-6)


def test_a_batch_with_only_bad_files_reports_them(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8\xff broken")
    (b,) = batches(as_source(tmp_path), PREP, [0], 4, 0)
    assert b.x.shape == (0, 3, S, S) and b.indices.numel() == 0 and [i for i, _ in b.failed] == [0]


def test_empty_and_unsupported_sources(tmp_path):
    with pytest.raises(ScanError, match="no image files"):
        as_source(tmp_path)
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ScanError, match=r"\.jpg .*\.tiff"):
        as_source(tmp_path)
    with pytest.raises(ScanError, match="no folder at"):
        as_source(tmp_path / "missing")
    with pytest.raises(ScanError, match="one file; pass its folder"):
        as_source(tmp_path / "readme.txt")
    with pytest.raises(ScanError, match="list of images is empty"):
        as_source([])
    with pytest.raises(ScanError, match="is empty"):
        as_source(Items(lambda i: i, 0))
    with pytest.raises(ScanError, match="item 1 of the list is a ndarray"):
        as_source([Image.new("RGB", (S, S)), np.zeros((S, S, 3))])
    with pytest.raises(ScanError, match="cannot scan a int"):
        as_source(3)
    with pytest.raises(ScanError, match=r"pass a list, \[image\]"):
        as_source(Image.new("RGB", (S, S)))


@pytest.mark.parametrize("workers", [0, 1])
def test_wrong_shaped_tensors_stop_the_scan(workers):
    wrong = Items(lambda i: (torch.rand(3, 20, 20), 0), 4)
    with pytest.raises(ScanError) as caught:
        list(batches(as_source(wrong), PREP, range(4), 2, workers))
    message = str(caught.value)
    assert "shape (3, 20, 20)" in message and f"(C, H, W) = (3, {S}, {S})" in message and "PIL images" in message
    assert "Traceback" not in message  # the dataset's error comes back from the worker with its own message
    pixels = Items(lambda i: torch.zeros(3, S, S, dtype=torch.uint8), 2)
    with pytest.raises(ScanError, match="torch.uint8 tensor"):
        list(batches(as_source(pixels), PREP, range(2), 2, workers))
    with pytest.raises(ScanError, match="keys"):
        list(batches(as_source(Items(lambda i: {"pixels": 0}, 2)), PREP, range(2), 2, workers))


def test_bad_indices_and_settings(folder):
    source = as_source(folder[0])
    with pytest.raises(ScanError, match=r"indices must lie in 0\.\.4"):
        list(batches(source, PREP, [0, 5], 2, 0))
    with pytest.raises(ScanError, match="workers must be a number >= 0"):
        list(batches(source, PREP, [0], 2, -1))
    with pytest.raises(ScanError, match="batch_size must be a number >= 1"):
        list(batches(source, PREP, [0], 0, 0))


def test_fingerprints_follow_the_files(folder):
    root, _ = folder
    first = as_source(root).fingerprint
    assert first and as_source(root).fingerprint == first  # stable
    path = root / "cats" / "a.png"
    stamp = path.stat().st_mtime_ns
    Image.fromarray(picture(50, 40)).save(path)  # another picture, its file's time set back
    os.utime(path, ns=(stamp, stamp))
    assert as_source(root).fingerprint != first
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # a newer time alone
    touched = as_source(root).fingerprint
    assert touched != first
    Image.fromarray(picture(1)).save(root / "cats" / "new.png")
    assert as_source(root).fingerprint not in (first, touched)
    (root / "cats" / "new.png").unlink()
    assert as_source(root).fingerprint == touched
    pictures = [Image.fromarray(picture(i)) for i in range(3)]
    same = [Image.fromarray(picture(i)) for i in range(3)]
    assert as_source(pictures).fingerprint == as_source(same).fingerprint
    same[1].putpixel((0, 0), (0, 0, 0) if same[1].getpixel((0, 0)) != (0, 0, 0) else (1, 1, 1))
    assert as_source(pictures).fingerprint != as_source(same).fingerprint


def test_workers_give_the_same_batches():
    source = as_source(stand_in(n=20, size=S, seed=3))
    order = [7, 3, 19, 0, 11, 5, 2]
    inline = list(batches(source, PREP, order, 3, 0))
    parallel = list(batches(source, PREP, order, 3, 2))
    assert len(inline) == len(parallel) == 3
    for a, b in zip(inline, parallel):
        assert torch.equal(a.indices, b.indices) and torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels)
    assert torch.cat([b.indices for b in inline]).tolist() == order


def test_stand_in_is_deterministic_balanced_and_sized():
    a, b = stand_in(n=60, size=40, seed=1), stand_in(n=60, size=40, seed=1)
    assert set(BLOBS) | set(GRATINGS) | {"cat", "coffee"} <= set(a.classes) and list(a.classes) == sorted(a.classes)
    for i in (59, 3, 17):  # any order, fresh instances
        img, label = a[i]
        assert img.mode == "RGB" and img.size == (40, 40) and label == a.targets[i]
        assert np.array_equal(np.asarray(img), np.asarray(b[i][0]))
    assert not np.array_equal(np.asarray(a[3][0]), np.asarray(stand_in(n=60, size=40, seed=2)[3][0]))
    counts = np.bincount(a.targets, minlength=len(a.classes))
    assert counts.max() - counts.min() <= 1 and counts.sum() == 60
    with pytest.raises(IndexError):
        a[60]
    pytest.importorskip("skimage")
    assert set(SKIMAGE_PHOTOS) <= set(a.classes)


def pure(arr: np.ndarray, channel: int) -> np.ndarray:
    """Pixels of a pure colour: that channel above 220, the others below 20."""
    others = np.delete(arr, channel, axis=2)
    return (arr[..., channel] > 220) & (others < 20).all(axis=2)


def test_blob_images_have_the_most_pixels_of_their_colour():
    data = stand_in(n=len(stand_in(n=1).classes) * 12, size=48, seed=5)
    arrays = [np.asarray(data[i][0]) for i in range(len(data))]
    for name, channel in BLOBS.items():
        mine = [i for i in range(len(data)) if data.classes[data.targets[i]] == name]
        counts = np.array([pure(arr, channel).sum() for arr in arrays])
        others = np.delete(counts, mine)
        assert counts[mine].min() > others.max(), name  # a colour unit ranks this class first
        for i in mine:  # and the colour is where the region says
            top, left, bottom, right = data.region(i)
            inside = np.zeros((48, 48), bool)
            inside[top:bottom, left:right] = True
            assert not (pure(arrays[i], channel) & ~inside).any()


def test_gratings_run_at_their_angle():
    data = stand_in(n=len(stand_in(n=1).classes) * 4, size=64, seed=2)
    steps = {0: (0, 1), 45: (-1, 1), 90: (1, 0), 135: (1, 1)}  # (dy, dx) along bars at that angle on screen
    for i in range(len(data)):
        name = data.classes[data.targets[i]]
        if name not in GRATINGS:
            continue
        top, left, bottom, right = data.region(i)
        grey = np.asarray(data[i][0], np.float64)[top:bottom, left:right, 0]
        h, w = grey.shape
        change = {}
        for angle, (dy, dx) in steps.items():  # mean change of one step in that direction
            rows = np.arange(max(0, -dy), h - max(0, dy))
            change[angle] = np.abs(grey[rows, : w - dx] - grey[rows + dy, dx:]).mean()
        assert min(change, key=change.get) == GRATINGS[name], (name, change)


def test_written_stand_in_reads_back_as_a_folder(tmp_path):
    data = stand_in(n=30, size=S, seed=4)
    root = write_stand_in(tmp_path / "set", n=30, size=S, seed=4)
    source = as_source(root)
    assert source.classes == data.classes and len(source) == 30
    for k, name in enumerate(source.names):
        i = int(Path(name).stem)
        assert source.label(k) == data.targets[i] and name.startswith(data.classes[data.targets[i]] + "/")
        original = np.asarray(data[i][0], np.int16)
        read = np.asarray(source.item(k), np.int16)
        if name.endswith(".png"):  # synthetic: exact
            assert np.array_equal(read, original)
        else:  # photos: JPEG, close to the original and closer to it than to the other crops of its photo
            assert name.endswith(".jpg")
            error = np.abs(read - original).mean()
            kin = [j for j in range(30) if j != i and data.targets[j] == data.targets[i]]
            assert error < 10 and all(error < np.abs(read - np.asarray(data[j][0], np.int16)).mean() for j in kin)


def test_the_stand_in_set_has_a_fingerprint_that_names_what_its_pictures_depend_on():
    one, same, other = (as_source(stand_in(n=8, size=32, seed=s)) for s in (0, 0, 1))
    assert one.fingerprint is not None and one.fingerprint == same.fingerprint != other.fingerprint
    assert as_source(stand_in(n=9, size=32, seed=0)).fingerprint != one.fingerprint
