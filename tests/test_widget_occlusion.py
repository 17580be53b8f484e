"""OcclusionExplorer, Python side: the streamed map is the engine's, Stop keeps a partial map within one chunk,
a click shows the right occluded image and probability, bad settings land in the banner, the model is untouched.

A small CNN on 32 px pictures keeps the runs short; making each chunk of the engine's sweep sleep makes a run
long enough to watch frames arrive and to stop it halfway.
"""

from __future__ import annotations

import io
import math
import re
import threading
import time
from typing import Optional

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine.errors import CnnvizError, SettingError
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.occlusion import OcclusionError, make_fill, occlusion_steps
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets import occlusion as occlusion_widget
from cnnviz_widgets.widgets.stream import eta_text

from .conftest import Untouched, hook_count, mixed_state, small_cnn

SIZE = 32


def slow_chunks(monkeypatch, seconds: float) -> None:
    """Make every chunk of the widget's engine sweep take ``seconds`` longer (sleeping releases the GIL, like
    torch's kernels do); the results stay the engine's."""
    steps = occlusion_widget.occlusion_steps

    def slowed(*args, **kwargs):
        for result in steps(*args, **kwargs):
            time.sleep(seconds)
            yield result

    monkeypatch.setattr(occlusion_widget, "occlusion_steps", slowed)


def small_net(model: Optional[nn.Module] = None) -> cw.Net:
    return cw.Net(model if model is not None else small_cnn().eval(), Preprocess(size=SIZE))


def heat(widget) -> np.ndarray:
    return widget.heatmap.values


def frames(widget) -> list:
    """Record ``(done, map)`` for every non-empty map the widget publishes."""
    seen = []
    widget.observe(
        lambda change: change.new and seen.append((widget.result.done, heat(widget).copy())), names="heatmap"
    )
    return seen


def run_and_stop_at_the_first_frame(widget) -> None:
    """Run, press Stop as soon as the first partial map is published, and wait for the job to end."""
    first = threading.Event()
    widget.observe(lambda change: change.new and first.set(), names="heatmap")
    widget.run()
    assert first.wait(30)
    widget.stop()
    widget.wait()


def decode_png(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
def cat():
    return cw.sample_image("cat")


@pytest.mark.parametrize("window,stride,baseline", [(8, 4, 0.0), (6, 4, "mean"), (12, 12, "blur"), (5, 3, -1.5)])
def test_final_map_is_the_engines(cat, window, stride, baseline):
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=window, stride=stride, baseline=baseline)
    w.wait()
    x = net.tensor(cat)
    target = int(net.logits(cat).argmax())
    ref = engine.occlusion(net.model, x, target, window, stride, baseline)
    assert w.error == "" and not w.busy and w.target == target
    assert (w.done, w.total) == (ref.total, ref.total)
    np.testing.assert_allclose(heat(w), ref.map.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.isnan(heat(w)).any()
    assert f"{ref.total} windows" in w.status
    w.close()


def test_partial_maps_stream_at_a_throttled_rate_and_the_last_always_arrives(cat, monkeypatch):
    slow_chunks(monkeypatch, 0.03)
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=4, stride=2, start=False)  # 15 x 15 windows in many chunks
    seen = frames(w)
    begin = time.perf_counter()
    w.run()
    w.wait()
    elapsed = time.perf_counter() - begin
    done = [d for d, _ in seen]
    total = w.total
    assert total == 15 * 15 and done[-1] == total and w.error == ""
    assert len(seen) >= 3, f"expected partial maps before the end, got frames at {done}"
    assert done == sorted(done) and done[0] < total
    # Every frame is the engine's partial map after the same number of windows.
    x, target = net.tensor(cat), w.target
    partial = {u.result.done: u.result.preview.numpy() for u in occlusion_steps(net.model, x, target, 4, 2)}
    # Throttled: about one frame per FRAME_INTERVAL (not one per chunk), plus the last.
    assert len(seen) <= elapsed / cw.OcclusionExplorer.FRAME_INTERVAL + 2, (len(seen), elapsed)
    assert len(seen) < len(partial), (len(seen), len(partial))
    # Every frame is a full map: the engine's preview, coarse at first (gaps filled from the nearest window).
    assert all(np.isfinite(shown).all() for _, shown in seen)
    assert not np.allclose(seen[0][1], seen[-1][1]), "the first frame is already the final map"
    for count, shown in seen:
        np.testing.assert_allclose(shown, partial[count], rtol=1e-5, atol=1e-6)
    w.close()


def test_stop_keeps_the_partial_map_and_ends_within_one_chunk(cat, monkeypatch):
    monkeypatch.setattr(cw.OcclusionExplorer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.OcclusionExplorer, "ACK_PATIENCE", 0.0)  # every chunk published: its size is visible
    slow_chunks(monkeypatch, 0.05)
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=4, stride=2, start=False)
    seen = frames(w)
    two_chunks = threading.Event()
    w.observe(lambda _: len(seen) >= 2 and two_chunks.set(), names="heatmap")
    w.run()
    job = w._job
    assert two_chunks.wait(30)
    chunk = seen[1][0] - seen[0][0]
    Frontend(w).stop()  # what the view's Stop button sends
    at_stop = w.done
    begin = time.perf_counter()
    job.thread.join(5)
    assert not job.thread.is_alive() and time.perf_counter() - begin < 1.0
    assert not w.busy and w.error == ""
    assert at_stop <= w.done <= at_stop + chunk < w.total
    assert w.status.startswith(f"stopped after {w.done}/{w.total} windows")
    # The partial map stays shown: the engine's preview after that many windows, not yet the full map.
    shown = heat(w)
    partial = next(
        u.result for u in occlusion_steps(net.model, net.tensor(cat), w.target, 4, 2) if u.result.done == w.done
    )
    assert torch.isnan(partial.map).any(), "stopped before every pixel was covered"
    np.testing.assert_allclose(shown, partial.preview.numpy(), rtol=1e-5, atol=1e-6)
    assert w.result.done == w.done
    w.close()


def occluded_by_hand(net, x, window, stride, baseline, i, j):
    """``x`` with window ``(i, j)`` set to the baseline fill, computed here from the layout rule."""
    ys = slice(i * stride, min(i * stride + window, x.shape[-2]))
    xs = slice(j * stride, min(j * stride + window, x.shape[-1]))
    out = x.clone()
    out[0, :, ys, xs] = make_fill(x, baseline)[:, ys, xs]
    return out, [ys.start, ys.stop, xs.start, xs.stop]


def prob_by_hand(model, x, target):
    with torch.no_grad():
        return float(torch.softmax(model.eval()(x).double(), dim=1)[0, target])


@pytest.mark.parametrize("baseline", [0.0, "mean", "blur"])
def test_clicking_a_window_shows_that_occluded_image_and_its_probability(cat, baseline):
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=8, stride=4, baseline=baseline)
    w.wait()
    x = net.tensor(cat)
    for i, j in [(0, 0), (2, 5), (6, 6)]:
        w.show_window(i, j)
        shown = w.occluded
        expected, box = occluded_by_hand(net, x, 8, 4, baseline, i, j)
        assert (shown["i"], shown["j"], shown["box"]) == (i, j, box)
        np.testing.assert_array_equal(decode_png(shown["image"]), net.preprocess.denormalise(expected))
        assert shown["prob"] == float(w.result.probs[i, j])
        assert shown["prob"] == pytest.approx(prob_by_hand(net.model, expected, w.target), abs=1e-6)
        assert shown["clean_prob"] == pytest.approx(prob_by_hand(net.model, x, w.target), abs=1e-6)
        assert shown["target"] == w.target and shown["label"] == f"class {w.target}"
    w.close()


def test_a_click_on_the_map_picks_the_covering_window_with_the_nearest_centre(cat):
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=8, stride=4)  # 7 x 7 windows, each pixel under up to 4
    w.wait()

    def distance(box, y, x):  # from the box's centre to the pixel's, in rows plus columns
        top, bottom, left, right = box
        return abs((top + bottom) / 2 - (y + 0.5)) + abs((left + right) / 2 - (x + 0.5))

    for y, x in [(0, 0), (5, 30), (13, 2), (31, 31), (16, 17)]:
        Frontend(w).select(y, x)
        top, bottom, left, right = w.occluded["box"]
        assert top <= y < bottom and left <= x < right, (y, x, w.occluded["box"])
        # No other window covering the pixel has a centre closer to it (brute force over all 49).
        boxes = [(4 * i, min(4 * i + 8, SIZE), 4 * j, min(4 * j + 8, SIZE)) for i in range(7) for j in range(7)]
        covering = [b for b in boxes if b[0] <= y < b[1] and b[2] <= x < b[3]]
        assert distance(w.occluded["box"], y, x) == min(distance(b, y, x) for b in covering)
    w.close()


def test_a_window_the_stopped_run_never_reached_gets_its_probability_computed(cat, monkeypatch):
    monkeypatch.setattr(cw.OcclusionExplorer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.OcclusionExplorer, "ACK_PATIENCE", 0.0)
    slow_chunks(monkeypatch, 0.02)
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=4, stride=2, start=False)
    run_and_stop_at_the_first_frame(w)
    assert w.done < w.total and math.isnan(float(w.result.probs[13, 11]))  # odd row and column: refined last
    w.show_window(13, 11)
    expected, _ = occluded_by_hand(net, net.tensor(cat), 4, 2, 0.0, 13, 11)
    assert w.occluded["prob"] == pytest.approx(prob_by_hand(net.model, expected, w.target), abs=1e-6)
    w.close()


@pytest.mark.parametrize(
    "trait,value,message",
    [
        ("window", 33, r"a window height of 33 does not fit in the image's height of 32 pixels \(1\.\.32\)"),
        ("stride", 0, r"stride must be a number >= 1, got 0"),
        ("stride", -4, r"stride must be a number >= 1, got -4"),
        ("stride", 9, r"a stride height of 9 leaves gaps between windows of height 8; use a stride of 1\.\.8"),
        ("baseline", "grey", r"baseline must be a number or one of: mean, blur; got 'grey'"),
    ],
)
def test_bad_settings_show_the_engines_message_and_run_nothing(cat, trait, value, message):
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=8, stride=4)
    w.wait()
    before = heat(w).copy()
    front = Frontend(w)
    front.set(**{trait: value})  # the view's field: the banner, never an exception in the cell
    assert re.search(message, w.error), w.error
    taken = getattr(w, trait) == value
    if taken:  # it fits the setting alone, not with the others: Run refuses it
        front.dismiss()
        front.run()
        assert re.search(message, w.error), w.error
    with pytest.raises(CnnvizError, match=message):
        setattr(w, trait, value)  # from Python the value, or the run, raises
        w.run()
    assert not w.busy
    np.testing.assert_array_equal(heat(w), before)
    front.dismiss()
    setattr(w, trait, {"window": 8, "stride": 4, "baseline": 0.0}[trait])
    assert w.error == "" and ("press Run" in w.status) == taken  # a refused value changed nothing
    w.close()


def test_a_failure_inside_the_job_is_shown_not_raised(cat):
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=8, stride=4, start=False)
    w.target = 10  # the small CNN has classes 0..9
    w.run()
    w.wait()
    assert w.error == "class 10 is out of range; this model has 10 classes (0..9)" and not w.busy
    assert hook_count(net.model) == 0
    w.close()


def test_constructor_is_strict(cat):
    net = small_net()
    with pytest.raises(TypeError):
        cw.OcclusionExplorer(net, cat, windw=8)
    with pytest.raises(TypeError, match="cw.load_model"):
        cw.OcclusionExplorer("efficientnet", cat)
    with pytest.raises(SettingError, match=r"window must be a number in 1\.\.32, got 0"):
        cw.OcclusionExplorer(net, cat, window=0)
    with pytest.raises(SettingError, match=r"window must be a whole number in 1\.\.32, got \(8, 4\)"):
        cw.OcclusionExplorer(net, cat, window=(8, 4))
    with pytest.raises(OcclusionError, match=r"stride height of 12 leaves gaps .* use a stride of 1\.\.8"):
        cw.OcclusionExplorer(net, cat, window=8, stride=12)
    with pytest.raises(SettingError, match=r"one of: mean, blur"):
        cw.OcclusionExplorer(net, cat, window=8, stride=4, baseline="gray")
    with pytest.raises(SettingError, match=r"baseline must be a number or one of: mean, blur"):
        cw.OcclusionExplorer(net, cat, window=8, stride=4, baseline=torch.zeros(3, SIZE, SIZE))
    with pytest.raises(ValueError, match="choose one of: inferno, viridis, jet, gray"):
        cw.OcclusionExplorer(net, cat, window=8, stride=4, colormap="rainbow")
    with pytest.raises(TypeError, match="start must be True or False"):
        cw.OcclusionExplorer(net, cat, window=8, stride=4, start="yes")


def test_a_new_picture_clears_the_map_and_drops_the_old_runs_frames(cat, monkeypatch):
    slow_chunks(monkeypatch, 0.02)
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=4, stride=2)
    w.set_image(cw.sample_image("coffee"))
    w.wait()
    assert w.heatmap is None and w.occluded == {} and w.result is None and not w.busy
    assert w.status.startswith("press Run")
    w.close()


def test_model_is_left_exactly_as_it_was(cat, monkeypatch):
    monkeypatch.setattr(cw.OcclusionExplorer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.OcclusionExplorer, "ACK_PATIENCE", 0.0)
    slow_chunks(monkeypatch, 0.01)
    model = mixed_state(small_cnn())
    net = small_net(model)
    with Untouched(model):
        w = cw.OcclusionExplorer(net, cat, window=4, stride=2, baseline="blur")
        w.wait()
        w.show_window(1, 1)
        run_and_stop_at_the_first_frame(w)
        assert math.isnan(float(w.result.probs[13, 11]))
        w.show_window(13, 11)  # not evaluated: a forward pass of its own
        w.run()
        w.close()
    assert w.error == ""


def test_close_ends_the_job_and_releases_the_model(cat, monkeypatch):
    slow_chunks(monkeypatch, 0.05)
    net = small_net()
    w = cw.OcclusionExplorer(net, cat, window=4, stride=2)
    job = w._job
    assert w.busy
    w.close()
    assert not job.thread.is_alive() and w.net is None and w.result is None
    assert hook_count(net.model) == 0


def test_map_travels_as_a_binary_buffer(cat):
    from ipywidgets.widgets.widget import _remove_buffers

    w = cw.OcclusionExplorer(small_net(), cat, window=8, stride=4)
    w.wait()
    w.show_window(0, 0)
    _, paths, _ = _remove_buffers(w.get_state())
    assert ["heatmap", "buffer"] in paths and ["occluded", "image"] in paths
    wire = w.get_state()["heatmap"]
    assert wire["dtype"] == "float32" and wire["shape"] == [SIZE, SIZE] and wire["quantity"].startswith("drop in")
    assert wire["grid"] == {"window": w.window, "stride": w.stride}  # what the hover names windows by
    w.close()


@pytest.mark.parametrize("seconds,text", [(0.2, "< 1 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s")])
def test_eta_text(seconds, text):
    assert eta_text(seconds) == text
