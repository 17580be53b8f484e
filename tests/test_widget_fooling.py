"""FoolingImage, Python side: the pictures are the engine's, Start/Stop/Resume keep their promises, the class can be
searched or clicked and a class the model already predicts is refused with the runner-up offered, bad settings land
in the banner (or raise in Python), a new photo is a new run, and the model is left exactly as it was.

A one-layer linear classifier on 32 px pictures is fooled in a few steps; a copy that sleeps in every forward pass
makes a run long enough to stop it halfway.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import CnnvizError
from cnnviz_widgets.engine.fooling import Fooling, fool
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.frames import image_strip

from .conftest import Untouched, hook_count, mixed_state
from .test_fooling import SIZE, Linear32

SECONDS = 0.05


class Slow(Linear32):
    """Linear32 that sleeps in every forward pass (sleeping releases the GIL, as torch's kernels do)."""

    def forward(self, x):
        time.sleep(SECONDS)
        return super().forward(x)


def picture(seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def small_net(model=None) -> cw.Net:
    return cw.Net((model if model is not None else Linear32()).eval(), Preprocess(size=SIZE))


def ranked(net: cw.Net, image, rank: int) -> int:
    return net.predict(image, k=10)[rank].index


def view(model=None, image=None, rank: int = 4, **kwargs) -> cw.FoolingImage:
    net = small_net(model)
    image = image if image is not None else picture()
    return cw.FoolingImage(net, image, ranked(net, image, rank), **{"start": False, **kwargs})


@pytest.fixture
def fast_frames(monkeypatch):
    monkeypatch.setattr(cw.FoolingImage, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.FoolingImage, "ACK_PATIENCE", 0.0)


def strip(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_start_fools_the_model_and_shows_the_engines_pictures(fast_frames):
    w = view()
    assert w.status.startswith(f"press Start to make the model predict {w.target} (class {w.target}), unconstrained")
    frames = []
    w.observe(lambda c: c.new is not None and frames.append(c.new), names="frame")
    Frontend(w, ack=True).run()
    w.wait()
    expected = fool(w.net, picture(), w.target)
    assert w.error == "" and w.reached and expected.reached and w.step == expected.steps > 0
    np.testing.assert_array_equal(
        strip(w.final), strip(image_strip(torch.stack([expected.image, expected.difference])))
    )
    assert [r["index"] for r in w.after] == [p.index for p in expected.after] and w.after[0]["index"] == w.target
    assert w.gain == pytest.approx(expected.gain) and w.max_change == pytest.approx(expected.max_change)
    assert w.status.startswith(f"fooled in {w.step} steps: the model says class {w.target}")
    assert frames and all(f.size == (2 * SIZE, SIZE) for f in frames), "live frames: fooled | change"
    w.close()


def test_bounded_mode_keeps_the_change_within_epsilon(fast_frames):
    w = view(mode="bounded", epsilon=3, rank=1)
    w.run()
    w.wait()
    assert w.error == "" and 0 < w.max_change <= 3 + 1e-3 and w.result is not None
    assert w.result.max_change == pytest.approx(w.max_change)
    w.close()


def test_stop_ends_the_run_within_one_step_and_resume_goes_on_to_the_same_end():
    weak = dict(mode="bounded", epsilon=0.5, lr=0.05, steps=400)  # never fools: a starved test thread still stops a run
    w = view(Slow(), rank=9, **weak)
    w.run()
    deadline = time.monotonic() + 30
    while (w.result is None or w.result.steps < 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    Frontend(w).stop()
    at_stop, begin = w.result.steps, time.monotonic()
    w.wait()
    assert time.monotonic() - begin < 4 * SECONDS + 0.3  # slack for a loaded machine
    stopped = w.step
    assert at_stop <= stopped <= at_stop + 1 and not w.busy and w.error == ""
    assert w.status.startswith(f"stopped at step {stopped}/400") and "Resume goes on" in w.status
    Frontend(w).resume()
    w.wait()
    whole = fool(w.net, picture(), w.target, **weak)
    assert w.step == whole.steps > stopped and w.reached == whole.reached
    np.testing.assert_array_equal(strip(w.final), strip(image_strip(torch.stack([whole.image, whole.difference]))))
    w.close()


def test_resume_right_after_stop_ends_exactly_at_the_goal(fast_frames):
    """Stop lets the step in progress finish after stop() returns; a Resume at once must count what is left from
    where that step ended, not from where the run was when Resume was pressed (that overshoots by one)."""
    w = view(Slow(), rank=9, mode="bounded", epsilon=0.5, lr=0.05, steps=12)  # far too weak to fool in 12 steps
    for _ in range(3):
        w.run()
        deadline = time.monotonic() + 30
        while not 2 <= w.step < 12 and time.monotonic() < deadline:  # every step is shown (12: the last run's end)
            time.sleep(0.005)
        w.stop()
        w.resume()
        w.wait()
        assert not w.reached and w.error == "" and w.step == 12, w.step
        assert w.status.startswith("not fooled in 12 steps"), w.status
    w.close()


def test_when_the_loop_says_fooled_the_view_says_so_and_resume_takes_no_step(monkeypatch):
    """The loop decides on its own forward pass; where that says "fooled" and the picture's top-1 does not, the run
    has ended fooled: the view must not offer a Resume that does nothing."""
    original = Fooling._visualization

    def fooled_at_step_2(self, seed):
        vis = original(self, seed)
        vis.until_reached = lambda acts: vis.step >= 2
        return vis

    monkeypatch.setattr(Fooling, "_visualization", fooled_at_step_2)
    w = view(mode="bounded", epsilon=0.5, lr=0.05, rank=9)
    w.run()
    w.wait()
    assert w.step == 2 and w.after[0]["index"] != w.target, "the loop and the picture's top-1 disagree"
    fooled = f"fooled in 2 steps: the model says class {w.target}"
    assert w.reached and w.status.startswith(fooled) and f"class {w.after[0]['index']}" not in w.status, w.status
    w.resume()
    w.wait()
    assert w.step == 2 and w.reached and w.status.startswith(fooled), w.status
    w.close()


def test_the_class_is_picked_by_a_click_and_the_prediction_is_refused_with_the_runner_up():
    w = view()
    front = Frontend(w)
    top, runner_up = (ranked(w.net, picture(), rank) for rank in (0, 1))
    front.set(target=runner_up)  # a click on a row of a top-5 list, or a pick in the class search
    assert w.target == runner_up and w.error == ""
    front.set(target=top)
    assert w.target == runner_up, "the refused class stays out"
    assert w.error == (
        f"the model already predicts class {top} (class {top}) for this image: choose another target, "
        f"e.g. the runner-up {runner_up} (class {runner_up})"
    )
    front.set(target=10)
    assert w.target == runner_up and w.error == "target must be a class index in 0..9, got 10"
    assert w.labels == [f"class {i}" for i in range(10)]
    w.close()


@pytest.mark.parametrize(
    "changed, message",
    [
        ({"epsilon": 0}, r"epsilon must be a number in 0\.5\.\.255, got 0"),
        ({"mode": "fgsm"}, r"mode must be one of: unconstrained, bounded"),
        ({"steps": -3}, r"steps must be a number in 1\.\.100000"),
    ],
)
def test_bad_settings_from_the_page_go_to_the_banner_and_from_python_raise(changed, message):
    w = view()
    before = {name: getattr(w, name) for name in changed}
    Frontend(w).set(**changed)
    assert re.search(message, w.error) and {name: getattr(w, name) for name in changed} == before
    with pytest.raises(CnnvizError, match=message):
        setattr(w, *next(iter(changed.items())))
    w.close()


def test_the_constructor_is_strict_and_leaves_no_view_behind():
    net = small_net()
    image = picture()
    top = ranked(net, image, 0)
    with pytest.raises(CnnvizError, match=rf"already predicts class {top} .*runner-up"):
        cw.FoolingImage(net, image, top)
    with pytest.raises(CnnvizError, match=r"target must be a class index in 0\.\.9, got 12"):
        cw.FoolingImage(net, image, 12)
    with pytest.raises(CnnvizError, match=r"epsilon must be a number in 0\.5\.\.255, got -1"):
        cw.FoolingImage(net, image, ranked(net, image, 1), epsilon=-1)
    with pytest.raises(CnnvizError, match=r"unknown setting\(s\) momentum; the settings are: mode, epsilon"):
        cw.FoolingImage(net, image, ranked(net, image, 1), momentum=1)


def test_a_new_photo_is_a_new_run_and_keeps_the_class_unless_it_is_predicted(fast_frames):
    w = view(rank=2)
    w.run()
    w.wait()
    assert w.final is not None
    kept = w.target
    other = next(picture(seed) for seed in range(1, 50) if ranked(w.net, picture(seed), 0) != kept)
    w.set_image(other)
    assert (w.final, w.frame, w.after, w.step, w.target) == (None, None, [], 0, kept)
    assert w.status.startswith("press Start")
    predicted_now = next(picture(seed) for seed in range(50, 200) if ranked(w.net, picture(seed), 0) == kept)
    w.set_image(predicted_now)
    assert w.target == ranked(w.net, predicted_now, 1), "the runner-up replaces a class the model now predicts"
    w.close()


def test_the_model_is_left_exactly_as_it_was(fast_frames):
    model = mixed_state(Linear32())
    net = cw.Net(model, Preprocess(size=SIZE))
    target = ranked(small_net(), picture(), 3)
    with Untouched(model):
        w = cw.FoolingImage(net, picture(), target, start=True)
        w.wait()
        Frontend(w).resume()
        w.wait()
        assert hook_count(model) == 0 and w.error == ""
        w.close()


def test_a_failing_step_keeps_the_last_good_picture():
    class NanGradient(Linear32):
        def forward(self, x):
            return super().forward(x) + torch.sqrt((x - x.detach()).abs().sum()) * 0

    w = view(NanGradient())
    w.run()
    w.wait()
    assert re.search(r"became NaN or infinite at step 1", w.error) and w.step == 0
    assert w.status.startswith("failed at step 0") and w.final is not None
    w.close()


def test_the_module_and_view_are_exported():
    assert cw.FoolingImage is cw.widgets.FoolingImage and isinstance(cw.FoolingImage.SETTINGS, tuple)
    assert [o.name for o in cw.FoolingImage.SETTINGS] == ["mode", "epsilon", "steps", "lr", "seed"]
