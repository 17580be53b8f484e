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
import bench_layers
import bench_occlusion
import bench_saliency
from common import Subject


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
