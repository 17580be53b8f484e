"""SaliencyExplorer, Python side: sanity check and deletion/insertion panels, their plotly charts, and the
image picker (bundled samples and uploads, with every refusal shown in the banner).

Results are compared with direct engine calls.
"""

from __future__ import annotations

import io
import re

import ipywidgets
import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine.images import SAMPLES
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.analyses import SANITY_STEPS
from cnnviz_widgets.widgets.photo import MAX_UPLOAD_BYTES
from cnnviz_widgets.widgets.traits import Heatmap

from .conftest import hook_count


def decode(value) -> np.ndarray:
    """A heat-map trait's values, or an array as it travels ({dtype, shape, buffer})."""
    if isinstance(value, Heatmap):
        return value.values
    return np.frombuffer(value["buffer"], dtype=value["dtype"]).reshape(value["shape"])


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# -- sanity check and deletion/insertion -----------------------------------------------------------------------
def test_sanity_check_matches_the_engine(explorer, default_net):
    explorer.run_sanity_check(steps=3)
    explorer.wait()
    assert explorer.error == "" and not explorer.busy
    want = engine.sanity_check(
        default_net.model, default_net.tensor(cw.sample_image("cat")), 285, "gradcam", "_blocks.15", steps=3
    )
    got = explorer.sanity
    assert got["method"] == "gradcam" and got["layer"] == "_blocks.15"
    assert got["names"] == want.names and got["names"][0] == "original" and len(got["names"]) == 4
    np.testing.assert_allclose(got["correlation"], want.correlation.numpy(), atol=1e-6)
    assert got["maps"]["shape"] == [4, 224, 224]
    np.testing.assert_allclose(decode(got["maps"]), want.maps.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(decode(got["maps"])[0], decode(explorer.heatmap), rtol=1e-5, atol=1e-7)
    assert re.match(
        r"sanity check of Grad-CAM: rank correlation -?[\d.]+ with every layer randomised$", explorer.status
    )
    assert hook_count(default_net.model) == 0


def test_sanity_button_runs_the_default_cascade(explorer):
    explorer.method = "gradient"
    explorer.wait()
    Frontend(explorer).run("sanity")
    explorer.wait()
    assert explorer.error == ""
    assert explorer.sanity["method"] == "gradient" and explorer.sanity["layer"] is None
    assert len(explorer.sanity["names"]) == SANITY_STEPS + 1


def test_sanity_check_passes_the_methods_own_steps_option():
    torch.manual_seed(0)  # a small random CNN keeps integrated gradients quick
    tiny = nn.Sequential(
        nn.Conv2d(3, 4, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 10)
    )
    w = cw.SaliencyExplorer(
        tiny,
        cw.sample_image("cat"),
        method="integrated_gradients",
        options={"integrated_gradients": {"steps": 4, "baseline": "blur"}},
    )
    w.run_sanity_check(steps=1)
    w.wait()
    assert w.error == "" and len(w.sanity["names"]) == 2
    x = w.net.tensor(cw.sample_image("cat"))
    want = engine.sanity_check(
        tiny, x, w.target, "integrated_gradients", options={"steps": 4, "baseline": "blur"}, steps=1
    )
    np.testing.assert_allclose(decode(w.sanity["maps"]), want.maps.numpy(), rtol=1e-4, atol=1e-6)
    default = engine.sanity_check(tiny, x, w.target, "integrated_gradients", options={"baseline": "blur"}, steps=1)
    assert not np.allclose(decode(w.sanity["maps"]), default.maps.numpy(), rtol=1e-4, atol=1e-6)
    w.close()


def test_deletion_insertion_matches_the_engine(explorer, default_net):
    explorer.run_deletion_insertion(steps=4)
    explorer.wait()
    assert explorer.error == ""
    x = default_net.tensor(cw.sample_image("cat"))
    want = engine.deletion_insertion(default_net.model, x, torch.from_numpy(decode(explorer.heatmap).copy()), 285, 4)
    got = explorer.curves
    assert got["method"] == "gradcam"
    np.testing.assert_allclose(got["fractions"], want.fractions.numpy())
    np.testing.assert_allclose(got["deletion"], want.deletion.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["insertion"], want.insertion.numpy(), rtol=1e-5, atol=1e-7)
    assert got["deletion_auc"] == pytest.approx(want.deletion_auc) and got["insertion_auc"] == pytest.approx(
        want.insertion_auc
    )
    assert got["deletion_auc"] < got["insertion_auc"]  # Grad-CAM on the cat is faithful
    assert explorer.status == f"Grad-CAM: deletion AUC {want.deletion_auc:.3f}, insertion AUC {want.insertion_auc:.3f}"


def test_faithfulness_button_waits_for_the_map_being_computed(explorer):
    explorer.method = "input_x_gradient"  # starts computing its map
    Frontend(explorer).run("faithfulness")  # queued behind it, not cancelling it
    explorer.wait()
    assert explorer.error == ""
    assert explorer.heatmap and explorer.curves["method"] == "input_x_gradient"
    assert len(explorer.curves["fractions"]) == 21


def test_results_are_cleared_when_they_no_longer_describe_the_map(explorer):
    explorer.run_sanity_check(steps=1)
    explorer.run_deletion_insertion(steps=2)
    explorer.wait()
    assert explorer.sanity and explorer.curves
    explorer.target = explorer.predictions[1]["index"]
    assert explorer.sanity == {} and explorer.curves == {}
    explorer.wait()


def test_a_newer_setting_cancels_a_queued_check(explorer):
    explorer.run_sanity_check(steps=6)
    explorer.method = "gradient"  # a new map: the check of the old one is dropped
    explorer.wait()
    assert explorer.sanity == {} and explorer.error == "" and explorer.status.startswith("Gradient for")


def test_charts_show_both_results(explorer):
    charts = explorer.charts
    assert isinstance(charts, ipywidgets.VBox) and explorer.charts is charts
    sanity_fig, curves_fig = charts.children
    assert isinstance(sanity_fig, go.FigureWidget) and isinstance(curves_fig, go.FigureWidget)
    assert sanity_fig.data[0].y in (None, ())  # empty until a check runs
    explorer.run_sanity_check(steps=2)
    explorer.run_deletion_insertion(steps=4)
    explorer.wait()
    np.testing.assert_allclose(sanity_fig.data[0].y, explorer.sanity["correlation"])
    assert list(sanity_fig.layout.xaxis.ticktext) == explorer.sanity["names"]
    assert sanity_fig.layout.title.text == "Sanity check: Grad-CAM"
    deletion, insertion = curves_fig.data
    np.testing.assert_allclose(deletion.y, explorer.curves["deletion"])
    np.testing.assert_allclose(insertion.x, explorer.curves["fractions"])
    assert deletion.name == f"deletion (AUC {explorer.curves['deletion_auc']:.3f})"
    assert insertion.name == f"insertion (AUC {explorer.curves['insertion_auc']:.3f})"
    explorer.target = explorer.predictions[1]["index"]  # results cleared: so are the charts
    assert tuple(sanity_fig.data[0].y) == () and deletion.name == "deletion"
    explorer.wait()


def test_dashboard_puts_the_charts_beside_the_explorer(explorer):
    board = explorer.dashboard()
    assert isinstance(board, ipywidgets.HBox) and board.children[0] is explorer
    assert board.children[1].children == (explorer.charts,) and board.layout.flex_flow == "row wrap"


# -- image picker -------------------------------------------------------------------------------------------------
def test_samples_are_offered_and_a_pick_loads_one(explorer):
    assert explorer.samples == list(SAMPLES) == ["cat", "coffee"]
    Frontend(explorer).sample("coffee")
    explorer.wait()
    assert explorer.error == "" and explorer.target == 967 and explorer.predictions[0]["index"] == 967


def test_an_unknown_sample_names_the_valid_ones(explorer):
    image = explorer.image
    Frontend(explorer).sample("dog")
    assert explorer.error == "unknown sample 'dog'; choose one of: cat, coffee" and explorer.image == image


def test_an_uploaded_image_is_explained(explorer, default_net):
    Frontend(explorer).upload("coffee.png", png(cw.sample_image("coffee")))
    explorer.wait()
    assert explorer.error == "" and explorer.target == 967
    want = engine.saliency(
        default_net.model, default_net.tensor(cw.sample_image("coffee")), 967, "gradcam", "_blocks.15"
    )[0]
    np.testing.assert_allclose(decode(explorer.heatmap), want.numpy(), rtol=1e-5, atol=1e-7)


def _bomb() -> bytes:
    """A small PNG file that claims 400 megapixels."""
    return png(Image.new("1", (20_000, 20_000)))


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("notes.txt", b"hello, not an image", r"^notes\.txt: could not read an image"),
        (
            "tiny.png",
            png(Image.new("RGB", (8, 8))),
            r"^tiny\.png: image is 8x8 pixels; the smallest accepted side is 16 pixels$",
        ),
        ("bomb.png", None, r"^bomb\.png: image (refused as too large|is 20000x20000)"),
        ("huge.png", b"\0" * (MAX_UPLOAD_BYTES + 1), r"^huge\.png is 20\.0 MB; uploads are limited to 20 MB$"),
    ],
    ids=["not-an-image", "too-small", "decompression-bomb", "over-20MB"],
)
def test_bad_uploads_show_in_the_banner_and_keep_the_picture(explorer, name, data, message):
    image, heat = explorer.image, explorer.heatmap
    Frontend(explorer).upload(name, _bomb() if data is None else data)
    assert re.search(message, explorer.error), explorer.error
    assert explorer.image == image and explorer.heatmap == heat and not explorer.busy


def test_an_upload_without_its_file_is_refused(explorer):
    Frontend(explorer).send("upload", name="x.png")
    assert explorer.error == "an upload carries its file as one binary buffer, got 0"


def test_unknown_requests_are_shown(explorer):
    Frontend(explorer).send("explode")
    assert explorer.error == "unknown request {'type': 'explode'}; this view handles: run, sample, stop, upload"


@pytest.mark.parametrize(
    "image",
    [cw.sample_image("coffee"), np.array(cw.sample_image("coffee")), png(cw.sample_image("coffee"))],
    ids=["pil", "array", "bytes"],
)
def test_set_image_still_accepts_pictures_arrays_and_bytes(explorer, image):
    explorer.set_image(image)
    explorer.wait()
    assert explorer.error == "" and explorer.target == 967
