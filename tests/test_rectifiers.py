"""Guided backprop and deconvnet apply their rule at every rectifier, however the model spells it.

One small CNN is written with each spelling of "rectify" (modules, in-place and reused modules, functions,
tensor methods, ReLU6 and clamp forms) and loaded with the same weights. With activations kept below 6
(checked), every spelling computes the same function as plain separate ``nn.ReLU`` modules, so the guided
and deconvnet maps must be the same, bit for bit; the plain-ReLU version is itself pinned to captum. A clamp
to a range that does not start at 0 is not a rectifier and must be left alone.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, GuidedBackprop
from torch import nn

from cnnviz_widgets import engine

from .conftest import Untouched, rel_err, seeded_image

SITES = 3  # rectifier calls in one forward pass


class Spelled(nn.Module):
    """conv-act-conv-act-pool-conv-act-mean-linear, with the activation written as ``spelling``."""

    def __init__(self, spelling: str):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(8, 8, 3)
        self.head = nn.Linear(8, 5)
        self.spelling = spelling
        self.record: Optional[List[torch.Tensor]] = None  # pre-activations, when set to a list
        modules = MODULES.get(spelling)
        if modules == "reused":
            self.act = nn.ReLU(inplace=spelling.endswith("inplace"))
        elif modules is not None:
            self.acts = nn.ModuleList([modules() for _ in range(SITES)])

    def rectify(self, x: torch.Tensor, site: int) -> torch.Tensor:
        if self.record is not None:
            self.record.append(x.detach().clone())
        if hasattr(self, "act"):
            return self.act(x)
        if hasattr(self, "acts"):
            return self.acts[site](x)
        return FUNCTIONS[self.spelling](x)

    def forward(self, x):
        x = self.rectify(self.conv1(x), 0)
        x = self.pool(self.rectify(self.conv2(x), 1))
        x = self.rectify(self.conv3(x), 2)
        return self.head(x.mean(dim=(2, 3)))


MODULES: Dict[str, object] = {
    "nn.ReLU": nn.ReLU,
    "nn.ReLU(inplace=True)": lambda: nn.ReLU(inplace=True),
    "one nn.ReLU reused": "reused",
    "one nn.ReLU reused, inplace": "reused",
    "nn.ReLU6": nn.ReLU6,
    "nn.ReLU6(inplace=True)": lambda: nn.ReLU6(inplace=True),
    "nn.Hardtanh(0, 6)": lambda: nn.Hardtanh(0.0, 6.0),
}
FUNCTIONS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "F.relu": F.relu,
    "torch.relu": torch.relu,
    "Tensor.relu": lambda x: x.relu(),
    "F.relu(inplace=True)": lambda x: F.relu(x, inplace=True),
    "Tensor.relu_": lambda x: x.relu_(),
    "torch.relu_": torch.relu_,
    "F.relu6": F.relu6,
    "F.relu6(inplace=True)": lambda x: F.relu6(x, inplace=True),
    "F.hardtanh(x, 0, 6)": lambda x: F.hardtanh(x, 0.0, 6.0),
    "F.hardtanh(min_val=0, max_val=6)": lambda x: F.hardtanh(x, min_val=0.0, max_val=6.0),
    "torch.clamp(x, min=0)": lambda x: torch.clamp(x, min=0),
    "x.clamp(0)": lambda x: x.clamp(0),
    "torch.clamp(x, 0, 6)": lambda x: torch.clamp(x, 0, 6),
    "x.clamp_min(0)": lambda x: x.clamp_min(0),
    "x.clamp_(min=0)": lambda x: x.clamp_(min=0),
    "torch.clip(x, min=0)": lambda x: torch.clip(x, min=0),
}
SPELLINGS = [s for s in [*MODULES, *FUNCTIONS] if s != "nn.ReLU"]
RULES = {"guided_backprop": (engine.guided_backprop, GuidedBackprop), "deconvnet": (engine.deconvnet, Deconvolution)}


def build(spelling: str, like: Optional[nn.Module] = None) -> Spelled:
    torch.manual_seed(0)
    model = Spelled(spelling)
    if like is not None:
        model.load_state_dict(like.state_dict())
    return model.eval()


@pytest.fixture(scope="module")
def reference():
    return build("nn.ReLU")


@pytest.fixture(scope="module")
def x():
    return seeded_image(2, 3, 12, 12, seed=1, scale=0.5)


TARGETS = [1, 3]  # one class per image


def test_precondition_activations_stay_below_6_and_rectification_matters(reference, x):
    """Below 6, ReLU6 and clamp(0, 6) are the same function as ReLU; some inputs are negative, so each site
    rectifies."""
    reference.record = []
    try:
        with torch.no_grad():
            reference(x)
        record = reference.record
    finally:
        reference.record = None
    assert len(record) == SITES
    for pre in record:
        assert pre.max() < 6.0
        assert (pre < 0).float().mean() > 0.1 and (pre > 0).float().mean() > 0.1


@pytest.mark.parametrize("method", list(RULES))
def test_plain_relu_reference_equals_captum_and_differs_from_the_gradient(reference, x, method):
    ours_fn, captum_cls = RULES[method]
    ours = ours_fn(reference, x, TARGETS)
    assert rel_err(ours, captum_cls(reference).attribute(x.clone(), target=TARGETS)) < 1e-6
    assert rel_err(ours, engine.gradient(reference, x, TARGETS)) > 0.1, (
        "the rule changed nothing: the test could not fail"
    )


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("method", list(RULES))
def test_every_rectifier_spelling_gets_the_rule(reference, x, spelling, method):
    model = build(spelling, like=reference)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), rtol=0, atol=1e-6), "the spellings must compute the same function"
    fn = RULES[method][0]
    with Untouched(model):
        ours = fn(model, x, TARGETS)
    assert rel_err(ours, fn(reference, x, TARGETS)) <= 1e-7
    # the plain gradient is untouched by the rule machinery for every spelling too
    assert rel_err(engine.gradient(model, x, TARGETS), engine.gradient(reference, x, TARGETS)) <= 1e-7


class Clamped(nn.Module):
    """conv-clamp-conv-mean-linear where the clamp is ``act``: not a rectifier unless its lower bound is 0."""

    def __init__(self, act: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 4, 3)
        self.head = nn.Linear(4, 5)
        self.act = act
        self.out: Optional[torch.Tensor] = None

    def forward(self, x):
        self.out = self.act(self.conv1(x))
        if self.out.requires_grad:
            self.out.retain_grad()
        return self.head(self.conv2(self.out).mean(dim=(2, 3)))


NOT_RECTIFIERS = {
    "F.hardtanh(x, -1, 1)": lambda x: F.hardtanh(x, -1.0, 1.0),
    "F.hardtanh(x) (defaults -1, 1)": F.hardtanh,
    "nn.Hardtanh()": nn.Hardtanh(),
    "torch.clamp(x, min=-1)": lambda x: torch.clamp(x, min=-1),
    "x.clamp(-0.5, 0.5)": lambda x: x.clamp(-0.5, 0.5),
    "x.clamp_min(-0.3)": lambda x: x.clamp_min(-0.3),
    "torch.clamp(x, max=0.4)": lambda x: torch.clamp(x, max=0.4),
}


@pytest.mark.parametrize("spelling", list(NOT_RECTIFIERS))
def test_clamps_to_other_ranges_do_not_get_the_rule(x, spelling):
    torch.manual_seed(2)
    model = Clamped(NOT_RECTIFIERS[spelling]).eval()
    x = 3 * x  # pre-activations well beyond +-1, so each clamp is active somewhere
    # Precondition: the gradient arriving at the clamp's output has both signs, so a wrongly applied guided
    # or deconvnet rule (which drops negative gradient) would change the result.
    inputs = x.clone().requires_grad_()
    model(inputs)[:, 1].sum().backward()
    arriving = model.out.grad
    assert (arriving < 0).any() and (arriving > 0).any()
    model.out = None
    plain = engine.gradient(model, x, 1)
    assert (plain != 0).any()
    for fn in (engine.guided_backprop, engine.deconvnet):
        assert torch.equal(fn(model, x, 1), plain), fn.__name__
