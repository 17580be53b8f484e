"""What really crosses the kernel websocket in each wire mode, read from the page's own frames.

In base64 mode (the one Colab gets) no message of our views carries a binary buffer in either direction: pictures
and arrays reach the page as base64 text in the JSON state, and an upload goes to the kernel as base64 text in the
message. In buffers mode the same values travel as binary buffers, which shows the frame reader sees them.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Dict, List, Optional

import pytest
from playwright.sync_api import expect

from .conftest import EXPLORER_READY, REPO, comm_messages, heatmap_ready, looks_like_a_photo

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's own base_url fixture trips a pytest deprecation warning; not ours.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

VIEWS = ("saliency", "occlusion", "featurevis")
MARKER = "$b64"
COFFEE = REPO / "cnnviz_widgets" / "data" / "coffee.png"
ESPRESSO = 967
PNG = b"\x89PNG\r\n\x1a\n"


def views_traffic(received: List[Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Comm messages from the kernel to our views, by view name (a view's comm is known from its comm_open)."""
    msgs = comm_messages(received)
    names = {
        m["content"]["comm_id"]: m["content"]["data"]["state"].get("_view")
        for m in msgs
        if m["header"]["msg_type"] == "comm_open"
        and str(m["content"]["data"]["state"].get("_anywidget_id", "")).startswith("cnnviz_widgets.")
    }
    traffic: Dict[str, List[Dict[str, Any]]] = {}
    for m in msgs:
        name = names.get(m["content"]["comm_id"])
        if name is not None:
            traffic.setdefault(name, []).append(m)
    return traffic


def markers(value: Any) -> int:
    """How many ``{"$b64": ...}`` objects ``value`` holds at any depth (the bundle's source also names the key)."""
    if isinstance(value, dict):
        return 1 if set(value) == {MARKER} else sum(markers(v) for v in value.values())
    return sum(markers(v) for v in value) if isinstance(value, list) else 0


def state_bytes(msg: Dict[str, Any], key: str) -> Optional[bytes]:
    """Binary trait ``key`` in a comm message's state, from whichever form it travelled in; None where absent."""
    data = msg["content"]["data"]
    paths = data.get("buffer_paths", [])
    if [key] in paths:
        return msg["buffers"][paths.index([key])]
    value = data.get("state", {}).get(key)
    return base64.b64decode(value[MARKER]) if isinstance(value, dict) and MARKER in value else None


def sent_upload(nb, mark: int, timeout: float = 30.0) -> Dict[str, Any]:
    """The one upload message the page sent after its frame ``mark`` (Playwright hands frames over while it waits)."""
    deadline = time.monotonic() + timeout
    while True:
        uploads = [
            m
            for m in comm_messages(nb.sent[mark:])
            if (data := m["content"]["data"]).get("method") == "custom" and data["content"].get("type") == "upload"
        ]
        if uploads or time.monotonic() > deadline:
            assert len(uploads) == 1, f"the page sent {len(uploads)} upload messages"
            return uploads[0]
        nb.page.wait_for_timeout(100)


def test_pictures_arrays_and_uploads_travel_as_the_wire_mode_says(notebook):
    nb, page = notebook, notebook.page
    wire = nb.server.wire
    nb.run_quickstart()
    # Every view of the quickstart has sent its pictures and arrays: maps, occluded windows, live frames.
    state = nb.probe.wait_for(
        "(occ.done, occ.total, occ.error, fv.step, fv.busy, fv.error)",
        lambda v: v[2] or v[5] or (v[0] == v[1] > 0 and v[3] == 64 and not v[4]),
        timeout=120,
    )
    assert not state[2] and not state[5], f"a view shows an error: {state}"
    assert nb.probe.eval("(explorer._wire, occ._wire, fv._wire)") == (wire,) * 3
    nb.wait_canvas(looks_like_a_photo, "a photo with a heat-map")

    traffic = views_traffic(nb.received)
    assert sorted(traffic) == sorted(VIEWS), f"comms of our views seen on the page: {sorted(traffic)}"
    binary = [
        (name, m["header"]["msg_type"], m["content"]["data"].get("buffer_paths"))
        for name, ms in traffic.items()
        for m in ms
        if m["buffers"]
    ]
    encoded = sum(markers(m["content"]) for ms in traffic.values() for m in ms)
    for name, ms in traffic.items():
        pictures = [b for b in (state_bytes(m, "image") for m in ms) if b]
        assert pictures and pictures[-1].startswith(PNG), f"the {name} view's picture did not arrive as a PNG"
    if wire == "base64":
        assert not binary, f"binary buffers reached the page in base64 mode: {binary[:5]}"
        assert encoded > 3, f"only {encoded} base64 values reached the page"
    else:
        assert len(binary) > 3, f"only {len(binary)} messages with binary buffers in buffers mode"
        assert encoded == 0, f"{encoded} base64 values reached the page in buffers mode"

    # The other way: an upload from the page.
    mark = len(nb.sent)
    page.locator(".cnnviz.cnnviz-saliency input.cnnviz-upload[type=file]").set_input_files(str(COFFEE))
    upload = sent_upload(nb, mark)
    content, buffers = upload["content"]["data"]["content"], upload["buffers"]
    if wire == "base64":
        assert buffers == [], "the upload carried a binary buffer in base64 mode"
        assert [base64.b64decode(b[MARKER]) for b in content["$buffers"]] == [COFFEE.read_bytes()]
    else:
        assert buffers == [COFFEE.read_bytes()] and "$buffers" not in content
    # Python read it: the espresso is explained.
    nb.probe.wait_for(
        f"(explorer.predictions[0]['index'], {EXPLORER_READY})",
        lambda v: v[0] == ESPRESSO and heatmap_ready(v[1]) and v[1][3] == ESPRESSO,
        timeout=120,
    )
    expect(page.locator(".cnnviz-saliency li.cnnviz-prediction").first).to_contain_text("espresso")
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
