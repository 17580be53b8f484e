"""Shared fixtures: the offline default model and torchvision models with seeded random weights."""
from __future__ import annotations

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


@pytest.fixture(scope="session")
def nets(default_net, resnet18, squeezenet):
    return {"efficientnet_lite0": default_net, "resnet18": resnet18, "squeezenet1_1": squeezenet}


def hook_count(model: torch.nn.Module) -> int:
    """Every hook torch keeps on a module (forward, pre-forward, backward, full backward)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )


def flags(model: torch.nn.Module):
    """The state engine calls must restore: modes and requires_grad flags."""
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max |ours - ref| / max |ref|: the relative error used for parity with reference implementations."""
    ours, ref = ours.detach().double().cpu(), ref.detach().double().cpu()
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-30))
