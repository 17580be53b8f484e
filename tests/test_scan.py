"""Dataset scans (engine.scan): top-k against a full sort, features and predictions against direct model calls,
the memory-mapped tables, the cache (hit, invalidation, resume), a hand-built red-blob unit, Ray against the local
scan, and bad input."""

from __future__ import annotations

import importlib
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnviz_widgets.engine import LayerError, Net, Preprocess, ScanError, TopK, scan, scan_steps
from cnnviz_widgets.engine.scan import cache as disk
from cnnviz_widgets.engine.scan.recorder import CPU_BATCH, CPU_CACHE_BYTES, make_plan
from cnnviz_widgets.engine.scan.sharded import shard_bounds

from .conftest import Untouched, eval_mode, hook_count

scan_module = importlib.import_module("cnnviz_widgets.engine.scan.scan")  # the package's ``scan`` is the function


def tiny(seed: int = 0) -> nn.Sequential:
    """A small CNN in training mode (the scan must not switch it): 2 conv blocks, a classifier of 4 classes."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    ).train()


class Counting(nn.Sequential):
    """A sequential model counting its forward passes."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__(*layers)
        self.counter = [0]  # a list: the engine's replica shares it

    @property
    def calls(self) -> int:
        return self.counter[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.counter[0] += 1
        return super().forward(x)


def noise(n: int, size: int = 32, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def brute_top(peak_values: torch.Tensor, peak_y, peak_x, indices, k: int):
    """Per channel, the items sorted by (value descending, index ascending), the first k, written out by hand."""
    n, channels = peak_values.shape
    rows = []
    for c in range(channels):
        order = sorted(range(n), key=lambda i: (-float(peak_values[i, c]), int(indices[i])))[:k]
        rows.append([(float(peak_values[i, c]), int(indices[i]), int(peak_y[i, c]), int(peak_x[i, c])) for i in order])
    return rows


def hand_peaks(maps: torch.Tensor):
    """The largest value of each (item, channel) map and its first position in row-major order, by loops."""
    n, channels, h, w = maps.shape
    values = torch.zeros(n, channels)
    ys, xs = torch.zeros(n, channels, dtype=torch.long), torch.zeros(n, channels, dtype=torch.long)
    for i in range(n):
        for c in range(channels):
            best = (float("-inf"), 0, 0)
            for y in range(h):
                for x in range(w):
                    if float(maps[i, c, y, x]) > best[0]:
                        best = (float(maps[i, c, y, x]), y, x)
            values[i, c], ys[i, c], xs[i, c] = best
    return values, ys, xs


def rows_of(top: TopK):
    return [
        [
            (float(v), int(i), int(y), int(x))
            for v, i, y, x in zip(*(t[c] for t in (top.values, top.index, top.y, top.x)))
        ]
        for c in range(top.channels)
    ]


@pytest.mark.parametrize("k", [3, 40])
def test_topk_equals_a_full_sort_with_ties(k):
    gen = torch.Generator().manual_seed(1)
    maps = torch.randint(0, 4, (30, 5, 3, 4), generator=gen).float()  # few values: ties within and across maps
    indices = torch.randperm(100, generator=gen)[:30]
    top = TopK.empty(5, k)
    for start in range(0, 30, 7):  # uneven batches, indices not in order
        top = top.add(maps[start : start + 7], indices[start : start + 7])
    expected = brute_top(*hand_peaks(maps), indices, k)
    ours = rows_of(top)
    for c in range(5):
        assert ours[c][: min(k, 30)] == expected[c]
        assert all(v == float("-inf") and i == y == x == -1 for v, i, y, x in ours[c][30:])  # empty slots


def test_merge_is_associative_and_commutative():
    gen = torch.Generator().manual_seed(2)
    maps = torch.randint(0, 3, (24, 4, 2, 2), generator=gen).float()
    indices = torch.arange(24)
    a, b, c = (TopK.empty(4, 5).add(maps[s : s + 8], indices[s : s + 8]) for s in (0, 8, 16))
    whole = TopK.empty(4, 5).add(maps, indices)
    for merged in (a.merge(b).merge(c), a.merge(b.merge(c)), c.merge(a).merge(b), b.merge(c).merge(a)):
        assert rows_of(merged) == rows_of(whole)


def test_features_predictions_and_top_equal_direct_model_calls(capsys):
    model = tiny()
    net = Net(model, Preprocess(size=64))
    images = noise(13, 64)
    with Untouched(model):
        result = scan(net, images, ["2", "5"], k=4, embed=["5"], batch_size=5, workers=0, cache=False)
    assert hook_count(model) == 0 and model.training
    assert "scan" in capsys.readouterr().err  # the tqdm bar
    x = torch.cat([net.tensor(img) for img in images])
    with eval_mode(model), torch.no_grad():
        maps = {"2": model[:3](x), "5": model[:6](x)}
        probs = model(x).softmax(1)
    np.testing.assert_allclose(result.features["5"], maps["5"].mean((2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    pixels = x.reshape(13, 3, 32, 2, 32, 2).mean((3, 5)).flatten(1)  # 2x2 block means: 64 px down to 32
    np.testing.assert_allclose(result.features["pixels"], pixels.numpy(), rtol=1e-5, atol=1e-6)
    assert result.predicted.tolist() == probs.argmax(1).tolist()
    np.testing.assert_allclose(result.confidence, probs.max(1).values.numpy(), rtol=1e-5)
    for layer in ("2", "5"):
        top, full = result.top[layer], maps[layer]
        best = full.flatten(2).max(2).values.t().sort(1, descending=True).values[:, :4]
        torch.testing.assert_close(top.values, best, rtol=1e-5, atol=1e-6)
        at = full[top.index, torch.arange(full.shape[1])[:, None], top.y, top.x]
        torch.testing.assert_close(at, top.values, rtol=1e-5, atol=1e-6)
    assert result.complete and result.scanned.all() and not result.failed and (result.labels == -1).all()


def test_tables_beyond_the_budget_are_memory_mapped_with_equal_values(tmp_path):
    net, images = Net(tiny(), Preprocess(size=32)), noise(11)
    options = dict(layers=["4"], k=3, embed=["4"], batch_size=4, workers=0, progress=False)
    in_memory = scan(net, images, cache=False, **options)
    spilled = scan(net, images, cache=False, feature_budget=0, **options)
    half = scan(net, images, cache=tmp_path, feature_budget=11 * 6 * 4, **options)  # the first table fits
    assert not any(isinstance(t, np.memmap) for t in in_memory.features.values())
    assert all(isinstance(t, np.memmap) for t in spilled.features.values())
    assert not isinstance(half.features["4"], np.memmap) and isinstance(half.features["pixels"], np.memmap)
    assert str(half.features["pixels"].filename).startswith(str(tmp_path))
    for other in (spilled, half):
        for name, table in in_memory.features.items():
            assert np.array_equal(table, other.features[name])
    copy = pickle.loads(pickle.dumps(spilled))
    assert copy.source is None and np.array_equal(copy.features["pixels"], in_memory.features["pixels"])


def counted(seed: int = 0):
    wrapper = Counting(*tiny(seed))
    return wrapper, Net(wrapper, Preprocess(size=32))


OPTIONS = dict(layers=["4"], k=3, batch_size=4, workers=0, progress=False)


def same(a, b) -> bool:
    tops = all(torch.equal(getattr(a.top[n], f), getattr(b.top[n], f)) for n in a.top for f in ("values", "index"))
    tables = all(np.array_equal(a.features[n], b.features[n]) for n in a.features)
    return tops and tables and np.array_equal(a.predicted, b.predicted) and np.array_equal(a.scanned, b.scanned)


def test_a_cached_scan_reopens_without_a_forward_pass_and_a_weight_change_invalidates_it(tmp_path):
    wrapper, net = counted()
    images = noise(10)
    first = scan(net, images, cache=tmp_path, **OPTIONS)
    calls = wrapper.calls
    assert calls >= 3
    again = scan(net, images, cache=tmp_path, **OPTIONS)
    assert wrapper.calls == calls and same(first, again)
    with torch.no_grad():
        wrapper[4].weight[0, 0, 0, 0] += 1.0
    changed = scan(net, images, cache=tmp_path, **OPTIONS)
    assert wrapper.calls > calls and not torch.equal(changed.top["4"].values, first.top["4"].values)
    assert len(list(tmp_path.iterdir())) == 2


def test_a_changed_file_invalidates_the_cache_and_unreadable_files_are_skipped(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(noise(6)):
        img.save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    wrapper, net = counted()
    first = scan(net, folder, cache=tmp_path / "cache", **dict(OPTIONS, workers=1))  # decoded in a worker
    broken = first.names.index("broken.png")
    assert list(first.failed) == [broken] and first.scanned.sum() == 6 and first.complete
    assert first.predicted[broken] == -1
    calls = wrapper.calls
    noise(1, seed=9)[0].save(folder / "3.png")
    stat = os.stat(folder / "3.png")
    os.utime(folder / "3.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = scan(net, folder, cache=tmp_path / "cache", **OPTIONS)
    assert wrapper.calls > calls
    row = second.names.index("3.png")
    assert not np.array_equal(first.features["pixels"][row], second.features["pixels"][row])


def test_a_stopped_scan_resumes_where_it_stopped(tmp_path, monkeypatch):
    images = noise(20)
    wrapper, net = counted()
    full = scan(Net(tiny(), Preprocess(size=32)), images, cache=False, **OPTIONS)
    monkeypatch.setattr(scan_module, "SAVE_EVERY_S", 0.0)  # saved after every batch too, not only when stopped
    steps = scan_steps(net, images, cache=tmp_path, **{k: v for k, v in OPTIONS.items() if k != "progress"})
    first = next(steps)
    folder = next(tmp_path.iterdir())
    assert disk.load(folder)[0]["scanned"].sum() == 4 and first.fraction == pytest.approx(0.2)
    next(steps)
    steps.close()
    assert disk.load(folder)[0]["scanned"].sum() == 8
    calls = wrapper.calls
    resumed = scan(net, images, cache=tmp_path, **OPTIONS)
    assert wrapper.calls - calls == 3  # the 12 items left, in batches of 4
    assert same(resumed, full)


class Labelled(torch.utils.data.Dataset):
    """Normalised input tensors with labels, as a torch Dataset yields them."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int):
        return torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(i)), i % 3


def test_a_dataset_gives_its_labels_and_is_not_cached_without_a_fingerprint(tmp_path):
    result = scan(Net(tiny(), Preprocess(size=32)), Labelled(), cache=tmp_path, **OPTIONS)
    assert result.labels.tolist() == [0, 1, 2, 0, 1, 2] and result.scanned.all()
    assert not list(tmp_path.iterdir())


def test_a_red_unit_ranks_the_red_blob_images_first():
    rng = np.random.default_rng(3)
    images, red, centres = [], [], {}
    colours = {"red": (230, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 230), "white": (240, 240, 240)}
    for i in range(24):
        pixels = np.full((48, 48, 3), 128, np.uint8) + rng.integers(-20, 20, (48, 48, 3)).astype(np.uint8)
        kind = list(colours)[i % 4]
        cy, cx = rng.integers(10, 38, 2)
        yy, xx = np.mgrid[:48, :48]
        pixels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = colours[kind]
        images.append(Image.fromarray(pixels))
        if kind == "red":
            red.append(i)
            centres[i] = (cy, cx)
    unit = nn.Conv2d(3, 1, 5, padding=2)
    with torch.no_grad():
        unit.weight.copy_(torch.tensor([1.0, -1.0, -1.0])[None, :, None, None].expand(1, 3, 5, 5) / 25)
        unit.bias.zero_()
    model = nn.Sequential(unit, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    result = scan(Net(model, Preprocess(size=48)), images, ["0"], k=len(red), batch_size=8, workers=0, cache=False)
    top = result.top["0"]
    assert sorted(top.index[0].tolist()) == red
    for i, y, x in zip(top.index[0].tolist(), top.y[0].tolist(), top.x[0].tolist()):
        assert abs(y - centres[i][0]) <= 2 and abs(x - centres[i][1]) <= 2


def test_shards_start_on_batch_boundaries_and_cover_every_item():
    for total, batch, shards in [(30, 4, 8), (7, 3, 2), (5, 8, 4), (100, 1, 3)]:
        bounds = shard_bounds(total, batch, shards)
        assert len(bounds) <= shards and [i for r in bounds for i in r] == list(range(total))
        assert all(r.start % batch == 0 for r in bounds)


def test_a_cpu_batch_keeps_its_largest_layer_within_the_cache():
    # tiny's largest output is its first conv's (and BN's, ReLU's): 8 channels at the input size, float32, so
    # 2 MiB per item at 256 px; the expectations are for a 16 MiB cache
    assert CPU_CACHE_BYTES == 16 * 2**20
    for size, expected in [(32, CPU_BATCH), (256, 8), (512, 2), (1024, 1)]:
        plan = make_plan(Net(tiny(), Preprocess(size=size)), None, None, 9, None, 2**40)
        assert plan.batch_size == expected, size
    # a small memory budget still wins: 3 of the largest output plus the input per item, 2 items' worth
    row = (3 * 8 + 3) * 256 * 256 * 4
    assert make_plan(Net(tiny(), Preprocess(size=256)), None, None, 9, None, 2 * row + 1).batch_size == 2


def test_default_workers_decode_in_process_on_two_cores_and_in_ray_tasks(monkeypatch):
    net = Net(tiny(), Preprocess(size=32))
    for cores, expected in [(1, 0), (2, 0), (3, 2), (16, 4)]:
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert scan_module.default_workers(net, "local", 1000, 8) == expected, cores
        assert scan_module.default_workers(net, "ray", 1000, 8) == 0
        assert scan_module.default_workers(net, "local", 8, 8) == 0  # a single batch


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ScanError, match=r'pip install "cnnviz_widgets\[ray\]"'):
        scan(Net(tiny(), Preprocess(size=32)), noise(3), backend="ray", cache=False, progress=False)


def test_defaults_record_every_spatial_layer_and_pool_the_penultimate_one():
    result = scan(Net(tiny(), Preprocess(size=32)), noise(3), cache=False, progress=False)
    assert result.layers == ("0", "1", "2", "3", "4", "5") and result.embed == ("5",)  # the classifier's input
    assert result.k == 9 and result.top["4"].values.shape == (6, 9) and result.features["5"].shape == (3, 6)


def test_bad_layers_and_settings_say_what_is_valid():
    model = tiny()
    net = Net(model, Preprocess(size=32))
    with Untouched(model):
        with pytest.raises(LayerError, match="valid layers"):
            scan(net, noise(2), ["nope"], cache=False)
        with pytest.raises(ScanError, match=r"no spatial.*choose one of: .*'?4"):
            scan(net, noise(2), ["8"], cache=False)
        with pytest.raises(ScanError, match="k must be"):
            scan(net, noise(2), k=0, cache=False)
        with pytest.raises(ScanError, match="backend must be one of: local, ray"):
            scan(net, noise(2), backend="dask", cache=False)
    assert hook_count(model) == 0


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_a_ray_scan_equals_the_local_scan_exactly(ray_local):
    net, images = Net(tiny(), Preprocess(size=32)), noise(30)
    options = dict(layers=["2", "5"], k=4, embed=["5"], batch_size=4, workers=0, cache=False)
    local = scan(net, images, progress=False, **options)
    updates = list(scan_steps(net, images, backend="ray", **options))
    sharded = updates[-1].result
    assert len(updates) == 8 and updates[-1].fraction == 1.0  # 8 batches, 8 shards on 2 CPUs
    for layer in local.layers:
        for field in ("values", "index", "y", "x"):
            assert torch.equal(getattr(local.top[layer], field), getattr(sharded.top[layer], field))
    for name in local.features:
        assert np.array_equal(local.features[name], sharded.features[name])
    assert np.array_equal(local.predicted, sharded.predicted) and np.array_equal(local.confidence, sharded.confidence)


def test_resume_goes_on_from_a_partial_scan_without_a_cache_and_refuses_another_scan():
    model = Counting(*tiny())
    net = Net(model)  # its layer table is probed once, so the passes counted below are the scan's
    images = noise(10, seed=3)
    steps = scan_steps(net, images, ["2"], cache=False, workers=0, batch_size=4)
    partial = next(steps).result
    steps.close()
    assert int(partial.scanned.sum()) == 4
    before = model.calls
    resumed = scan(net, images, ["2"], cache=False, workers=0, batch_size=4, resume=partial, progress=False)
    assert resumed is partial and resumed.complete and model.calls - before == 2  # batches 5-8 and 9-10 only
    full = scan(model, images, ["2"], cache=False, workers=0, batch_size=4, progress=False)
    assert torch.equal(resumed.top["2"].values, full.top["2"].values)
    with pytest.raises(ScanError, match="k=9"):
        scan(model, images, ["2"], k=3, cache=False, workers=0, resume=partial, progress=False)


def test_a_damaged_cache_is_scanned_again(tmp_path):
    model = tiny()
    images = noise(6, seed=4)
    first = scan(model, images, ["2"], cache=tmp_path, workers=0, progress=False)
    (state,) = tmp_path.rglob("state.npz")
    state.write_bytes(b"not a zip file")
    again = scan(model, images, ["2"], cache=tmp_path, workers=0, progress=False)
    assert again.complete and torch.equal(again.top["2"].values, first.top["2"].values)


def test_an_empty_list_of_layers_is_refused_naming_some():
    for layers, embed in (([], None), (["2"], [])):
        with pytest.raises(ScanError, match=r"no (patch|embedding) layers to scan.*one of"):
            scan(tiny(), noise(2), layers, embed=embed, cache=False, workers=0, progress=False)
