"""Fixtures for the real-browser tests: one Jupyter server per app, a page per test, a kernel probe.

Everything here follows what was measured on this project's machines (see the e2e notes): Debian's
Chromium driven by Playwright (never `playwright install`), a server isolated in temp dirs, user settings
that keep the news toast away and every cell in the DOM, exact kernel waits through `window.jupyterapp`,
and Python-side state read through a second kernel client so the page is not touched.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "notebooks" / "00_quickstart.ipynb"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Required on these machines: without the networking flags the closed network refuses Chromium's
# background connections and pages stall.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
APPS = ("lab", "notebook")
# Servers as (app, CNNVIZ_WIRE): how the kernels' views send binary values. Every test also runs with the views in
# base64 mode, the one Colab gets, so that path cannot rot; on Lab only, since a fourth server would double the
# browser tests' time, and Notebook 7 renders widgets through the same manager extension as Lab. Ids: "lab",
# "notebook", "lab-base64".
SERVERS = [("lab", "buffers"), ("notebook", "buffers"), ("lab", "base64")]
# Notebook 7.6.5 logs this on every load; it is not ours.
KNOWN_NOISE = ("Cannot read properties of undefined (reading 'schema')",)
# anywidget imports the bundle from a blob: URL, so errors thrown by our code carry blob: frames.
OURS = re.compile(r"cnnviz|anywidget|blob:", re.IGNORECASE)

Payload = Union[str, bytes]


# -- browser ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: Dict) -> Dict:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`, or run `make test`)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: Dict) -> Dict:
    return {**browser_context_args, "viewport": VIEWPORT}


# -- Jupyter server -----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path, plugin: str, values: Dict[str, Any]) -> None:
    package, name = plugin.rsplit(":", 1)
    path = settings_dir.joinpath(*package.split("/"), f"{name}.jupyterlab-settings")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))


class JupyterServer:
    """`python -m jupyterlab` or `python -m notebook` on a free port, isolated in temp dirs."""

    wire = "buffers"
    """CNNVIZ_WIRE of its kernels (set before :meth:`start`): how the views send pictures and arrays."""

    def __init__(self, app: str, base: Path, python: str = sys.executable):
        assert app in APPS, app
        self.app = app
        self.python = python
        self.base = base
        self.root = base / "root"
        self.runtime = base / "runtime"
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self.proc: Optional[subprocess.Popen] = None
        self._log: Optional[Any] = None

    # lifecycle
    def start(self, timeout: float = 60.0) -> "JupyterServer":
        config, data, ipython = self.base / "config", self.base / "data", self.base / "ipython"
        for d in (self.root, self.runtime, config, data, ipython):
            d.mkdir(parents=True, exist_ok=True)
        settings = config / "lab" / "user-settings"
        # The news toast overlaps controls; windowing leaves off-screen cells out of the DOM.
        _write_settings(settings, "@jupyterlab/apputils-extension:notification", {"fetchNews": "false"})
        _write_settings(settings, "@jupyterlab/notebook-extension:tracker", {"windowingMode": "none"})
        bin_dir = str(Path(self.python).parent)
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_DATA_DIR": str(data),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "IPYTHONDIR": str(ipython),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "CNNVIZ_WIRE": self.wire,
        }
        module, app_class = ("jupyterlab", "LabApp") if self.app == "lab" else ("notebook", "JupyterNotebookApp")
        cmd = [
            self.python,
            "-m",
            module,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",
            f"--{app_class}.expose_app_in_browser=True",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open while the server runs; closed by stop()
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.app} server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the {self.app} server did not answer /api/status in {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            import psutil

            children = psutil.Process(proc.pid).children(recursive=True)
        except Exception:  # noqa: BLE001 - psutil missing or the server already gone
            children = []
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # shuts kernels down cleanly in 1-2 s
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for child in children:  # anything that outlived the server, by its own pid (psutil guards reuse)
            try:
                if child.is_running():
                    child.kill()
            except Exception:  # noqa: BLE001 - gone meanwhile
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    # REST
    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def sessions(self) -> List[dict]:
        return self.api("GET", "/api/sessions")

    def delete_sessions(self) -> None:
        """DELETE every session: shuts its kernel down, so the next test has both cores."""
        for session in self.sessions():
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise

    def page_url(self, name: str) -> str:
        if self.app == "lab":  # ?reset: ignore the saved workspace (tabs of earlier tests)
            return f"{self.url}/lab/tree/{name}?reset&token={self.token}"
        return f"{self.url}/notebooks/{name}?token={self.token}"


@pytest.fixture(scope="session", params=SERVERS, ids=[app if w == "buffers" else f"{app}-{w}" for app, w in SERVERS])
def jupyter_server(request, tmp_path_factory) -> JupyterServer:
    """One server per app and wire mode for the whole session (pytest groups the tests by server, so one runs at
    a time)."""
    app, wire = request.param
    server = JupyterServer(app, tmp_path_factory.mktemp(f"jupyter-{app}-{wire}"))
    server.wire = wire
    try:
        yield server.start()
    finally:
        server.stop()


# -- kernel probe -------------------------------------------------------------------------------------------
class KernelProbe:
    """A second client on the page's kernel: reads Python-side state with silent user_expressions."""

    def __init__(self, connection_file: Path):
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)

    def eval(self, expr: str, timeout: float = 30.0) -> Any:
        msg_id = self.client.execute("", silent=True, store_history=False, user_expressions={"v": expr})
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply from the kernel for {expr!r} within {timeout} s")
            reply = self.client.get_shell_msg(timeout=remaining)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        value = reply["content"]["user_expressions"]["v"]
        if value.get("status") != "ok":
            raise AssertionError(f"{expr!r} failed in the kernel: {value.get('ename')}: {value.get('evalue')}")
        return ast.literal_eval(value["data"]["text/plain"])

    def wait_for(self, expr: str, predicate: Callable[[Any], bool] = bool, timeout: float = 60.0) -> Any:
        """Poll ``expr`` until ``predicate(value)`` holds; return the value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            try:
                value = self.eval(expr)
            except AssertionError:  # e.g. NameError before the cell that defines it has run
                value = None
            else:
                if predicate(value):
                    return value
            time.sleep(0.2)
        raise AssertionError(f"{expr!r} did not reach the expected state within {timeout} s; last value: {value!r}")

    def close(self) -> None:
        self.client.stop_channels()


# -- the notebook page --------------------------------------------------------------------------------------
KERNEL_IDLE_JS = """() => {
  const k = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

ALL_PROMPTS_JS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].filter(
    (c) => (c.querySelector('.cm-content')?.textContent ?? '').trim() !== '');
  return cells.length > 0 && cells.every(
    (c) => /\\[\\d+\\]/.test(c.querySelector('.jp-InputArea-prompt')?.textContent ?? ''));
}"""

# Statistics of a canvas' pixels: size, distinct RGB colours, luminance spread, all-grey, and a hash.
CANVAS_STATS_JS = """(c) => {
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const colours = new Set();
  let sum = 0, sum2 = 0, grey = true, hash = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    const rgb = (r << 16) | (g << 8) | b;
    colours.add(rgb);
    const l = (r + g + b) / 3;
    sum += l; sum2 += l * l;
    if (r !== g || g !== b) grey = false;
    hash = (Math.imul(hash, 31) + rgb) | 0;
  }
  const n = Math.max(1, data.length / 4), mean = sum / n;
  return { width: c.width, height: c.height, colours: colours.size, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)),
           grey, hash };
}"""

# The same statistics for every canvas a locator matches, each keyed by an attribute of its closest ancestor
# that has one (e.g. the compare grid's `data-method`).
CANVASES_STATS_JS = f"""(canvases, attr) => canvases.map((c) => ({{
  key: c.closest(`[${{attr}}]`)?.getAttribute(attr) ?? null,
  ...({CANVAS_STATS_JS})(c),
}}))"""

# DatasetExplorer's plotly scatter: the page position and image of its point farthest from every other point (so the
# mouse over it can only mean that one).
ISOLATED_POINT_JS = """(gd) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, s = gd._fullLayout._size, r = gd.getBoundingClientRect();
  const points = gd._fullData.flatMap((t) => t.x.map((x, i) =>
    ({x: r.left + s.l + xa.l2p(x), y: r.top + s.t + ya.l2p(t.y[i]), item: t.customdata[i]})));
  const room = (p) => Math.min(...points.filter((q) => q !== p).map((q) => Math.hypot(p.x - q.x, p.y - q.y)));
  return points.reduce((best, p) => (room(p) > room(best) ? p : best));
}"""

# The main canvas of the quickstart's SaliencyExplorer (the notebook shows other views' canvases too).
SALIENCY_CANVAS = ".cnnviz-saliency canvas.cnnviz-canvas"

# SaliencyExplorer's Python side: the state a test waits on after the quickstart runs.
EXPLORER_READY = "(bool(explorer.heatmap), explorer.busy, explorer.error, explorer.target, explorer.status)"


def heatmap_ready(v) -> bool:
    """Predicate for EXPLORER_READY: a heat-map is there and no job runs; fails at once on an error."""
    has_map, busy, error, _target, _status = v
    assert not error, f"the explorer shows an error: {error}"
    return has_map and not busy


def looks_like_a_photo(s: Dict[str, Any]) -> bool:
    """Many distinct colours and real contrast: a picture, not a blank or flat canvas."""
    return s["width"] >= 100 and s["height"] >= 100 and s["colours"] > 2000 and s["std"] > 20


def has_comm_msg(payload: Payload) -> bool:
    """A kernel websocket frame that carries a comm_msg (text JSON, or Lab 4.6's binary v1 protocol)."""
    return (b"comm_msg" in payload) if isinstance(payload, (bytes, bytearray)) else ("comm_msg" in payload)


def kernel_message(payload: Payload) -> Optional[Dict[str, Any]]:
    """The kernel message in a websocket frame: ``{channel, header, content, buffers}``; None for other frames.

    Text frames are JSON messages (no buffers). Binary frames are Jupyter's v1 websocket protocol, which Lab 4 and
    Notebook 7 use for every message: the count of offsets and the offsets (8-byte little-endian), then channel,
    header, parent header, metadata, content and each binary buffer. A frame in neither format fails the test.
    """
    if isinstance(payload, str):
        msg = json.loads(payload)
        if not (isinstance(msg, dict) and "header" in msg):
            return None  # e.g. Jupyter's event stream
        return {"channel": msg.get("channel"), "header": msg["header"], "content": msg.get("content"), "buffers": []}
    count = int.from_bytes(payload[:8], "little")
    offsets = [int.from_bytes(payload[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    assert count >= 6 and offsets[0] == 8 * (count + 1) and offsets[-1] == len(payload), (
        f"a binary websocket frame that is not Jupyter's v1 protocol: {payload[:64]!r}"
    )
    parts = [payload[a:b] for a, b in zip(offsets, offsets[1:])]
    return {
        "channel": parts[0].decode(),
        "header": json.loads(parts[1]),
        "content": json.loads(parts[4]),
        "buffers": [bytes(b) for b in parts[5:]],
    }


def comm_messages(payloads: Iterable[Payload]) -> List[Dict[str, Any]]:
    """The comm_open / comm_msg kernel messages among websocket frames, in order."""
    msgs = (kernel_message(p) for p in payloads)
    return [m for m in msgs if m is not None and m["header"].get("msg_type") in ("comm_open", "comm_msg")]


class NotebookPage:
    """A notebook open in Lab or Notebook 7, with its errors, its websocket frames and a kernel probe."""

    def __init__(self, page, server: JupyterServer, name: str):
        self.page = page
        self.server = server
        self.name = name
        self.errors: List[str] = []
        self.sent: List[Payload] = []  # every websocket frame the page sent, in order
        self.received: List[Payload] = []  # every frame the page received from its kernels, in order
        self._probe: Optional[KernelProbe] = None
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc.message}\n{exc.stack or ''}"))
        page.on("console", self._on_console)
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        ws.on("framesent", lambda payload: self.sent.append(payload))
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", lambda payload: self.received.append(payload))

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.errors.append(f"console.error: {msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")

    # opening and running
    def open(self) -> None:
        self.page.goto(self.server.page_url(self.name))
        self.wait_kernel_idle()

    def wait_kernel_idle(self, timeout: float = 60_000) -> None:
        self.page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout)

    def run_all(self, timeout: float = 120_000) -> None:
        """Run ▸ Run All Cells from the menu bar; done when every code cell has an `[n]` prompt and the kernel is
        idle."""
        self.page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^\s*Run\s*$")).click()
        self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        self.page.wait_for_function(ALL_PROMPTS_JS, timeout=timeout)
        self.wait_kernel_idle(timeout=timeout)

    # state
    @property
    def probe(self) -> KernelProbe:
        """A kernel client on this notebook's kernel (connection file from the runtime dir)."""
        if self._probe is None:
            sessions = [s for s in self.server.sessions() if s.get("path", "").endswith(self.name)]
            assert len(sessions) == 1, f"expected one session for {self.name}, got {sessions}"
            kernel_id = sessions[0]["kernel"]["id"]
            self._probe = KernelProbe(self.server.runtime / f"kernel-{kernel_id}.json")
        return self._probe

    def widget_errors(self) -> List[str]:
        return [e for e in self.errors if OURS.search(e) and not any(n in e for n in KNOWN_NOISE)]

    def comm_msgs_since(self, mark: int) -> List[Payload]:
        return [p for p in self.sent[mark:] if has_comm_msg(p)]

    def canvas_stats(self, selector: str = SALIENCY_CANVAS) -> Dict[str, Any]:
        return self.page.locator(selector).evaluate(CANVAS_STATS_JS)

    def canvases_stats(self, selector: str, key: str = "data-method") -> Dict[str, Dict[str, Any]]:
        """Pixel statistics of every canvas ``selector`` matches, keyed by ``key`` of its closest ancestor."""
        rows = self.page.locator(selector).evaluate_all(CANVASES_STATS_JS, key)
        stats = {row.pop("key"): row for row in rows}
        assert len(stats) == len(rows), f"canvases under {selector!r} share a {key}: {rows}"
        return stats

    def wait_canvas(
        self,
        predicate: Callable[[Dict[str, Any]], bool],
        what: str,
        timeout: float = 30.0,
        selector: str = SALIENCY_CANVAS,
    ) -> Dict[str, Any]:
        """Poll the canvas' pixel statistics until ``predicate`` holds (the page keeps processing events meanwhile)."""
        return self._wait_pixels(
            lambda: self.canvas_stats(selector), predicate, f"the canvas never showed {what}", timeout
        )

    def wait_canvases(
        self,
        selector: str,
        predicate: Callable[[Dict[str, Dict[str, Any]]], bool],
        what: str,
        key: str = "data-method",
        timeout: float = 30.0,
    ) -> Dict[str, Dict[str, Any]]:
        """Poll :meth:`canvases_stats` until ``predicate`` holds for the whole ``{key: stats}`` dict."""
        return self._wait_pixels(
            lambda: self.canvases_stats(selector, key), predicate, f"the canvases never showed {what}", timeout
        )

    def _wait_pixels(
        self, read: Callable[[], Any], predicate: Callable[[Any], bool], failure: str, timeout: float
    ) -> Any:
        deadline = time.monotonic() + timeout
        stats: Any = {}
        while time.monotonic() < deadline:
            stats = read()
            if predicate(stats):
                return stats
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{failure} within {timeout} s; last pixel stats: {stats}")

    def run_quickstart(self) -> Any:
        """Run the quickstart from the menu; wait until the explorer's first heat-map is computed.

        Returns the EXPLORER_READY tuple ``(has_map, busy, error, target, status)``.
        """
        from playwright.sync_api import expect

        self.run_all()
        expect(self.page.locator(".cnnviz.cnnviz-saliency")).to_have_count(1)
        return self.probe.wait_for(EXPLORER_READY, heatmap_ready)

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None


def pytest_collection_modifyitems(config, items):
    """Tests marked ``lab_only`` run against JupyterLab in buffers mode only; their other servers are deselected
    (not skipped: they are not tests that could run)."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("lab_only")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("jupyter_server") != ("lab", "buffers")
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


def write_notebook(path: Path, cells: List[str]) -> Path:
    """A notebook at ``path`` with one code cell per source in ``cells``, on the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook_source() -> Path:
    """The notebook each test opens a copy of; a test module overrides this fixture to open its own."""
    return QUICKSTART


@pytest.fixture
def notebook(request, jupyter_server: JupyterServer, page, notebook_source: Path) -> NotebookPage:
    """A fresh copy of ``notebook_source`` (one file per test, so no kernel is reused), open in the page.

    After the test the page is closed and every session deleted to free the two cores.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # a kernel start on a loaded 2-core machine can exceed 5 s
    page.set_default_timeout(30_000)
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name).strip("_") + ".ipynb"
    shutil.copyfile(notebook_source, jupyter_server.root / name)
    nb = NotebookPage(page, jupyter_server, name)
    try:
        nb.open()
        yield nb
    finally:
        nb.close()
        if getattr(request.node, "e2e_failed", False):  # what the page showed when the test failed
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):  # a failed screenshot must not hide the test's failure
                page.screenshot(path=str(ARTIFACTS / f"failed-{name[: -len('.ipynb')]}.png"))
        try:
            page.close()
        finally:
            jupyter_server.delete_sessions()


@pytest.fixture
def artifacts_dir(jupyter_server: JupyterServer) -> Path:
    """Where a test saves screenshots: tests/artifacts/, or tests/artifacts/base64/ against a base64-mode server."""
    path = ARTIFACTS if jupyter_server.wire == "buffers" else ARTIFACTS / jupyter_server.wire
    path.mkdir(parents=True, exist_ok=True)
    return path
