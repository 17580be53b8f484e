"""How binary values travel: in base64 mode (chosen in Colab, whose widget manager drops binary buffers) a view's
state carries no binary buffer at all and its base64 text decodes to the traits' bytes; in buffers mode pictures
and arrays travel as buffers; CNNVIZ_WIRE forces a mode and rejects anything else; uploads arrive either way.

The state checked is what ipywidgets itself would send: ``_remove_buffers(w.get_state())``, as in ``open`` and
``send_state``, and the saved-notebook state of ``_get_embed_state``.
"""

from __future__ import annotations

import base64
import json
import sys
import types
from pathlib import Path
from typing import Callable, Dict, List

import anywidget
import numpy as np
import pytest
from ipywidgets.widgets.widget import _remove_buffers
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.base import ViewWidget
from cnnviz_widgets.widgets.encoding import (
    MARKER,
    MESSAGE_BUFFERS,
    WIRE_ENV,
    from_base64,
    message_buffers,
    to_base64,
    wire_mode,
)

from .conftest import small_cnn

SIZE = 32
COFFEE = Path(cw.__file__).parent / "data" / "coffee.png"


def small_net() -> cw.Net:
    return cw.Net(small_cnn().eval(), Preprocess(size=SIZE))


def saliency(default_net: cw.Net) -> ViewWidget:
    """The explorer with its first heat-map computed."""
    w = cw.SaliencyExplorer(default_net, cw.sample_image("cat"))
    w.wait()
    return w


def occlusion(_default_net: cw.Net) -> ViewWidget:
    """The occlusion explorer on a small CNN, its map finished and one window's occluded picture shown."""
    w = cw.OcclusionExplorer(small_net(), cw.sample_image("cat"), window=16, stride=8, start=False)
    w.run()
    w.wait()
    w.show_window(0, 1)
    return w


def featurevis(_default_net: cw.Net) -> ViewWidget:
    """The visualizer on a small CNN after a two-step run: thumbnails, final picture and objective curve."""
    w = cw.FeatureVisualizer(small_net(), "conv2:1", size=SIZE, steps=2, start=False)
    w.run()
    w.wait()
    return w


VIEWS: Dict[str, Callable[[cw.Net], ViewWidget]] = {
    "saliency": saliency,
    "occlusion": occlusion,
    "featurevis": featurevis,
}
BINARY_PATHS: Dict[str, List[list]] = {
    "saliency": [["image"], ["heatmap", "buffer"]],
    "occlusion": [["image"], ["heatmap", "buffer"], ["occluded", "image"]],
    "featurevis": [["image"], ["thumbnails", "buffer"], ["final"], ["curve", "buffer"]],
}
"""Where each view's state holds pictures and arrays once it has computed something (each must be non-empty)."""


@pytest.fixture
def forced(monkeypatch) -> Callable[[str], None]:
    """Force a wire mode through the environment variable, for the views created after the call."""
    return lambda mode: monkeypatch.setenv(WIRE_ENV, mode)


@pytest.fixture(params=sorted(VIEWS))
def view_name(request) -> str:
    return request.param


def build(view_name: str, default_net: cw.Net) -> ViewWidget:
    w = VIEWS[view_name](default_net)
    assert not w.error, w.error
    return w


def raw_state(w: ViewWidget) -> dict:
    """The state before the wire encoding: what ipywidgets' own ``get_state`` gives for the traits."""
    return anywidget.AnyWidget.get_state(w)


def at(state: dict, path: list):
    for key in path:
        state = state[key]
    return state


def markers(value) -> int:
    """How many ``{"$b64": ...}`` objects ``value`` holds at any depth."""
    if isinstance(value, dict):
        return 1 if set(value) == {MARKER} else sum(markers(v) for v in value.values())
    return sum(markers(v) for v in value) if isinstance(value, list) else 0


def plain(state: dict) -> dict:
    """``state`` with binary values taken out, as JSON sees it (tuples as lists)."""
    return json.loads(json.dumps(_remove_buffers(state)[0]))


def test_base64_mode_sends_no_binary_buffers_and_the_text_decodes_to_the_traits_bytes(forced, view_name, default_net):
    forced("base64")
    w = build(view_name, default_net)
    try:
        assert w._wire == "base64"
        state = w.get_state()
        sent, paths, buffers = _remove_buffers(state)
        assert (paths, buffers) == ([], []), f"binary buffers at {paths}"
        json.dumps(sent)  # nothing but JSON
        assert "buffers" not in w._get_embed_state(), "the saved-notebook state has binary buffers"

        raw = raw_state(w)
        for path in BINARY_PATHS[view_name]:
            value = at(raw, path)
            assert isinstance(value, bytes) and value, f"{path} is not a computed binary value: {value!r}"
            marker = at(state, path)
            assert markers(marker) == 1, f"{path} did not become a marker: {marker!r}"
            assert base64.b64decode(marker[MARKER]) == value
        # Every other value is untouched, and decoding gives back the whole state.
        decoded = from_base64(state)
        assert _remove_buffers(decoded)[1:] == _remove_buffers(raw)[1:]
        assert plain(decoded) == plain(raw)
        # The Python API still sees the picture itself.
        assert isinstance(w.image, Image.Image)
    finally:
        w.close()


def test_buffers_mode_sends_pictures_and_arrays_as_binary_buffers(forced, view_name, default_net):
    forced("buffers")
    w = build(view_name, default_net)
    try:
        assert w._wire == "buffers"
        sent, paths, buffers = _remove_buffers(w.get_state())
        for path in BINARY_PATHS[view_name]:
            assert path in paths, f"{path} does not travel as a buffer: {paths}"
            assert buffers[paths.index(path)] == at(raw_state(w), path)
        assert markers(sent) == 0
    finally:
        w.close()


def test_colab_is_detected_and_the_environment_variable_overrides_it():
    colab = {"google.colab": types.ModuleType("google.colab")}
    assert wire_mode({}, {}) == "buffers"
    assert wire_mode({}, colab) == "base64"
    assert wire_mode({WIRE_ENV: ""}, colab) == "base64"  # set but empty: detect
    assert wire_mode({WIRE_ENV: "buffers"}, colab) == "buffers"
    assert wire_mode({WIRE_ENV: "base64"}, {}) == "base64"


def test_a_view_created_in_colab_uses_base64_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv(WIRE_ENV, raising=False)
    net = small_net()
    cat = cw.sample_image("cat")
    w = cw.OcclusionExplorer(net, cat, start=False)
    assert w._wire == "buffers"
    w.close()
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    w = cw.OcclusionExplorer(net, cat, start=False)
    assert w._wire == "base64"
    assert _remove_buffers(w.get_state())[2] == []
    w.close()
    monkeypatch.setenv(WIRE_ENV, "buffers")
    w = cw.OcclusionExplorer(net, cat, start=False)
    assert w._wire == "buffers"
    w.close()


@pytest.mark.parametrize("value", ["binary", "BASE64", "json"])
def test_a_bad_environment_value_names_the_valid_ones(monkeypatch, value):
    monkeypatch.setenv(WIRE_ENV, value)
    with pytest.raises(ValueError, match=rf"CNNVIZ_WIRE='{value}' is not a wire mode; choose one of: buffers, base64"):
        cw.OcclusionExplorer(small_net(), cw.sample_image("cat"), start=False)


def test_codec_round_trips_nested_bytes_without_touching_its_input():
    floats = np.arange(3, dtype=np.float32)
    state = {"a": b"\x00\xff", "b": [bytearray(b"x"), (memoryview(floats), 1)], "c": {"d": "text", "e": None}}
    encoded = to_base64(state)
    assert isinstance(state["a"], bytes) and isinstance(state["b"][0], bytearray), "the input was modified"
    assert encoded == {
        "a": {MARKER: "AP8="},
        "b": [{MARKER: "eA=="}, [{MARKER: base64.b64encode(floats.tobytes()).decode()}, 1]],
        "c": {"d": "text", "e": None},
    }
    assert from_base64(json.loads(json.dumps(encoded))) == {
        "a": b"\x00\xff",
        "b": [b"x", [floats.tobytes(), 1]],
        "c": {"d": "text", "e": None},
    }


def test_message_attachments_arrive_as_buffers_or_as_markers():
    content, buffers = message_buffers({"type": "upload", "name": "a.png"}, [memoryview(b"\x89PNG")])
    assert (content, buffers) == ({"type": "upload", "name": "a.png"}, [b"\x89PNG"])
    sent = {"type": "upload", "name": "a.png", MESSAGE_BUFFERS: [{MARKER: "iVBORw=="}]}
    content, buffers = message_buffers(sent, None)
    assert (content, buffers) == ({"type": "upload", "name": "a.png"}, [b"\x89PNG"])
    assert MESSAGE_BUFFERS in sent, "the message was modified"
    for bad in ([{"$b64": "not base64!"}], ["iVBORw=="], {MARKER: "iVBORw=="}):
        with pytest.raises(ValueError):
            message_buffers({"type": "upload", MESSAGE_BUFFERS: bad}, None)


def test_an_upload_sent_as_base64_shows_the_same_picture_as_one_sent_as_a_buffer(forced):
    forced("base64")
    w = cw.OcclusionExplorer(small_net(), cw.sample_image("cat"), start=False)
    try:
        data = COFFEE.read_bytes()
        cat = w.image
        Frontend(w).raw({"type": "upload", "name": "coffee.png"}, [memoryview(data)])
        assert not w.error, w.error
        coffee = w.image
        assert coffee != cat
        w.set_image(cw.sample_image("cat"))
        assert w.image == cat
        marker = {MARKER: base64.b64encode(data).decode("ascii")}
        Frontend(w).raw({"type": "upload", "name": "coffee.png", MESSAGE_BUFFERS: [marker]})
        assert not w.error, w.error
        assert w.image == coffee
        Frontend(w).raw({"type": "upload", "name": "coffee.png", MESSAGE_BUFFERS: "iVBORw=="})
        assert MESSAGE_BUFFERS in w.error, w.error
    finally:
        w.close()
