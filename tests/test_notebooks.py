"""Every notebook in notebooks/ runs top to bottom offline without an error; the assignment notebooks run with the
reference solutions plugged into their TODO cells, and those cells hold no solution."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
ASSIGNMENT = "04_network_visualization.ipynb"
STYLE = "05_style_transfer.ipynb"
ASSIGNMENTS = {
    ASSIGNMENT: {
        "compute_saliency_maps": "saliency",
        "make_fooling_image": "fooling",
        "class_visualization_update_step": "class_visualization",
    },
    STYLE: {name: name for name in ("content_loss", "gram_matrix", "style_loss", "tv_loss")},
}
"""The cs231n assignments: cells tagged "todo" are the student's functions (see cnnviz_widgets.labs), here with the
names cw.labs.check knows them by."""
PARAMETERS = {STYLE: "STEPS = 40"}
LIVE_VIEWS = {
    ASSIGNMENT: ("cw.FoolingImage(", "cw.ClassVisualizer(", "cw.DeepDream("),
    STYLE: ("cw.StyleTransfer(", "cw.TextureSynthesis(", "cw.FeatureInversion(", "cw.FastStyleTrainer("),
}
"""The live views each lab ends with: each must be displayed (a widget output) when the notebook runs."""
"""What replaces a notebook's cell tagged "parameters" in the test run (fewer optimisation steps)."""
STYLE_SECONDS = 180
"""The style-transfer lab must run, top to bottom with the reference solutions, within this (issue 17)."""


def todo_cells(nb):
    return [c for c in nb.cells if "todo" in c.metadata.get("tags", [])]


def plug_in_reference(nb) -> None:
    """Replace each TODO cell by an import of the reference function it defines."""
    for cell in todo_cells(nb):
        name = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)
        cell.source = f"from cnnviz_widgets.labs.reference import {name}"


def set_parameters(nb, source: str) -> None:
    """Replace the cell tagged "parameters" by ``source``."""
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source = source


def test_there_are_notebooks():
    assert any(p.name == "00_quickstart.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    if path.name in ASSIGNMENTS:
        plug_in_reference(nb)
    if path.name in PARAMETERS:
        set_parameters(nb, PARAMETERS[path.name])
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    widget_views = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    if path.name == "00_quickstart.ipynb":
        assert widget_views, "the quickstart should display a SaliencyExplorer"
    if path.name == "03_datasets.ipynb":
        shown = [c.source for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]  # fmt: skip
        for view in ("cw.DatasetExplorer(", "cw.FeatureVisualizer("):
            assert any(view in source for source in shown), f"the datasets lab should display {view}...)"
    if path.name == "02_layers.ipynb":
        assert len(widget_views) == 3, "the layers lab shows its filters, a middle layer and the checkpoints"
    if path.name in ASSIGNMENTS:
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        for check in ASSIGNMENTS[path.name].values():
            assert f"PASS {check}: " in printed, f"the reference should pass cw.labs.check({check!r}, ...)"
    if path.name == STYLE:
        assert seconds < STYLE_SECONDS, f"the style-transfer lab took {seconds:.0f} s"
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        pictures = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(pictures) == 4, "the lab shows its pictures, the transfer's steps, the inversion and the texture"
    shown = [c.source for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]  # fmt: skip
    for view in LIVE_VIEWS.get(path.name, ()):
        assert any(view in source for source in shown), f"{path.name} should end with {view}...) shown"


@pytest.mark.parametrize("name", list(ASSIGNMENTS))
def test_todo_cells_define_the_assignments_functions_and_hold_no_solution(name):
    checked = ASSIGNMENTS[name]
    nb = nbformat.read(next(p for p in NOTEBOOKS if p.name == name), as_version=4)
    defined = []
    for cell in todo_cells(nb):
        (fn,) = ast.parse(cell.source).body
        assert isinstance(fn, ast.FunctionDef)
        docstring, body = fn.body[0], fn.body[1:]
        assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
        assert len(body) == 1 and isinstance(body[0], ast.Raise), f"{fn.name} must only raise NotImplementedError"
        assert body[0].exc.func.id == "NotImplementedError" and "# ✏️ TODO" in cell.source
        defined.append(fn.name)
    assert defined == list(checked)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    for function, check in checked.items():
        assert f'cw.labs.check("{check}", {function})' in "\n".join(sources)
    views = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Interactive views"))
    assert not any(c.metadata.get("tags") for c in nb.cells[views:]), "the interactive views come after the TODOs"
