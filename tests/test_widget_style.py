"""StyleTransfer and TextureSynthesis views, Python side: the picture and loss curves are the engine's own run with
the view's settings, the blend and layer weights reach the engine, Stop lands within a step and Resume finishes the
same run, the view names the model and recipe and notes what it did to the inputs, bad input raises in Python (with
the valid choices) or lands in the banner, and the user's model is left as it was.

A small CNN on 32 px pictures keeps the runs short; a copy that sleeps in every forward pass makes a run long enough
to stop it halfway.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import ArgumentTypeError, FeatureVisError, LayerError, SettingError
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.style import Transfer, preset_for
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets import styling
from cnnviz_widgets.widgets.frames import image_strip

from .conftest import Untouched, hook_count, small_cnn
from .test_widget_featurevis import SlowCNN

SIZE = 32


def photo(seed: int, size=(40, 48), mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (size[0], size[1], 3) if mode == "RGB" else size
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def net_of(model=None) -> cw.Net:
    return cw.Net(model if model is not None else small_cnn().eval())


def transfer(model=None, styles=None, **kwargs) -> cw.StyleTransfer:
    styles = styles if styles is not None else [photo(1, (30, 30))]
    return cw.StyleTransfer(net_of(model), photo(0), styles, **{"size": SIZE, "steps": 6, "start": False, **kwargs})


def pixels(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB")).astype(int)


@pytest.fixture
def fast_frames(monkeypatch):
    monkeypatch.setattr(cw.StyleTransfer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.StyleTransfer, "ACK_PATIENCE", 0.0)


def test_start_shows_the_engines_run_with_its_loss_curves(fast_frames):
    model = small_cnn().eval()
    styles = [photo(1, (30, 30)), photo(2, (20, 36))]
    with Untouched(model):
        w = transfer(model, styles, style_weights=[1, 3], seed=4)
        frames = []
        w.observe(lambda c: c.new and frames.append(c.new.size), names="frame")
        Frontend(w, ack=True).run()
        w.wait()
        assert w.error == "" and not w.busy and w.step == 6 and w.progress == 1.0
        assert frames and set(frames) == {(SIZE, 27)}  # live frames at the content's aspect ratio
        alone = Transfer(w.net, photo(0), styles, style_weights=[1, 3], size=SIZE, steps=6, seed=4)
        last(alone.steps())
        np.testing.assert_array_equal(pixels(w.final), pixels(image_strip(alone.image())))
        assert set(w.curves) == {"content", "style", "tv", "total"}
        for name, values in alone.curves.items():
            np.testing.assert_allclose(w.curves[name], values, rtol=1e-6)
        totals = np.array(w.curves["content"]) + np.array(w.curves["style"]) + np.array(w.curves["tv"])
        np.testing.assert_allclose(w.curves["total"], totals, rtol=1e-6)
        assert w.transfer.mix == pytest.approx([0.25, 0.75])
        assert w.recipe == f"features of {w.net.name}, recipe {preset_for(w.net).name}"
        assert w.status.startswith("done: step 6/6") and "loss" in w.status
        assert len(w.sources["styles"]) == 2 and "content" in w.sources
        w.close()
    assert hook_count(model) == 0


def test_the_notes_say_what_was_done_to_a_style_picture():
    w = transfer(styles=[photo(1, (30, 20), mode="L")])
    assert "style 1 was L: used as RGB" in w.notes
    assert any(n.startswith("style 1 resized from 20x30 to") for n in w.notes)
    assert w.status.startswith("press Start to paint the content photo in the style picture at 32 px")
    w.close()


def test_weights_from_the_page_reach_the_engine_and_bad_ones_go_to_the_banner():
    w = transfer(styles=[photo(1, (30, 30)), photo(2, (30, 30))], steps=1)
    page = Frontend(w)
    page.set(style_weights=[2.0, 6.0])
    assert w.style_weights == [2.0, 6.0] and w.error == ""
    for bad, words in (([0, 0], "must not all be 0"), ([1.0], "a list of 2 number"), ([-1, 1], "0..1e+07")):
        page.set(style_weights=bad)
        assert words in w.error and w.style_weights == [2.0, 6.0]
    layers = list(w.style_layers)
    page.set(layer_weights=[0.0, 7.0])
    assert w.layer_weights == [0.0, 7.0]
    page.set(layer_weights=[1.0])
    assert "a list of 2 number" in w.error and w.layer_weights == [0.0, 7.0]
    page.run()
    w.wait()
    assert w.error == "" and w.transfer.mix == pytest.approx([0.25, 0.75])
    assert w.transfer.preset.style == ((layers[0], 0.0), (layers[1], 7.0))
    with pytest.raises(FeatureVisError, match="must not all be 0"):
        w.style_weights = [0, 0]
    w.close()


def test_stop_lands_within_a_step_and_resume_finishes_the_same_picture():
    w = transfer(SlowCNN(0.02).eval(), steps=30)
    try:
        front = Frontend(w, ack=True)
        front.run()
        deadline = time.monotonic() + 30
        while (w.transfer is None or w.transfer.step < 3) and time.monotonic() < deadline:
            time.sleep(0.005)
        front.stop()
        at = w.transfer.step
        w.wait()
        stopped = w.transfer.step
        assert 3 <= stopped <= at + 1 < 30 and w.status.startswith(f"stopped at step {stopped}/30")
        assert w.final is not None
        front.resume()
        w.wait()
        assert w.step == 30 and w.status.startswith("done: step 30/30") and len(w.curves["total"]) == 30
        whole = Transfer(net_of(), photo(0), [photo(1, (30, 30))], size=SIZE, steps=30)
        last(whole.steps())
        np.testing.assert_allclose(w.transfer.image(), whole.image(), atol=1e-5)
        front.resume()  # at the end: a run's steps more
        w.wait()
        assert w.step == 60
    finally:
        w.close()


def test_texture_synthesis_grows_a_square_texture_from_noise(fast_frames):
    model = small_cnn().eval()
    texture = photo(3, (36, 36))
    with Untouched(model):
        w = cw.TextureSynthesis(net_of(model), texture, size=SIZE, steps=5, start=False, seed=1)
        assert w.mode == "texture" and "content" not in w.sources
        names = [o["name"] for o in w.schema]
        assert "balance" not in names and "init" not in names and "keep_colors" not in names and "size" in names
        Frontend(w, ack=True).run()
        w.wait()
        alone = Transfer(w.net, None, texture, size=SIZE, steps=5, init="noise", seed=1)
        last(alone.steps())
        assert w.final.size == (SIZE, SIZE) and w.transfer.content is None
        np.testing.assert_array_equal(pixels(w.final), pixels(image_strip(alone.image())))
        assert not any(w.curves["content"]) and "content" not in w.status
        Frontend(w).set(layer_weights=[0.0, 0.0])
        Frontend(w).run()  # nothing to match: the banner says what would happen
        assert "nothing would be matched" in w.error and "noise" in w.error
        w.close()


def test_a_superseded_runs_summary_is_not_shown():
    w = transfer(steps=2)
    try:
        w.run()
        w.wait()
        assert w.summary(w._styling.settings, None, "done", 1.0).startswith("done: step 2/2")
        assert w.summary(w.freeze(), None, "stopped", 1.0) == ""  # equal settings, but another Start's
    finally:
        w.close()


def test_the_loss_chart_is_on_a_log_scale_and_hides_a_term_that_is_zero(fast_frames):
    w = cw.TextureSynthesis(net_of(), photo(3, (36, 36)), size=SIZE, steps=3)
    w.wait()
    figure = w.chart
    assert figure.layout.yaxis.type == "log"
    shown = {trace.name: trace for trace in figure.data}
    assert list(shown) == ["content", "style", "tv", "total"]
    assert list(shown["style"].y) == pytest.approx(w.curves["style"]) and shown["style"].visible is not False
    assert shown["content"].visible is False and list(shown["content"].x) == [1, 2, 3]
    w.curves = {"content": [1e-12, 0.5], "style": [100.0, 50.0], "tv": [0.0, 0.0], "total": [100.0, 50.5]}
    assert list(shown["content"].y) == [None, 0.5]  # rounding noise of a run from the content leaves a gap
    w.close()


def test_bad_arguments_raise_with_the_valid_choices_before_a_view_is_made():
    net = net_of()
    with pytest.raises(FeatureVisError, match="no style pictures"):
        cw.StyleTransfer(net, photo(0), [])
    with pytest.raises(LayerError, match="conv2"):
        cw.StyleTransfer(net, photo(0), photo(1), layers=["conv9"])
    with pytest.raises(LayerError, match="no spatial"):
        cw.StyleTransfer(net, photo(0), photo(1), layers=["head"])
    with pytest.raises(FeatureVisError, match="layers is empty"):
        cw.TextureSynthesis(net, photo(1), layers=[])
    with pytest.raises(SettingError, match="adam, lbfgs"):
        cw.StyleTransfer(net, photo(0), photo(1), optimizer="sgd")
    with pytest.raises(ArgumentTypeError, match="unknown setting.*balance"):
        cw.TextureSynthesis(net, photo(1), balance=2)
    with pytest.raises(FeatureVisError, match="a list of 2 number"):
        cw.StyleTransfer(net, photo(0), [photo(1), photo(2)], style_weights=[1])
    with pytest.raises(FeatureVisError, match="nothing would be matched"):
        cw.TextureSynthesis(net, photo(1), layers={"conv2": 0, "pool": 0}, start=False)
    with pytest.raises(cw.engine.errors.ImageError, match="style 2"):
        cw.StyleTransfer(net, photo(0), [photo(1), b"not a picture"])


def test_layers_given_by_name_share_the_recipes_style_weight():
    net = net_of()
    w = cw.TextureSynthesis(net, photo(1), layers=["conv", "pool"], size=SIZE, steps=1, start=False)
    recipe = preset_for(net)
    share = sum(weight for _, weight in recipe.style) / 2
    assert w.style_layers == ["conv", "pool"] and w.layer_weights == [share, share]
    assert "style layers as given" in w.recipe
    w.close()


def test_layers_given_by_name_keep_their_own_weights_in_an_absolute_recipe(monkeypatch):
    net = net_of()
    absolute = replace(preset_for(net), remedy="none", style=(("conv", 300000.0), ("pool", 3.0)))
    monkeypatch.setattr("cnnviz_widgets.widgets.style.preset_for", lambda _net: absolute)
    w = cw.TextureSynthesis(net, photo(1), layers=["pool", "conv"], size=SIZE, steps=1, start=False)
    assert w.style_layers == ["pool", "conv"] and w.layer_weights == [3.0, 300000.0]
    w.close()
    with pytest.raises(FeatureVisError, match=r"conv2.*\{layer: weight\}"):
        cw.TextureSynthesis(net, photo(1), layers=["conv", "conv2"], size=SIZE, steps=1, start=False)
    w = cw.TextureSynthesis(net, photo(1), layers={"conv2": 5.0}, size=SIZE, steps=1, start=False)
    assert w.layer_weights == [5.0]
    w.close()


def test_texture_synthesis_has_no_balance_start_or_colours_and_passes_none_to_the_engine(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return Transfer(*args, **kwargs)

    monkeypatch.setattr(styling, "Transfer", spy)
    w = cw.TextureSynthesis(net_of(), photo(3, (36, 36)), size=SIZE, steps=1, start=False)  # builds a run for its notes
    for name in ("balance", "init", "keep_colors"):
        assert name not in w.trait_names() and name not in w.get_state()
        with pytest.raises(AttributeError, match="texture"):
            setattr(w, name, 0)
        with pytest.raises(AttributeError, match="texture"):
            getattr(w, name)
    assert len(calls) == 1 and "balance" not in calls[0] and "keep_colors" not in calls[0]
    assert calls[0]["init"] == "noise"
    w.close()
