"""ClassVisualizer, Python side: Start runs both recipes side by side and shows the engine's pictures with the
model's probability of the class, Stop and Resume keep their promises, the class is picked by number from the page,
facets come from the model's latest scan, and bad input raises in Python or lands in the banner.

A small CNN on 32 px pictures keeps the runs short; a copy that sleeps in every forward pass makes a run long enough
to stop it halfway.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.classvis import class_visualization
from cnnviz_widgets.engine.errors import ArgumentTypeError, FeatureVisError, SettingError, ViewError
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.frames import image_strip

from .conftest import Untouched, small_cnn
from .test_widget_featurevis import NanGradient, SlowCNN

SIZE = 32


def small_net(model=None) -> cw.Net:
    return cw.Net(model if model is not None else small_cnn().eval(), Preprocess(size=SIZE))


def visualizer(model=None, target: int = 3, **kwargs) -> cw.ClassVisualizer:
    return cw.ClassVisualizer(small_net(model), target, **{"steps": 6, "start": False, **kwargs})


@pytest.fixture
def fast_frames(monkeypatch):
    monkeypatch.setattr(cw.ClassVisualizer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.ClassVisualizer, "ACK_PATIENCE", 0.0)


def pixels(picture) -> np.ndarray:
    return np.array((picture if isinstance(picture, Image.Image) else Image.open(picture)).convert("RGB"))


def test_start_shows_both_recipes_side_by_side_with_their_probabilities(fast_frames):
    model = small_cnn().eval()
    w = visualizer(model, steps=6, seed=2)
    frames = []
    w.observe(lambda c: c.new and frames.append(c.new), names="frame")
    with Untouched(model):
        Frontend(w, ack=True).run()
        w.wait()
    assert w.error == "" and not w.busy and w.step == 12  # 6 steps of each recipe
    assert frames, "live frames were sent"
    alone = [class_visualization(w.net, 3, preset, steps=6, seed=2) for preset in ("cs231n", "distill")]
    np.testing.assert_array_equal(pixels(w.final), np.asarray(image_strip(torch.cat(alone))))
    x = (torch.cat(alone) - torch.tensor(w.net.preprocess.mean).reshape(1, 3, 1, 1)) / torch.tensor(
        w.net.preprocess.std
    ).reshape(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.softmax(model(x), -1)[:, 3]
    np.testing.assert_allclose(w.probs, expected.numpy(), atol=1e-5)
    assert [c.split(" · ")[0] for c in w.captions] == ["cs231n", "distill"]
    assert all(f"p {p:.3f}" in c for c, p in zip(w.captions, w.probs))
    assert w.status.startswith("done: step 12/12") and "p(class)" in w.status
    w.close()


def test_one_recipe_and_the_class_picked_from_the_page(fast_frames):
    w = visualizer(recipe="cs231n")
    page = Frontend(w)
    page.set(target=7)
    assert w.target == 7 and w.class_label == "class 7" and "class 7" in w.status
    page.set(target=10)  # out of range: the banner says so, the class stays
    assert w.target == 7 and "0..9" in w.error
    page.run()
    w.wait()
    assert w.step == 6 and len(w.probs) == 1 and w.visualizations[0].target == 7
    w.close()


def test_stop_within_a_step_then_resume_to_the_same_end(monkeypatch):
    monkeypatch.setattr(cw.ClassVisualizer, "FRAME_INTERVAL", 0.0)
    w = visualizer(SlowCNN(0.01).eval(), steps=40, recipe="cs231n")
    w.run()
    deadline = time.monotonic() + 30
    while (not w.visualizations or w.visualizations[0].step < 4) and time.monotonic() < deadline:
        time.sleep(0.005)
    w.stop()
    at = w.visualizations[0].step
    w.wait()
    stopped = w.visualizations[0].step
    assert 4 <= stopped <= at + 1 < 40 and w.status.startswith(f"stopped at step {stopped}/40")
    Frontend(w).resume()
    w.wait()
    assert w.step == 40 and w.status.startswith("done: step 40/40")
    whole = class_visualization(w.net, 3, "cs231n", steps=40)
    assert torch.equal(w.visualizations[0].image(), whole)
    Frontend(w).resume()  # at the end: that many more
    w.wait()
    assert w.step == 80
    w.close()


def test_facets_come_from_the_latest_scan(fast_frames):
    net = small_net()
    with pytest.raises(FeatureVisError, match="facets need a dataset scan.*cw.scan"):
        cw.ClassVisualizer(net, 3, steps=2, start=False, recipe="cs231n", facets=2)  # refused before a view is made
    w = cw.ClassVisualizer(net, 3, steps=2, start=False, recipe="cs231n")
    w.facets = 2
    assert "scan a dataset first" in w.facets_note
    with pytest.raises(FeatureVisError, match="facets need a dataset scan.*cw.scan"):
        w.run()  # no scan yet: Start says how to get one (in Python it raises; from the page, the banner says it)
    Frontend(w).run()
    assert "facets need a dataset scan" in w.error
    images = [
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)) for i in range(24)
    ]
    scan = cw.scan(net, images, progress=False, cache=False)
    target = int(np.bincount(scan.predicted).argmax())
    w.error = ""
    w.target = target
    assert "offers facets" in w.facets_note
    w.run()
    w.wait()
    assert w.error == "" and len(w.probs) == 3  # cs231n, then two facets
    assert [c.split(" · ")[0] for c in w.captions] == ["cs231n", "facet 1", "facet 2"]
    w.close()
    del scan


def test_bad_arguments_raise_before_a_view_is_made():
    net = small_net()
    with pytest.raises(ViewError, match="0..9"):
        cw.ClassVisualizer(net, 10)
    with pytest.raises(SettingError, match="both.*cs231n.*distill"):
        cw.ClassVisualizer(net, 1, recipe="lucid")
    with pytest.raises(ArgumentTypeError, match="recipe, steps, seed, facets"):
        cw.ClassVisualizer(net, 1, octaves=3)
    with pytest.raises(ArgumentTypeError, match="start must be True or False"):
        cw.ClassVisualizer(net, 1, start="yes")


def test_a_nan_gradient_lands_in_the_banner_with_the_last_good_pictures(fast_frames):
    model = torch.nn.Sequential(NanGradient(), small_cnn()).eval()
    w = visualizer(model, recipe="cs231n", steps=10)
    w.run()
    w.wait()
    assert "NaN" in w.error and w.step == 0 and w.status.startswith("failed")
    start = class_visualization(w.net, 3, "cs231n", steps=0, seed=0)
    np.testing.assert_array_equal(pixels(w.final), np.asarray(image_strip(start)))  # the last good picture
    w.close()
