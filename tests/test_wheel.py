"""Installable like any Jupyter widget: the wheel carries the front-end bundle, the package imports without one.

The wheel is built from a clean copy of the repository (what git would commit: no bundle, no node_modules),
so its bundle can only come from the build hook, as with `pip install git+...`. It is installed into a fresh
virtual environment and rendered by a real JupyterLab whose kernel runs that environment's Python, with no
Node.js on the PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List

import nbformat
import pytest
from playwright.sync_api import BrowserType

from tests.e2e.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    JupyterServer,
    NotebookPage,
    looks_like_a_photo,
)

REPO = Path(__file__).resolve().parents[1]
STATIC_FILES = ("cnnviz_widgets/static/widget.js", "cnnviz_widgets/static/widget.css")


def run(cmd: List[str], **kwargs: Any) -> str:
    """Run ``cmd``; on failure, fail the test with its output (pip and npm explain themselves there)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd} exited with {proc.returncode}:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout


def path_without_node(first: Path) -> str:
    """A PATH with ``first`` in front and no directory that holds ``node`` or ``npm``."""
    dirs = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any((Path(d) / exe).exists() for exe in ("node", "npm"))
    ]
    path = os.pathsep.join([str(first), *dirs])
    assert shutil.which("node", path=path) is None and shutil.which("npm", path=path) is None, path
    return path


# -- the package without a bundle (fast) --------------------------------------------------------------------
def test_imports_without_bundle(tmp_path: Path) -> None:
    """Engine-only use needs no bundle: both imports work, and only creating a view fails, saying how to fix it."""
    shutil.copytree(
        REPO / "cnnviz_widgets", tmp_path / "cnnviz_widgets", ignore=shutil.ignore_patterns("static", "__pycache__")
    )
    script = textwrap.dedent(
        """
        import json
        import cnnviz_widgets.engine, cnnviz_widgets as cw
        import torch
        try:
            cw.SaliencyExplorer(torch.nn.Conv2d(3, 8, 3), cw.sample_image("cat"))  # any module: the check comes first
            error = None
        except RuntimeError as exc:
            error = str(exc)
        print(json.dumps({"file": cw.__file__, "error": error}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # ahead of the editable install's path
    result = json.loads(run([sys.executable, "-c", script], cwd=tmp_path, env=env).strip().splitlines()[-1])
    assert Path(result["file"]).is_relative_to(tmp_path), result
    assert result["error"] and "the front-end bundle" in result["error"] and "is missing" in result["error"], result


# -- the wheel (slow: npm builds the bundle, a JupyterLab renders it) -----------------------------------------
def clean_copy(dest: Path) -> Path:
    """Copy the files git lists as tracked or addable (not ignored) into ``dest``: no bundle, node_modules or venv."""
    names = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).split("\0")
    for name in filter(None, names):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the work tree is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    assert not (dest / "cnnviz_widgets" / "static").exists() and not (dest / "js" / "node_modules").exists()
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel`` builds from a clean copy (its build hook runs npm in js/)."""
    base = tmp_path_factory.mktemp("wheel")
    source = clean_copy(base / "src")
    start = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(base / "dist"), str(source)])
    print(f"wheel built in {time.monotonic() - start:.1f} s")
    (built,) = (base / "dist").glob("cnnviz_widgets-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; its other dependencies come from this one.

    torch and the rest are not reinstalled (minutes): a ``.pth`` line appends this environment's site-packages
    (a plain path, so its ``.pth`` files, among them the editable install of this repository, are not read), and
    ``share/jupyter`` and ``etc/jupyter`` link to this environment's, as if JupyterLab were installed there too.
    """
    root = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)])
    site_packages = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())
    (site_packages / "main_venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    for sub in ("share/jupyter", "etc/jupyter"):
        (root / sub).parent.mkdir(parents=True, exist_ok=True)
        (root / sub).symlink_to(Path(sys.prefix) / sub, target_is_directory=True)
    return root


@pytest.mark.slow
def test_wheel_carries_bundle_and_license(wheel: Path) -> None:
    """The hook put the built bundle (not an empty stub) into the wheel, beside the license."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        sizes = {name: zf.getinfo(name).file_size for name in STATIC_FILES if name in names}
    assert set(sizes) == set(STATIC_FILES), f"the wheel lacks the bundle: {sorted(n for n in names if 'static' in n)}"
    assert sizes["cnnviz_widgets/static/widget.js"] > 10_000, sizes
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), [n for n in names if "dist-info" in n]


@pytest.mark.slow
def test_wheel_imports_its_own_copy(venv: Path) -> None:
    """The fresh environment imports the wheel's package (not this repository's) and finds its bundle, without
    Node.js."""
    env = {**os.environ, "PATH": path_without_node(venv / "bin")}
    code = "import cnnviz_widgets.widgets.base as b; print(b.__file__); print(b.BUNDLED)"
    file, bundled = run([str(venv / "bin" / "python"), "-c", code], cwd=venv, env=env).split()
    assert Path(file).is_relative_to(venv), file
    assert bundled == "True", file


RENDER = 'import cnnviz_widgets as cw\nnet = cw.load_model()\ncw.SaliencyExplorer(net, cw.sample_image("cat"))'
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}  # else Lab asks for one


@pytest.fixture
def wheel_lab(venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JupyterServer]:
    """A JupyterLab (and so its kernel) on the fresh environment's Python, with no Node.js on its PATH."""
    monkeypatch.setenv("PATH", path_without_node(venv / "bin"))
    server = JupyterServer("lab", tmp_path, python=str(venv / "bin" / "python"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.e2e
def test_wheel_renders_in_jupyterlab(wheel_lab: JupyterServer, venv: Path, browser_type: BrowserType) -> None:
    """The installed wheel renders a SaliencyExplorer: its canvas shows the photo."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(RENDER)], metadata={"kernelspec": KERNELSPEC})
    nbformat.write(notebook, wheel_lab.root / "wheel.ipynb")
    browser = browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(30_000)
        nb = NotebookPage(page, wheel_lab, "wheel.ipynb")
        try:
            nb.open()
            nb.run_all()
            kernel: Dict[str, str] = nb.probe.eval(
                "{'python': __import__('sys').executable, 'package': __import__('cnnviz_widgets').__file__}"
            )
            assert Path(kernel["python"]).parent == venv / "bin", kernel
            assert Path(kernel["package"]).is_relative_to(venv), kernel
            nb.wait_canvas(looks_like_a_photo, "the photo", timeout=60)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator(".cnnviz.cnnviz-saliency").screenshot(path=str(ARTIFACTS / "wheel-saliency.png"))
            assert not nb.widget_errors(), nb.widget_errors()
        finally:
            nb.close()
    finally:
        browser.close()
