"""The engine never touches the user's model: every call runs on a private replica that shares the weights.

Regression tests for issue 12, section 1: the user's flags and hooks stay as they are even while a call runs,
a person can train the same model in the main thread while a background thread runs every engine entry point,
tracing in one thread leaves another thread's forward passes alone, and engine calls work inside the user's
``torch.no_grad()`` and ``torch.inference_mode()`` blocks.
"""

from __future__ import annotations

import copy
import sys
import threading
from typing import Callable, Dict, List

import pytest
import torch
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import Net, Preprocess, replica
from cnnviz_widgets.engine.featurevis import Visualization, visualize

from .conftest import Untouched, flags, hook_count, mixed_state, shown_frames, small_cnn


class Trainable(nn.Module):
    """A small CNN with batch norm and dropout (both behave differently in train mode) and in-place ReLUs."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        return self.head(self.drop(self.features(x).mean(dim=(2, 3))))


def entry_points(x: torch.Tensor) -> Dict[str, Callable[[nn.Module], object]]:
    """Every public engine entry point, cheaply configured, as a function of the model (none draws from the
    global random state: the user's dropout draws from it in the other thread)."""

    def seeded() -> torch.Generator:
        return torch.Generator().manual_seed(0)

    return {
        "gradient": lambda m: engine.gradient(m, x, 3),
        "input_x_gradient": lambda m: engine.input_x_gradient(m, x, 3),
        "smoothgrad": lambda m: engine.smoothgrad(m, x, 3, samples=3, generator=seeded()),
        "integrated_gradients": lambda m: engine.integrated_gradients(m, x, 3, steps=4, return_error=True),
        "guided_backprop": lambda m: engine.guided_backprop(m, x, "features.3:2"),
        "deconvnet": lambda m: engine.deconvnet(m, x, 3),
        "grad_cam": lambda m: engine.grad_cam(m, x, 3, "features.3"),
        "grad_cam_pp": lambda m: engine.grad_cam_pp(m, x, 3, "features.3"),
        "guided_grad_cam": lambda m: engine.guided_grad_cam(m, x, 3, "features.3"),
        "explain": lambda m: engine.explain(m, x, 3, "smoothgrad", samples=2, seed=1),
        "saliency": lambda m: engine.saliency(m, x, 3, "gradcam"),
        "sanity_check": lambda m: engine.sanity_check(m, x, 3, "gradient", steps=2),
        "deletion_insertion": lambda m: engine.deletion_insertion(
            m, x, torch.rand(16, 16, generator=seeded()), 3, steps=4
        ),
        "occlusion": lambda m: engine.occlusion(m, x, 3, window=8, stride=4),
        "layers": lambda m: engine.layers(m, (3, 16, 16)),
        "visualize": lambda m: visualize(Net(m, Preprocess(size=16)), "features.3:1", 16, steps=2),
        "predict": lambda m: Net(m).top(x),
    }


def snapshot(model: nn.Module):
    """What the user sees of their model: hooks, modes, requires_grad flags."""
    return hook_count(model), flags(model)


def test_the_users_model_is_untouched_while_a_call_runs():
    """A forward hook of the user's (which the replica carries, as it may change what the model computes) looks
    at the user's model in the middle of every engine call: no hook and no flag of theirs has changed."""
    model = mixed_state(Trainable())
    seen: List[object] = []
    model.features[3].register_forward_hook(lambda *_: seen.append(snapshot(model)))
    before = snapshot(model)
    for name, call in entry_points(torch.rand(1, 3, 16, 16)).items():
        seen.clear()
        call(model)
        assert seen, f"{name}: the user's hook never ran, so the call did not run the model's own code"
        assert all(s == before for s in seen), f"{name} changed the user's model while it ran"
    assert snapshot(model) == before


def train(model: nn.Module, steps: int) -> List[torch.Tensor]:
    """``steps`` SGD steps on fixed random batches (dropout and batch norm in train mode); the losses, then the
    final weights and their gradients."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data = torch.Generator().manual_seed(1)
    model.train()
    torch.manual_seed(123)  # dropout's masks come from the global generator
    record = []
    for _ in range(steps):
        x = torch.randn(8, 3, 16, 16, generator=data)
        y = torch.randint(0, 10, (8,), generator=data)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        record.append(loss.detach().clone())
    record += [p.detach().clone() for p in model.parameters()]
    record += [p.grad.clone() for p in model.parameters()]
    record += [b.clone() for b in model.buffers()]
    return record


@pytest.mark.slow
def test_training_in_the_main_thread_while_every_entry_point_runs_in_the_background():
    torch.manual_seed(0)
    start = Trainable()
    alone = train(copy.deepcopy(start), 200)

    model = copy.deepcopy(start)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    calls = entry_points(x)
    done: Dict[str, int] = dict.fromkeys(calls, 0)
    failures: List[str] = []
    stop = threading.Event()

    def background() -> None:
        while not stop.is_set():
            for name, call in calls.items():
                try:
                    call(model)
                    done[name] += 1
                except Exception as exc:  # noqa: BLE001 - every failure is reported by the assertion below
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                if stop.is_set():
                    break

    interval = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)  # hand the GIL over often: the training thread needs it between small ops
    worker = threading.Thread(target=background)
    worker.start()
    try:
        together = train(model, 200)
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
    assert not failures, failures[:5]
    assert min(done.values()) >= 1, f"entry points that never ran alongside the training: {done}"
    assert len(together) == len(alone)
    mismatched = [i for i, (a, b) in enumerate(zip(alone, together)) if not torch.equal(a, b)]
    assert not mismatched, f"{len(mismatched)} of the user's losses/weights/gradients differ (first: {mismatched[:5]})"


class Gate(nn.Module):
    """Blocks a *tracing* forward pass (its input is an fx Proxy) until told to go on."""

    def __init__(self):
        super().__init__()
        self.tracing, self.go_on = threading.Event(), threading.Event()

    def forward(self, x):
        if isinstance(x, torch.fx.Proxy):
            self.tracing.set()
            assert self.go_on.wait(30), "the main thread never let tracing go on"
        return x


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gate = Gate()
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        return self.head(self.gate(torch.relu(self.conv(x))).mean(dim=(2, 3)))


def test_tracing_in_a_background_thread_leaves_the_users_forward_passes_alone():
    """Tracing patches nn.Module.__call__ process-wide; a forward pass in another thread during it must still
    be an ordinary forward pass (not recorded into the graph, not failing)."""
    model = Gated().eval()
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        expected = model(x)
    errors: List[BaseException] = []

    def occlude() -> None:  # occlusion replays the traced graph: this traces the model's replica
        try:
            engine.occlusion(model, x[:1], 1, window=4, stride=4)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=occlude)
    worker.start()
    try:
        assert model.gate.tracing.wait(30), "the engine never traced the model"
        with torch.no_grad():
            during = model(x)  # the user's own forward pass, while the trace is half-way
    finally:
        model.gate.go_on.set()
        worker.join()
    assert not errors, errors
    assert isinstance(during, torch.Tensor) and torch.equal(during, expected)


def test_the_replica_shares_the_weights_and_follows_changes_to_the_model():
    model = small_cnn()
    twin = replica(model)
    assert twin is not model and replica(model) is twin, "cached per model"
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(model.parameters(), twin.parameters())), "no copies"
    assert not any(p.requires_grad for p in twin.parameters()) and all(p.requires_grad for p in model.parameters())
    assert not any(m.training for m in twin.modules())
    x = torch.rand(1, 3, 16, 16)
    before = engine.gradient(model, x, 2)
    with torch.no_grad():
        model.conv2.weight.mul_(-1)  # an optimiser step: seen at once, no rebuild
    assert replica(model) is twin
    assert not torch.allclose(engine.gradient(model, x, 2), before)
    model.head = nn.Linear(8, 10)  # a replaced module: rebuilt
    assert replica(model) is not twin
    twin = replica(model)
    model.double()  # new storage in another dtype: rebuilt
    assert replica(model) is not twin and next(replica(model).parameters()).dtype == torch.float64
    twin = replica(model)
    seen = []
    handle = model.conv.register_forward_hook(lambda *_: seen.append(1))  # a new hook of the user's: rebuilt
    assert replica(model) is not twin
    engine.gradient(model, x.double(), 1)
    assert seen == [1]
    handle.remove()
    assert replica(copy.deepcopy(replica(model))) is not replica(model), (
        "a deep copy of a replica is a model of its own"
    )


def test_tied_modules_and_weights_stay_tied_in_the_replica():
    model = small_cnn()
    model.again = model.conv  # the same module twice
    model.bn.bias = model.conv.bias  # the same parameter twice
    twin = replica(model)
    assert twin.again is twin.conv and twin.conv is not model.conv
    assert twin.bn.bias is twin.conv.bias and twin.conv.bias is not model.conv.bias


def test_user_backward_hooks_do_not_see_the_engines_passes():
    model = small_cnn()
    seen = []
    model.conv2.register_full_backward_hook(lambda *_: seen.append("backward"))
    with Untouched(model):
        engine.gradient(model, torch.rand(1, 3, 16, 16), 1)
    assert seen == []


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_every_entry_point_works_inside_the_users_no_grad_blocks(mode):
    torch.manual_seed(0)
    model = Trainable().eval()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    for name, call in entry_points(x).items():
        expected = call(model)
        with torch.no_grad() if mode == "no_grad" else torch.inference_mode():
            got = call(model)
        for a, b in zip(_tensors(expected), _tensors(got)):
            assert torch.allclose(a.float(), b.float(), atol=1e-6), f"{name} differs inside {mode}"


def _tensors(result: object) -> List[torch.Tensor]:
    """The tensors in an engine result (tuples, named tuples, lists, records), in order."""
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (list, tuple)):
        return [t for item in result for t in _tensors(item)]
    return [v for v in vars(result).values() if isinstance(v, torch.Tensor)] if hasattr(result, "__dict__") else []


def test_visualization_steps_work_inside_no_grad_and_inference_mode():
    model = small_cnn()
    with torch.inference_mode():
        vis = Visualization(model, "conv2:3", 24, seed=1)
        frames = shown_frames(vis, 3)
    assert frames[-1].step == 3 and vis.curve[-1] > vis.curve[0]
