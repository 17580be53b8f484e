"""Every notebook in notebooks/ runs top to bottom offline without an error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert any(p.name == "00_quickstart.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
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
