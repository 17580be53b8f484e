"""DeepDream engine: Google's octave scheme against a plain re-implementation, the layer's norm rising every octave,
Stop/Resume equal to one run, tiling equal to the untiled gradient where tiles cannot interact, a 1024-px dream with
bounded inputs, one loop for everything (``Visualization._step``), the user's model untouched and clear messages.

Small hand-built nets on small synthetic pictures keep every test to a second or two.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.dream import Dream, deep_dream, dream_steps, octave_sizes
from cnnviz_widgets.engine.errors import FeatureVisError, LayerError
from cnnviz_widgets.engine.featurevis import Visualization, class_logit
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.progress import last

from .conftest import Untouched, hook_count, small_cnn

MEAN, STD = 0.5, 0.25


def net_of(model: nn.Module, size: int = 32) -> cw.Net:
    return cw.Net(model, Preprocess(size=size, mean=(MEAN,) * 3, std=(STD,) * 3))


def photo(height: int = 48, width: int = 40, seed: int = 0) -> torch.Tensor:
    """A smooth synthetic picture (3, H, W) in [0, 1]: blurred noise, so that layers see structure; in whole
    1/255 steps, as a photo's pixels are (the engine reads images as 8-bit pictures)."""
    noise = torch.rand(1, 3, height // 4, width // 4, generator=torch.Generator().manual_seed(seed))
    smooth = F.interpolate(noise, size=(height, width), mode="bilinear", align_corners=False)[0]
    return (smooth * 255).round() / 255


class Pointwise(nn.Module):
    """1x1 convolutions only: each output position sees one input pixel, so tiles cannot interact."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 8, 1)
        self.conv2 = nn.Conv2d(8, 6, 1)
        self.head = nn.Linear(6, 10)

    def forward(self, x):
        y = torch.relu(self.conv2(torch.relu(self.conv(x))))
        return self.head(y.mean(dim=(2, 3)))


class Shapes(nn.Module):
    """Wraps a model and logs the side of every input it sees (the log is shared with the engine's replica)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.log = inner, []

    def forward(self, x):
        self.log.append(tuple(x.shape[-2:]))
        return self.inner(x)


def layer_norm(model: nn.Module, layer: str, image: torch.Tensor) -> float:
    """The L2 norm of ``layer``'s output for ``image`` (1, 3, H, W) in [0, 1], by a plain hooked forward pass on a
    copy of the model."""
    twin = type(model)() if isinstance(model, Pointwise) else None
    twin = twin if twin is not None else __import__("copy").deepcopy(model)
    twin.eval().requires_grad_(False)
    seen = {}
    handle = twin.get_submodule(layer).register_forward_hook(lambda _m, _i, out: seen.update(a=out.clone()))
    with torch.no_grad():
        twin((image - MEAN) / STD)
    handle.remove()
    return float(seen["a"].norm())


# -- Google's scheme, written out plainly -----------------------------------------------------------------------
def reference_dream(model: nn.Module, layer: str, image: torch.Tensor, octaves: int, scale: float, steps: int,
                    lr: float) -> torch.Tensor:  # fmt: skip
    """DeepDream as Google's notebook does it (no jitter): octaves from the smallest up, detail upscaled and added
    to each octave's photo, steps of lr/255 over the mean |gradient| of the mean squared activation, clipped."""
    twin = __import__("copy").deepcopy(model).eval().requires_grad_(False)
    seen = {}
    twin.get_submodule(layer).register_forward_hook(lambda _m, _i, out: seen.update(a=out))
    sizes = octave_sizes(image.shape[-2], image.shape[-1], octaves, scale)
    bases = [F.interpolate(image[None], size=s, mode="bilinear", align_corners=False, antialias=True)
             if s != tuple(image.shape[-2:]) else image[None] for s in sizes]  # fmt: skip
    detail = torch.zeros_like(bases[0])
    for base in bases:
        if detail.shape != base.shape:
            detail = F.interpolate(detail, size=base.shape[-2:], mode="bilinear", align_corners=False)
        x = (base + detail).clamp(0, 1)
        for _ in range(steps):
            x = x.detach().requires_grad_()
            twin((x - MEAN) / STD)
            (g,) = torch.autograd.grad(seen["a"].pow(2).mean(), x)
            x = (x + lr / 255 * g / g.abs().mean()).clamp(0, 1)
        detail = x.detach() - base
    return (image[None] + detail).clamp(0, 1)


def test_octave_sizes_grow_by_the_scale_to_the_full_size():
    sizes = octave_sizes(300, 200, 4, 1.4)
    assert sizes[-1] == (300, 200) and len(sizes) == 4
    for (h0, w0), (h1, w1) in zip(sizes, sizes[1:]):
        assert abs(h1 / h0 - 1.4) < 0.05 and abs(w1 / w0 - 1.4) < 0.05


def test_the_dream_is_googles_octave_scheme():
    model = small_cnn().eval()
    image = photo()
    ours = deep_dream(net_of(model), image, "conv2", octaves=3, scale=1.4, steps=4, jitter=0, tile=0)
    ref = reference_dream(model, "conv2", image, 3, 1.4, 4, 1.5)
    assert ours.shape == ref.shape == (1, 3, 48, 40)
    assert (ours - ref).abs().max() < 1e-5, float((ours - ref).abs().max())
    assert (ours - image).abs().max() > 0.02  # it did dream


def test_the_layer_norm_rises_every_octave():
    model = small_cnn().eval()
    dream = Dream(net_of(model), photo(64, 64), "conv2", octaves=4, steps=5)
    frames = [u.result for u in dream.steps(dream.remaining, every=0) if u.result is not None]
    norms = [dream.norm0, *dream.norms]
    assert len(dream.norms) == 4 and all(b > a for a, b in zip(norms, norms[1:])), norms
    # measured by the engine on the full-size picture: the same as a plain forward pass on it
    ends = [f for f in frames if f.full is not None]
    assert [f.octave for f in ends[:4]] == [0, 1, 2, 3]
    for frame, norm in zip(ends, dream.norms):
        assert frame.full.shape == (1, 3, 64, 64)
        assert norm == pytest.approx(layer_norm(model, "conv2", frame.full), rel=1e-4)


def test_stop_and_resume_equal_one_run():
    net = net_of(small_cnn().eval())
    whole = Dream(net, photo(), "conv2:3", octaves=3, steps=4, jitter=6, seed=5)
    last(whole.steps(whole.remaining, every=0))
    parts = Dream(net, photo(), "conv2:3", octaves=3, steps=4, jitter=6, seed=5)
    for taken, _update in enumerate(parts.steps(100, every=1), 1):
        if taken == 5:  # Stop in the middle of the second octave
            break
    assert parts.step == 5 and parts.octave == 1
    last(parts.steps(parts.remaining, every=0))
    assert parts.step == whole.step == 12
    assert torch.equal(parts.full(), whole.full()) and parts.norms == whole.norms


def test_frames_say_the_octave_and_come_at_octave_ends():
    dream = Dream(net_of(small_cnn().eval()), photo(), "conv2", octaves=2, steps=3)
    updates = list(dream.steps(dream.remaining, every=2))
    assert [round(u.fraction, 3) for u in updates] == [round(k / 6, 3) for k in range(1, 7)]
    shown = [(u.result.step, u.result.octave, u.result.full is not None) for u in updates if u.result is not None]
    assert shown == [(2, 0, False), (3, 0, True), (4, 1, False), (6, 1, True)]
    assert updates[-1].result.image.shape == (1, 3, 48, 40)


def test_tiles_give_the_untiled_dream_where_tiles_cannot_interact():
    net, image = net_of(Pointwise()), photo(90, 70)
    tiled = deep_dream(net, image, "conv2", octaves=2, steps=3, jitter=5, tile=32)
    whole = deep_dream(net, image, "conv2", octaves=2, steps=3, jitter=5, tile=0)
    assert (tiled - whole).abs().max() < 1e-5


def test_a_1024_px_dream_keeps_the_model_to_tiles():
    model = Shapes(small_cnn().eval())
    dream = Dream(net_of(model), photo(1024, 1024), "inner.conv2", octaves=2, steps=2, tile=256)
    model.log.clear()
    last(dream.steps(dream.remaining, every=0))
    assert dream.full().shape == (1, 3, 1024, 1024)
    assert model.log and max(max(side) for side in model.log) <= 256, sorted(set(model.log))[-3:]
    assert dream.norms[-1] > dream.norm0


def test_an_untileable_objective_on_a_large_picture_is_refused_with_the_way_out():
    net = net_of(small_cnn().eval())
    with pytest.raises(FeatureVisError, match=r"tile=64.*(tile=0|size=64)"):
        Dream(net, photo(100, 80), class_logit(3), tile=64)
    Dream(net, photo(60, 50), class_logit(3), tile=64)  # small enough: no tiles needed


def test_one_loop_serves_every_octave(monkeypatch):
    calls = []
    step = Visualization._step
    monkeypatch.setattr(Visualization, "_step", lambda self: calls.append(self) or step(self))
    dream = Dream(net_of(small_cnn().eval()), photo(), "conv2", octaves=3, steps=2)
    last(dream.steps(dream.remaining, every=0))
    assert len(calls) == 6 and len({id(v) for v in calls}) == 3  # one Visualization per octave


def test_a_guide_pulls_towards_its_features():
    net = net_of(small_cnn().eval())
    dream = Dream(net, photo(), "conv2", guide=photo(seed=9), octaves=1, steps=6)
    last(dream.steps(dream.remaining, every=0))
    assert dream.vis.curve[-1] > dream.vis.curve[0]
    with pytest.raises(FeatureVisError, match="whole layer"):
        Dream(net, photo(), "conv2:1", guide=photo(seed=9))


def test_the_users_model_is_untouched_also_when_stopped():
    model = small_cnn()
    model.train()
    with Untouched(model):
        dream = Dream(net_of(model), photo(), "conv2", octaves=2, steps=3)
        updates = dream.steps(4)
        next(updates)
        assert hook_count(model) == 0
        updates.close()
        last(dream.steps(dream.remaining))
    assert hook_count(model) == 0


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(octaves=0), r"octaves.*1\.\.12"),
        (dict(scale=1.0), r"scale.*1\.05"),
        (dict(steps=0), r"steps.*1\.\.10000"),
        (dict(lr=-1), r"lr.*0\.01"),
        (dict(tile=-1), r"tile.*0\.\.2048"),
        (dict(size=8), r"size.*16\.\.2048"),
        (dict(octaves=12, scale=4.0), r"octave 1 of 12.*fewer octaves"),
    ],
)
def test_bad_settings_say_what_is_valid(kwargs, pattern):
    with pytest.raises(FeatureVisError, match=pattern):
        Dream(net_of(small_cnn().eval()), photo(), "conv2", **kwargs)


def test_a_bad_layer_or_unit_says_what_is_valid():
    net = net_of(small_cnn().eval())
    with pytest.raises((LayerError, FeatureVisError), match=r"nope"):
        Dream(net, photo(), "nope")
    with pytest.raises(FeatureVisError, match=r"0\.\.7"):
        Dream(net, photo(), "conv2:8")


def test_dream_steps_is_the_whole_dream():
    net = net_of(small_cnn().eval())
    updates = list(dream_steps(net, photo(), "conv2", octaves=2, steps=2, every=0))
    assert len(updates) == 4 and updates[-1].fraction == 1.0 and updates[-1].result.full is not None
    assert not math.isnan(updates[-1].result.value)
    random.seed(0)  # the engine draws from its own generator, not the global one
    again = deep_dream(net, photo(), "conv2", octaves=2, steps=2)
    assert torch.equal(again, updates[-1].result.full)
