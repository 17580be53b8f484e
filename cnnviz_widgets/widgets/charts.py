"""Plotly charts beside the views: the SaliencyExplorer's sanity check (rank correlations) and deletion/insertion
curves, and the FeatureVisualizer's objective per step. They are plain ``FigureWidget``s, so plotly.js comes
from plotly's own widget bundle and never from ours; each chart follows its view's traits, including the page's
theme (``plotly_white`` or ``plotly_dark`` on a transparent background), and fills the width it is given: plotly's
anywidget figures measure their slot only when drawn or on a window "resize" in responsive mode (plotly.py #5208), so
they are made responsive and the views announce their own width changes with such an event.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

import ipywidgets
import numpy as np
import plotly.graph_objects as go

from ..engine.attribution import METHODS
from .base import ViewWidget

LAYOUT = dict(
    autosize=True,
    height=300,
    margin=dict(l=55, r=15, t=60, b=50),
    paper_bgcolor="rgba(0,0,0,0)",
    plot_bgcolor="rgba(0,0,0,0)",
    title=dict(x=0.02, xanchor="left", font=dict(size=14)),
)
TITLE: Dict[str, Any] = LAYOUT["title"]  # type: ignore[assignment]
"""No fixed width: a chart reflows to its slot; titles sit above the plot where nothing cuts them."""
TEMPLATES = {"light": "plotly_white", "dark": "plotly_dark"}


def dashboard(view: ViewWidget, charts: ipywidgets.DOMWidget, above: bool = False) -> ipywidgets.HBox:
    """``view`` with ``charts`` beside it (on its right) where the cell is wide enough, below it where it is not, or
    above it with ``above`` (for a chart whose hover shows something at the top of the view: then it is never far)."""
    view.layout.flex = "1 1 620px"
    view.layout.min_width = "0"
    side = ipywidgets.VBox([charts], layout=ipywidgets.Layout(flex="1 1 360px", min_width="300px"))
    if above:  # the chart first, laid out right to left: on one row it is still on the right
        return ipywidgets.HBox(
            [side, view], layout=ipywidgets.Layout(flex_flow="row-reverse wrap", align_items="flex-start")
        )
    return ipywidgets.HBox([view, side], layout=ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start"))


def _title(result: Dict[str, Any], what: str) -> str:
    method = result.get("method")
    return f"{what}: {METHODS[method].title}" if method in METHODS else what


class Charts:
    """Figures fed from a view's traits, in ``widget``: ``draw`` maps trait name to the function showing its value."""

    def __init__(
        self,
        view: ViewWidget,
        widget: ipywidgets.DOMWidget,
        figures: List[go.FigureWidget],
        draw: Mapping[str, Callable[[Any], None]],
    ):
        self.widget = widget
        self.figures = figures
        for figure in figures:  # re-measure the slot on a window "resize" (our views send one when their width changes)
            figure._config = {**figure._config, "responsive": True}
        self._view = view
        self._observers = [(self._observer(fn), name) for name, fn in draw.items()]
        self._observers.append((lambda change: self._theme(change.new), "theme"))
        for observer, name in self._observers:
            view.observe(observer, names=name)
        for name, fn in draw.items():
            fn(getattr(view, name))
        self._theme(view.theme)

    @staticmethod
    def _observer(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        return lambda change: fn(change.new)

    def _theme(self, theme: str) -> None:
        for figure in self.figures:
            figure.layout.template = TEMPLATES[theme]

    def close(self) -> None:
        """Stop following the view and close the figures."""
        for observer, name in self._observers:
            self._view.unobserve(observer, names=name)
        for figure in self.figures:
            figure.close()
        self.widget.close()


class AnalysisCharts(Charts):
    """Rank correlation per cascade step and deletion/insertion curves of a SaliencyExplorer, in a ``VBox``."""

    def __init__(self, view: ViewWidget) -> None:
        self.sanity = go.FigureWidget(layout=dict(
            LAYOUT,
            xaxis=dict(title="randomised down to", automargin=True, tickangle=-30),
            yaxis=dict(title="rank correlation", range=[-1.05, 1.05]),
        ))  # fmt: skip
        self.sanity.add_scatter(mode="lines+markers", name="rank correlation")
        self.curves = go.FigureWidget(layout=dict(
            LAYOUT,
            xaxis=dict(title="fraction of pixels", range=[0, 1]),
            yaxis=dict(title="class probability", range=[0, 1.02]),
            legend=dict(x=0.98, xanchor="right", y=0.55, yanchor="middle"),
        ))  # fmt: skip
        self.curves.add_scatter(mode="lines", name="deletion")
        self.curves.add_scatter(mode="lines", name="insertion")
        figures = [self.sanity, self.curves]
        draw = {"sanity": self.show_sanity, "curves": self.show_curves}
        super().__init__(view, ipywidgets.VBox(figures), figures, draw)

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


class CurveChart(Charts):
    """The objective of a feature visualisation at every step so far, one line in a ``FigureWidget``."""

    def __init__(self, view: ViewWidget) -> None:
        self.figure = go.FigureWidget(layout=dict(
            LAYOUT, title=dict(TITLE, text="Objective per step"),
            xaxis=dict(title="step"), yaxis=dict(title="objective"),
        ))  # fmt: skip
        self.figure.add_scatter(mode="lines", name="objective")
        super().__init__(view, self.figure, [self.figure], {"curve": self.show})

    def show(self, curve: Optional[np.ndarray]) -> None:
        """Draw a ``curve`` trait value (one value per step; ``None`` clears the chart)."""
        values = curve if curve is not None else np.zeros(0)
        with self.figure.batch_update():
            self.figure.data[0].x = list(range(1, len(values) + 1))
            self.figure.data[0].y = values.tolist()


class InvarianceCharts(Charts):
    """A LayerExplorer's invariance curves (Zeiler & Fergus, Fig. 5): each layer's feature distance and the class
    probability against the transform's amount, in a ``VBox``."""

    def __init__(self, view: ViewWidget) -> None:
        self.distance = go.FigureWidget(layout=dict(
            LAYOUT, yaxis=dict(title="‖f(x) − f(Tx)‖ / ‖f(x)‖", rangemode="tozero"),
            legend=dict(orientation="h", y=-0.3),
        ))  # fmt: skip
        self.probability = go.FigureWidget(layout=dict(LAYOUT, yaxis=dict(title="probability", range=[0, 1.02])))
        self.probability.add_scatter(mode="lines+markers", name="probability")
        figures = [self.distance, self.probability]
        super().__init__(view, ipywidgets.VBox(figures), figures, {"invariance": self.show})

    def show(self, result: Dict[str, Any]) -> None:
        """Draw an ``invariance`` trait value ({} clears the charts)."""
        amounts = list(result.get("amounts", []))
        axis = dict(title={"translate": "shift (pixels)", "scale": "scale (×)", "rotate": "rotation (degrees)"}.get(
            result.get("transform", ""), ""))  # fmt: skip
        with self.distance.batch_update():
            self.distance.data = ()
            for name, values in zip(result.get("layers", []), result.get("distances", [])):
                self.distance.add_scatter(x=amounts, y=values, mode="lines", name=name)
            self.distance.layout.xaxis = axis
            self.distance.layout.title.text = "Feature distance from the original photo" if amounts else ""
        with self.probability.batch_update():
            self.probability.data[0].x = amounts
            self.probability.data[0].y = list(result.get("probability", []))
            self.probability.layout.xaxis = axis
            label = result.get("label")
            self.probability.layout.title.text = f"Probability of “{label}”" if label else ""


def _named(item: int, name: str) -> str:
    """Dataset image ``item`` as "#3 cat.png", or "#38" alone when that is its name already."""
    index = f"#{item}"
    return index if name in ("", index) else f"{index} {name}"


LEGEND_CLASSES = 20
"""Up to this many classes get a trace (and a legend entry) each; more share one trace coloured by class index."""


class EmbeddingChart(Charts):
    """A DatasetExplorer's 2-D embedding as a ``scattergl`` coloured by predicted or true class: hovering a point
    shows its image in the view, clicking one puts it in focus, the lasso shows the images it encloses."""

    def __init__(self, view: ViewWidget) -> None:
        self.figure = go.FigureWidget(layout=dict(
            LAYOUT, height=460, dragmode="lasso", hovermode="closest", margin=dict(l=15, r=15, t=60, b=15),
            xaxis=dict(showticklabels=False, zeroline=False), yaxis=dict(showticklabels=False, zeroline=False),
            legend=dict(itemsizing="constant"),
        ))  # fmt: skip
        super().__init__(view, self.figure, [self.figure], {"embedding": self.show})

    def show(self, result: Dict[str, Any]) -> None:
        """Draw an ``embedding`` trait value ({} clears the chart)."""
        items = np.asarray(result.get("items", []), dtype=np.int64)
        x, y = np.asarray(result.get("x", [])), np.asarray(result.get("y", []))
        every = result.get(result.get("color", "predicted"), [])
        groups, classes = np.unique(np.asarray([every[i] for i in items], dtype=str), return_inverse=True)
        text = np.asarray([f"{_named(int(i), result['names'][i])} · {every[i]}" for i in items], dtype=object)
        self._chosen: Dict[str, List[int]] = {}
        with self.figure.batch_update():
            self.figure.data = ()
            if len(groups) <= LEGEND_CLASSES:
                for index, group in enumerate(groups):
                    chosen = classes == index
                    self._trace(x[chosen], y[chosen], items[chosen], text[chosen], name=str(group))
            else:
                shade = dict(color=classes.tolist(), colorscale="Turbo")
                self._trace(x, y, items, text, marker=shade, showlegend=False)
            what = {"predicted": "predicted class", "true": "true class"}.get(result.get("color", ""), "")
            method = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get(result.get("method", ""), "")
            empty = "Embedding: open the view's embedding tab"
            self.figure.layout.title.text = f"{method} of {result['space']} by {what}" if len(items) else empty
        for trace in self.figure.data:
            trace.on_hover(self._hover)
            trace.on_click(self._click)
            trace.on_selection(self._select)

    def _trace(self, x: np.ndarray, y: np.ndarray, items: np.ndarray, text: np.ndarray, **style: Any) -> None:
        self.figure.add_scattergl(x=x.tolist(), y=y.tolist(), customdata=items.tolist(), text=text.tolist(),
                                  mode="markers",
                                  hovertemplate="%{text}<extra></extra>",
                                  **{"marker": dict(size=6), **style})  # fmt: skip

    def _items(self, trace: Any, points: Any) -> List[int]:
        return [int(trace.customdata[i]) for i in points.point_inds]

    def _hover(self, trace: Any, points: Any, _state: Any) -> None:
        found = self._items(trace, points)
        if found:
            self._view.hover(found[0])

    def _click(self, trace: Any, points: Any, _state: Any) -> None:
        found = self._items(trace, points)
        if found:
            self._view.item = found[0]

    def _select(self, trace: Any, points: Any, _selector: Any) -> None:
        """Plotly calls this once per trace with that trace's points: the view shows them all together."""
        self._chosen[trace.uid] = self._items(trace, points)
        self._view.choose([item for found in self._chosen.values() for item in found])


class StyleCharts(Charts):
    """The weighted loss terms of a style transfer or texture synthesis at every step so far (content, style, total
    variation and their total), on a log scale, in a ``FigureWidget``; a term that is 0 throughout is hidden."""

    TERMS = ("content", "style", "tv", "total")

    def __init__(self, view: ViewWidget) -> None:
        self.figure = go.FigureWidget(layout=dict(
            LAYOUT, title=dict(TITLE, text="Loss terms per step"),
            xaxis=dict(title="step"), yaxis=dict(title="weighted loss", type="log"),
        ))  # fmt: skip
        for name in self.TERMS:  # the total dotted: where one term makes it up, the two lines coincide
            self.figure.add_scatter(mode="lines", name=name, line=dict(dash="dot" if name == "total" else "solid"))
        super().__init__(view, self.figure, [self.figure], {"curves": self.show})

    def show(self, curves: Dict[str, List[float]]) -> None:
        """Draw a ``curves`` trait value ({} clears the chart). Values not above a millionth of the largest leave gaps:
        a run started from the content has a content loss of 0 plus rounding at first, which would stretch the log
        axis over a dozen decades."""
        floor = 1e-6 * max((v for values in curves.values() for v in values), default=0.0)
        with self.figure.batch_update():
            for trace, name in zip(self.figure.data, self.TERMS):
                values = list(curves.get(name, []))
                trace.x = list(range(1, len(values) + 1))
                trace.y = [v if v > floor else None for v in values]
                trace.visible = any(v > 0 for v in values) or not values
