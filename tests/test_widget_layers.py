"""LayerExplorer, Python side, driven as the page drives it (testing.Frontend): the grid and statistics are a
hand-hooked forward pass's, a clicked channel's map and strongest position are the hand-found ones, each tab shows
what the engine computes for it (checked against hand computations), bad input raises in Python or lands in the
banner, and the user's model is untouched.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.combination import filter_combination
from cnnviz_widgets.engine.errors import ArgumentTypeError, LayerError, ModelError, SettingError
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.projection import channel_projection
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.layer_tabs import projected_crop, signed_picture

from .conftest import Untouched, mixed_state, small_cnn

SIZE = 32


def small_net(model=None) -> cw.Net:
    return cw.Net(model if model is not None else small_cnn().eval(), Preprocess(size=SIZE))


def picture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def hooked(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """``layer``'s output for ``x`` from a copy of the model with a plain forward hook (the reference)."""
    twin = copy.deepcopy(model).eval()
    seen = {}
    dict(twin.named_modules())[layer].register_forward_hook(lambda m, i, o: seen.setdefault("out", o.detach().clone()))
    with torch.no_grad():
        twin(x)
    return seen["out"][0]


def explorer(net=None, **kwargs) -> cw.LayerExplorer:
    view = cw.LayerExplorer(net or small_net(), picture(), **kwargs)
    view.wait()
    return view


def grid(view) -> np.ndarray:
    wire = view.thumbnails
    return np.frombuffer(wire["buffer"], dtype=wire["dtype"]).reshape(wire["shape"])


def test_grid_and_statistics_are_a_hand_hooked_forward_pass():
    net = small_net()
    view = explorer(net, layer="conv")
    x = net.tensor(picture())
    want = hooked(net.model, x, "conv")
    assert view.thumbnails["layer"] == "conv"
    np.testing.assert_allclose(grid(view), want.numpy(), rtol=2**-8, atol=1e-6)  # held as bfloat16
    stats = view.stats
    np.testing.assert_allclose(stats["max"], want.flatten(1).max(1).values.numpy(), rtol=2**-7)
    np.testing.assert_allclose(stats["active"], (want.flatten(1) > 0).float().mean(1).numpy(), atol=1 / want[0].numel())

    Frontend(view).set(layer="conv2")  # flipping layers records nothing again
    view.wait()
    assert view.recording.passes == 1
    np.testing.assert_allclose(grid(view), hooked(net.model, x, "conv2").numpy(), rtol=2**-8, atol=1e-6)
    view.close()


def test_a_clicked_channel_shows_its_map_and_the_box_around_its_strongest_position():
    net = small_net()
    view = explorer(net, layer="conv2")
    Frontend(view).set(unit=5)
    view.wait()
    want = hooked(net.model, net.tensor(picture()), "conv2")[5]
    np.testing.assert_allclose(view.heatmap.values, want.numpy(), rtol=2**-8, atol=1e-6)
    shown = view.projection
    y, x = divmod(int(want.argmax()), want.shape[1])
    assert (shown["unit"], shown["y"], shown["x"]) == (5, y, x)
    # conv2 follows a 3x3 conv (both padding 1): a 5x5 field around (y, x), clipped to the picture
    assert shown["box"] == [max(0, y - 2), max(0, x - 2), min(SIZE, y + 3), min(SIZE, x + 3)]
    assert shown["image"][:8] == b"\x89PNG\r\n\x1a\n" and shown["patch"][:8] == b"\x89PNG\r\n\x1a\n"
    view.close()


def test_filters_tab_shows_the_weights_and_says_why_a_layer_has_none():
    net = small_net()
    view = explorer(net, layer="conv", tab="filters", fold=False)
    found = view.filters
    tiles = np.frombuffer(found["buffer"], dtype="float32").reshape(found["shape"])
    w = net.model.conv.weight.detach().flatten(1)
    low, high = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
    np.testing.assert_allclose(tiles.reshape(6, -1), ((w - low) / (high - low)).numpy(), atol=1e-6)
    assert (found["kind"], found["total"], found["folded"]) == ("rgb", 6, False)
    Frontend(view).set(layer="bn")
    view.wait()
    assert "not a convolution" in view.filters["note"] and "conv2" in view.filters["note"]
    assert view.error == ""
    view.close()


def test_combination_and_invariance_tabs_compute_when_shown():
    view = explorer(layer="conv2", top=3)
    assert view.combination == {} and view.invariance == {}  # nothing computed before its tab is shown
    page = Frontend(view)
    page.set(unit=1, tab="combination")
    view.wait()
    assert view.combination["unit"] == 1 and len(view.combination["channels"]) == 3
    page.set(tab="invariance", transform="translate")
    view.wait()
    curves = view.invariance
    identity = curves["amounts"].index(0)
    assert all(d[identity] == 0 for d in curves["distances"])
    assert len(curves["probability"]) == len(curves["amounts"])
    page.set(target=2)  # a class clicked in the top-5: the probability curve follows it
    view.wait()
    assert view.invariance["target"] == 2 and view.invariance["distances"] == curves["distances"]
    view.close()


def test_changed_settings_and_a_new_photo_change_what_the_tabs_show():
    net = small_net()
    view = explorer(net, layer="conv2", top=3)
    page = Frontend(view)
    page.set(unit=1, tab="combination")
    view.wait()
    folded = view.combination["image"]
    page.set(fold=False)  # the picture follows the setting (it is not served from the cache of the folded one)
    view.wait()
    raw = filter_combination(net, "conv2", 1, top=3, fold=False, furthest=True).kernel
    assert view.combination["image"] == signed_picture(raw) != folded
    page.set(rule="guided_backprop")
    view.wait()
    guided = channel_projection(net, net.tensor(picture()), "conv2", 1, rule="guided_backprop")
    assert view.projection["rule"] == "guided_backprop" and view.projection["image"] == projected_crop(guided)
    page.set(tab="invariance")
    view.wait()
    before = view.invariance["probability"]
    view.set_image(picture(seed=5))  # a new photo: its own curves, none of the old photo's
    view.wait()
    x = net.tensor(picture(seed=5))
    with torch.no_grad():
        want = net.model(x).softmax(1)[0, view.target].item()
    assert view.invariance["probability"] != before
    assert view.invariance["probability"][view.invariance["amounts"].index(0)] == pytest.approx(want, rel=1e-5)
    view.close()


def test_checkpoints_appear_in_order_and_bad_ones_are_refused_up_front(tmp_path):
    model = small_cnn().eval()
    states = []
    for value in (0.1, -0.2, 0.3):
        state = copy.deepcopy(model.state_dict())
        state["conv.weight"] = torch.full_like(state["conv.weight"], value)
        state["conv.weight"][0, 0, 0, 0] = 1.0
        states.append(state)
    named = dict(zip(("early", "mid", "late"), states))
    view = explorer(small_net(model), layer="conv2", checkpoints=named)
    Frontend(view).set(tab="checkpoints")
    view.wait()
    shots = view.snapshots
    assert shots["names"] == ["early", "mid", "late"]
    assert shots["first"] == "conv"
    tiles = np.frombuffer(shots["filters"]["buffer"], dtype="float32").reshape(shots["filters"]["shape"])
    assert tiles.shape == (3, 6, 3, 3, 3)  # each checkpoint's own filters: one weight of 1, the rest equal
    assert all((t[0, 0, 0, 0], t[0].min(), t[0].max()) == (1, 0, 1) for t in tiles)
    assert all((t[1:].min(), t[1:].max()) == (0.5, 0.5) for t in tiles)  # flat filters are mid grey
    assert len(shots["projections"]) == 3 and all(p[:4] == b"\x89PNG" for p in shots["projections"])
    view.close()

    broken = {k: v for k, v in states[0].items() if k != "conv.bias"}
    broken["extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelError, match=r"conv\.bias.*extra\.weight|extra\.weight.*conv\.bias"):
        cw.LayerExplorer(small_net(model), picture(), checkpoints=[broken])
    torch.save(model, tmp_path / "whole.pt")
    with pytest.raises(ModelError, match="state_dict"):
        cw.LayerExplorer(small_net(model), picture(), checkpoints=[tmp_path / "whole.pt"])


def test_bad_arguments_raise_naming_the_choices_and_bad_clicks_land_in_the_banner():
    with pytest.raises(LayerError, match="no spatial.*conv2"):
        cw.LayerExplorer(small_net(), picture(), layer="head")
    with pytest.raises(SettingError, match="activations.*checkpoints"):
        cw.LayerExplorer(small_net(), picture(), tab="weights")
    with pytest.raises(ArgumentTypeError, match="fold"):
        cw.LayerExplorer(small_net(), picture(), folding=True)
    view = explorer(layer="conv")
    page = Frontend(view)
    page.set(unit=99)
    assert "0..5" in view.error and view.unit == -1
    page.set(layer="head")  # a linear layer has no maps: the banner names those that have, the grid stays
    assert "no spatial" in view.error and "conv2" in view.error
    assert view.layer == "conv" and view.thumbnails["layer"] == "conv"
    page.set(tab="weights")
    assert "activations" in view.error and view.tab == "activations"
    with pytest.raises(LayerError, match=r"0\.\.5"):  # from Python, the assignment raises
        view.unit = 6
    view.close()


def test_the_users_model_is_untouched():
    model = mixed_state(small_cnn())
    states = [copy.deepcopy(model.state_dict()) for _ in range(2)]
    with Untouched(model):
        view = explorer(small_net(model), layer="conv2", checkpoints=states)
        page = Frontend(view)
        page.set(unit=2)
        view.wait()
        for tab in ("filters", "combination", "invariance", "checkpoints"):
            page.set(tab=tab)
            view.wait()
        assert view.error == ""
        view.close()


def test_the_dashboard_draws_the_invariance_curves_with_plotly():
    view = explorer(layer="conv2")
    board = view.dashboard()
    Frontend(view).set(tab="invariance", transform="scale")
    view.wait()
    result = view.invariance
    distance, probability = board.children[1].children[0].children
    assert [t.name for t in distance.data] == result["layers"]
    for trace, values in zip(distance.data, result["distances"]):
        assert list(trace.x) == result["amounts"] and list(trace.y) == values
    assert list(probability.data[0].y) == result["probability"]
    view.close()
