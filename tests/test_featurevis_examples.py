"""The FeatureVisualizer's dataset examples (Distill's side-by-side) and the engine's registry of scans behind them:
a scan becomes its model's latest, never keeps a model alive, and the view shows exactly the unit's top items of that
scan, which a brute-force pass over the images (every image's map peak per channel, sorted) confirms; another unit,
layer or kind updates them, and a model without a scan, or a layer the scan left out, gets the note instead.
"""

from __future__ import annotations

import copy
import gc
import io
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.datasets import stand_in
from cnnviz_widgets.engine.errors import ArgumentTypeError
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.patches import top_patches
from cnnviz_widgets.engine.scan import latest_scan
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.examples import NO_SCAN, SIDE

from .conftest import Untouched, small_cnn

SIZE = 32
IMAGES = 24


@pytest.fixture(scope="module")
def images():
    data = stand_in(n=IMAGES, size=SIZE, seed=2)
    return [data[i][0] for i in range(IMAGES)]


def small_net(seed: int = 0) -> cw.Net:
    return cw.Net(small_cnn(seed).eval(), Preprocess(size=SIZE))


def scanned(net: cw.Net, images, layers=("conv2",)):
    return cw.scan(net, images, list(layers), cache=False, workers=0, progress=False)


def visualizer(net: cw.Net, objective: str = "conv2:3", **kwargs) -> cw.FeatureVisualizer:
    view = cw.FeatureVisualizer(net, objective, size=SIZE, steps=2, start=False, **kwargs)
    view.wait()
    return view


def brute_force_top(net: cw.Net, images, channel: int, k: int = 9):
    """Each image's peak of conv2's ``channel`` map, computed by hand on a copy of the model, best first (ties: the
    smaller index): ``[(index, value)]``."""
    model = copy.deepcopy(net.model).eval()
    peaks = []
    with torch.no_grad():
        for i, image in enumerate(images):
            x = net.tensor(image)
            maps = model.conv2(torch.relu(model.bn(model.conv(x))))
            peaks.append((i, float(maps[0, channel].max())))
    return sorted(peaks, key=lambda p: (-p[1], p[0]))[:k]


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# -- the engine's registry ---------------------------------------------------------------------------------------------
def test_a_scan_becomes_its_models_latest_and_another_model_has_none(images):
    net, other = small_net(), small_net()
    assert latest_scan(net) is None
    first = scanned(net, images)
    assert latest_scan(net) is first and latest_scan(net.model) is first  # a Net and its module share it
    assert latest_scan(other) is None and latest_scan(small_cnn()) is None
    second = cw.scan(net.model, images[:5], ["conv"], cache=False, workers=0, progress=False)
    assert latest_scan(net) is second  # the bare module is the same model
    with pytest.raises(ArgumentTypeError, match="Net or an nn.Module"):
        latest_scan("conv2")


def test_a_partial_scan_counts_as_it_runs(images):
    net = small_net()
    steps = cw.engine.scan_steps(net, images, ["conv2"], cache=False, workers=0, batch_size=4)
    update = next(steps)
    assert latest_scan(net) is update.result and not update.result.complete
    steps.close()
    assert latest_scan(net) is update.result  # stopped: it stays the latest


def test_the_registry_keeps_no_model_alive(images):
    net = small_net()
    result = scanned(net, images[:4])
    gone = weakref.ref(net.model)
    del net
    gc.collect()
    assert gone() is None
    assert result.complete  # the scan itself lives on with whoever holds it


# -- the view ----------------------------------------------------------------------------------------------------------
def test_the_view_shows_the_units_top_items_of_the_models_scan(images):
    net = small_net()
    with Untouched(net.model):
        result = scanned(net, images)
        view = visualizer(net)
        for unit in (3, 5):
            if unit != 3:
                Frontend(view).set(unit=unit)
                view.wait()
            shown = view.examples
            expected = brute_force_top(net, images, unit)
            assert shown["layer"] == "conv2" and shown["unit"] == unit
            assert [it["item"] for it in shown["items"]] == [i for i, _ in expected]
            np.testing.assert_allclose([it["value"] for it in shown["items"]], [v for _, v in expected], rtol=1e-4)
            top = result.top["conv2"]
            assert [it["item"] for it in shown["items"]] == top.index[unit].tolist()
            assert [it["name"] for it in shown["items"]] == [result.names[i] for i, _ in expected]
            crops = top_patches(net, result, "conv2", unit, project=False)
            assert len(shown["crops"]) == len(crops)
            for data, patch in zip(shown["crops"], crops):
                picture = png(data)
                scale = picture.shape[0] // patch.crop.shape[0]
                assert min(picture.shape[:2]) >= SIDE and picture.shape[1] == scale * patch.crop.shape[1]
                np.testing.assert_array_equal(picture[::scale, ::scale], patch.crop)  # nearest neighbour
            assert "strongest first" in shown["note"]
        Frontend(view).set(kind="neuron")  # a neuron of a channel shows its channel's examples
        view.wait()
        assert view.examples["unit"] == 5 and len(view.examples["items"]) == 9
        view.close()


def test_no_scan_an_unscanned_layer_or_another_kind_show_a_note(images):
    net = small_net()
    view = visualizer(net)
    assert view.examples == {"note": NO_SCAN}
    kept = scanned(net, images, ["conv"])  # held: the registry keeps no scan alive by itself
    view.refresh_examples()  # a scan of a layer the objective is not on
    view.wait()
    assert "items" not in view.examples and "'conv2'" in view.examples["note"] and "cw.scan" in view.examples["note"]
    Frontend(view).set(layer="conv", unit=1)
    view.wait()
    assert view.examples["layer"] == "conv" and [it["item"] for it in view.examples["items"]] == (
        kept.top["conv"].index[1].tolist()
    )
    Frontend(view).set(kind="class_logit")
    view.wait()
    assert view.examples == {"note": "dataset examples are shown for a channel or neuron objective"}
    view.close()


def test_start_looks_for_a_scan_made_since(images):
    net = small_net()
    view = visualizer(net)
    assert "items" not in view.examples
    result = scanned(net, images)
    view.run()
    view.wait()
    assert view.examples["unit"] == 3 and [it["item"] for it in view.examples["items"]] == (
        result.top["conv2"].index[3].tolist()
    )
    view.close()


def test_the_registry_keeps_no_scan_alive(images):
    """A scan nobody holds (a closed explorer's, with its feature tables) is freed, not kept by the registry."""
    net = small_net()
    result = scanned(net, images[:4])
    gone = weakref.ref(result)
    assert latest_scan(net) is result
    del result
    gc.collect()
    assert gone() is None and latest_scan(net) is None
