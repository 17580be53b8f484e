"""DatasetExplorer, Python side, driven as the page drives it (testing.Frontend): the scan it shows is the engine's,
Stop keeps a partial scan that Scan resumes to the same result, the patches, neighbours and embedding are those the
engine's functions (checked against brute force in their own tests) give for what was clicked, an uploaded copy of
a dataset image finds that image first, bad input raises in Python or lands in the banner, and the model is
untouched.
"""

from __future__ import annotations

import io
import re
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.datasets import stand_in
from cnnviz_widgets.engine.errors import ArgumentTypeError, LayerError, ScanError, SettingError
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.patches import top_patches
from cnnviz_widgets.testing import Frontend

from .conftest import Untouched
from .test_scan import tiny

SIZE = 48
IMAGES = 40


def small_net(model=None) -> cw.Net:
    return cw.Net(model if model is not None else tiny(), Preprocess(size=SIZE))  # batch norm in training mode


@pytest.fixture(scope="module")
def images():
    data = stand_in(n=IMAGES, size=SIZE, seed=1)
    return [data[i][0] for i in range(IMAGES)]


def explorer(images, tmp_path, net=None, **kwargs) -> cw.DatasetExplorer:
    view = cw.DatasetExplorer(net or small_net(), images, ["2", "4"], cache=tmp_path, workers=0, **kwargs)
    view.wait(120)
    return view


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_view_shows_the_engines_scan_and_the_clicked_units_patches(images, tmp_path):
    net = small_net()
    with Untouched(net.model):
        view = explorer(images, tmp_path, net)
        reference = cw.scan(net, images, ["2", "4"], cache=False, workers=0, progress=False)
    scan = view.scan
    assert scan.complete and view.summary["scanned"] == IMAGES and view.summary["complete"]
    for layer in ("2", "4"):
        assert torch.equal(scan.top[layer].index, reference.top[layer].index)
    assert [r["name"] for r in view.layers] == ["2", "4"]
    assert view.overview["layer"] == "2" and view.overview["count"] == 8  # a cell per channel

    Frontend(view).set(layer="4")
    view.wait()
    Frontend(view).set(unit=3)
    view.wait()
    want = top_patches(net, scan, "4", 3)
    shown = view.patches
    assert (shown["layer"], shown["unit"]) == ("4", 3)
    assert [p["item"] for p in shown["items"]] == [p.index for p in want]
    assert [p["box"] for p in shown["items"]] == [list(p.box) for p in want]
    assert len(shown["projections"]) == len(shown["items"])
    first = want[0]
    crop = png(shown["crops"][0])
    assert crop.shape[0] % first.crop.shape[0] == 0  # enlarged by a whole factor, pixels kept
    factor = crop.shape[0] // first.crop.shape[0]
    np.testing.assert_array_equal(crop[::factor, ::factor], first.crop)

    Frontend(view).set(item=first.index)  # a click on the patch: its image in focus, the patch's field boxed
    view.wait()
    assert view.focus["item"] == first.index and view.focus["box"] == list(first.box)
    np.testing.assert_array_equal(png(view.focus["image"]), np.asarray(net.view(images[first.index])))
    view.close()


@pytest.mark.parametrize("cached", [True, False], ids=["on disk", "in memory"])
def test_stop_keeps_a_partial_scan_and_scan_resumes_it_to_the_same_result(images, tmp_path, cached):
    net = small_net()
    cache = tmp_path if cached else False
    view = cw.DatasetExplorer(net, images, ["2", "4"], cache=cache, workers=0, batch_size=8, start=False)
    gate = threading.Event()
    stopped = []

    def stop_after_first_batch(change):
        if change.new and not stopped and view.scanning:
            stopped.append(change.new)
            Frontend(view).stop()
            gate.set()

    view.observe(stop_after_first_batch, names="summary")
    Frontend(view).run()
    gate.wait(60)
    view.wait(60)
    partial = view.scan
    assert view.status == "stopped" or not partial.complete
    assert 0 < int(partial.scanned.sum()) < IMAGES
    assert view.overview.get("layer") == "2"  # a stopped scan's patches are shown

    done = int(partial.scanned.sum())
    passes = []
    view.observe(lambda change: passes.append(int(change.new.get("scanned", 0))), names="summary")
    Frontend(view).run()
    view.wait(120)
    assert passes and min(passes) > done, (done, passes)  # it went on from where it stopped, never from 0
    full = cw.scan(net, images, ["2", "4"], cache=False, workers=0, progress=False, batch_size=8)
    assert view.scan.complete
    for layer in ("2", "4"):
        assert torch.equal(view.scan.top[layer].values, full.top[layer].values)
    view.close()


def test_neighbours_of_a_clicked_image_and_of_an_uploaded_copy(images, tmp_path):
    view = explorer(images, tmp_path, tab="neighbours")
    space = view.space
    Frontend(view).set(item=7)
    view.wait()
    rows = view.neighbours
    features = np.asarray(view.scan.features[space], dtype=np.float64)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    distance = 1 - unit @ unit[7]
    distance[7] = np.inf
    assert [r["item"] for r in rows["features"]] == list(np.argsort(distance, kind="stable")[: view.count])
    assert len(rows["pixels"]) == view.count and 7 not in [r["item"] for r in rows["pixels"]]

    buffer = io.BytesIO()
    images[12].save(buffer, format="PNG")
    Frontend(view).upload("query.png", buffer.getvalue())
    view.wait()
    assert view.item == -2 and view.focus["item"] == -2
    assert view.neighbours["features"][0]["item"] == 12 and view.neighbours["features"][0]["distance"] < 1e-5
    assert view.neighbours["pixels"][0]["item"] == 12
    view.close()


def test_the_embedding_tab_lays_out_every_scanned_image_and_answers_the_chart(tmp_path):
    labelled = stand_in(n=IMAGES, size=SIZE, seed=1)  # a torch Dataset with classes
    view = explorer(labelled, tmp_path, tab="embedding")
    shown = view.embedding
    assert sorted(shown["items"]) == list(range(IMAGES)) and len(shown["x"]) == IMAGES
    assert view.grid is not None and view.grid.size[0] > 0
    board = view.dashboard()
    # The chart comes first (above the view in a narrow cell, where the view's top shows the hovered image), laid out
    # right to left (on one row it is on the view's right, as every other view's charts are).
    assert board.children[1] is view and board.layout.flex_flow == "row-reverse wrap"
    figure = board.children[0].children[0]
    assert sum(len(t.x) for t in figure.data) == IMAGES
    # A point's hover label names its image by its index once (the stand-in's images are named "#i"), then its class.
    labels = {
        int(item): re.sub(r"<[^>]*>", " ", t.hovertemplate.replace("%{text}", text).replace("%{customdata}", str(item)))
        for t in figure.data
        for item, text in zip(t.customdata, t.text)
    }
    assert len(re.findall(r"\b5\b", labels[5])) == 1 and view.embedding["predicted"][5] in labels[5], labels[5]
    view.hover(5)
    assert view.hovered["item"] == 5 and view.hovered["name"] == view.scan.names[5]
    view.choose([3, 4, 9])
    assert view.selection["items"] == [3, 4, 9] and len(view.selection["images"]) == 3
    Frontend(view).set(color="true")
    view.wait()
    assert {t.name for t in figure.data} == {labelled.classes[labelled[i][1]] for i in range(IMAGES)}
    view.close()


def test_bad_arguments_raise_before_a_view_is_made(images, tmp_path):
    net = small_net()
    with pytest.raises(LayerError, match="'nope'"):
        cw.DatasetExplorer(net, images, ["nope"], cache=tmp_path, start=False)
    with pytest.raises(ScanError, match="no spatial"):
        cw.DatasetExplorer(net, images, ["7"], cache=tmp_path, start=False)
    with pytest.raises(ScanError, match="empty|no image"):
        cw.DatasetExplorer(net, tmp_path, cache=tmp_path, start=False)
    with pytest.raises(SettingError, match="metric"):
        cw.DatasetExplorer(net, images, cache=tmp_path, start=False, metric="manhattan")
    with pytest.raises(ArgumentTypeError, match="the settings are"):
        cw.DatasetExplorer(net, images, cache=tmp_path, start=False, colour="true")
    with pytest.raises(ValueError, match="tab"):
        cw.DatasetExplorer(net, images, cache=tmp_path, start=False, tab="pixels")
    with pytest.raises(ScanError, match="workers"):
        cw.DatasetExplorer(net, images, cache=tmp_path, start=False, workers=-1)
    with pytest.raises(ScanError, match="cache must be"):
        cw.DatasetExplorer(net, images, cache=5, start=False)


def test_bad_values_from_the_page_land_in_the_banner(images, tmp_path):
    view = explorer(images, tmp_path)
    Frontend(view).set(unit=99)
    assert view.unit == 0 and "0..7" in view.error
    Frontend(view).set(item=IMAGES)
    assert view.item == -1 and "item" in view.error
    Frontend(view).set(space="2")
    assert "choose one of" in view.error
    Frontend(view).set(tab="neighbours")
    view.wait()
    with_features = view.scan
    with_features.scanned[3] = False  # as if image 3 had not been reached
    Frontend(view).set(item=3)
    view.wait()
    assert "image 3" in view.error and "press Scan" in view.error
    Frontend(view).upload("notes.png", b"not an image")
    assert "notes.png" in view.error or "image" in view.error
    view.close()
    assert view.scan is None and view.net is None


class FailsLater(nn.Module):
    """The small CNN, failing on its second batch of 8 (a corrupt batch, a device error) until told otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = tiny()
        self.calls = [0]
        self.broken = [True]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0] == 8
        self.calls[0] += batch
        if batch and self.broken[0] and self.calls[0] == 2:
            raise RuntimeError("the device fell over")
        return self.inner(x)


def test_a_scan_that_fails_halfway_keeps_what_it_has_and_resumes(images, tmp_path):
    model = FailsLater().eval()
    net = small_net(model)
    view = cw.DatasetExplorer(net, images, ["inner.2"], cache=tmp_path, workers=0, batch_size=8)
    view.wait(60)
    assert "RuntimeError: the device fell over" in view.error
    assert not view.scanning and view.summary["scanned"] == 8  # the batch before the failure
    assert view.overview.get("layer") == "inner.2"  # what it has is shown
    model.broken[0] = False
    Frontend(view).run()
    view.wait(60)
    assert view.scan.complete and view.error == ""
    full = cw.scan(small_net(tiny()), images, ["2"], cache=False, workers=0, progress=False, batch_size=8)
    assert torch.equal(view.scan.top["inner.2"].values, full.top["2"].values)
    view.close()
