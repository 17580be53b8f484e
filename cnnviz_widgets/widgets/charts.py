"""Plotly charts beside the views: the SaliencyExplorer's sanity check (rank correlations) and deletion/insertion
curves, and the FeatureVisualizer's objective per step. They are plain ``FigureWidget``s, so plotly.js comes
from plotly's own widget bundle and never from ours; each view feeds its charts from its traits.
"""

from __future__ import annotations

from typing import Any, Dict

import ipywidgets
import plotly.graph_objects as go

from ..engine.attribution import METHODS
from .encoding import decode_array

SIZE = dict(width=380, height=280, margin=dict(l=55, r=10, t=40, b=45))


def _title(result: Dict[str, Any], what: str) -> str:
    method = result.get("method")
    return f"{what}: {METHODS[method].title}" if method in METHODS else f"{what} (press its button in the explorer)"


class AnalysisCharts:
    """Two figures, rank correlation per cascade step and deletion/insertion curves, in a ``VBox``."""

    def __init__(self) -> None:
        self.sanity = go.FigureWidget(
            layout=dict(
                SIZE,
                xaxis=dict(title="randomised down to", automargin=True, tickangle=-30),
                yaxis=dict(title="rank correlation", range=[-1.05, 1.05]),
            )
        )
        self.sanity.add_scatter(mode="lines+markers", name="rank correlation")
        self.curves = go.FigureWidget(
            layout=dict(
                SIZE,
                xaxis=dict(title="fraction of pixels", range=[0, 1]),
                yaxis=dict(title="class probability", range=[0, 1.02]),
                legend=dict(x=0.98, xanchor="right", y=0.55, yanchor="middle"),
            )
        )
        self.curves.add_scatter(mode="lines", name="deletion")
        self.curves.add_scatter(mode="lines", name="insertion")
        self.box = ipywidgets.VBox([self.sanity, self.curves])

    def show_sanity(self, result: Dict[str, Any]) -> None:
        """Draw a ``sanity`` trait value ({} clears the chart)."""
        names = list(result.get("names", []))
        with self.sanity.batch_update():
            self.sanity.data[0].x = list(range(len(names)))
            self.sanity.data[0].y = list(result.get("correlation", []))
            self.sanity.data[0].text = names
            self.sanity.layout.xaxis.tickvals = list(range(len(names)))
            self.sanity.layout.xaxis.ticktext = names
            self.sanity.layout.title.text = _title(result, "Sanity check")

    def show_curves(self, result: Dict[str, Any]) -> None:
        """Draw a ``curves`` trait value ({} clears the chart); the AUCs go in the legend."""
        deletion, insertion = self.curves.data
        with self.curves.batch_update():
            for trace, name in ((deletion, "deletion"), (insertion, "insertion")):
                trace.x = list(result.get("fractions", []))
                trace.y = list(result.get(name, []))
                auc = result.get(f"{name}_auc")
                trace.name = name if auc is None else f"{name} (AUC {auc:.3f})"
            self.curves.layout.title.text = _title(result, "Deletion / insertion")

    def close(self) -> None:
        """Close the figures and their box."""
        for widget in (self.sanity, self.curves, self.box):
            widget.close()


class CurveChart:
    """The objective of a feature visualisation at every step so far, one line in a ``FigureWidget``."""

    def __init__(self) -> None:
        self.figure = go.FigureWidget(
            layout=dict(
                SIZE,
                title=dict(text="Objective per step"),
                xaxis=dict(title="step"),
                yaxis=dict(title="objective"),
            )
        )
        self.figure.add_scatter(mode="lines", name="objective")

    def show(self, curve: Dict[str, Any]) -> None:
        """Draw a ``curve`` trait value (a float32 array of one value per step; {} clears the chart)."""
        values = decode_array(curve)
        with self.figure.batch_update():
            self.figure.data[0].x = list(range(1, len(values) + 1))
            self.figure.data[0].y = values.tolist()

    def close(self) -> None:
        """Close the figure."""
        self.figure.close()
