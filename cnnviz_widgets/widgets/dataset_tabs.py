"""The DatasetExplorer's tabs over a finished (or stopped) scan: each unit's top patches with their projections, an
image's nearest neighbours in a layer's features and in raw pixels, and a 2-D embedding with its image grid.

Every result is computed when first needed and cached by everything it depends on, the scan's progress included, so
flipping back to a unit or tab shows it at once and a resumed scan never shows stale patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import traitlets
from PIL import Image

from ..engine.checks import check_choice
from ..engine.embedding import METHODS, embed, grid_layout
from ..engine.errors import ScanError, collecting
from ..engine.model import Net
from ..engine.neighbours import METRICS, nearest
from ..engine.patches import PADDING, strongest_crops, top_patches
from ..engine.scan import Scan, Source
from ..engine.scan.recorder import Plan, features_of
from ..engine.schema import Option
from .encoding import png_bytes
from .jobs import Job, Results
from .photo import NetView
from .sheets import enlarged, tiled
from .traits import Checked, Picture

TABS = ("patches", "neighbours", "embedding")
"""The view's tabs, in order."""
RULES = ("deconvnet", "guided_backprop")
CACHE = 32
"""How many computed results (overviews, patch grids, neighbours, embeddings) a view keeps, the most recent."""
THUMB = 64
"""Side in pixels of an image's thumbnail (neighbours, hover, selection)."""
GRID = (20, 20)
"""Rows and columns of the embedding's image grid (the cs231n t-SNE grid); a larger dataset is sampled evenly."""
GRID_CELL = 40
"""Side in pixels of one image in the grid picture."""
OVERVIEW_CELL = 48
"""Side in pixels of a unit's strongest patch in the layer overview."""

DATASET_OPTIONS = (
    Option("rule", "projection", "choice", "deconvnet", choices=RULES, group="patches",
           help="how each patch's unit is projected back to pixels (Zeiler & Fergus: deconvnet)"),
    Option("metric", "distance", "choice", "cosine", choices=METRICS, group="neighbours",
           help="how alike two images' features are: cosine of the angle, or Euclidean (L2) distance"),
    Option("count", "neighbours", "int", 8, low=1, high=32, group="neighbours",
           help="how many nearest images each row shows"),
    Option("method", "layout", "choice", "pca", choices=METHODS, group="embedding",
           help="how the features are laid out in 2-D (t-SNE needs openTSNE, UMAP umap-learn: cnnviz_widgets[embed])"),
    Option("color", "colour by", "choice", "predicted", choices=("predicted", "true"), group="embedding",
           help="colour the points by the network's predicted class or by the dataset's label"),
)  # fmt: skip


@dataclass(frozen=True)
class State:
    """What one job shows, frozen when it starts: how far the scan had got, the query picture's id, the layer, unit,
    image, feature layer and tab, and the settings."""

    scanned: int
    query: int
    layer: str
    unit: int
    item: int
    space: str
    tab: str
    rule: str
    metric: str
    count: int
    method: str
    color: str


class DatasetTabs(NetView):
    """The tabs' state and work over one scan; the DatasetExplorer runs the scan and says what to show."""

    SETTINGS = DATASET_OPTIONS
    CHARTS = "EmbeddingChart"

    tab = Checked("patches", "_valid_tab", help="The tab shown: one of TABS.")
    overview = traitlets.Dict(
        help="Every unit of the layer by its strongest patch: {layer, count, cell, columns, image: PNG sprite}."
    ).tag(sync=True)
    patches = traitlets.Dict(
        help="The unit's top patches: {layer, unit, items: [{item, name, value, label, box}], crops: [PNG], "
        "projections: [PNG or None, one per item], rule, note (what the engine said of them, e.g. projections that "
        "ignore the image)}."
    ).tag(sync=True)
    focus = traitlets.Dict(
        help="The image in focus: {item, name, label, image: PNG, predicted, confidence, box: [top, left, bottom, "
        "right] of the patch's field in the image's pixels (bottom, right exclusive) or null}; item -2 (the uploaded "
        "picture) has no predicted class, confidence or box."
    ).tag(sync=True)
    neighbours = traitlets.Dict(
        help="Nearest images to the one in focus: {item, space, metric, features: [row], pixels: [row]}, each row "
        "{item, name, distance, image: PNG}."
    ).tag(sync=True)
    embedding = traitlets.Dict(
        help="The 2-D embedding for the chart (not sent to the page): {space, method, color, items, x, y, names, "
        "predicted, true} (names and classes per dataset image)."
    )
    grid = Picture(help="The embedding snapped to an image grid (cs231n's t-SNE grid), as PNG.")
    scanning = traitlets.Bool(False, help="Whether the running job is the scan (not a tab's work).").tag(sync=True)
    hovered = traitlets.Dict(help="The point under the mouse in the chart: {item, name, label, image: PNG}.").tag(
        sync=True
    )
    selection = traitlets.Dict(help="Images chosen with the chart's lasso: {items, images: [PNG], total}.").tag(
        sync=True
    )

    layer: str
    unit: int
    item: int
    space: str

    def __init__(self, net: Net, source: Source):
        self._results = Results(CACHE)
        self._source: Optional[Source] = source
        self._scan: Optional[Scan] = None
        self._query: Optional[Image.Image] = None
        self._query_id = 0
        self._plan: Optional[Plan] = None
        super().__init__(net)

    @staticmethod
    def _valid_tab(value: Any) -> str:
        return check_choice("tab", value, TABS)

    def _forget(self) -> None:
        """Drop the scan, the cached results and the query (on close, after the job has been joined)."""
        self._results = Results(CACHE)  # a view that failed in its constructor has none to clear
        self._scan, self._source, self._query = None, None, None

    @property
    def scan(self) -> Optional[Scan]:
        """The scan shown (partial while scanning or after Stop; ``None`` before the first batch)."""
        return self._scan

    def state(self) -> State:
        """The view's state now, frozen for a job."""
        scan = self._scan
        done = int(scan.scanned.sum()) if scan is not None else 0
        settings = {o.name: getattr(self, o.name) for o in DATASET_OPTIONS}
        return State(done, self._query_id, self.layer, self.unit, self.item, self.space, self.tab, **settings)

    def _describe(self, scan: Optional[Scan]) -> Dict[str, Any]:
        plan = self._plan
        assert plan is not None
        total = len(self._source) if self._source is not None else 0
        if scan is None:
            return {"total": total, "scanned": 0, "failed": 0, "failures": [], "layers": list(plan.layers),
                    "embed": list(plan.embed), "classes": [], "complete": False}  # fmt: skip
        failures = [f"{scan.names[i]}: {why}" for i, why in list(scan.failed.items())[:5]]
        return {"total": total, "scanned": int(scan.scanned.sum()), "failed": len(scan.failed), "failures": failures,
                "layers": list(scan.layers), "embed": list(scan.embed), "classes": list(scan.classes or ()),
                "complete": bool(scan.scanned.sum() + len(scan.failed) >= total)}  # fmt: skip

    # -- one job: what the current state lacks --------------------------------------------------------------------
    def _fill(self, job: Job, s: State) -> None:
        scan = self._scan
        if scan is None or not scan.scanned.any():
            why = "; ".join(f"{scan.names[i]}: {r}" for i, r in list(scan.failed.items())[:3]) if scan else ""
            done = scan is not None and scan.complete
            self.publish(job, status=f"every image was skipped ({why})" if done else "nothing scanned yet: press Scan")
            return
        self.publish(job, overview=self._results.get(job, ("overview", s.scanned, s.layer), lambda: self._overview(s)))
        self.publish(job, patches=self._results.get(job, ("patches", s.scanned, s.layer, s.unit, s.rule),
                                               lambda: self._patches(job, s)))  # fmt: skip
        self.publish(job, focus=self._focus(s))
        if s.tab == "neighbours" and s.item != -1:
            key = ("neighbours", s.scanned, s.query if s.item == -2 else s.item, s.space, s.metric, s.count)
            self.publish(job, neighbours=self._results.get(job, key, lambda: self._neighbours(job, s)))
        if s.tab == "embedding":
            found = self._results.get(job, ("embedding", s.scanned, s.space, s.method), lambda: self._embedding(job, s))
            self.publish(job, embedding={**found["points"], "color": s.color}, grid=found["grid"])
        self.publish(job, progress=1.0, status=self._summary_line(scan, s))

    def _summary_line(self, scan: Scan, s: State) -> str:
        done, total = int(scan.scanned.sum()), len(scan.names)
        scanned = f"{done}/{total} images scanned" + (f", {len(scan.failed)} skipped" if scan.failed else "")
        return f"{scanned} · {s.layer}:{s.unit}"

    # -- pictures of dataset images ----------------------------------------------------------------------------
    def _picture(self, item: int) -> np.ndarray:
        """Dataset image ``item`` as the model sees it, ``(H, W, 3)`` uint8 (the uploaded query for -2)."""
        net = self._net
        if item == -2 and self._query is not None:
            return np.asarray(net.view(self._query))
        assert self._source is not None
        found = self._source.item(item)
        if isinstance(found, Image.Image):
            return np.asarray(net.view(found))
        return net.preprocess.denormalise(found)

    def _thumb(self, item: int, side: int = THUMB) -> Image.Image:
        picture = Image.fromarray(self._picture(item))
        picture.thumbnail((side, side))
        return picture

    def _label(self, scan: Scan, item: int) -> str:
        label = int(scan.labels[item]) if item >= 0 else -1
        return scan.classes[label] if scan.classes and 0 <= label < len(scan.classes) else ""

    # -- each result ----------------------------------------------------------------------------------------------
    def _overview(self, s: State) -> Dict[str, Any]:
        scan = self._scan
        assert scan is not None
        blank = Image.new("RGB", (1, 1), (PADDING,) * 3)
        cells = [blank if c is None else Image.fromarray(c) for c in strongest_crops(self._net, scan, s.layer)]
        columns = min(16, len(cells))
        sheet = tiled(cells, [divmod(i, columns) for i in range(len(cells))], OVERVIEW_CELL, PADDING)
        return {"layer": s.layer, "count": len(cells), "cell": OVERVIEW_CELL, "columns": columns,
                "image": png_bytes(sheet)}  # fmt: skip

    def _patches(self, job: Job, s: State) -> Dict[str, Any]:
        scan = self._scan
        assert scan is not None
        job.progress(0.3, f"projecting the top patches of {s.layer}:{s.unit} back to the pixels ({s.rule})")
        with collecting() as notes:
            found = top_patches(self._net, scan, s.layer, s.unit, rule=s.rule)
        side = max(64, *(max(p.crop.shape[:2]) for p in found)) if found else 64
        items = [{"item": p.index, "name": p.name, "value": p.value, "label": self._label(scan, p.index),
                  "box": list(p.box)} for p in found]  # fmt: skip
        projections = [None if p.projection is None else png_bytes(enlarged(p.projection, side)) for p in found]
        return {"layer": s.layer, "unit": s.unit, "rule": s.rule, "items": items, "note": " ".join(notes),
                "crops": [png_bytes(enlarged(p.crop, side)) for p in found], "projections": projections}  # fmt: skip

    def _focus(self, s: State) -> Dict[str, Any]:
        scan = self._scan
        if s.item == -1 or scan is None:
            return {}
        image = Image.fromarray(self._picture(s.item))
        if s.item == -2:
            return {"item": -2, "name": "uploaded picture", "label": "", "predicted": "", "image": png_bytes(image)}
        shown = self.patches
        box = next((p["box"] for p in shown.get("items", []) if p["item"] == s.item and shown.get("layer") == s.layer
                    and shown.get("unit") == s.unit), None)  # fmt: skip
        predicted = int(scan.predicted[s.item])
        return {"item": s.item, "name": scan.names[s.item], "label": self._label(scan, s.item),
                "predicted": self._net.label(predicted) if predicted >= 0 else "",
                "confidence": float(scan.confidence[s.item]), "box": box, "image": png_bytes(image)}  # fmt: skip

    def _neighbours(self, job: Job, s: State) -> Dict[str, Any]:
        scan = self._scan
        assert scan is not None
        job.progress(0.5, f"finding the {s.count} nearest images in {s.space} and in pixels")
        if s.item == -2:
            assert self._query is not None
            assert self._plan is not None
            queries = features_of(self._net, self._plan, self._net.tensor(self._query))
            found = {space: nearest(scan.features[space], queries[space][0], s.count, s.metric, valid=scan.scanned)
                     for space in (s.space, "pixels")}  # fmt: skip
        else:
            if not scan.scanned[s.item]:
                why = scan.failed.get(s.item, "not reached yet: press Scan to finish the scan")
                raise ScanError(f"image {s.item} ({scan.names[s.item]}) has no features: {why}")
            found = {space: nearest(scan.features[space], s.item, s.count, s.metric, valid=scan.scanned)
                     for space in (s.space, "pixels")}  # fmt: skip

        def row(space: str) -> List[Dict[str, Any]]:
            return [{"item": int(i), "name": scan.names[int(i)], "distance": float(d),
                     "image": png_bytes(self._thumb(int(i)))} for i, d in zip(*found[space])]  # fmt: skip

        return {"item": s.item, "space": s.space, "metric": s.metric, "features": row(s.space), "pixels": row("pixels")}

    def _embedding(self, job: Job, s: State) -> Dict[str, Any]:
        scan = self._scan
        assert scan is not None
        items = np.flatnonzero(scan.scanned)
        job.progress(0.2, f"laying out {len(items)} images' {s.space} features in 2-D ({s.method})")
        points = embed(np.asarray(scan.features[s.space])[items], s.method, seed=0)
        job.progress(0.7, "snapping the embedding to an image grid")
        every = range(len(scan.names))
        predicted = [self._net.label(int(c)) if c >= 0 else "not scanned" for c in scan.predicted]
        return {"points": {"space": s.space, "method": s.method, "items": items.tolist(), "x": points[:, 0].tolist(),
                           "y": points[:, 1].tolist(), "names": list(scan.names), "predicted": predicted,
                           "true": [self._label(scan, i) or "unlabelled" for i in every]},
                "grid": self._grid(points, items)}  # fmt: skip

    def _grid(self, points: np.ndarray, items: np.ndarray) -> Image.Image:
        chosen = np.unique(np.linspace(0, len(items) - 1, min(len(items), GRID[0] * GRID[1])).round().astype(int))
        cells = grid_layout(points[chosen])
        return tiled((self._thumb(int(items[i]), GRID_CELL) for i in chosen), cells.tolist(), GRID_CELL)
