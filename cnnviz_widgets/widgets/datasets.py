"""DatasetExplorer: a network seen through a whole dataset (Zeiler & Fergus 2014; cs231n "maximally activating
patches", nearest neighbours and t-SNE of features).

One scan (:func:`..engine.scan.scan_steps`, cached on disk, resumable) records every unit's strongest images; the
tabs then show a unit's top patches with their deconvnet projections, an image's nearest neighbours in a layer's
features beside those in raw pixels, and a 2-D embedding of the features (the plotly scatter is in
:meth:`dashboard`). The tabs' work lives in :mod:`.dataset_tabs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Union

import traitlets

from ..engine.checks import check_int
from ..engine.errors import LayerError, ScanError
from ..engine.images import load_image
from ..engine.scan import Scan, as_source, scan_steps
from ..engine.scan import cache as disk
from ..engine.scan.recorder import SCAN_BUDGET_BYTES, make_plan
from ..engine.scan.scan import layer_names
from .dataset_tabs import DATASET_OPTIONS, TABS, THUMB, DatasetTabs, State
from .encoding import png_bytes
from .jobs import Job
from .photo import as_net, layer_rows, read_upload
from .requests import Request, on
from .traits import Checked

if TYPE_CHECKING:
    import ipywidgets

SHOWN_SELECTION = 48
"""Most images of a lasso selection shown as thumbnails."""


class DatasetExplorer(DatasetTabs):
    """Which images of a dataset excite each unit, which images a layer thinks alike, and how the dataset lies in a
    layer's feature space. Scan with progress and Stop (a stopped scan resumes; a finished one reopens at once from
    the cache), then browse the tabs: top patches, neighbours, embedding.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    images : folder, list of paths or PIL images, torch Dataset or DataLoader, or a Hugging Face dataset
        The images to scan (unreadable files are skipped and counted).
    layers : str or sequence of str, optional
        Layers whose units' top patches are recorded; default: a spread of the network's blocks.
    embed : str or sequence of str, optional
        Layers whose pooled features serve neighbours and embeddings; default: the input of the classifier.
    k : int
        Top patches kept per unit (9, as Zeiler & Fergus show).
    tab : str
        The tab shown first: ``patches``, ``neighbours`` or ``embedding``.
    cache : bool or path
        Keep the scan on disk (default folder, or this one) so reopening it is instant and a stopped scan resumes.
    workers : int, optional
        Processes decoding images while the network runs (default: the engine's choice).
    batch_size : int, optional
        Images per forward pass (default: as many as the engine's memory budget allows).
    start : bool
        Start scanning at once (else press Scan, or call :meth:`run`).
    **settings
        Any of the view's settings (``rule``, ``metric``, ``method``, ``color``, ``count``).
    """

    _view = traitlets.Unicode("datasets").tag(sync=True)

    layer = Checked("", "_valid_layer", help="The layer whose units' top patches are shown.")
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    unit = Checked(0, "_valid_unit", help="The unit (channel) whose top patches are shown.")
    item = Checked(-1, "_valid_item", help="The dataset image in focus (-1: none; -2: the uploaded picture).")
    space = Checked("", "_valid_space", help="The layer whose pooled features the neighbours and embedding use.")
    summary = traitlets.Dict(
        help="The scan: {total, scanned, failed, failures: [first reasons], layers, embed, classes, complete}."
    ).tag(sync=True)

    def __init__(
        self,
        net: Any,
        images: Any,
        layers: Union[str, Sequence[str], None] = None,
        *,
        embed: Union[str, Sequence[str], None] = None,
        k: int = 9,
        tab: str = "patches",
        cache: Union[bool, str] = True,
        workers: Optional[int] = None,
        batch_size: Optional[int] = None,
        start: bool = True,
        **settings: Any,
    ):
        self.check_names(settings)
        net = as_net(net)
        net.num_classes  # noqa: B018 - runs the model once: an output that is not logits raises here, saying why
        source = as_source(images)
        k = check_int("k", k, 1, 100, error=ScanError)
        asked, embedded = layer_names(layers), layer_names(embed)
        plan = make_plan(net, asked, embedded, k, batch_size, SCAN_BUDGET_BYTES)
        disk.cache_root(cache)  # a bad cache setting raises here, not later in the banner
        if workers is not None:
            check_int("workers", workers, 0, error=ScanError)
        rows = [r for r in layer_rows(net.layers()) if r["name"] in plan.layers]
        self._valid_tab(tab)
        values = {o.name: o.check(settings.get(o.name, o.default)) for o in self.SETTINGS}
        super().__init__(net, source)
        self._plan, self._asked = (
            plan,
            asked,
        )  # the scan is asked as given: cw.scan with the same words shares its cache
        self._options: Dict[str, Any] = dict(
            embed=embedded, k=k, cache=cache, workers=workers, batch_size=plan.batch_size
        )
        self.set_trait("layers", rows)
        with self.hold_trait_notifications():
            for name, value in values.items():
                setattr(self, name, value)
            self.layer, self.space, self.tab = rows[0]["name"], plan.embed[0], tab
        self.summary = self._describe(None)
        self.observe(self._on_layer, names="layer")
        self.observe(self._refresh, names=["unit", "item", "space", "tab", *values])
        if start:
            self.run()

    # -- checks of what the page (or a cell) sets (see traits.Checked) --------------------------------------------
    def _valid_layer(self, value: Any) -> str:
        names = [r["name"] for r in self.layers]
        if names and value not in names:
            raise LayerError(f"{value!r} was not scanned for top patches; the scanned layers: {', '.join(names)}")
        return value

    def _valid_unit(self, value: Any) -> int:
        if not self.layers:
            return value
        channels = next(r["shape"][0] for r in self.layers if r["name"] == self.layer)
        try:
            return check_int("unit", value, 0, channels - 1, error=LayerError)
        except LayerError as exc:
            raise LayerError(f"{exc}: {self.layer!r} has channels 0..{channels - 1}") from None

    def _valid_item(self, value: Any) -> int:
        if self._source is None:
            return value
        last = len(self._source) - 1
        low = -2 if self._query is not None else -1
        return check_int("item", value, low, last, error=ScanError)

    def _valid_space(self, value: Any) -> str:
        embed = self._plan.embed if self._plan is not None else ()
        if embed and value not in embed:
            raise LayerError(f"{value!r} has no pooled features in this scan; choose one of: {', '.join(embed)}")
        return value

    # -- the scan -------------------------------------------------------------------------------------------------
    @on("run")
    def _on_run(self, _request: Request) -> None:
        self.run()

    def run(self) -> None:
        """Scan the images (or resume a stopped scan; a finished one reopens from the cache)."""
        self.scanning = True
        self.submit(self._scan_job)

    def _scan_job(self, job: Job) -> None:
        assert self._plan is not None
        updates = scan_steps(self._net, self._source, self._asked, resume=self._scan, **self._options)
        try:
            for update in updates:
                if update.result is not None:
                    self._keep(job, update.result)
                job.progress(update.fraction, self._status(update.result))
        finally:
            updates.close()
        if self.publish(job, scanning=False):
            self._fill(job, self.state())

    def _keep(self, job: Job, scan: Scan) -> None:
        with self._lock:
            if job.current:
                self._scan = scan
        self.publish(job, summary=self._describe(scan))

    def finished(self, job: Job, stopped: bool, error: Optional[BaseException]) -> None:
        """A stopped or failed scan keeps what it has: the tabs show it (their job starts first, so the banner keeps
        why the scan ended)."""
        if self.scanning and job.current:
            self.scanning = False
            self._refresh()
        super().finished(job, stopped, error)

    @staticmethod
    def _status(scan: Optional[Scan]) -> str:
        if scan is None:
            return "reading the dataset"
        failed = f", {len(scan.failed)} skipped" if scan.failed else ""
        return f"scanned {int(scan.scanned.sum())}/{len(scan.names)} images{failed}"

    # -- the tabs -------------------------------------------------------------------------------------------------
    def _on_layer(self, _change: Any) -> None:
        with self.hold_sync():
            self.unit = 0
        self._refresh()

    def _refresh(self, _change: Any = None) -> None:
        """Show what the current layer, unit, image and tab need (nothing while a scan runs: it shows them when it
        stops or ends)."""
        if self.scanning or self._scan is None or self._source is None:
            return
        state = self.state()
        self.submit(lambda job: self._fill(job, state))

    @on("upload")
    def _on_upload(self, request: Request) -> None:
        self.set_query(read_upload(request.text("name") or "the file", request.buffers))

    def set_query(self, image: Any) -> None:
        """Find the neighbours of a picture that is not in the dataset (a path, PIL image, array or bytes).

        Parameters
        ----------
        image : PIL image, array, tensor, path or bytes
            The query; an unreadable one raises and the current query stays.
        """
        self._query = load_image(image)
        self._query_id += 1
        if self.item == -2:
            self._refresh()
        else:
            self.item = -2
        if self.tab == "patches":
            self.tab = "neighbours"

    # -- from the chart ---------------------------------------------------------------------------------------------
    def dashboard(self) -> "ipywidgets.HBox":
        """The view with the embedding's scatter plot beside it where the cell is wide enough, above it where it is
        not: the image under the chart's mouse shows near the top of the view, so it is never a scroll away."""
        from .charts import dashboard

        return dashboard(self, self._chart_set().widget, above=True)

    def hover(self, item: int) -> None:
        """Show dataset image ``item``'s thumbnail as the point under the mouse."""
        scan = self._scan
        if scan is None or not 0 <= item < len(scan.names):
            return
        self.hovered = {"item": item, "name": scan.names[item], "label": self._label(scan, item),
                        "image": png_bytes(self._thumb(item, 2 * THUMB))}  # fmt: skip

    def choose(self, items: Sequence[int]) -> None:
        """Show the images chosen with the chart's lasso (the first :data:`SHOWN_SELECTION`)."""
        shown = [int(i) for i in items][:SHOWN_SELECTION]
        self.selection = {"items": shown, "total": len(items), "images": [png_bytes(self._thumb(i)) for i in shown]}

    def close(self) -> None:
        super().close()
        self._forget()


__all__ = ["TABS", "DatasetExplorer", "State", "DATASET_OPTIONS"]
