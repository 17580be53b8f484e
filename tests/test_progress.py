"""The one protocol of long engine calls: generators of ``Update``s that hold no lock, hook or grad mode of the
model between two updates, end with the final result, and leave nothing behind when the caller stops."""

import threading

import pytest
import torch

from cnnviz_widgets import engine
from cnnviz_widgets.engine.featurevis import Visualization
from cnnviz_widgets.engine.progress import Update, last

from .conftest import Untouched, hook_count, mixed_state, seeded_image, small_cnn

CALLS = {
    "explain_steps": lambda m, x: engine.explain_steps(m, x, 3, "integrated_gradients", steps=20),
    "smoothgrad_steps": lambda m, x: engine.smoothgrad_steps(m, x, 3, samples=4, budget=1),
    "integrated_gradients_steps": lambda m, x: engine.integrated_gradients_steps(m, x, 3, steps=4, budget=1),
    "sanity_check_steps": lambda m, x: engine.sanity_check_steps(m, x, 3, steps=3),
    "deletion_insertion_steps": lambda m, x: engine.deletion_insertion_steps(
        m, x, torch.rand(16, 16, generator=torch.Generator().manual_seed(0)), 3, 8, batch_size=4
    ),
    "occlusion_steps": lambda m, x: engine.occlusion_steps(m, x, 3, 8, 4, budget=1),
    "Visualization.steps": lambda m, x: Visualization(m, "conv2:1", 16, transforms=False).steps(3, every=2),
}


def other_thread_can_run(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether an engine call on ``model`` from another thread finishes (the engine's lock is free)."""
    done = []
    thread = threading.Thread(target=lambda: done.append(engine.gradient(model, x, 1)))
    thread.start()
    thread.join(timeout=20)
    return bool(done)


@pytest.mark.parametrize("name", list(CALLS))
def test_between_updates_the_model_is_free_and_the_last_update_holds_the_result(name):
    model = mixed_state(small_cnn())
    x = seeded_image(1, 3, 16, 16)
    with Untouched(model):
        updates = CALLS[name](model, x)
        seen = []
        with torch.no_grad():  # the caller's mode, which the call must not change between updates
            for update in updates:
                assert isinstance(update, Update) and 0 < update.fraction <= 1
                assert not torch.is_grad_enabled(), "the call's grad mode leaked into the caller"
                assert hook_count(engine.replica(model)) == 0 and hook_count(model) == 0
                seen.append(update)
        assert other_thread_can_run(model, x)
    fractions = [u.fraction for u in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) > 1
    assert seen[-1].result is not None
    if name != "Visualization.steps":  # frames come every 2 steps; the others carry partial results or none
        assert all(u.result is None for u in seen[:-1]) or name == "occlusion_steps"


@pytest.mark.parametrize("name", list(CALLS))
def test_stopping_after_the_first_update_leaves_no_trace(name):
    model = mixed_state(small_cnn())
    x = seeded_image(1, 3, 16, 16)
    with Untouched(model):
        updates = CALLS[name](model, x)
        next(updates)
        assert other_thread_can_run(model, x), "the engine's lock is held between updates"
        updates.close()
        assert hook_count(engine.replica(model)) == 0 and hook_count(model) == 0


def test_the_plain_function_is_the_last_update_of_its_generator():
    model = small_cnn()
    x = seeded_image(1, 3, 16, 16)
    steps = engine.explain_steps(model, x, 3, "smoothgrad", samples=3, seed=1)
    plain = engine.explain(model, x, 3, "smoothgrad", samples=3, seed=1).map  # chunked differently: rounding only
    torch.testing.assert_close(last(steps).map, plain, rtol=1e-5, atol=1e-9)
    occluded = last(engine.occlusion_steps(model, x, 3, 8, 4))
    assert torch.equal(occluded.map, engine.occlusion(model, x, 3, 8, 4).map)


def test_last_refuses_a_call_that_ended_without_a_result():
    with pytest.raises(RuntimeError, match="without a final result"):
        last(iter([Update(0.5)]))
