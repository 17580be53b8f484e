"""SaliencyExplorer, Python side: every engine method with its options, and the compare grid of all of them.

Every map is checked against a direct engine call; option errors must name the valid range or choices.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _remove_buffers

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine.attribution import LAYER_METHODS, METHODS
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.traits import Heatmap

from .conftest import hook_count

# Few samples/steps keep the batched methods quick on a 2-core machine; the widget passes them through.
FAST = {"smoothgrad": {"samples": 2, "noise": 0.15}, "integrated_gradients": {"steps": 4}}


def decode(value) -> np.ndarray:
    """A heat-map trait's values, or an array as it travels ({dtype, shape, buffer})."""
    if isinstance(value, Heatmap):
        return value.values
    return np.frombuffer(value["buffer"], dtype=value["dtype"]).reshape(value["shape"])


def expected(net, image, target, method, layer=None, **options) -> np.ndarray:
    """The engine's map; SmoothGrad's noise comes from torch's global generator, seeded as before the widget's run."""
    torch.manual_seed(0)
    layer = layer if method in LAYER_METHODS else None
    options = {**FAST.get(method, {}), **options}
    return engine.explain(net.model, net.tensor(image), target, method, layer, **options).map[0].numpy()


def assert_map(actual, want):
    np.testing.assert_allclose(actual, want, rtol=1e-4, atol=1e-6 * max(1.0, float(np.abs(want).max())))


@pytest.fixture
def explorer(default_net):
    w = cw.SaliencyExplorer(default_net, cw.sample_image("cat"), options=FAST)
    w.wait()
    yield w
    w.close()


def test_picker_lists_every_method_with_its_options_at_their_defaults(explorer):
    assert explorer.methods == [m.describe() for m in METHODS.values()]
    assert all(m["quantity"] for m in explorer.methods)  # every colour bar says what its map measures
    assert [m["name"] for m in explorer.methods][:2] == ["gradient", "input_x_gradient"]
    assert set(explorer.options) == set(METHODS)
    assert explorer.options["integrated_gradients"] == {"steps": 4, "baseline": "zeros", "rule": "gausslegendre"}
    assert explorer.options["smoothgrad"] == {
        "samples": 2,
        "noise": 0.15,
        "over": "gradient",
        "kind": "smoothgrad",
        "seed": 0,
    }
    assert explorer.options["gradcam"] == {"relu": True}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_matches_the_engine(explorer, default_net, method):
    torch.manual_seed(0)
    explorer.method = method
    explorer.wait()
    assert explorer.error == "" and not explorer.busy
    assert_map(decode(explorer.heatmap), expected(default_net, cw.sample_image("cat"), 285, method, explorer.layer))
    where = f" at {explorer.layer}" if method in LAYER_METHODS else ""
    assert explorer.status.startswith(f"{METHODS[method].title}{where} for “Egyptian cat” in ")  # titles, not ids


def test_integrated_gradients_reports_its_completeness_error(explorer, default_net):
    explorer.method = "integrated_gradients"
    explorer.wait()
    result = engine.explain(
        default_net.model, default_net.tensor(cw.sample_image("cat")), 285, "integrated_gradients", steps=4
    )
    error = float(result.error[0])
    gap = float(result.attribution.double().sum()) - error
    match = re.search(r"completeness error (\S+) \((\S+)% of f\(x\)−f\(baseline\)\)$", explorer.status)
    assert match, explorer.status
    assert float(match.group(1)) == pytest.approx(error, rel=0.05)
    assert float(match.group(2)) == pytest.approx(100 * abs(error / gap), abs=0.1)


def test_options_of_the_current_method_recompute_it(explorer, default_net):
    explorer.method = "integrated_gradients"
    explorer.wait()
    before = decode(explorer.heatmap).copy()
    explorer.options = {
        **explorer.options,
        "integrated_gradients": {"steps": 6, "baseline": "blur", "rule": "riemann_left"},
    }
    explorer.wait()
    assert explorer.error == ""
    now = decode(explorer.heatmap)
    assert np.abs(now - before).max() > 0
    want = expected(
        default_net, cw.sample_image("cat"), 285, "integrated_gradients", steps=6, baseline="blur", rule="riemann_left"
    )
    assert_map(now, want)


def test_options_of_another_method_do_not_recompute(explorer):
    job, heat = explorer._job, explorer.heatmap
    explorer.options = {**explorer.options, "smoothgrad": {"samples": 3, "noise": 0.2}}
    assert explorer._job is job and explorer.heatmap == heat and explorer.error == ""
    assert explorer.options["smoothgrad"] == {
        "samples": 3,
        "noise": 0.2,
        "over": "gradient",
        "kind": "smoothgrad",
        "seed": 0,
    }


def test_partial_options_from_the_view_get_their_defaults(explorer):
    explorer.set_state({"options": {"smoothgrad": {"samples": 7}}})  # as the front-end would send it
    assert explorer.error == ""
    assert explorer.options["smoothgrad"] == {
        "samples": 7,
        "noise": 0.15,
        "over": "gradient",
        "kind": "smoothgrad",
        "seed": 0,
    }
    assert explorer.options["integrated_gradients"] == {"steps": 50, "baseline": "zeros", "rule": "gausslegendre"}


@pytest.mark.parametrize(
    "options,message",
    [
        ({"integrated_gradients": {"steps": 1}}, r"^Integrated gradients: steps must be a number in 2\.\.1000, got 1$"),
        ({"integrated_gradients": {"steps": 2.5}}, r"steps must be a whole number in 2\.\.1000, got 2\.5"),
        ({"smoothgrad": {"noise": 3}}, r"^SmoothGrad: noise must be a number in 0\.\.1, got 3$"),
        (
            {"integrated_gradients": {"rule": "simpson"}},
            r"rule must be one of: gausslegendre, riemann_trapezoid, riemann_left",
        ),
        ({"smoothgrad": {"sigma": 1}}, r"smoothgrad has no option 'sigma'; its options: samples, noise"),
        ({"gradcam": {"steps": 1}}, r"gradcam has no option 'steps'; its options: relu"),
        ({"gradient": {"steps": 1}}, r"gradient has no option 'steps'; its options: none"),
        (
            {"lime": {}},
            r"unknown method 'lime'; choose one of: gradient, input_x_gradient, smoothgrad, integrated_gradients",
        ),
        ({"smoothgrad": 3}, r"options must be a dict \{method: \{option: value\}\}"),
    ],
)
def test_bad_options_show_in_the_banner_and_change_nothing(explorer, options, message):
    valid, job, heat = explorer.options, explorer._job, explorer.heatmap
    explorer.set_state({"options": {**valid, **options}})  # must not raise into the kernel
    assert re.search(message, explorer.error), explorer.error
    assert explorer.options == valid and explorer._job is job and explorer.heatmap == heat


def test_constructor_refuses_bad_options(default_net):
    with pytest.raises(ValueError, match=r"samples must be a number in 1\.\.500"):
        cw.SaliencyExplorer(default_net, cw.sample_image("cat"), options={"smoothgrad": {"samples": 0}})


def test_going_back_to_a_setting_reuses_its_map(explorer):
    first = explorer.heatmap
    explorer.method = "gradient"
    explorer.wait()
    explorer.method = "gradcam"
    assert explorer.heatmap == first and explorer.status.startswith("Grad-CAM at _blocks.15")
    assert not explorer.busy


# -- compare grid -----------------------------------------------------------------------------------------------
def test_compare_fills_a_map_per_method_progressively(explorer, default_net):
    sizes, statuses = [], []
    explorer.observe(lambda c: sizes.append(len(c.new)), names="maps")
    explorer.observe(lambda c: statuses.append(c.new), names="status")
    torch.manual_seed(0)
    explorer.compare = True
    explorer.wait()
    assert explorer.error == "" and not explorer.busy
    assert set(explorer.maps) == set(METHODS)
    for name, wire in explorer.get_state()["maps"].items():
        assert wire["dtype"] == "float32" and wire["shape"] == [224, 224] and wire["quantity"]
        assert_map(decode(wire), expected(default_net, cw.sample_image("cat"), 285, name, explorer.layer))
    # The map already shown is there at once; the other eight arrive one by one.
    assert sizes == list(range(1, 10)), sizes
    titles = {m.title for m in METHODS.values() if m.name != "gradcam"}
    progress = [s for s in statuses if re.match(r"^\d/9 ", s)]
    assert {re.sub(r"^\d/9 (.*)…$", r"\1", s) for s in progress} == titles, progress
    assert progress[0] == "2/9 Gradient…" and progress[-1] == "9/9 Guided Grad-CAM…"
    assert re.match(r"compared 9 methods for “Egyptian cat” in [\d.]+ s", explorer.status)
    assert explorer.maps["gradcam"] == explorer.heatmap


def test_compare_results_live_in_traits_for_a_reloaded_view(explorer):
    explorer.compare = True
    explorer.wait()
    state, paths, buffers = _remove_buffers(explorer.get_state())
    assert all(["maps", name, "buffer"] in paths for name in METHODS)
    assert state["compare"] is True


def test_clicking_a_cell_shows_its_map_without_recomputing(explorer):
    explorer.compare = True
    explorer.wait()
    job = explorer._job
    explorer.method = "smoothgrad"  # the view's cell click
    assert explorer._job is job and explorer.heatmap == explorer.maps["smoothgrad"] and explorer.error == ""
    assert explorer.status.startswith("SmoothGrad for “Egyptian cat”")


def test_a_cell_clicked_while_the_grid_runs_keeps_the_running_job(explorer):
    seen = []

    def click_once(change):
        if len(change.new) == 2 and not seen:  # the first new map arrived: click a pending cell now
            pending = next(m for m in METHODS if m not in change.new)
            seen.append((explorer._job, pending))
            explorer.method = pending

    explorer.observe(click_once, names="maps")
    explorer.compare = True
    explorer.wait()
    running, clicked = seen[0]
    assert explorer._job is running and set(explorer.maps) == set(METHODS)
    assert explorer.method == clicked and explorer.heatmap == explorer.maps[clicked]


def test_changing_the_class_recomputes_the_grid(explorer, default_net):
    explorer.compare = True
    explorer.wait()
    second = explorer.predictions[1]["index"]
    explorer.target = second
    assert explorer.maps == {} and explorer.heatmap is None  # the old class' maps are gone at once
    explorer.wait()
    assert set(explorer.maps) == set(METHODS)
    for name in ("gradient", "gradcam", "integrated_gradients"):
        assert_map(
            decode(explorer.maps[name]), expected(default_net, cw.sample_image("cat"), second, name, explorer.layer)
        )


def test_changing_the_layer_recomputes_only_layer_methods(explorer, default_net):
    explorer.compare = True
    explorer.wait()
    before = dict(explorer.maps)
    computed = []
    explorer.observe(lambda c: computed.append(set(c.new)), names="maps")
    explorer.layer = "_blocks.8"
    explorer.wait()
    assert computed[0] == set(METHODS) - LAYER_METHODS  # pixel maps stay; layer maps are recomputed
    for name in set(METHODS) - LAYER_METHODS:
        assert explorer.maps[name] == before[name]
    for name in LAYER_METHODS:
        assert_map(decode(explorer.maps[name]), expected(default_net, cw.sample_image("cat"), 285, name, "_blocks.8"))


def test_changing_options_recomputes_that_method_in_the_grid(explorer, default_net):
    explorer.compare = True
    explorer.wait()
    before = dict(explorer.maps)
    torch.manual_seed(0)
    explorer.options = {**explorer.options, "smoothgrad": {"samples": 3, "noise": 0.3}}
    explorer.wait()
    assert {n for n in METHODS if explorer.maps[n] != before[n]} == {"smoothgrad"}
    assert_map(
        decode(explorer.maps["smoothgrad"]),
        expected(default_net, cw.sample_image("cat"), 285, "smoothgrad", samples=3, noise=0.3),
    )


def test_stop_cancels_the_grid_between_methods(explorer):
    def stop_after_first(change):
        if len(change.new) == 2:
            Frontend(explorer).stop()

    explorer.observe(stop_after_first, names="maps")
    explorer.compare = True
    explorer.wait()
    assert explorer.status == "stopped" and not explorer.busy and explorer.error == ""
    assert len(explorer.maps) == 2
    assert hook_count(explorer.net.model) == 0
    explorer.unobserve(stop_after_first, names="maps")
    explorer.compare = False
    explorer.compare = True  # switching it on again computes only what is missing
    explorer.wait()
    assert set(explorer.maps) == set(METHODS)


def test_switching_compare_off_clears_the_grid_and_keeps_the_map(explorer):
    explorer.compare = True
    explorer.wait()
    heat = explorer.heatmap
    explorer.compare = False
    assert explorer.maps == {} and explorer.heatmap == heat and not explorer.busy


def test_compare_with_a_bad_layer_names_the_valid_ones(explorer, default_net):
    explorer.layer = "_fc"
    explorer.compare = True
    explorer.wait()
    assert re.search(r"'_fc' is not a layer with a spatial \(C, H, W\) output; choose one of: ", explorer.error)
    assert hook_count(default_net.model) == 0


def test_close_during_the_grid_joins_the_job_and_leaves_no_hooks(default_net):
    w = cw.SaliencyExplorer(default_net, cw.sample_image("cat"), compare=True)
    job = w._job
    w.close()
    assert not job.thread.is_alive() and w.net is None
    assert hook_count(default_net.model) == 0


def test_stop_takes_effect_within_one_chunk_of_a_batched_method(explorer, default_net):
    fractions = []

    def stop_on_first_chunk(change):
        if 0 < change.new < 1 and not fractions:
            fractions.append(change.new)
            explorer.stop()

    explorer.options = {**explorer.options, "integrated_gradients": {"steps": 400}}
    explorer.observe(stop_on_first_chunk, names="progress")
    explorer.method = "integrated_gradients"
    explorer.wait()
    assert explorer.status == "stopped" and not explorer.busy and explorer.error == ""
    assert fractions and explorer.progress < 0.5  # far from the 400 steps
    assert explorer.heatmap is None and hook_count(default_net.model) == 0


def test_stop_also_cancels_a_check_queued_behind_the_running_job(explorer):
    explorer.method = "gradient"
    explorer.run_sanity_check(steps=6)  # queued behind the gradient
    queued = explorer._job
    Frontend(explorer).stop()
    explorer.wait()
    assert queued.cancelled.is_set() and explorer.status == "stopped" and not explorer.busy
    assert explorer.sanity == {}
