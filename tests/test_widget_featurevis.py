"""FeatureVisualizer, Python side: the streamed frames are the engine's, Start/Stop/Resume/Reset keep their
promises, frames are paced by the view's acknowledgements, thumbnails are the layer's activations, batch modes
render a batch, and bad input lands in the banner with the model left exactly as it was.

A small CNN on 32 px pictures keeps the runs short; a copy that sleeps in every forward pass makes a run long
enough to stop it halfway (sleeping releases the GIL, like torch's kernels do).
"""

from __future__ import annotations

import re
import time
from typing import List, Optional, Tuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine import CnnvizError, capture
from cnnviz_widgets.engine.activations import channel_maps
from cnnviz_widgets.engine.errors import SettingError
from cnnviz_widgets.engine.featurevis import FeatureVisError, Visualization, channel, class_logit, direction
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.progress import Update
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets import ascent
from cnnviz_widgets.widgets.encoding import decode_array
from cnnviz_widgets.widgets.frames import FramePacer, image_strip

from .conftest import SmallCNN, Untouched, eval_mode, hook_count, mixed_state, shown_frames, small_cnn

SIZE = 32


@torch.fx.wrap
def pause(x: torch.Tensor, seconds: float) -> torch.Tensor:
    """``x``, after ``seconds`` of sleep; a leaf of ``torch.fx`` traces, so traced copies of a model pause too."""
    time.sleep(seconds)
    return x


class SlowCNN(SmallCNN):
    """The small CNN with a pause at the start of every forward pass (same layers, same weights)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.load_state_dict(small_cnn().state_dict())

    def forward(self, x):
        return super().forward(pause(x, self.seconds))


class NanGradient(nn.Module):
    """The identity whose gradient is NaN: sqrt'(0) * 0."""

    def forward(self, x):
        return x + torch.sqrt(x * 0) * 0


class NeedsSeven(nn.Module):
    """A 7x7 convolution without padding: images under 7 px cannot go through."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 7)
        self.head = nn.Linear(4, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def small_net(model: Optional[nn.Module] = None) -> cw.Net:
    return cw.Net(model if model is not None else small_cnn().eval(), Preprocess(size=SIZE))


def visualizer(model: Optional[nn.Module] = None, **kwargs) -> cw.FeatureVisualizer:
    kwargs = {"objective": "conv2:3", "size": SIZE, "steps": 12, "start": False, **kwargs}
    return cw.FeatureVisualizer(small_net(model), **kwargs)


def pixels(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB"))


def record_frames(widget) -> List[Tuple[float, int, int, bytes]]:
    """``(time, frame_seq, step, JPEG)`` of every live frame the widget sends."""
    seen = []
    widget.observe(
        lambda c: c.new and seen.append((time.monotonic(), widget.frame_seq, widget.step, c.new)), names="frame"
    )
    return seen


def ack_every_frame(widget) -> None:
    """Acknowledge each frame as soon as it is sent, as a view that draws instantly does."""
    Frontend(widget, ack=True)


def wait_for_step(widget, step: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (widget.visualization is None or widget.visualization.step < step) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert widget.visualization is not None and widget.visualization.step >= step, "the run never got there"


@pytest.fixture
def fast_frames(monkeypatch):
    """Every step may send a frame (no minimum interval, no wait for the view)."""
    monkeypatch.setattr(cw.FeatureVisualizer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.FeatureVisualizer, "ACK_PATIENCE", 0.0)


# -- frames -----------------------------------------------------------------------------------------------------
def test_frames_are_the_engines_pictures_and_the_last_one_is_lossless(fast_frames):
    w = visualizer(steps=12, seed=3)
    seen = record_frames(w)
    w.run()
    w.wait()
    vis = w.visualization
    assert w.error == "" and not w.busy and vis.step == w.step == 12
    assert [step for *_, step, _ in seen] == list(range(1, 12)), "one frame per step but the last (which is the PNG)"
    assert [seq for _, seq, *_ in seen] == list(range(1, 12))
    # The same run step by step in the engine: every JPEG frame is that step's picture.
    twin = Visualization(w.net, "conv2:3", SIZE, seed=3)
    pictures = {f.step: np.asarray(image_strip(f.image), dtype=np.int16) for f in shown_frames(twin, 12, every=1)}
    for _, _, step, jpeg in seen:  # JPEG is lossy: the frame is closest to its own step's picture
        errors = {k: np.abs(pixels(jpeg).astype(np.int16) - p).mean() for k, p in pictures.items()}
        assert min(errors, key=errors.get) == step and errors[step] < 3, (step, errors)
    np.testing.assert_array_equal(pixels(w.final), np.asarray(image_strip(vis.image())))
    np.testing.assert_array_equal(pixels(w.final), pictures[12])
    np.testing.assert_allclose(w.curve, vis.curve, rtol=1e-6)
    assert len(vis.curve) == 12 and w.captions == ["channel('conv2', 3)"]
    assert re.fullmatch(r"done: step 12/12 · [\d.]+ steps/s · objective -?[\d.e+-]+", w.status), w.status
    w.close()


@pytest.mark.parametrize("interval,lengths", [(0.0, list(range(1, 13))), (1e9, [1, 12])])
def test_the_curve_goes_with_a_live_frame_at_most_once_per_interval_and_whole_at_the_end(
    fast_frames, monkeypatch, interval, lengths
):
    monkeypatch.setattr(ascent, "CURVE_INTERVAL", interval)  # it grows every step: sending it costs more and more
    w = visualizer(steps=12)
    sent = []
    w.observe(lambda c: sent.append(len(c.new)), names="curve")
    w.run()
    w.wait()
    assert w.error == "" and sent == lengths  # 11 live frames, then the PNG's
    w.close()


def test_a_run_presents_only_its_own_visualisation(fast_frames):
    w = visualizer(steps=3)
    w.run()
    w.wait()
    other = w.freeze()  # equal settings, but not the run's: a run that a newer Start superseded
    assert w.present(other, Update(0.5, None), 1.0) == {}  # no frame, curve or step of the newer run
    assert w.present(other, Update(1.0, None), 1.0, final=True) == {}
    w.close()


def test_closing_a_view_with_charts_twice_is_harmless():
    w = visualizer()
    assert w.chart.data[0].name == "objective"
    w.close()
    w.close()  # an explicit close, then ipywidgets' own from __del__
    assert w.net is None


def test_resume_continues_the_same_visualisation_and_start_begins_anew(fast_frames):
    w = visualizer(steps=10)
    w.run()
    w.wait()
    first_vis, first_curve = w.visualization, list(w.visualization.curve)
    Frontend(w).resume()  # what the view's Resume sends
    w.wait()
    assert w.visualization is first_vis and w.step == 20 and w.status.startswith("done: step 20/20")
    assert w.visualization.curve[:10] == first_curve and len(w.visualization.curve) == 20
    Frontend(w).run()
    w.wait()
    assert w.visualization is not first_vis and w.step == 10 and w.visualization.curve == first_curve  # same seed
    w.close()


def test_resume_after_stop_goes_on_to_the_same_end(monkeypatch):
    monkeypatch.setattr(cw.FeatureVisualizer, "FRAME_INTERVAL", 0.0)
    w = visualizer(SlowCNN(0.01).eval(), steps=60)
    w.run()
    wait_for_step(w, 5)
    w.stop()
    w.wait()
    stopped = w.step
    assert 5 <= stopped < 60 and w.status.startswith(f"stopped at step {stopped}/60")
    w.resume()
    w.wait()
    assert w.step == 60 and w.status.startswith("done: step 60/60")
    w.close()


def test_resume_at_once_after_stop_ends_exactly_at_the_goal(monkeypatch):
    """Resume from Python while the stopped job still finishes its step: the count of steps left is taken once that
    job is done, so the run ends at the goal, not one step past it."""
    monkeypatch.setattr(cw.FeatureVisualizer, "FRAME_INTERVAL", 0.0)
    w = visualizer(SlowCNN(0.1).eval(), steps=8)
    try:
        w.run()
        wait_for_step(w, 2)
        w.stop()
        w.resume()
        w.wait()
        assert w.step == 8 and w.visualization.step == 8, w.status
    finally:
        w.close()


def test_reset_drops_the_picture_and_the_next_resume_starts_fresh(fast_frames):
    w = visualizer(steps=6)
    w.run()
    w.wait()
    Frontend(w).reset()
    assert w.visualization is None and (w.frame, w.final, w.curve, w.step, w.captions) == (None, None, None, 0, [])
    assert w.status.startswith("press Start to render channel('conv2', 3)")
    w.resume()
    w.wait()
    assert w.step == 6 and len(w.visualization.curve) == 6
    w.close()


def test_stop_ends_the_run_within_one_step():
    step_seconds = 0.1
    w = visualizer(SlowCNN(step_seconds).eval(), steps=500)
    w.run()
    job = w._job
    wait_for_step(w, 3)
    Frontend(w).stop()  # what the view's Stop button sends
    at_stop, begin = w.visualization.step, time.monotonic()
    job.thread.join(5)
    assert not job.thread.is_alive() and time.monotonic() - begin < 3 * step_seconds + 0.2  # slack for a loaded machine
    assert at_stop <= w.visualization.step <= at_stop + 1, "more than the step under way was taken after Stop"
    assert not w.busy and w.error == ""
    assert w.step == w.visualization.step and w.status.startswith(f"stopped at step {w.step}/500")
    np.testing.assert_array_equal(pixels(w.final), np.asarray(image_strip(w.visualization.image())))
    w.close()


def test_settings_changed_after_a_run_mean_a_new_visualisation_on_start(fast_frames):
    w = visualizer(steps=4)
    w.run()
    w.wait()
    old = w.visualization
    assert w.status.startswith("done")
    w.lr = 0.2
    assert w.status.startswith("settings changed: Start begins")
    w.resume()  # goes on with the settings the picture was started with
    w.wait()
    assert w.visualization is old and w.visualization.lr == 0.05 and w.step == 8
    w.run()
    w.wait()
    assert w.visualization is not old and w.visualization.lr == 0.2 and w.step == 4
    w.close()


# -- back-pressure ----------------------------------------------------------------------------------------------
def test_frame_pacer_lets_one_frame_in_flight():
    now = [0.0]
    pacer = FramePacer(interval=0.125, patience=1.0, clock=lambda: now[0])
    assert pacer.due() and pacer.sent() == 1
    now[0] = 0.5
    assert not pacer.due(), "unacknowledged and within the patience"
    pacer.ack(1)
    assert pacer.due() and pacer.sent() == 2
    now[0] = 0.5625
    pacer.ack(2)
    assert not pacer.due(), "acknowledged, but the least interval has not passed"
    now[0] = 0.625
    assert pacer.due() and pacer.sent() == 3
    pacer.ack(7)  # never sent: ignored
    pacer.ack(2)  # a late acknowledgement of an old frame does not count for frame 3
    now[0] = 1.5
    assert not pacer.due()
    now[0] = 1.625
    assert pacer.due(), "no acknowledgement within the patience: send anyway"


def test_frame_pacer_with_two_frames_in_flight():
    now = [0.0]  # times in binary fractions of a second: exact in floating point
    pacer = FramePacer(interval=0.25, patience=4.0, in_flight=2, clock=lambda: now[0])
    assert pacer.due() and pacer.sent() == 1
    now[0] = 0.125
    assert not pacer.due(), "one frame in flight, but the least interval has not passed"
    now[0] = 0.25
    assert pacer.due() and pacer.sent() == 2, "one frame in flight: the second goes without waiting for its ack"
    now[0] = 0.5
    assert not pacer.due(), "two frames in flight"
    pacer.ack(1)
    assert pacer.due() and pacer.sent() == 3
    now[0] = 0.75
    assert not pacer.due(), "frames 2 and 3 in flight"
    pacer.ack(3)  # the view drew only the newest: counts for frame 2 too
    assert pacer.due() and pacer.sent() == 4
    now[0] = 0.875
    assert not pacer.due(), "one frame in flight, but frame 4 went only 125 ms ago"
    now[0] = 1.0
    assert pacer.due() and pacer.sent() == 5
    pacer.ack(9)  # never sent: ignored
    pacer.ack(2)  # late acknowledgement of an old frame: frames 4 and 5 are still in flight
    now[0] = 4.875
    assert not pacer.due(), "a silent view: no more frames within the patience"
    now[0] = 5.0
    assert pacer.due() and pacer.sent() == 6, "no acknowledgement within the patience: send anyway"
    now[0] = 5.25
    assert not pacer.due(), "still silent: one frame per patience, never a backlog"
    now[0] = 9.0
    assert pacer.due()
    with pytest.raises(ValueError, match="in_flight must be at least 1"):
        FramePacer(0.25, 4.0, in_flight=0)


def paced_steps(interval: float, in_flight: int, rtt: Optional[float], steps: int = 48, step_seconds: float = 0.0625):
    """The steps (of an optimiser taking one every ``step_seconds``) whose frame the pacer lets go, when the view
    acknowledges each frame ``rtt`` seconds after it went (``None``: never); patience 1 s, on a fake clock."""
    now = [0.0]
    pacer = FramePacer(interval, 1.0, in_flight=in_flight, clock=lambda: now[0])
    acks: List[Tuple[float, int]] = []  # (arrival, seq)
    shown = []
    for k in range(steps):
        now[0] = k * step_seconds
        for _, seq in (a for a in acks if a[0] <= now[0]):
            pacer.ack(seq)
        acks = [a for a in acks if a[0] > now[0]]
        if pacer.due():
            seq = pacer.sent()
            shown.append(k)
            if rtt is not None:
                acks.append((now[0] + rtt, seq))
    return shown


def test_two_frames_in_flight_and_a_short_interval_keep_up_with_16_steps_a_second():
    # Computed by hand, 48 steps of 62.5 ms (16 steps/s, 3 s). The old pacing (100 ms, one frame in flight) waits
    # for the step after the interval (every 2nd step: 8 frames/s) and after the ack (every 3rd step at 150 ms);
    # 40 ms with two in flight shows every step while a round trip is under two steps, 2 of every 3 at 150 ms.
    every_2nd, every_3rd, every_step = list(range(0, 48, 2)), list(range(0, 48, 3)), list(range(48))
    assert paced_steps(0.1, 1, rtt=0.03) == every_2nd
    assert paced_steps(0.1, 1, rtt=0.1) == every_2nd
    assert paced_steps(0.1, 1, rtt=0.15) == every_3rd
    assert paced_steps(0.04, 2, rtt=0.03) == every_step
    assert paced_steps(0.04, 2, rtt=0.1) == every_step
    assert paced_steps(0.04, 2, rtt=0.15) == [k for k in range(48) if k % 3 != 2]
    # An absent view: the window fills, then one frame per patience (1 s = 16 steps after the last one sent).
    assert paced_steps(0.1, 1, rtt=None) == [0, 16, 32]
    assert paced_steps(0.04, 2, rtt=None) == [0, 1, 17, 33]


def test_without_acks_one_frame_goes_per_patience_and_with_acks_frames_flow(monkeypatch):
    monkeypatch.setattr(cw.FeatureVisualizer, "FRAME_INTERVAL", 0.02)
    monkeypatch.setattr(cw.FeatureVisualizer, "ACK_PATIENCE", 0.4)
    monkeypatch.setattr(cw.FeatureVisualizer, "FRAMES_IN_FLIGHT", 2)
    model = SlowCNN(0.01).eval()

    silent = visualizer(model, steps=100)  # no view: nothing acknowledges
    frames = record_frames(silent)
    begin = time.monotonic()
    silent.run()
    silent.wait()
    elapsed = time.monotonic() - begin
    gaps = np.diff([t for t, *_ in frames])
    # Two frames fill the window, then one goes per patience.
    assert len(frames) <= elapsed / 0.4 + 2, (len(frames), elapsed)
    assert gaps[0] < 0.4 and (gaps[1:] >= 0.4 - 0.01).all(), gaps

    viewed = visualizer(model, steps=100)
    ack_every_frame(viewed)
    frames = record_frames(viewed)
    viewed.run()
    viewed.wait()
    gaps = np.diff([t for t, *_ in frames])
    assert len(frames) >= 20 and len(frames) > 2 * (elapsed / 0.4 + 1), len(frames)
    assert (gaps >= 0.02 - 0.005).all(), gaps
    assert [seq for _, seq, *_ in frames] == sorted(seq for _, seq, *_ in frames)
    for w in (silent, viewed):
        assert w.final and w.step == 100
        w.close()


# -- unit picker ------------------------------------------------------------------------------------------------
def activations(net: cw.Net, image, layer: str) -> torch.Tensor:
    """The layer's output for the photo, straight from engine.capture."""
    with eval_mode(net.model), torch.no_grad(), capture(net.model, [layer]) as record:
        net.model(net.tensor(image))
    return record[layer][0]


def test_thumbnails_are_the_layers_activations_on_the_photo(default_net):
    cat, coffee = cw.sample_image("cat"), cw.sample_image("coffee")
    w = cw.FeatureVisualizer(default_net, "_blocks.10:5", start=False)
    assert w.thumbnails["layer"] == "_blocks.10" and w.thumbnails["shape"] == [112, 14, 14]
    np.testing.assert_allclose(
        decode_array(w.thumbnails), activations(default_net, cat, "_blocks.10").numpy(), rtol=1e-5, atol=1e-5
    )
    w.layer = "_blocks.1._expand_conv"  # 96 x 112 x 112: pooled to 32 x 32 thumbnails
    pooled = F.adaptive_avg_pool2d(activations(default_net, cat, w.layer)[None], (32, 32))[0]
    assert w.thumbnails["shape"] == [96, 32, 32]
    np.testing.assert_allclose(decode_array(w.thumbnails), pooled.numpy(), rtol=1e-5, atol=1e-5)
    w.set_image(coffee)
    pooled = F.adaptive_avg_pool2d(activations(default_net, coffee, w.layer)[None], (32, 32))[0]
    np.testing.assert_allclose(decode_array(w.thumbnails), pooled.numpy(), rtol=1e-5, atol=1e-5)
    w.close()


def test_the_class_follows_the_photo_until_one_is_chosen(default_net):
    w = cw.FeatureVisualizer(default_net, kind="class_logit", start=False)
    assert (w.target, w.class_label) == (285, "Egyptian cat")
    w.set_image(cw.sample_image("coffee"))
    assert (w.target, w.class_label) == (967, "espresso")
    w.target = 130  # typed in the class field, or a click in the top-5
    w.set_image(cw.sample_image("cat"))
    assert (w.target, w.class_label) == (130, "flamingo")
    assert w.status.startswith("press Start to render class_logit(130)")
    w.close()


def test_thumbnails_of_a_huge_layer_shrink_to_the_budget():
    net = small_net()
    maps = channel_maps(net.model, net.tensor(cw.sample_image("cat")), "conv2", side=14, budget=8 * 5 * 5)
    ref = F.adaptive_avg_pool2d(activations(net, cw.sample_image("cat"), "conv2")[None], (5, 5))[0]
    torch.testing.assert_close(maps, ref)
    assert channel_maps(net.model, net.tensor(cw.sample_image("cat")), "head") is None


def test_a_click_on_a_thumbnail_picks_the_unit_and_ctrl_clicks_pick_the_batch(fast_frames):
    w = visualizer(batch_mode="channels")
    w.unit = 5  # what a click sends
    assert w.status.startswith("press Start to render channels 5 of 'conv2'")
    w.units = [6, 1]  # ctrl-clicks
    assert w.status.startswith("press Start to render channels 6, 1 of 'conv2'")
    w.run()
    w.wait()
    assert w.captions == ["conv2:6", "conv2:1"] and w.visualization.image().shape == (2, 3, SIZE, SIZE)
    w.close()


# -- batch modes ------------------------------------------------------------------------------------------------
def test_channels_mode_renders_consecutive_channels_side_by_side(fast_frames):
    w = visualizer(objective=None, layer="conv2", unit=2, batch=3, batch_mode="channels", steps=5)
    w.run()
    w.wait()
    vis = w.visualization
    assert w.error == "" and vis.batch == 3 and w.captions == ["conv2:2", "conv2:3", "conv2:4"]
    assert (
        repr(vis.objective)
        == "channel('conv2', 2, batch=0) + channel('conv2', 3, batch=1) + channel('conv2', 4, batch=2)"
    )
    assert pixels(w.final).shape == (SIZE, 3 * SIZE, 3)
    w.close()


def test_diverse_mode_renders_different_pictures_of_one_unit(fast_frames):
    w = visualizer(batch=3, batch_mode="diverse", diversity=2.0, steps=8)
    w.run()
    w.wait()
    vis = w.visualization
    assert w.error == "" and vis.batch == 3 and repr(vis.objective) == "channel('conv2', 3) + 2 * diversity('conv2')"
    assert w.captions == [f"channel('conv2', 3) · {i}/3" for i in (1, 2, 3)]
    images = vis.image()
    assert images.shape == (3, 3, SIZE, SIZE) and not torch.allclose(images[0], images[1], atol=1e-3)
    assert pixels(w.final).shape == (SIZE, 3 * SIZE, 3)
    w.close()


# -- objectives from Python -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "objective,traits",
    [
        ("conv2:3", dict(kind="channel", layer="conv2", unit=3)),
        ("bn:2:4:5", dict(kind="neuron", layer="bn", unit=2, y=4, x=5)),
        ("pool", dict(kind="layer", layer="pool")),
        (class_logit(7), dict(kind="class_logit", target=7, class_label="class 7")),
    ],
)
def test_objectives_given_in_python_fill_the_pickers(objective, traits, fast_frames):
    w = visualizer(objective=objective, steps=2)
    assert {name: getattr(w, name) for name in traits} == traits
    w.run()
    w.wait()
    assert w.error == "" and w.step == 2
    w.close()


def test_an_objective_the_pickers_cannot_express_runs_as_custom(fast_frames):
    custom = channel("conv2", 1) - 0.5 * direction("pool", [1.0] * 8)
    w = visualizer(objective=custom, steps=3)
    assert w.kind == "custom" and w.schema[0]["choices"][-1] == "custom" and w.layer == "conv2"
    w.run()
    w.wait()
    assert w.visualization.objective is custom and w.captions == [repr(custom)]
    w.kind = "channel"
    w.kind = "custom"  # still offered
    assert w.error == ""
    w.close()


# -- bad input --------------------------------------------------------------------------------------------------
MODELS = {
    "small": small_cnn,
    "needs_seven": NeedsSeven,
    "nan_gradient": lambda: nn.Sequential(NanGradient(), small_cnn()),
}


@pytest.mark.parametrize(
    "model,given,changed,message",
    [
        ("small", {}, dict(unit=99), r"unit 99 is out of range for layer 'conv2': it has 8 channels \(0\.\.7\)"),
        (
            "small",
            dict(objective=None, kind="neuron", layer="head"),
            {},
            r"a neuron objective needs a layer with a spatial \(C, H, W\) output; 'head' outputs \(10,\)",
        ),
        ("needs_seven", dict(objective="conv:0", size=4), {}, r"size 4 is below the smallest image .* use size >= 7"),
        ("nan_gradient", dict(objective="1.conv2:3"), {}, r"became NaN.* at step 1"),
        ("small", {}, dict(lr=-1.0), r"lr must be a number in 0\.0001\.\.100, got -1"),
        ("small", {}, dict(param="pixels"), r"param must be one of: fft, pixel; got 'pixels'"),
        (
            "small",
            {},
            dict(decay=0.1),
            r"decay, blur_every, clip_norm and clip_contribution act on raw pixels: use param='pixel'",
        ),
        (
            "small",
            dict(objective=None, kind="class_logit"),
            dict(target=10),
            r"class 10 is out of range: the model has 10 classes \(0\.\.9\)",
        ),
        (
            "small",
            dict(objective=None),
            dict(layer="conv3"),
            r"unknown layer 'conv3'; did you mean 'conv2?' or 'conv2?'\? valid layers: conv2?, ",
        ),
    ],
)
def test_bad_input_shows_in_the_banner_and_leaves_the_model_as_it_was(model, given, changed, message, fast_frames):
    module = mixed_state(MODELS[model]())
    with Untouched(module):
        w = visualizer(module, **given)
        front = Frontend(w)
        front.set(**changed)  # the view's fields: a value a setting refuses goes to the banner, not into the cell
        if not w.error:
            front.run()  # nor must the view's Start (Python's run() raises)
            w.wait()
        assert re.search(message, w.error), w.error
        if model != "nan_gradient":  # from Python, the assignment or run() raises what it can check at once
            with pytest.raises(CnnvizError, match=message):
                for name, value in changed.items():
                    setattr(w, name, value)
                w.run()
        assert not w.busy
        w.close()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_a_failing_step_keeps_the_last_good_picture(fast_frames):
    w = visualizer(nn.Sequential(NanGradient(), small_cnn().eval()), objective="1.conv2:3")
    w.run()
    w.wait()
    assert re.search(r"became NaN.* at step 1", w.error) and w.visualization.step == 0
    assert w.status == "failed at step 0/12; the picture is the last good one"
    np.testing.assert_array_equal(pixels(w.final), np.asarray(image_strip(w.visualization.image())))
    w.close()


def test_a_batch_mode_that_does_not_fit_the_objective_is_refused_at_once():
    w = visualizer()
    w.kind = "layer"
    w.batch_mode, w.batch = "channels", 3
    assert w.error.startswith(
        "the channels batch mode renders one channel of the layer per image, so it needs the channel objective "
        "(now layer)"
    )
    with pytest.raises(FeatureVisError, match="the channels batch mode"):
        w.run()
    assert not w.busy and w.visualization is None
    w.batch_mode = "diverse"
    assert w.error == "" and w.status.startswith("press Start to render 3 diverse images of deepdream('conv2')")
    w.close()


def test_constructor_is_strict():
    net = small_net()
    with pytest.raises(
        TypeError, match=r"unknown setting\(s\) learning_rate; the settings are: kind, unit, .*, param, decorrelate"
    ):
        cw.FeatureVisualizer(net, "conv2:1", learning_rate=0.1)
    with pytest.raises(
        FeatureVisError, match=r"unknown objective kind 'unit'; choose one of: channel, neuron, layer, class_logit"
    ):
        cw.FeatureVisualizer(net, kind="unit", start=False)
    with pytest.raises(SettingError, match=r"batch_mode must be one of: diverse, channels; got 'grid'"):
        cw.FeatureVisualizer(net, batch_mode="grid", start=False)
    with pytest.raises(SettingError, match=r"steps must be a number in 1\.\.1000000, got 0"):
        cw.FeatureVisualizer(net, steps=0, start=False)
    with pytest.raises(FeatureVisError, match=r"cannot read 'conv2:a'"):
        cw.FeatureVisualizer(net, "conv2:a", start=False)
    with pytest.raises(TypeError, match="start must be True or False"):
        cw.FeatureVisualizer(net, start="yes")
    with pytest.raises(ValueError, match=r"target must be a class index in 0\.\.9, got 10"):
        cw.FeatureVisualizer(net, kind="class_logit", target=10)
    with pytest.raises(FeatureVisError, match=r"unit 99 is out of range"):
        cw.FeatureVisualizer(net, "conv2:99")  # start=True: the engine checks it at once


def test_model_is_left_exactly_as_it_was_through_every_action(monkeypatch):
    monkeypatch.setattr(cw.FeatureVisualizer, "FRAME_INTERVAL", 0.0)
    model = mixed_state(SlowCNN(0.005))
    with Untouched(model):
        w = cw.FeatureVisualizer(small_net(model), "conv2:1", size=SIZE, steps=40, batch=2)
        wait_for_step(w, 3)
        w.layer = "pool"  # thumbnails while the run goes on
        w.stop()
        w.wait()
        w.resume()
        w.reset()
        w.set_image(cw.sample_image("coffee"))
        w.close()
    assert hook_count(model) == 0


def test_close_ends_the_job_and_releases_the_model():
    w = visualizer(SlowCNN(0.05).eval(), steps=1000)
    w.run()
    job = w._job
    wait_for_step(w, 1)
    w.close()
    assert not job.thread.is_alive() and w.net is None and w.visualization is None


def test_the_kernel_stays_usable_while_a_run_goes_on():
    w = visualizer(SlowCNN(0.02).eval(), steps=1000)
    w.run()
    wait_for_step(w, 2)
    begin = time.monotonic()
    w.layer = "pool"  # new thumbnails: a forward pass on the kernel's thread between two steps of the run
    assert time.monotonic() - begin < 0.5 and w.busy and w.thumbnails["layer"] == "pool"
    assert w.status.startswith("step "), "the run's progress stays in the status line"
    w.close()


# -- chart and wire format --------------------------------------------------------------------------------------
def test_chart_follows_the_objective_curve(fast_frames):
    w = visualizer(steps=8)
    chart = w.chart
    w.run()
    w.wait()
    assert list(chart.data[0].y) == pytest.approx(w.visualization.curve, rel=1e-6)
    assert list(chart.data[0].x) == list(range(1, 9))
    w.reset()
    assert len(chart.data[0].y) == 0
    board = w.dashboard()
    assert board.children[0] is w and board.children[1].children == (chart,)
    assert board.layout.flex_flow == "row wrap"  # the chart goes below the view in a narrow cell
    w.close()


def test_pictures_and_arrays_travel_as_binary_buffers(fast_frames):
    from ipywidgets.widgets.widget import _remove_buffers

    w = visualizer(steps=3)
    w.run()
    w.wait()
    w.frame = w.final  # a frame is there while a run goes on
    _, paths, _ = _remove_buffers(w.get_state())
    for path in (["frame"], ["final"], ["thumbnails", "buffer"], ["curve", "buffer"], ["image"]):
        assert path in paths, path
    assert w.thumbnails["dtype"] == "float32" and w.thumbnails["shape"] == [8, 32, 32]
    w.close()
