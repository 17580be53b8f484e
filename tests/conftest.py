"""Shared fixtures: the offline default model and torchvision models with seeded random weights."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import pytest
import torch

import cnnviz_widgets as cw
from cnnviz_widgets.engine.model import Net


@pytest.fixture(scope="session")
def default_net() -> Net:
    return cw.load_model(device="cpu")


def _random(name: str) -> Net:
    torch.manual_seed(0)
    return cw.load_model(name, pretrained=False, device="cpu")


@pytest.fixture(scope="session")
def resnet18() -> Net:
    return _random("resnet18")


@pytest.fixture(scope="session")
def squeezenet() -> Net:
    return _random("squeezenet1_1")


@pytest.fixture
def explorer(default_net):
    """A SaliencyExplorer on the cat photo with its first map computed; closed after the test."""
    w = cw.SaliencyExplorer(default_net, cw.sample_image("cat"))
    w.wait()
    yield w
    w.close()


@pytest.fixture(scope="session")
def nets(default_net, resnet18, squeezenet):
    return {"efficientnet_lite0": default_net, "resnet18": resnet18, "squeezenet1_1": squeezenet}


def hook_count(model: torch.nn.Module) -> int:
    """Every hook torch keeps on a module (forward, pre-forward, backward, full backward)."""
    return sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )


def flags(model: torch.nn.Module):
    """The state engine calls must restore: modes and requires_grad flags."""
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


@contextmanager
def eval_mode(model: torch.nn.Module, requires_grad: Optional[bool] = None) -> Iterator[torch.nn.Module]:
    """The model in eval mode (weights frozen or unfrozen if asked) for a reference computation, then as it was;
    tests' own stand-in for what the engine does on its private replica."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        if requires_grad is not None:
            model.requires_grad_(requires_grad)
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in grads:
            p.requires_grad_(flag)


def drain(updates, fractions: Optional[list] = None):
    r"""The final result of a long engine call (a generator of ``Update``\ s), each update's fraction appended
    to ``fractions``."""
    result = None
    for update in updates:
        if fractions is not None:
            fractions.append(update.fraction)
        result = update.result
    return result


def shown_frames(vis, steps: int, every: int = 8) -> list:
    """The frames of ``steps`` more steps of a feature visualisation, one every ``every`` steps and the last."""
    return [update.result for update in vis.steps(steps, every) if update.result is not None]


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max |ours - ref| / max |ref|: the relative error used for parity with reference implementations."""
    ours, ref = ours.detach().double().cpu(), ref.detach().double().cpu()
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


# --- shared by the attribution tests ------------------------------------------------------------------

METHOD_NAMES = (
    "gradient",
    "input_x_gradient",
    "smoothgrad",
    "integrated_gradients",
    "guided_backprop",
    "deconvnet",
    "gradcam",
    "gradcam_pp",
    "guided_gradcam",
)
"""The attribution methods issue 3 asks for, in picker order (the spec the registry is checked against)."""


@pytest.fixture(scope="session")
def cat():
    return cw.sample_image("cat")


def seeded_image(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    """A reproducible N(0, scale²) image batch, NCHW-contiguous."""
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


class SmallCNN(torch.nn.Module):
    """Two convs with batch norm and ReLU, a pool and a linear head: cheap enough for exhaustive checks."""

    def __init__(self, classes: int = 10, channels: int = 3):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 6, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(6)
        self.conv2 = torch.nn.Conv2d(6, 8, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.head = torch.nn.Linear(8, classes)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        y = self.pool(torch.relu(self.conv2(y)))
        return self.head(y.mean(dim=(2, 3)))


class Counting(torch.nn.Module):
    """Wraps a model and counts its forward passes (no hooks involved) in a list, which the engine's replica
    of the model shares (an int attribute would be the replica's own)."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.log: list = []

    @property
    def calls(self) -> int:
        return len(self.log)

    def forward(self, x):
        self.log.append(x.shape[0])
        return self.inner(x)


def small_cnn(seed: int = 0, **kwargs) -> SmallCNN:
    torch.manual_seed(seed)
    model = SmallCNN(**kwargs)
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode differs from an identity
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model


def mixed_state(model: torch.nn.Module) -> torch.nn.Module:
    """Train mode on some modules, frozen weights on others: the engine must put back exactly this."""
    model.train()
    for m in list(model.modules())[::3]:
        m.training = False
    for p in list(model.parameters())[::2]:
        p.requires_grad_(False)
    return model


class Untouched:
    """``with Untouched(model):`` asserts on exit that the block left no hooks, the same flags, the same
    parameters and buffers (bit for bit) and no ``.grad`` on the model (also when the block raised an
    exception that ``pytest.raises`` inside it caught)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def __enter__(self):
        self.hooks = hook_count(self.model)
        self.flags = flags(self.model)
        self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.grads = [p.grad for p in self.model.parameters()]
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            assert hook_count(self.model) == self.hooks, "hooks left on the model"
            assert flags(self.model) == self.flags, "training / requires_grad flags changed"
            after = self.model.state_dict()
            assert after.keys() == self.state.keys()
            changed = [k for k, v in self.state.items() if not torch.equal(v, after[k])]
            assert not changed, f"parameters or buffers changed: {changed[:5]}"
            assert all(p.grad is g for p, g in zip(self.model.parameters(), self.grads)), ".grad written on the model"
        return False


class HookableReLU6(torch.nn.ReLU):
    """ReLU6 as a subclass of nn.ReLU, so captum's GuidedBackprop/Deconvolution (which hook only nn.ReLU) see it."""

    def forward(self, x):
        return torch.nn.functional.hardtanh(x, 0.0, 6.0)


def relu6_as_relu(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` with every nn.ReLU6 module replaced by :class:`HookableReLU6` (same values)."""
    import copy

    twin = copy.deepcopy(model)
    for module in list(twin.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.ReLU6:
                setattr(module, name, HookableReLU6())
    return twin
