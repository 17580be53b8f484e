"""The sweep (issue 12): every public engine entry point and every view, on the models and inputs a new user
brings, each cell checked against a plain-PyTorch reference or required to refuse with a message that names
the problem and the valid choices.

Models: rectifiers as modules, functions, one reused module, in place and ReLU6; GELU and SiLU (no rectifier:
the guided methods give the gradient and say so); a grayscale model; tuple and dict outputs with and without
an output selector; a model left in training mode (batch norm and dropout); a model with the user's own
forward hook; float64. Inputs (on the plain ReLU model): non-square, 8×8, a batch of 4, NaN and inf pixels,
classes 10 and -1 of 10, an unknown layer, channels 99 and -1 of 8, calls inside ``torch.no_grad()`` and
``torch.inference_mode()``.

Every cell also checks that the user's model comes back bit-identical, with its own flags and hooks and no
``.grad``. The table of outcomes is printed at the end of the module and saved in ``tests/artifacts``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine import CnnvizError, Net, Preprocess
from cnnviz_widgets.engine.errors import CnnvizWarning
from cnnviz_widgets.engine.faststyle import TransformNet
from cnnviz_widgets.engine.featurevis import class_logit, feature_visualization
from cnnviz_widgets.widgets.encoding import decode_array

from .conftest import Untouched, rel_err
from .test_gradcam_pp import brute_force_cam_pp

CLASSES, LAYER, WIDTH = 10, "conv2", 8  # the CAM layer and its channel count
TOL = 1e-5  # float32 relative tolerance against the references (float64 models get 1e-10)


# --- the models ------------------------------------------------------------------------------------------
class _Rectify(torch.autograd.Function):
    """The reference rules, written out: clamp to [0, upper] forward; backward passes the positive gradient,
    only where the unit was strictly active (guided backprop) or wherever it arrives (deconvnet)."""

    @staticmethod
    def forward(ctx, x, upper, rule):
        ctx.save_for_backward(x)
        ctx.upper, ctx.rule = upper, rule
        return x.clamp(0, upper)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        positive = grad.clamp(min=0)
        if ctx.rule == "deconvnet":
            return positive, None, None
        return positive * ((x > 0) & (x < ctx.upper)), None, None


ACTIVATIONS = {
    "relu": nn.ReLU,
    "inplace": lambda: nn.ReLU(inplace=True),
    "relu6": nn.ReLU6,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
UPPER = {
    "relu": float("inf"),
    "functional": float("inf"),
    "reused": float("inf"),
    "inplace": float("inf"),
    "relu6": 6.0,
}


class Toy(nn.Module):
    """conv → BN → act → conv → act → max-pool → dropout → mean → linear, the activation spelled as ``act`` says;
    ``out`` wraps the logits in a tuple or a dict. ``rule`` (references only) swaps rectifiers for
    :class:`_Rectify`."""

    def __init__(self, act: str = "relu", channels: int = 3, out: str = "tensor"):
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(channels, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, WIDTH, 3, padding=1)
        self.pool, self.drop, self.head = nn.MaxPool2d(2), nn.Dropout(0.25), nn.Linear(WIDTH, CLASSES)
        self.kind, self.out, self.rule = act, out, None
        if act == "reused":
            self.act = nn.ReLU()
        elif act in ACTIVATIONS:
            self.act1, self.act2 = ACTIVATIONS[act](), ACTIVATIONS[act]()

    def _act(self, x: torch.Tensor, i: int) -> torch.Tensor:
        if self.rule is not None and self.kind in UPPER:
            return _Rectify.apply(x, UPPER[self.kind], self.rule)
        if self.kind == "functional":
            return F.relu(x)
        return self.act(x) if self.kind == "reused" else getattr(self, f"act{i}")(x)

    def forward(self, x):
        y = self._act(self.bn(self.conv1(x)), 1)
        y = self.pool(self._act(self.conv2(y), 2))
        logits = self.head(self.drop(y.mean(dim=(2, 3))))
        if self.out == "tuple":
            return logits, y
        if self.out == "dict":
            return {"features": y, "logits": logits}
        return logits


def toy(act: str = "relu", seed: int = 0, **kwargs) -> Toy:
    torch.manual_seed(seed)
    model = Toy(act, **kwargs)
    with torch.no_grad():  # batch-norm statistics that make eval mode differ from train mode
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


SELECTORS: Dict[str, Callable[[Any], torch.Tensor]] = {"tuple": lambda out: out[0], "dict": lambda out: out["logits"]}


# --- the cases -------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One row of the table: the user's model (with an output selector if it returns a tuple or dict), an
    input batch, its target and layer, and which entry points the row concerns (``kind``)."""

    name: str
    model: nn.Module
    x: torch.Tensor
    target: Any = 3
    layer: str = LAYER
    unit: int = 1
    kind: str = "model"  # which entry points the row concerns: model, shape, batch, pixels, class, layer, unit, context
    select: Optional[Callable[[Any], torch.Tensor]] = None
    no_selector: bool = False  # a tuple/dict output given without a selector
    context: Callable[[], Any] = contextlib.nullcontext
    tol: float = TOL

    @property
    def arg(self) -> Any:
        """What the user hands the engine: the module, or a Net carrying the output selector."""
        return self.model if self.select is None else Net(self.model, output=self.select)

    @property
    def channels(self) -> int:
        return self.model.conv1.in_channels

    def net(self) -> Net:
        """A Net for the views and feature visualisation: 16-pixel input, mean 0.5 and std 0.25 per channel
        (the channel count and selector are passed only when needed, so the sweep also runs on older code)."""
        c = self.channels
        preprocess = Preprocess(size=16, mean=(0.5,) * c, std=(0.25,) * c, **({} if c == 3 else {"channels": c}))
        return Net(self.model, preprocess) if self.select is None else Net(self.model, preprocess, output=self.select)

    def logits(self, twin: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = twin(x)
        return self.select(out) if self.select is not None else out


def _image(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _hooked() -> Toy:
    model = toy()
    model.conv1.register_forward_hook(lambda _m, _i, out: out * 1.5)  # changes what the model computes
    return model


def _pixel(value: float) -> torch.Tensor:
    x = _image(1, 3, 16, 16)
    x[0, 1, 5, 7] = value
    return x


def _cases() -> List[Case]:
    x = _image(1, 3, 16, 16)
    names = {
        "relu": "relu module",
        "functional": "functional relu",
        "reused": "reused relu module",
        "inplace": "in-place relu",
        "relu6": "relu6",
        "gelu": "GELU",
        "silu": "SiLU",
    }
    rows = [Case(name, toy(act), x) for act, name in names.items()]
    rows += [
        Case("grayscale", toy(channels=1), _image(1, 1, 16, 16)),
        Case("tuple output", toy(out="tuple"), x, no_selector=True),
        Case("tuple + selector", toy(out="tuple"), x, select=SELECTORS["tuple"]),
        Case("dict output", toy(out="dict"), x, no_selector=True),
        Case("dict + selector", toy(out="dict"), x, select=SELECTORS["dict"]),
        Case("train mode (BN, dropout)", toy().train(), x),
        Case("user forward hook", _hooked(), x),
        Case("float64", toy().double(), x.double(), tol=1e-10),
        Case("non-square 20×28", toy(), _image(1, 3, 20, 28), kind="shape"),
        Case("8×8 input", toy(), _image(1, 3, 8, 8), kind="shape"),
        Case("batch of 4", toy(), _image(4, 3, 16, 16), target=[3, 0, 9, 3], kind="batch"),
        Case("NaN pixel", toy(), _pixel(float("nan")), kind="pixels"),
        Case("inf pixel", toy(), _pixel(float("inf")), kind="pixels"),
        Case("class 10 of 10", toy(), x, target=10, kind="class"),
        Case("class -1", toy(), x, target=-1, kind="class"),
        Case("unknown layer", toy(), x, layer="nope", kind="layer"),
        Case("channel 99 of 8", toy(), x, target=f"{LAYER}:99", unit=99, kind="unit"),
        Case("channel -1", toy(), x, target=f"{LAYER}:-1", unit=-1, kind="unit"),
        Case("inside no_grad()", toy(), x, kind="context", context=torch.no_grad),
        Case("inside inference_mode()", toy(), x, kind="context", context=torch.inference_mode),
    ]
    return rows


CASES = _cases()


# --- plain-PyTorch references ----------------------------------------------------------------------------
def twin(case: Case, rule: Optional[str] = None) -> nn.Module:
    """A deep copy of the user's model in eval mode with frozen weights (the user's hooks come along)."""
    model = copy.deepcopy(case.model).eval().requires_grad_(False)
    model.rule = rule
    return model


def _targets(case: Case) -> torch.Tensor:
    t = case.target if isinstance(case.target, list) else [case.target] * case.x.shape[0]
    return torch.tensor(t).view(-1, 1)


def ref_grad(case: Case, rule: Optional[str] = None) -> torch.Tensor:
    x = case.x.clone().requires_grad_()
    score = case.logits(twin(case, rule), x).gather(1, _targets(case)).sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad


def ref_layer(case: Case) -> Tuple[torch.Tensor, torch.Tensor]:
    """The CAM layer's output as it left the layer, and the target's gradient there (a later in-place op
    changes a copy, not the recorded value)."""
    model, seen = twin(case), {}

    def hook(_module, _inputs, out):
        seen["a"] = out.detach().requires_grad_()
        return seen["a"] * 1.0

    handle = model.get_submodule(case.layer).register_forward_hook(hook)
    try:
        score = case.logits(model, case.x).gather(1, _targets(case)).sum()
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(score, seen["a"])
    return seen["a"].detach(), grad


def _up(cam: torch.Tensor, case: Case) -> torch.Tensor:
    return F.interpolate(cam, size=case.x.shape[-2:], mode="bilinear", align_corners=False)


def ref_cam(case: Case) -> torch.Tensor:
    a, g = ref_layer(case)
    return _up((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True).relu(), case)


def ref_cam_pp(case: Case) -> torch.Tensor:
    a, g = ref_layer(case)
    maps = [
        torch.from_numpy(brute_force_cam_pp(a[i].double().numpy(), g[i].double().numpy())) for i in range(a.shape[0])
    ]
    return _up(torch.stack(maps)[:, None].to(a.dtype), case)


def ref_ig(case: Case, steps: int = 8) -> torch.Tensor:
    """Integrated gradients from a zero baseline by the midpoint rule, one gradient per point."""
    total = torch.zeros_like(case.x)
    for k in range(steps):
        point = Case(case.name, case.model, case.x * (k + 0.5) / steps, case.target, select=case.select)
        total += ref_grad(point)
    return case.x * total / steps


def ref_probs(case: Case) -> torch.Tensor:
    with torch.no_grad():
        return case.logits(twin(case), case.x).softmax(1)


def ref_output(case: Case, x: torch.Tensor) -> torch.Tensor:
    """The CAM layer's output for ``x`` as it left the layer (copied before any later in-place op)."""
    seen: Dict[str, torch.Tensor] = {}
    model = twin(case)

    def hook(_module, _inputs, out) -> None:  # returns None: the model goes on with its own output
        seen["a"] = out.clone()

    handle = model.get_submodule(case.layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["a"]


def ref_channel(case: Case, x: torch.Tensor) -> float:
    """Mean of channel ``unit`` of the CAM layer for the normalised picture ``x``: feature visualisation's goal."""
    return float(ref_output(case, x)[:, case.unit].mean())


def close(ours: torch.Tensor, ref: torch.Tensor, case: Case) -> None:
    assert ours.numel() == ref.numel(), (tuple(ours.shape), tuple(ref.shape))
    err = rel_err(ours.reshape(ref.shape), ref)
    assert err <= case.tol, f"relative error {err:.2e} against the plain-torch reference"


# --- the entry points ------------------------------------------------------------------------------------
@dataclass
class Entry:
    """An entry point: how to call it on a case, how to check a result, which kinds of row concern it."""

    name: str
    call: Callable[[Case], Any]
    check: Callable[[Case, Any], None]
    kinds: Tuple[str, ...]
    logits: bool = True  # reads the model's logits, so a tuple/dict output needs a selector
    guided: bool = False  # applies rectifier rules: on a model without rectifiers it warns (a view: in its status)
    view: bool = False


def _check_guided(rule: str) -> Callable[[Case, Any], None]:
    return lambda case, out: close(out, ref_grad(case, rule), case)


def _check_guided_cam(case: Case, out: torch.Tensor) -> None:
    close(out, ref_grad(case, "guided") * ref_cam(case), case)


def _check_sanity(case: Case, out: Any) -> None:
    close(out.maps[0], ref_grad(case).abs().amax(1), case)  # the trained model's map comes first
    assert float(out.correlation[0]) == pytest.approx(1.0)
    assert len(out.maps) == len(out.names) == 3 and torch.isfinite(out.maps).all()


def _curves(case: Case) -> Any:
    attribution = torch.rand(case.x.shape[-2:], generator=torch.Generator().manual_seed(0))
    return engine.deletion_insertion(case.arg, case.x, attribution, case.target, steps=4)


def _check_curves(case: Case, out: Any) -> None:
    # Nothing deleted and everything inserted are both the image itself: the target's probability there.
    p = float(ref_probs(case)[0, case.target])
    assert float(out.deletion[0]) == pytest.approx(p, rel=1e-4) and float(out.insertion[-1]) == pytest.approx(
        p, rel=1e-4
    )


def ref_occlusion(case: Case, window: int = 8, stride: int = 4) -> torch.Tensor:
    """Brute force: the drop of the target logit with each window zeroed, averaged over the windows covering
    each pixel (windows start every ``stride`` pixels and fit in the image)."""
    model, x = twin(case), case.x
    drop, covered = torch.zeros(x.shape[-2:], dtype=torch.float64), torch.zeros(x.shape[-2:], dtype=torch.float64)
    with torch.no_grad():
        clean = float(case.logits(model, x)[0, case.target])
        for top in range(0, x.shape[-2] - window + 1, stride):
            for left in range(0, x.shape[-1] - window + 1, stride):
                occluded = x.clone()
                occluded[..., top : top + window, left : left + window] = 0
                drop[top : top + window, left : left + window] += clean - float(
                    case.logits(model, occluded)[0, case.target]
                )
                covered[top : top + window, left : left + window] += 1
    return drop / covered


def _check_occlusion(case: Case, out: Any) -> None:
    close(out.map, ref_occlusion(case), case)


def _check_steps(case: Case, updates: Any) -> None:
    out = [u.result for u in updates]
    assert out[-1].done == out[-1].total and all(a.done <= b.done for a, b in zip(out, out[1:]))
    assert [u.fraction for u in updates] == [r.done / r.total for r in out] and updates[-1].fraction == 1.0
    _check_occlusion(case, out[-1])


def _check_layers(case: Case, records: Any) -> None:
    """Every record's shape is its module's last output shape in a plain hooked forward pass."""
    model, shapes, handles = twin(case), {}, []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, out)))
    try:
        with torch.no_grad():
            model(case.x[:1])
    finally:
        for h in handles:
            h.remove()
    by_name = {r.name: r for r in records}
    assert {LAYER, "conv1", "head"} <= set(by_name)
    for name, out in shapes.items():
        if isinstance(out, torch.Tensor) and name in by_name:
            assert by_name[name].shape == tuple(out.shape[1:]), name
    if case.model.kind == "reused":
        assert by_name["act"].calls == 2


def _capture(case: Case) -> torch.Tensor:
    with engine.private(case.arg) as rep, engine.capture(rep, [case.layer]) as record:
        rep(case.x)
        return record[case.layer].detach().clone()


def _check_capture(case: Case, out: torch.Tensor) -> None:
    close(out, ref_output(case, case.x), case)


PIXEL = dict(param="pixel", decorrelate=False, transforms=False, lr=0.1, seed=2)


def _visualize(case: Case) -> List[Any]:
    goal = class_logit(case.target) if case.kind == "class" else f"{case.layer}:{case.unit}"
    return list(feature_visualization(case.net(), goal, size=16, steps=6, every=1, **PIXEL))


def _normalised(case: Case, image: torch.Tensor) -> torch.Tensor:
    return ((image - 0.5) / 0.25).to(case.x.dtype)


def _check_visualize(case: Case, frames: List[Any]) -> None:
    first, last = (_normalised(case, f.image) for f in (frames[0], frames[-1]))
    assert frames[-1].step == 6 and frames[-1].image.shape == (1, case.channels, 16, 16)
    assert ref_channel(case, last) > ref_channel(case, first), "six ascent steps did not raise the channel"


def _check_top(case: Case, out: Any) -> None:
    probs = ref_probs(case)[0]
    values, indices = probs.topk(3)
    assert [p.index for p in out] == indices.tolist()
    assert [p.prob for p in out] == pytest.approx(values.tolist(), rel=1e-5)


def _check_resolve(case: Case, out: nn.Module) -> None:
    assert out is case.model.get_submodule(case.layer)


IMAGE = ("model", "shape", "batch", "pixels", "class", "context")
GRADIENTS = IMAGE + ("unit",)  # a target may also be a unit, "layer:channel"


def _scan_pictures(case: Case) -> List[Any]:
    """Six pictures for a dataset scan: the case's picture, flipped and rolled."""
    pic = _picture(case)
    pic = pic if pic.dim() == 3 else pic[0]
    turned = [pic, pic.flip(-1), pic.flip(-2), pic.roll(3, -1), pic.roll(5, -2), pic.flip(-1).flip(-2)]
    return [engine.load_image(t) for t in turned]


def _scan(case: Case) -> Any:
    return engine.scan(case.net(), _scan_pictures(case), [case.layer], k=3, cache=False, workers=0, progress=False)


def _check_scan(case: Case, found: Any) -> None:
    """Each channel's top-3 pictures and peaks are those of the layer's output in a plain hooked forward pass (peaks
    kept as float32, whatever the model's dtype)."""
    net = case.net()
    outputs = torch.cat([ref_output(case, net.tensor(p)) for p in _scan_pictures(case)]).double()
    peaks = outputs.flatten(2).amax(2)  # (pictures, channels)
    top = found.top[case.layer]
    for channel in range(peaks.shape[1]):
        want = sorted(range(peaks.shape[0]), key=lambda i: (-float(peaks[i, channel]), i))[:3]
        close(top.values[channel].double(), peaks[want, channel], _seen(case))
        distinct = len(set(peaks[:, channel].tolist())) == peaks.shape[0]
        assert not distinct or top.index[channel].tolist() == want, (channel, top.index[channel].tolist(), want)
    assert found.scanned.all() and found.predicted.min() >= 0


def _fooling_target(case: Case) -> int:
    """The case's class where the row tries a bad one or a model without logits (to be refused), else the picture's
    runner-up."""
    if case.kind == "class" or case.no_selector:
        return case.target
    return int(ref_probs(_seen(case))[0].argsort(descending=True)[1])


def _fool(case: Case) -> Any:
    return engine.fool(case.net(), _picture(case), _fooling_target(case), mode="bounded", epsilon=4, steps=3)


def _check_fool(case: Case, out: Any) -> None:
    """Within 4/255 of the picture the model sees, in [0, 1]; the top-5 after and ``reached`` are the plain model's."""
    seen = _seen(case)
    start = (seen.x[0].double() * 0.25 + 0.5).clamp(0, 1)
    assert float((out.image.double() - start).abs().max()) <= 4 / 255 + 1e-6 and 0 < out.steps <= 3
    fooled = Case(case.name, case.model, _normalised(case, out.image[None]), select=case.select, tol=seen.tol)
    probs = ref_probs(fooled)[0]
    assert [p.index for p in out.after] == probs.topk(5).indices.tolist()
    assert out.reached == (int(probs.argmax()) == _fooling_target(case))


ENTRIES = [
    Entry(
        "gradient", lambda c: engine.gradient(c.arg, c.x, c.target), lambda c, o: close(o, ref_grad(c), c), GRADIENTS
    ),
    Entry(
        "input_x_gradient",
        lambda c: engine.input_x_gradient(c.arg, c.x, c.target),
        lambda c, o: close(o, c.x * ref_grad(c), c),
        GRADIENTS,
    ),
    Entry(
        "smoothgrad",
        lambda c: engine.smoothgrad(c.arg, c.x, c.target, samples=2, noise=0.0),
        lambda c, o: close(o, ref_grad(c), c),
        GRADIENTS,
    ),
    Entry(
        "integrated_gradients",
        lambda c: engine.integrated_gradients(c.arg, c.x, c.target, steps=8, baseline=0.0, rule="riemann_middle"),
        lambda c, o: close(o, ref_ig(c), c),
        GRADIENTS,
    ),
    Entry(
        "guided_backprop",
        lambda c: engine.guided_backprop(c.arg, c.x, c.target),
        _check_guided("guided"),
        GRADIENTS,
        guided=True,
    ),
    Entry(
        "deconvnet",
        lambda c: engine.deconvnet(c.arg, c.x, c.target),
        _check_guided("deconvnet"),
        GRADIENTS,
        guided=True,
    ),
    Entry(
        "grad_cam",
        lambda c: engine.grad_cam(c.arg, c.x, c.target, c.layer),
        lambda c, o: close(o, ref_cam(c), c),
        IMAGE + ("layer",),
    ),
    Entry(
        "grad_cam_pp",
        lambda c: engine.grad_cam_pp(c.arg, c.x, c.target, c.layer),
        lambda c, o: close(o, ref_cam_pp(c), c),
        IMAGE + ("layer",),
    ),
    Entry(
        "guided_grad_cam",
        lambda c: engine.guided_grad_cam(c.arg, c.x, c.target, c.layer),
        _check_guided_cam,
        IMAGE + ("layer",),
        guided=True,
    ),
    Entry(
        "explain",
        lambda c: engine.explain(c.arg, c.x, c.target, "gradient").attribution,
        lambda c, o: close(o, ref_grad(c), c),
        GRADIENTS,
    ),
    Entry(
        "saliency",
        lambda c: engine.saliency(c.arg, c.x, c.target, "gradcam", c.layer),
        lambda c, o: close(o, ref_cam(c), c),
        IMAGE + ("layer",),
    ),
    Entry(
        "sanity_check", lambda c: engine.sanity_check(c.arg, c.x, c.target, "gradient", steps=2), _check_sanity, IMAGE
    ),
    Entry("deletion_insertion", _curves, _check_curves, IMAGE),
    Entry("occlusion", lambda c: engine.occlusion(c.arg, c.x, c.target, window=8, stride=4), _check_occlusion, IMAGE),
    Entry(
        "occlusion_steps",
        lambda c: list(engine.occlusion_steps(c.arg, c.x, c.target, window=8, stride=4)),
        _check_steps,
        IMAGE,
    ),
    Entry("Net.top", lambda c: c.net().top(c.x, k=3), _check_top, ("model", "shape", "batch", "pixels", "context")),
    Entry(
        "layers",
        lambda c: engine.layers(c.arg, tuple(c.x.shape[1:])),
        _check_layers,
        ("model", "shape", "context"),
        logits=False,
    ),
    Entry(
        "resolve_layer",
        lambda c: engine.resolve_layer(c.model, c.layer),
        _check_resolve,
        ("model", "layer"),
        logits=False,
    ),
    Entry("private+capture", _capture, _check_capture, ("model", "shape", "batch", "layer", "context"), logits=False),
    Entry(
        "feature_visualization",
        _visualize,
        _check_visualize,
        ("model", "class", "layer", "unit", "context"),
        logits=False,
    ),
    Entry("scan", _scan, _check_scan, ("model", "layer", "context")),
    Entry("fool", _fool, _check_fool, ("model", "class", "context")),
]


# --- the views -------------------------------------------------------------------------------------------
def _picture(case: Case) -> Any:
    """The case's input as a picture in [0, 1] (C, H, W), or the whole batch when there are several."""
    pic = (case.x * 0.25 + 0.5).clamp(0, 1) if torch.isfinite(case.x).all() else case.x * 0.25 + 0.5
    return pic[0] if pic.shape[0] == 1 else pic


def _explorer(method: str) -> Callable[[Case], Dict[str, Any]]:
    def call(case: Case) -> Dict[str, Any]:
        layer = {"layer": case.layer} if method == "gradcam" else {}
        target = case.target if case.kind == "class" else 3
        return _finish(
            cw.SaliencyExplorer(case.net(), _picture(case), method=method, target=target, **layer), lambda w: w.heatmap
        )

    return call


def _occluder(case: Case) -> Dict[str, Any]:
    w = cw.OcclusionExplorer(
        case.net(), _picture(case), window=8, stride=4, target=case.target if case.kind == "class" else 3
    )
    return _finish(w, lambda w: w.result)


def _visualizer(case: Case) -> Dict[str, Any]:
    goal = (
        {"kind": "class_logit", "target": case.target}
        if case.kind == "class"
        else {"layer": case.layer, "unit": case.unit}
    )
    return _finish(cw.FeatureVisualizer(case.net(), steps=6, size=16, **goal, **PIXEL), lambda w: w.visualization)


def _dreamer(case: Case) -> Dict[str, Any]:
    goal = {"kind": "channel", "unit": case.unit} if case.kind == "unit" else {}
    w = cw.DeepDream(case.net(), _picture(case), case.layer, octaves=2, steps=3, size=24, **goal)
    return _finish(w, lambda w: w.dream)


def _check_dreamer(case: Case, out: Dict[str, Any]) -> None:
    """The layer's norm on the dream, by a plain forward pass, is above its norm on the photo it started from."""
    assert out["error"] == "", out["error"]
    dream = out["result"]
    assert dream.step == 6 and len(dream.norms) == 2
    before, after = (ref_output(case, _normalised(case, p)).norm() for p in (dream.photo, dream.full()))
    assert after > before, (float(before), float(after))


def _inverter(case: Case) -> Dict[str, Any]:
    w = cw.FeatureInversion(case.net(), _picture(case), [case.layer], size=16, steps=6)
    return _finish(w, lambda w: w.inversion)


def _check_inverter(case: Case, out: Dict[str, Any]) -> None:
    """The layer's output for the reconstruction, by a plain forward pass, is closer to the photo's than for the noise
    it started from (uniform, seeded by ``seed``)."""
    assert out["error"] == "", out["error"]
    inversion = out["result"]
    assert inversion.step == 6
    (picture,), photo = inversion.images(), inversion.photo
    noise = torch.rand(photo.shape, generator=torch.Generator().manual_seed(0))
    target = ref_output(case, _normalised(case, photo))
    before, after = (float((ref_output(case, _normalised(case, p)) - target).norm()) for p in (noise, picture))
    assert after < before, (before, after)


def _layers(case: Case) -> Dict[str, Any]:
    w = cw.LayerExplorer(case.net(), _picture(case), layer=case.layer)
    w.unit = case.unit
    return _finish(w, lambda w: (decode_array(w.thumbnails), w.projection.get("unit")))


def _datasets(case: Case) -> Dict[str, Any]:
    w = cw.DatasetExplorer(case.net(), _scan_pictures(case), [case.layer], k=3, cache=False, workers=0)
    w.unit = case.unit
    return _finish(w, lambda w: (w.scan, w.patches))


def _check_datasets(case: Case, out: Dict[str, Any]) -> None:
    """The scan is the engine's (checked above against the hooked pass); the unit's patches are its top entries."""
    assert out["error"] == "", out["error"]
    found, patches = out["result"]
    _check_scan(case, found)
    want = [i for i in found.top[case.layer].index[case.unit].tolist() if i >= 0]
    assert (patches["unit"], [p["item"] for p in patches["items"]]) == (case.unit, want)


def _finish(w: Any, take: Callable[[Any], Any]) -> Dict[str, Any]:
    """The view's banner, status line and result once its job is done; the view is closed either way."""
    try:
        w.wait(timeout=60)
        return {"error": w.error, "status": w.status, "result": take(w)}
    finally:
        w.close()


def _seen(case: Case) -> Case:
    """The case as the view runs it: the picture prepared by the Net, class 3."""
    return Case(
        case.name, case.model, case.net().tensor(_picture(case)), 3, select=case.select, tol=max(case.tol, 1e-6)
    )


def _heat(out: Dict[str, Any]) -> torch.Tensor:
    return torch.from_numpy(out["result"].values.copy())


def _check_explorer(method: str) -> Callable[[Case, Dict[str, Any]], None]:
    """The view's map is the method's display map of the reference: channels' max |.|, or the CAM itself."""

    def check(case: Case, out: Dict[str, Any]) -> None:
        assert out["error"] == "", out["error"]
        seen = _seen(case)
        if method == "gradcam":
            close(_heat(out), ref_cam(seen), seen)
            return
        close(_heat(out), ref_grad(seen, "guided" if method == "guided_backprop" else None).abs().amax(1), seen)
        rectified = getattr(case.model, "kind", "") in UPPER
        assert ("no rectifier" in out["status"]) == (method == "guided_backprop" and not rectified), out["status"]

    return check


def _check_occluder(case: Case, out: Dict[str, Any]) -> None:
    assert out["error"] == "", out["error"]
    _check_occlusion(_seen(case), out["result"])


def _check_visualizer(case: Case, out: Dict[str, Any]) -> None:
    assert out["error"] == "", out["error"]
    vis = out["result"]
    assert vis.step == 6 and len(vis.curve) == 6 and all(np.isfinite(vis.curve))
    image = vis.image()
    assert image.shape == (1, case.channels, 16, 16)
    grey = torch.full_like(image, 0.5)
    assert ref_channel(case, _normalised(case, image)) > ref_channel(case, _normalised(case, grey))


def _check_layers(case: Case, out: Dict[str, Any]) -> None:
    """The grid is the layer's output as it left the layer (held as bfloat16); the clicked channel is projected."""
    assert out["error"] == "", out["error"]
    grid, projected = out["result"]
    want = ref_output(_seen(case), _seen(case).x)[0].float()
    torch.testing.assert_close(torch.from_numpy(grid.copy()), want, rtol=2**-8, atol=1e-5)
    assert projected == case.unit


def _fooler(case: Case) -> Dict[str, Any]:
    w = cw.FoolingImage(case.net(), _picture(case), _fooling_target(case), mode="bounded", epsilon=4, steps=3)
    return _finish(w, lambda w: w.result)


def _check_fooler(case: Case, out: Dict[str, Any]) -> None:
    assert out["error"] == "", out["error"]
    _check_fool(case, out["result"])


def _class_visualizer(case: Case) -> Dict[str, Any]:
    target = case.target if case.kind == "class" or case.no_selector else 3
    w = cw.ClassVisualizer(case.net(), target, recipe="cs231n", steps=3)
    return _finish(w, lambda w: (w.visualizations, list(w.probs)))


def _check_class_visualizer(case: Case, out: Dict[str, Any]) -> None:
    """Three steps taken; the probability shown is the plain model's for class 3 on the final picture."""
    assert out["error"] == "", out["error"]
    (vis,), shown = out["result"]
    assert vis.step == 3 and vis.image().shape == (1, case.channels, 16, 16)
    final = Case(case.name, case.model, _normalised(case, vis.image()), select=case.select, tol=case.tol)
    assert shown == pytest.approx([float(ref_probs(final)[0, 3])], abs=1e-4)


def _stripes(case: Case) -> torch.Tensor:
    """A style picture the size of the case's: red and blue diagonal stripes, a texture unlike the random photo."""
    height, width = case.x.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    on = ((rows + cols) // 3 % 2).float()
    return torch.stack([on, torch.full_like(on, 0.2), 1 - on])


def _gram(case: Case, picture: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of the style layer's output for ``picture`` (C, H, W) in [0, 1], by a plain hooked forward
    pass, normalised by C·H·W."""
    maps = ref_output(case, _normalised(case, picture.reshape(1, *picture.shape[-3:]))).double()[0]
    flat = maps.flatten(1)
    return flat @ flat.T / maps.numel()


def _gram_distance(case: Case, picture: torch.Tensor, style: torch.Tensor) -> float:
    return float((_gram(case, picture) - _gram(case, style)).norm())


def _stylist(case: Case) -> Dict[str, Any]:
    """Five steps matching the stripes' Gram matrix at the case's layer, from the photo (no resizing: the picture's
    longest side is the photo's, the stripes are its size; a photo too small is refused as a picture)."""
    size = max(16, *case.x.shape[-2:])
    w = cw.StyleTransfer(case.net(), _picture(case), _stripes(case), layers=[case.layer], size=size, steps=5)
    return _finish(w, lambda w: (w.step, w.transfer.image()))


def _check_stylist(case: Case, out: Dict[str, Any]) -> None:
    """The stylised picture's Gram matrix at the style layer, by a plain forward pass, is closer to the stripes'
    than the photo's was, by at least a fifth."""
    assert out["error"] == "", out["error"]
    step, image = out["result"]
    photo = _picture(case)
    assert step == 5 and image.shape == (1, 3, *photo.shape[-2:]) and 0 <= image.min() <= image.max() <= 1
    before, after = (_gram_distance(case, p, _stripes(case)) for p in (photo, image))
    assert after < 0.8 * before, (before, after)


def _texturer(case: Case) -> Dict[str, Any]:
    w = cw.TextureSynthesis(case.net(), _stripes(case), layers=[case.layer], size=16, steps=6)
    return _finish(w, lambda w: (w.step, w.transfer.image()))


def _check_texturer(case: Case, out: Dict[str, Any]) -> None:
    """The texture's Gram matrix at the style layer, by a plain forward pass, is closer to the stripes' than that of
    the noise it grew from (uniform, seeded by ``seed``), by at least a fifth."""
    assert out["error"] == "", out["error"]
    step, image = out["result"]
    assert step == 6 and image.shape == (1, 3, 16, 16)
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before, after = (_gram_distance(case, p, _stripes(case)) for p in (noise, image))
    assert after < 0.8 * before, (before, after)


FAST = dict(steps=3, size=32, batch=1, width=4, blocks=0)


def _fast_trainer(case: Case) -> Dict[str, Any]:
    """Three steps of training a tiny transformation network on the photo, previewing it; then apply() to it."""
    photo = _picture(case)
    w = cw.FastStyleTrainer(case.net(), _stripes(case), images=[photo], preview=photo, **FAST)

    def take(w: Any) -> Tuple[Any, ...]:
        return w.step, dict(w.curves), w.training.checkpoint(), w.training.apply(photo), np.array(w.apply(photo))

    return _finish(w, take)


def _check_fast_trainer(case: Case, out: Dict[str, Any]) -> None:
    """apply() is a plain forward pass of a transformation network rebuilt from the checkpoint's weights, on the photo
    (as float, and as the 8-bit picture the view shows); the loss curves have a finite value per step."""
    assert out["error"] == "", out["error"]
    step, curves, checkpoint, applied, shown = out["result"]
    assert step == FAST["steps"] and set(curves) == {"content", "style", "tv", "total"}
    assert all(len(v) == FAST["steps"] and np.isfinite(v).all() for v in curves.values()), curves
    state = torch.load(io.BytesIO(checkpoint), weights_only=True)
    net = TransformNet(FAST["width"], FAST["blocks"]).eval()
    net.load_state_dict(state["transform"])
    with torch.no_grad():
        want = net(_picture(case)[None].float())
    torch.testing.assert_close(applied, want, rtol=1e-5, atol=1e-6)
    pixels = torch.from_numpy(shown).permute(2, 0, 1).double() / 255
    assert float((pixels - want[0].double()).abs().max()) <= 0.5 / 255 + 1e-6


PICTURE = ("model", "shape", "batch", "pixels", "class", "context")
VIEWS = [
    Entry("SaliencyExplorer", _explorer("gradient"), _check_explorer("gradient"), PICTURE, view=True),
    Entry(
        "SaliencyExplorer(guided)",
        _explorer("guided_backprop"),
        _check_explorer("guided_backprop"),
        ("model",),
        guided=True,
        view=True,
    ),
    Entry("SaliencyExplorer(gradcam)", _explorer("gradcam"), _check_explorer("gradcam"), ("model", "layer"), view=True),
    Entry("OcclusionExplorer", _occluder, _check_occluder, PICTURE, view=True),
    Entry(
        "FeatureVisualizer", _visualizer, _check_visualizer, ("model", "layer", "unit", "class", "context"), view=True
    ),
    Entry("LayerExplorer", _layers, _check_layers, ("model", "layer", "context"), view=True),
    Entry("DeepDream", _dreamer, _check_dreamer, ("model", "shape", "layer", "unit", "context"), view=True),
    Entry("ClassVisualizer", _class_visualizer, _check_class_visualizer, ("model", "class", "context"), view=True),
    Entry("DatasetExplorer", _datasets, _check_datasets, ("model", "layer", "context"), view=True),
    Entry("FoolingImage", _fooler, _check_fooler, ("model", "shape", "pixels", "class", "context"), view=True),
    Entry("FeatureInversion", _inverter, _check_inverter, ("model", "shape", "layer", "context"), view=True),
    Entry(
        "StyleTransfer",
        _stylist,
        _check_stylist,
        ("model", "shape", "pixels", "layer", "context"),
        view=True,
        logits=False,
    ),
    Entry("TextureSynthesis", _texturer, _check_texturer, ("model", "layer", "context"), view=True, logits=False),
    Entry(
        "FastStyleTrainer",
        _fast_trainer,
        _check_fast_trainer,
        ("model", "shape", "pixels", "context"),
        view=True,
        logits=False,
    ),
]


# --- what each cell must do ------------------------------------------------------------------------------
@dataclass
class Expect:
    """``refuse``: patterns the message must all contain (the problem and the valid choices); ``warns``: a
    CnnvizWarning is due (a guided method on a model without rectifiers)."""

    refuse: Sequence[str] = ()
    warns: bool = False


ONE_IMAGE = (
    "sanity_check",
    "deletion_insertion",
    "occlusion",
    "occlusion_steps",
    "Net.top",
    "SaliencyExplorer",
    "OcclusionExplorer",
)
"""Entry points that explain or rank one picture at a time (the others take a batch)."""
COLOUR = ("FeatureInversion", "StyleTransfer", "TextureSynthesis", "FastStyleTrainer")
"""Views that compare colour pictures' features (a grayscale model is refused)."""


def expect(entry: Entry, case: Case) -> Expect:
    if case.no_selector and entry.logits:
        return Expect([r"got a (tuple|dict)", r"output=lambda out"])
    if case.kind == "pixels":
        return Expect([r"NaN or inf"])
    if case.kind == "class":
        return Expect([rf"{case.target}\b", r"0\.\.9"])
    if case.kind == "layer":
        return Expect([r"unknown layer 'nope'", LAYER])
    if case.kind == "unit":
        return Expect([rf"{case.unit}\b", r"0\.\.7|8 channels"])
    if case.kind == "batch" and entry.name in ONE_IMAGE:
        return Expect([r"one image", r"\b4\b"])
    if case.name == "grayscale" and entry.name in COLOUR:
        return Expect([r"colour \(3-channel\) model", r"takes 1"])  # it compares colour pictures' features
    if case.name == "8×8 input" and entry.view:
        return Expect([r"8x8", r"16 pixels"])  # a picture this small is refused; the engine takes any size
    return Expect(warns=entry.guided and getattr(case.model, "kind", "") in ("gelu", "silu"))


def concerns(entry: Entry, case: Case) -> bool:
    return case.kind in entry.kinds


CELLS = [(e, c) for e in ENTRIES + VIEWS for c in CASES if concerns(e, c)]
OUTCOMES: Dict[Tuple[str, str], str] = {}


@pytest.fixture(scope="module", autouse=True)
def table(request):
    """Print the table of outcomes (and save it) once the module's cells have run."""
    yield
    text = render(OUTCOMES)
    out = Path(__file__).parent / "artifacts" / "sweep.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in text.splitlines():
            reporter.write_line(line)


def render(outcomes: Dict[Tuple[str, str], str]) -> str:
    columns = [e.name for e in ENTRIES + VIEWS]
    width = max(len(c.name) for c in CASES) + 2
    head = [" " * width + " ".join(f"{i:>3}" for i in range(len(columns)))]
    rows = [c.name.ljust(width) + " ".join(f"{outcomes.get((e, c.name), '·'):>3}" for e in columns) for c in CASES]
    legend = [f"{i:>3} {name}" for i, name in enumerate(columns)]
    key = (
        "ok: equals the plain-torch reference; ok!: and said there is no rectifier; no: refused with a clear message; "
        "·: not applicable; XX: failed"
    )
    return "\n".join(["Sweep of every entry point and view (issue 12)", *head, *rows, "", *legend, key, ""])


@pytest.mark.parametrize("entry,case", CELLS, ids=[f"{e.name}-{c.name}" for e, c in CELLS])
def test_cell(entry: Entry, case: Case) -> None:
    OUTCOMES[entry.name, case.name] = "XX"
    want = expect(entry, case)
    with Untouched(case.model), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with case.context():
            if want.refuse:
                with pytest.raises(CnnvizError) as info:
                    entry.call(case)
                result = None
            else:
                result = entry.call(case)
    if want.refuse:
        missing = [p for p in want.refuse if not re.search(p, str(info.value))]
        assert not missing, f"the message {str(info.value)!r} lacks {missing}"
    else:
        entry.check(case, result)
    if not entry.view:  # a view's job runs in its own thread: its notes go to the status line, checked above
        ours = [str(w.message) for w in caught if issubclass(w.category, CnnvizWarning)]
        assert bool(ours) == want.warns, ours
    OUTCOMES[entry.name, case.name] = "no" if want.refuse else ("ok!" if want.warns else "ok")
