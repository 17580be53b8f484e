"""Incremental occlusion (reused clean activations): every window's logits equal a plain forward pass of the
occluded image, for each building block the replay has a rule for, for layers it has none for, and for
models it cannot trace; the three real models use it and match captum; its memory stays bounded."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz_widgets.engine import tracing
from cnnviz_widgets.engine.occlusion import Grid, make_fill, occlusion
from cnnviz_widgets.engine.occlusion.incremental import Replay, occluded

from .conftest import Untouched, mixed_state, seeded_image
from .test_occlusion import TOL, brute_score, captum_map

replay_module = sys.modules["cnnviz_widgets.engine.occlusion.incremental"]


class ResidualNet(nn.Module):
    """ResNet's stem and a downsampling basic block: in-place ReLU, ``out += identity``, a 1x1 stride-2 conv."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        self.conv1 = nn.Conv2d(8, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.down = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.stem(x)
        identity = self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        out = self.relu(out)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class FireNet(nn.Module):
    """SqueezeNet's pieces: an unpadded stride-2 stem, ceil-mode max pooling, a Fire module's channel concat."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.squeeze = nn.Conv2d(8, 4, 1)
        self.expand1 = nn.Conv2d(4, 6, 1)
        self.expand3 = nn.Conv2d(4, 6, 3, padding=1)
        self.avg = nn.AvgPool2d(2)
        self.classifier = nn.Conv2d(12, 5, 1)

    def forward(self, x):
        x = self.pool(F.relu(self.stem(x)))
        s = torch.relu(self.squeeze(x))
        x = torch.cat([F.relu(self.expand1(s)), F.relu(self.expand3(s))], 1)
        return self.classifier(self.avg(x)).mean((2, 3))


class SamePadConv(nn.Conv2d):
    """TensorFlow's asymmetric 'SAME' padding in the forward, as EfficientNet-Lite's port does (traced through)."""

    def forward(self, x):
        return F.conv2d(F.pad(x, (0, 1, 0, 1)), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MobileNet(nn.Module):
    """Lite0's pieces and more: padded functional conv, depthwise dilated 'same' conv, ReLU6, hardswish,
    a per-channel scale, clamps, a residual ``x + y``, ``F.pad`` before functional max pooling, sigmoid."""

    def __init__(self):
        super().__init__()
        self.stem = SamePadConv(3, 8, 3, 2, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6()
        self.depthwise = nn.Conv2d(8, 8, 3, groups=8, dilation=2, padding="same")
        self.scale = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.act(self.bn(self.stem(x)))
        y = F.hardswish(self.depthwise(x)) * self.scale
        y = torch.clamp(F.hardtanh(y, -3.0, 3.0), -2.0, 2.0)  # extra arguments given positionally
        x = F.pad(x + y, (1, 1, 1, 1))
        x = torch.sigmoid(F.max_pool2d(x, 3, 1))
        return self.head(x.mean((2, 3)))


class Roll(nn.Module):
    """A custom layer the replay has no rule for: it moves every pixel, so no box stays a box."""

    def forward(self, x):
        return torch.roll(x, shifts=3, dims=3)


class CustomLayerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.roll = Roll()
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.head = nn.Linear(6, 5)

    def forward(self, x):
        return self.head(self.conv2(self.roll(F.relu(self.conv1(x)))).amax((2, 3)))


class Untraceable(nn.Module):
    """A forward whose branch depends on the data: ``torch.fx`` cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, 5)

    def forward(self, x):
        y = self.conv(x)
        if y.mean() > 0:
            y = -y
        return self.head(y.mean((2, 3)))


def built(cls: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    model = cls().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so eval mode is not an identity
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model


def replayed_logits(model: nn.Module, x: torch.Tensor, grid: Grid, fill: torch.Tensor, chunk: int = 5):
    """Logits of every window through the replay, plus its share of recomputed multiply-adds."""
    with torch.no_grad():
        replay = Replay(model, x)
        frame = tuple(min(w, n) for w, n in zip(grid.window, grid.size))
        cells = grid.order()
        out = [
            replay(occluded(x, fill, [grid.box(*c) for c in cells[s : s + chunk]], frame))
            for s in range(0, len(cells), chunk)
        ]
    return cells, torch.cat(out), replay.recomputed


def plain_logits(model: nn.Module, x: torch.Tensor, grid: Grid, fill: torch.Tensor, cells):
    batch = x.expand(len(cells), -1, -1, -1).clone()
    for row, (i, j) in enumerate(cells):
        ys, xs = grid.box(i, j)
        batch[row, :, ys, xs] = fill[:, ys, xs]
    with torch.no_grad():
        return model(batch)


@pytest.mark.parametrize("share", [0.6, 1.0])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("cls", [ResidualNet, FireNet, MobileNet])
def test_replayed_windows_equal_plain_forward_passes(cls, layout, share, monkeypatch):
    """Every window, including the clipped ones at the borders, with boxes kept to the last layer (share 1)."""
    monkeypatch.setattr(replay_module, "FULL_SHARE", share)
    model = built(cls)
    x = seeded_image(1, 3, 37, 45, seed=1).contiguous(memory_format=layout)
    grid = Grid.make((37, 45), (7, 9), (4, 5))
    fill = make_fill(x, "mean")
    cells, ours, recomputed = replayed_logits(model, x, grid, fill)
    ref = plain_logits(model, x.contiguous(), grid, fill, cells)
    assert float((ours - ref).abs().max()) < 1e-5
    assert recomputed < 0.9, "the boxes were not kept: every layer ran whole"


def test_an_unknown_custom_layer_runs_whole_and_stays_exact(monkeypatch):
    model = built(CustomLayerNet)
    x = seeded_image(1, 3, 24, 24, seed=2)
    grid = Grid.make((24, 24), 6, 3)
    fill = make_fill(x, 0.0)
    cells, ours, recomputed = replayed_logits(model, x, grid, fill)
    assert float((ours - plain_logits(model, x, grid, fill, cells)).abs().max()) < 1e-5
    conv1, conv2 = 6 * 3 * 9, 6 * 6 * 9  # multiply-adds per pixel; the linear head's are negligible
    assert conv2 / (conv1 + conv2) - 0.01 < recomputed < 0.95, "conv1's box reused, conv2 (after the roll) whole"
    result = occlusion(model, x, 1, 6, 3)  # the engine keeps the replay: the roll only costs its own layers
    assert result.recomputed < 1.0
    assert float((result.map - captum_map(model, x, 1, 6, 3)).abs().max()) < TOL


def test_an_untraceable_model_falls_back_to_whole_batches():
    model = built(Untraceable)
    x = seeded_image(1, 3, 20, 20, seed=3)
    result = occlusion(model, x, 2, 5, 3)
    assert result.recomputed == 1.0
    assert float((result.map - captum_map(model, x, 2, 5, 3)).abs().max()) < TOL


def test_forward_hooks_on_the_model_see_every_occluded_image():
    """The replay would skip the user's hooks, so a hooked model is evaluated by its own forward."""
    model = built(ResidualNet)
    seen = []
    handle = model.stem.register_forward_hook(lambda _m, _i, out: seen.append(out.shape[0]))
    try:
        result = occlusion(model, seeded_image(1, 3, 32, 32, seed=4), 0, 8, 8)
    finally:
        handle.remove()
    assert result.recomputed == 1.0
    assert sum(seen) >= result.total


def test_a_model_whose_replay_disagrees_falls_back(monkeypatch):
    """A guard, not trust: if the replay ever computed something else, the engine notices and batches."""
    model = built(FireNet)
    real = Replay.__call__
    monkeypatch.setattr(Replay, "__call__", lambda self, patch: real(self, patch) + 1.0)
    x = seeded_image(1, 3, 24, 24, seed=5)
    result = occlusion(model, x, 3, 6, 3)
    assert result.recomputed == 1.0
    assert float((result.map - captum_map(model, x, 3, 6, 3)).abs().max()) < TOL


def test_the_replay_leaves_the_model_as_it_was():
    model = mixed_state(built(ResidualNet))
    with Untouched(model):
        result = occlusion(model, seeded_image(1, 3, 32, 32, seed=6), 1, 8, 4)
    assert result.recomputed < 1.0


def test_real_models_reuse_activations_and_equal_captum(nets, cat):
    """16-px windows every 12 px (19 x 19 windows overlapping, the last clipped), random and real weights."""
    lite0 = nets["efficientnet_lite0"].model
    shuffled = copy.deepcopy(lite0)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in shuffled.parameters():
            p.copy_(p[torch.randperm(p.shape[0])] if p.dim() else p)
    models = {
        **{n: (net.model, net.tensor(cat)) for n, net in nets.items()},
        "efficientnet_lite0 (shuffled weights)": (shuffled, nets["efficientnet_lite0"].tensor(cat)),
    }
    for name, (model, x) in models.items():
        x = x.contiguous()
        with torch.no_grad():
            target = int(model.eval()(x).argmax())
        ours = occlusion(model, x, target, 16, 12)
        assert ours.recomputed < 0.7, f"{name}: {ours.recomputed:.2f} of the forward pass recomputed"
        ref = captum_map(model, x, target, 16, 12)
        assert float((ours.map - ref).abs().max()) < TOL, name
        fill = torch.zeros_like(x[0])
        for cell in [(0, 0), (9, 14), (18, 18)]:  # a corner, the middle, the clipped last window
            assert float(ours.scores[cell]) == pytest.approx(
                brute_score(model, x, target, ours.grid.box(*cell), fill), abs=1e-4
            )


MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys, torch
    import cnnviz_widgets as cw
    from cnnviz_widgets.engine.occlusion import occlusion
    torch.set_num_threads(2)

    def kb(field):
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith(field + ":"))

    torch.manual_seed(0)
    model = cw.load_model(sys.argv[1], pretrained=sys.argv[1] == "efficientnet_lite0", device="cpu").model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        model(x)  # allocator and kernels warmed by one ordinary forward pass
    peaks = {}
    for stride in (16, 4):
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the high-water mark to the current resident set
        before = kb("VmRSS")
        result = occlusion(model, x, 1, 16, stride)
        peaks[result.total] = (kb("VmHWM") - before) / 1024
    print(json.dumps(peaks))
    """
)


@pytest.mark.parametrize("name", ["squeezenet1_1", "efficientnet_lite0"])
def test_extra_memory_is_bounded_whatever_the_number_of_windows(name):
    """Peak resident memory above the model's, in a fresh process: under 300 MB for 196 and for 2809 windows."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, name], capture_output=True, text=True, timeout=600, check=True
    )
    peaks = {int(k): v for k, v in __import__("json").loads(out.stdout.strip().splitlines()[-1]).items()}
    assert set(peaks) == {196, 2809}
    assert max(peaks.values()) < 300, peaks
    assert peaks[2809] < peaks[196] + 30, f"memory grows with the number of windows: {peaks}"


def test_a_model_is_traced_once_until_its_modules_change(monkeypatch):
    """Tracing patches ``nn.Module.__call__`` process-wide while it runs, so it happens once per module tree."""
    traces = []
    real = tracing._ThreadTracer.trace
    monkeypatch.setattr(tracing._ThreadTracer, "trace", lambda self, m, *a: traces.append(m) or real(self, m, *a))
    model = built(ResidualNet)
    x = seeded_image(1, 3, 24, 24, seed=7)
    first = occlusion(model, x, 2, 8, 4)
    again = occlusion(model, x, 2, 8, 4)
    assert len(traces) == 1 and torch.equal(first.map, again.map) and again.recomputed < 1.0
    torch.manual_seed(3)
    model.head = nn.Linear(16, 5)  # a new module: the old graph would not know it
    changed = occlusion(model, x, 2, 8, 4)
    assert len(traces) == 2 and changed.recomputed < 1.0
    assert float((changed.map - captum_map(model, x, 2, 8, 4)).abs().max()) < TOL
