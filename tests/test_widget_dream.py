"""DeepDream view, Python side: the streamed frames are the engine's octaves, the final PNG is the engine's full-size
dream, Stop lands within a step and Resume finishes the same dream, bad input raises in Python or lands in the banner
(a NaN gradient keeps the last good picture), and the user's model is left as it was."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.dream import deep_dream
from cnnviz_widgets.engine.errors import CnnvizError
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.frames import image_strip

from .conftest import Untouched, hook_count, small_cnn
from .test_dream import net_of, photo
from .test_widget_featurevis import NanGradient, SlowCNN

SETTINGS = dict(octaves=2, steps=3, size=48, start=False)


def dreamer(model=None, **kwargs) -> cw.DeepDream:
    return cw.DeepDream(net_of(model if model is not None else small_cnn().eval()), photo(48, 40), "conv2",
                        **{**SETTINGS, **kwargs})  # fmt: skip


def pixels(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB")).astype(int)


@pytest.fixture
def fast_frames(monkeypatch):
    monkeypatch.setattr(cw.DeepDream, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.DeepDream, "ACK_PATIENCE", 0.0)


def test_the_final_picture_is_the_engines_dream_and_frames_show_each_octave(fast_frames):
    w = dreamer()
    try:
        seen = []
        w.observe(lambda c: c.new and seen.append((w.octave, c.new.size)), names="frame")
        Frontend(w, ack=True).run()
        w.wait()
        assert w.error == "" and w.step == 6 and w.progress == 1.0 and len(w.norms) == 2
        want = deep_dream(net_of(small_cnn().eval()), photo(48, 40), "conv2", octaves=2, steps=3, size=48)
        assert pixels(w.final).shape == (48, 40, 3)
        assert np.abs(pixels(w.final) - pixels(image_strip(want))).max() <= 1
        assert pixels(w.original).shape == (48, 40, 3)
        assert {octave for octave, _ in seen} == {0, 1}  # live frames of both octaves, at each octave's size
        assert {size for octave, size in seen if octave == 0} == {(29, 34)}
        assert "done" in w.status and "norm" in w.status
    finally:
        w.close()


def test_stop_lands_within_a_step_and_resume_finishes_the_same_dream():
    model = SlowCNN(0.05).eval()
    w = dreamer(model)
    try:
        front = Frontend(w, ack=True)
        front.run()
        deadline = time.monotonic() + 30
        while (w.dream is None or w.dream.step < 2) and time.monotonic() < deadline:
            time.sleep(0.005)
        front.stop()
        w.wait()
        stopped = w.dream.step
        assert 2 <= stopped <= 3 and "stopped" in w.status and w.final is not None
        front.resume()
        w.wait()
        assert w.step == 6 and w.error == ""
        want = deep_dream(net_of(small_cnn().eval()), photo(48, 40), "conv2", octaves=2, steps=3, size=48)
        assert np.abs(pixels(w.final) - pixels(image_strip(want))).max() <= 1
    finally:
        w.close()


def test_resume_at_once_after_stop_ends_exactly_at_the_goal():
    """Resume from Python while the stopped job still finishes its step ends at the dream's last step, not past it."""
    w = dreamer(SlowCNN(0.1).eval())
    try:
        w.run()
        deadline = time.monotonic() + 30
        while (w.dream is None or w.dream.step < 2) and time.monotonic() < deadline:
            time.sleep(0.005)
        w.stop()
        w.resume()
        w.wait()
        assert w.step == 6 and w.dream.step == 6, w.status
    finally:
        w.close()


def test_bad_arguments_raise_in_python_and_bad_settings_from_the_page_land_in_the_banner():
    net = net_of(small_cnn().eval())
    with pytest.raises(CnnvizError, match=r"octaves.*1\.\.12"):
        cw.DeepDream(net, photo(), octaves=0)
    with pytest.raises(CnnvizError, match=r"unknown layer 'nope'"):
        cw.DeepDream(net, photo(), "nope")
    with pytest.raises(CnnvizError, match=r"unknown setting.*octaves"):
        cw.DeepDream(net, photo(), octave=3)
    with pytest.raises(CnnvizError, match=r"0\.\.7"):
        cw.DeepDream(net, photo(), "conv2", kind="channel", unit=8, size=48)
    with pytest.raises(CnnvizError, match=r"0\.\.7"):  # also when nothing starts yet
        cw.DeepDream(net, photo(), "conv2", kind="channel", unit=8, size=48, start=False)
    w = dreamer()
    try:
        Frontend(w).set(octaves=0)
        assert w.octaves == 2 and "octaves" in w.error
        Frontend(w).set(layer="nope")
        assert w.layer == "conv2" and "nope" in w.error
    finally:
        w.close()


def test_a_nan_gradient_goes_to_the_banner_with_the_last_good_picture():
    model = torch.nn.Sequential(
        NanGradient(),
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 10),
    )
    w = cw.DeepDream(net_of(model), photo(48, 40), "1", **SETTINGS)
    try:
        Frontend(w).run()
        w.wait()
        assert "NaN" in w.error and "failed" in w.status
        assert np.abs(pixels(w.final) - pixels(w.original)).max() <= 1  # no step was taken: the photo itself
    finally:
        w.close()


def test_the_users_model_is_untouched():
    model = small_cnn()
    model.train()
    with Untouched(model):
        w = dreamer(model)
        Frontend(w).run()
        w.wait()
        assert w.error == "" and hook_count(model) == 0
        w.close()


def test_a_new_photo_stops_the_dream_and_shows_itself():
    w = dreamer()
    try:
        Frontend(w).run()
        w.wait()
        Frontend(w).sample("coffee")
        assert w.dream is None and w.final is None and w.step == 0 and w.error == ""
        assert pixels(w.original).shape[:2] in ((48, 48), (36, 48), (48, 36)) or max(pixels(w.original).shape[:2]) == 48
    finally:
        w.close()
