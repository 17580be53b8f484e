"""SaliencyExplorer, Python side: recomputes on every control, shows failures instead of raising."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances as widget_instances
from ipywidgets.widgets.widget import _remove_buffers
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine import ImageError
from cnnviz_widgets.testing import Frontend

from .conftest import hook_count


def heat(widget) -> np.ndarray:
    return widget.heatmap.values


def expected(net, img, target, method, layer=None) -> np.ndarray:
    return engine.saliency(net.model, net.tensor(img), target, method=method, layer=layer)[0].numpy()


def test_initial_view_explains_the_top_class_at_the_last_block(explorer, default_net):
    assert explorer.error == "" and not explorer.busy
    assert [p["index"] for p in explorer.predictions][:1] == [285] and len(explorer.predictions) == 5
    assert explorer.target == 285 and explorer.method == "gradcam" and explorer.layer == "_blocks.15"
    np.testing.assert_allclose(
        heat(explorer),
        expected(default_net, cw.sample_image("cat"), 285, "gradcam", "_blocks.15"),
        rtol=1e-5,
        atol=1e-7,
    )
    assert explorer.get_state()["image"][:8] == b"\x89PNG\r\n\x1a\n"
    assert {row["name"] for row in explorer.layers} >= {"_blocks.15", "_conv_stem"}


def test_selecting_a_class_recomputes(explorer, default_net):
    second = explorer.predictions[1]["index"]
    before = heat(explorer).copy()
    explorer.target = second
    explorer.wait()
    assert explorer.error == ""
    now = heat(explorer)
    assert np.abs(now - before).max() > 0
    np.testing.assert_allclose(
        now, expected(default_net, cw.sample_image("cat"), second, "gradcam", "_blocks.15"), rtol=1e-5, atol=1e-7
    )


def test_selecting_method_and_layer_recomputes(explorer, default_net):
    img = cw.sample_image("cat")
    explorer.method = "gradient"
    explorer.wait()
    np.testing.assert_allclose(heat(explorer), expected(default_net, img, 285, "gradient"), rtol=1e-5, atol=1e-9)
    explorer.method = "gradcam"
    explorer.layer = "_blocks.8"
    explorer.wait()
    assert explorer.error == ""
    np.testing.assert_allclose(
        heat(explorer), expected(default_net, img, 285, "gradcam", "_blocks.8"), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "trait,value,message",
    [
        ("target", 1000, r"class 1000 is out of range; this model has 1000 classes \(0\.\.999\)"),
        ("method", "lime", r"unknown method 'lime'; choose one of: gradient, input_x_gradient, smoothgrad, .*gradcam"),
        ("layer", "_fc", r"'_fc' is not a layer with a spatial \(C, H, W\) output; choose one of: "),
        ("layer", "_blocks.99", r"unknown layer '_blocks\.99'; did you mean '_blocks\.9'"),
    ],
)
def test_bad_choices_show_in_the_widget_and_do_not_raise(explorer, default_net, trait, value, message):
    setattr(explorer, trait, value)  # must not raise into the cell
    explorer.wait()
    assert re.search(message, explorer.error), explorer.error
    assert hook_count(default_net.model) == 0


def test_failure_inside_the_job_is_shown_not_raised(default_net):
    class Flaky(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.fail = False

        def forward(self, x):
            if self.fail:
                raise RuntimeError("CUDA out of memory (simulated)")
            return self.inner(x)

    model = Flaky(default_net.model)
    w = cw.SaliencyExplorer(cw.Net(model, default_net.preprocess), cw.sample_image("coffee"))
    w.wait()
    assert w.error == "" and w.target == 967
    model.fail = True
    w.method = "gradient"
    w.wait()
    assert w.error == "RuntimeError: CUDA out of memory (simulated)" and not w.busy
    assert hook_count(model) == 0
    w.close()


@pytest.mark.parametrize(
    "image,message", [(np.zeros((8, 8, 3), np.uint8), "smallest accepted side is 16"), ("missing.png", "no image file")]
)
def test_a_bad_image_raises_in_python_and_leaves_no_view_behind(default_net, image, message):
    views = len(widget_instances)
    with pytest.raises(ImageError, match=message):
        cw.SaliencyExplorer(default_net, image)
    assert len(widget_instances) == views, "a half-made view (an open comm) was left behind"
    w = cw.SaliencyExplorer(default_net, cw.sample_image("coffee"))
    w.wait()
    with pytest.raises(ImageError, match=message):
        w.set_image(image)  # from Python it raises; the current picture stays
    assert w.error == "" and w.target == 967 and heat(w).shape == (224, 224)
    Frontend(w).sample("nope")  # from the view's picker: the banner
    assert "unknown sample 'nope'; choose one of: cat, coffee" in w.error and w.target == 967
    w.close()


def test_model_without_conv_layers_shows_why(default_net):
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 224 * 224, 10))
    w = cw.SaliencyExplorer(mlp, cw.sample_image("cat"))
    w.wait()
    assert "no layer with a spatial (C, H, W) output" in w.error
    w.method = "gradient"
    w.wait()
    assert w.error == "" and heat(w).shape == (224, 224)
    w.close()


def test_heatmap_travels_as_a_binary_buffer(explorer):
    state, paths, buffers = _remove_buffers(explorer.get_state())
    assert ["heatmap", "buffer"] in paths and ["image"] in paths
    wire = explorer.get_state()["heatmap"]
    assert wire["dtype"] == "float32" and wire["shape"] == [224, 224]
    assert sum(len(bytes(b)) for b in buffers) >= 224 * 224 * 4
    assert "buffer" not in state["heatmap"]


def test_stop_message_cancels_a_running_job(default_net):
    w = cw.SaliencyExplorer(default_net, cw.sample_image("cat"))
    w.wait()
    started, release = threading.Event(), threading.Event()

    def slow(job):
        started.set()
        while not release.wait(0.01):
            job.check()

    job = w.submit(slow)
    assert started.wait(5) and w.busy
    Frontend(w).stop()
    job.thread.join(5)
    assert not job.thread.is_alive() and not w.busy and w.status == "stopped" and w.error == ""
    w.close()


def test_close_joins_the_job_and_releases_the_model(default_net):
    w = cw.SaliencyExplorer(default_net, cw.sample_image("cat"))
    job = w._job
    w.close()
    assert not job.thread.is_alive() and w.net is None


def test_constructor_is_strict(default_net):
    with pytest.raises(TypeError):
        cw.SaliencyExplorer(default_net, cw.sample_image("cat"), methd="gradient")
    with pytest.raises(TypeError, match="cw.load_model"):
        cw.SaliencyExplorer("efficientnet", cw.sample_image("cat"))
    with pytest.raises(ValueError, match="choose one of: inferno, viridis, jet, gray"):
        cw.SaliencyExplorer(default_net, cw.sample_image("cat"), colormap="rainbow")


def test_tensor_image_input(default_net):
    t = torch.from_numpy(np.array(cw.sample_image("coffee"))).permute(2, 0, 1).float() / 255
    w = cw.SaliencyExplorer(default_net, t, method="gradient")
    w.wait()
    assert w.error == "" and w.target == 967
    w.close()


def test_model_that_cannot_run_on_its_input_size_raises():
    class Picky(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            if x.shape[-1] != 32:
                raise RuntimeError(f"expected 32x32 input, got {tuple(x.shape[-2:])}")
            return self.conv(x).mean(dim=(2, 3))

    views = len(widget_instances)
    with pytest.raises(RuntimeError, match=r"expected 32x32 input, got \(224, 224\)"):
        cw.SaliencyExplorer(Picky(), cw.sample_image("cat"))  # an argument given in Python raises in Python
    assert len(widget_instances) == views
