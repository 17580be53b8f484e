"""FeatureInversion view, Python side: the final strip is the photo beside the engine's reconstructions, each caption's
PSNR is the strip's own (measured here with numpy) and rises as the pictures converge, Stop lands within a round and
Resume ends where one run would, bad input raises in Python with the valid choices or lands in the banner, a new photo
clears the pictures, and the user's model is left as it was."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import CnnvizError
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.style import Inversion, default_layers
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.frames import image_strip

from .conftest import Untouched, hook_count, small_cnn
from .test_dream import net_of, photo
from .test_widget_featurevis import SlowCNN

SETTINGS = dict(size=40, steps=6, start=False)
LAYERS = ["conv", "pool"]


def inverter(model=None, layers=LAYERS, **kwargs) -> cw.FeatureInversion:
    net = net_of(model if model is not None else small_cnn().eval())
    return cw.FeatureInversion(net, photo(40, 32), layers, **{**SETTINGS, **kwargs})


def pixels(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB")).astype(float)


def cells(strip: Image.Image, count: int) -> list:
    """The ``count`` equal pictures of a side-by-side strip."""
    array = pixels(strip)
    width = array.shape[1] // count
    assert width * count == array.shape[1]
    return [array[:, i * width : (i + 1) * width] for i in range(count)]


def decibels(picture: np.ndarray, reference: np.ndarray) -> float:
    mse = float((((picture - reference) / 255) ** 2).mean())
    return 10 * math.log10(1 / mse)


@pytest.fixture
def fast_frames(monkeypatch):
    monkeypatch.setattr(cw.FeatureInversion, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.FeatureInversion, "ACK_PATIENCE", 0.0)


def test_the_final_strip_is_the_photo_beside_the_engines_reconstructions(fast_frames):
    w = inverter()
    try:
        frames = []
        w.observe(lambda c: c.new and frames.append((c.new.size, list(w.captions))), names="frame")
        Frontend(w, ack=True).run()
        w.wait()
        assert w.error == "" and w.step == 6 and w.progress == 1.0 and "done" in w.status
        engine = Inversion(net_of(small_cnn().eval()), photo(40, 32), LAYERS, size=40, steps=6)
        last(engine.steps(every=0))
        want = image_strip(torch.cat([engine.photo, *engine.images()]))
        assert pixels(w.final).shape == (40, 3 * 32, 3)
        assert np.abs(pixels(w.final) - pixels(want)).max() <= 1
        assert np.abs(cells(w.final, 3)[0] - pixels(w.original)).max() <= 1  # the photo first, at the run's size
        assert frames and all(size == (96, 40) for size, _ in frames)  # live: the whole strip each time
        assert [c.split(" · ")[0] for c in w.captions] == ["photo", *LAYERS]
    finally:
        w.close()


def test_a_superseded_runs_summary_is_not_shown():
    w = inverter(steps=2)
    try:
        w.run()
        w.wait()
        assert "done" in w.summary(w._inverting.settings, None, "done", 1.0)
        assert w.summary(w.freeze(), None, "stopped", 1.0) == ""  # equal settings, but another Start's
    finally:
        w.close()


def test_each_caption_gives_its_pictures_psnr_and_it_rises_as_they_converge(fast_frames):
    w = inverter(steps=12)
    try:
        first = []
        w.observe(lambda c: c.new and not first and first.append(list(w.psnr)), names="frame")
        Frontend(w, ack=True).run()
        w.wait()
        photo_cell, *pictures = cells(w.final, 3)
        measured = [decibels(picture, photo_cell) for picture in pictures]
        assert np.allclose(w.psnr, measured, atol=0.05)  # the PNG's 8-bit rounding costs far less than 0.05 dB
        for caption, value in zip(w.captions[1:], measured):
            assert caption.endswith(f"{value:.1f} dB")
        assert first and all(late > early for early, late in zip(first[0], w.psnr))
    finally:
        w.close()


def test_stop_lands_within_a_round_and_resume_ends_where_one_run_would():
    w = inverter(SlowCNN(0.03).eval(), steps=8)
    try:
        front = Frontend(w, ack=True)
        front.run()
        deadline = time.monotonic() + 30
        while (w.inversion is None or w.inversion.step < 2) and time.monotonic() < deadline:
            time.sleep(0.005)
        front.stop()
        w.wait()
        stopped = w.inversion.step
        assert 2 <= stopped <= 3 and "stopped" in w.status and w.final is not None and w.step == stopped
        front.resume()
        w.wait()
        assert w.step == 8 and w.error == "" and "done" in w.status
        engine = Inversion(net_of(small_cnn().eval()), photo(40, 32), LAYERS, size=40, steps=8)
        last(engine.steps(every=0))
        want = image_strip(torch.cat([engine.photo, *engine.images()]))
        assert np.abs(pixels(w.final) - pixels(want)).max() <= 1
        front.resume()  # at the goal: as many steps more
        w.wait()
        assert w.step == 16
    finally:
        w.close()


def test_bad_arguments_raise_in_python_with_the_valid_choices():
    net = net_of(small_cnn().eval())
    with pytest.raises(CnnvizError, match="at least one layer"):
        cw.FeatureInversion(net, photo(), [])
    with pytest.raises(CnnvizError, match="list of layer names"):
        cw.FeatureInversion(net, photo(), "conv")
    with pytest.raises(CnnvizError, match=r"unknown layer 'nope'"):
        cw.FeatureInversion(net, photo(), ["nope"], start=False)
    with pytest.raises(CnnvizError, match=r"head.*choose among conv, bn, conv2, pool"):
        cw.FeatureInversion(net, photo(), ["head"], start=False)
    with pytest.raises(CnnvizError, match="once"):
        cw.FeatureInversion(net, photo(), ["conv", "conv"], start=False)
    with pytest.raises(CnnvizError, match=r"steps.*1\.\.100000"):
        cw.FeatureInversion(net, photo(), steps=0)
    with pytest.raises(CnnvizError, match=r"size.*16\.\."):
        cw.FeatureInversion(net, photo(), size=8)
    with pytest.raises(CnnvizError, match=r"tv"):
        cw.FeatureInversion(net, photo(), tv=-1.0)
    with pytest.raises(CnnvizError, match="start must be True or False"):
        cw.FeatureInversion(net, photo(), start="yes")
    grey = cw.Net(small_cnn(channels=1), Preprocess(size=32, mean=(0.5,), std=(0.25,), channels=1))
    with pytest.raises(CnnvizError, match=r"colour \(3-channel\) model.*takes 1"):
        cw.FeatureInversion(grey, photo()[:1], start=False)
    w = inverter()
    try:
        with pytest.raises(CnnvizError, match="choose among"):
            w.layers = ["head"]
        assert w.layers == LAYERS
    finally:
        w.close()


def test_bad_values_from_the_page_land_in_the_banner_and_the_old_ones_stay():
    w = inverter()
    try:
        Frontend(w).set(layers=[])
        assert w.layers == LAYERS and "at least one layer" in w.error
        Frontend(w).set(layers=["conv", "head"])
        assert w.layers == LAYERS and "choose among" in w.error
        Frontend(w).set(steps=0)
        assert w.steps == 6 and "steps" in w.error
    finally:
        w.close()


def test_the_defaults_are_the_engines_layers_and_a_change_of_layers_is_what_start_runs(fast_frames):
    net = net_of(small_cnn().eval())
    w = cw.FeatureInversion(net, photo(40, 32), size=40, steps=2, start=False)
    try:
        assert w.layers == default_layers(net) and w.model_name == net.name
        assert "press Start" in w.status and ", ".join(w.layers) in w.status
        Frontend(w, ack=True).run()
        w.wait()
        Frontend(w).set(layers=["conv2"])
        assert w.error == "" and "settings changed" in w.status and "conv2" in w.status
        Frontend(w, ack=True).run()
        w.wait()
        assert [c.split(" · ")[0] for c in w.captions] == ["photo", "conv2"] and w.final.size == (64, 40)
    finally:
        w.close()


def test_a_new_photo_stops_the_run_and_clears_the_pictures():
    w = inverter()
    try:
        Frontend(w).run()
        w.wait()
        Frontend(w).sample("coffee")
        assert w.inversion is None and w.final is None and w.step == 0 and w.captions == [] and w.error == ""
        assert max(w.original.size) == 40 and w.sample == "coffee"
    finally:
        w.close()


def test_the_users_model_is_untouched():
    model = small_cnn()
    model.train()
    with Untouched(model):
        w = inverter(model)
        Frontend(w).run()
        w.wait()
        assert w.error == "" and hook_count(model) == 0
        w.close()
