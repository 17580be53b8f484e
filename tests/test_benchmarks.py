"""The benchmarks' own helpers still speak the engine's API: `make bench` is not part of the test run, so a helper
left behind by an engine change would otherwise fail only there (bench_occlusion read `done` off an Update once)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import cnnviz_widgets as cw
from cnnviz_widgets.engine.recording import record_layers
from cnnviz_widgets.widgets.encoding import decode_array

from .conftest import small_cnn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # they import `common` as a sibling

import bench_featurevis
import bench_fooling
import bench_layers
import bench_occlusion
import bench_saliency
import bench_scan
import bench_style
from common import Subject

from cnnviz_widgets.datasets import write_stand_in
from cnnviz_widgets.engine import Preprocess
from cnnviz_widgets.engine.scan import as_source


def subject() -> Subject:
    torch.manual_seed(0)
    return Subject("small", small_cnn().eval(), torch.rand(1, 3, 48, 48), 3, "conv2")


def test_occlusion_milestones_are_shares_of_one_run():
    recomputed, coarse, doubled = bench_occlusion.milestones(subject())
    assert 0 < recomputed <= 1 and 0 < coarse <= doubled <= 1


def test_saliency_chunks_add_up_to_the_passes_asked_for():
    s = subject()
    for method, (_, passes) in bench_saliency.BATCHED.items():
        chunks = bench_saliency.chunk_sizes(s, method)
        assert sum(chunks) == passes and all(c > 0 for c in chunks), (method, chunks)


def test_featurevis_run_gives_the_final_picture():
    seconds, image = bench_featurevis.ours_run(cw.Net(small_cnn().eval()), "conv2", 3, 32, 2, seed=0)
    assert seconds > 0 and image.shape == (1, 3, 32, 32) and 0 <= float(image.min()) <= float(image.max()) <= 1


def test_layer_switch_sends_the_grid_the_view_sends():
    s = subject()
    net = cw.Net(s.model)
    layers = bench_layers.spatial_layers(net)
    rec = record_layers(net, s.x, layers)
    message = bench_layers.grid_message(rec, "conv2")
    grid = decode_array(message["thumbnails"])  # 48 px maps pooled to the 32 px a thumbnail has at most
    np.testing.assert_allclose(grid, F.adaptive_avg_pool2d(rec.maps("conv2"), 32).numpy(), rtol=1e-6, atol=1e-6)
    assert message["max"] == rec.stats("conv2").max.tolist()
    assert "conv2" in layers and bench_layers.slowest_switch_ms(rec, layers) > 0


def test_scan_bench_times_plain_record_and_scan_on_the_same_images(tmp_path):
    net = cw.Net(small_cnn().eval(), Preprocess(size=32))
    folder = write_stand_in(tmp_path / "set", n=6, size=40)
    source = as_source(folder)
    xs = bench_scan.decoded(net, source, 4)
    assert [tuple(x.shape) for x in xs] == [(4, 3, 32, 32), (2, 3, 32, 32)]
    fns = {
        "plain": lambda: bench_scan.plain_pass(net.model, xs),
        "record": lambda: bench_scan.record_pass(net, xs),
        "scan": lambda: bench_scan.scan_pass(net, folder, workers=0),
    }
    rates = bench_scan.interleaved_rates(fns, len(source), 2)
    assert all(len(r) == 2 and min(r) > 0 for r in rates.values())
    assert bench_scan.decode_ms(net, source, 3) > 0
    assert bench_scan.scan_pass(net, folder, workers=0).complete


def test_scan_bench_memory_run_reports_the_tables_of_a_tiny_scan():
    net = cw.Net(small_cnn().eval(), Preprocess(size=32))
    out = bench_scan.memory_run(net, 5, ["conv2"], 32)
    # the default embedding layer is the last spatial one, the pool (8 channels); pixels are 3 x 32 x 32
    assert out["scanned"] == 5 and out["tables"] == 5 * (8 + 3 * 32 * 32) * 4 / 2**20
    assert 0 < out["before"] <= out["peak"]
    assert bench_scan.naive_bytes(net, ["conv", "conv2"]) == 4 * (6 + 8) * 32 * 32


def test_scan_bench_nearest_equals_a_full_sort():
    features = bench_scan.feature_vectors(50, dim=16, rank=4, clusters=3)
    assert features.shape == (50, 16) and features.dtype == np.float32 and features.min() >= 0
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    sims = unit @ unit[7]
    sims[7] = -np.inf
    np.testing.assert_array_equal(bench_scan.chunked_nearest(features, 7, k=5, chunk=6), np.argsort(-sims)[:5])


def test_scan_bench_extrapolation_adds_decoding_to_each_image():
    assert bench_scan.with_decode(100.0, 0.0) == 100.0 and bench_scan.with_decode(100.0, 10.0) == 50.0
    assert bench_scan.hours(2.0, images=14400) == 2.0  # 14,400 images at 2 per second


def test_fooling_bench_times_a_step_of_each_mode_and_the_limit():
    net = cw.Net(small_cnn().eval(), Preprocess(size=32))
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    target = bench_fooling.random_targets(net, image, 1, seed=0)[0]
    assert target != net.predict(image)[0].index
    assert bench_fooling.ours_ms(net, image, target, 2, mode="bounded", epsilon=0.5) > 0
    assert bench_fooling.limit_ms(net, net.tensor(image), target, 2) > 0


def test_style_bench_compares_the_three_remedies_on_the_recipes_layers():
    net = cw.load_model("squeezenet1_1", pretrained=False, device="cpu")
    made = bench_style.recipes(net)
    assert list(made) == ["none", "scale", "softmax"] and [r.remedy for r in made.values()] == list(made)
    assert {r.size for r in made.values()} == {256} and made["none"].style[0] == ("features.1", 300000.0)
    assert [layer for layer, _ in made["scale"].style] == [layer for layer, _ in made["none"].style]
    assert bench_style.limit_ms(cw.Net(small_cnn().eval()), "conv2", 24, 32, 1) > 0
