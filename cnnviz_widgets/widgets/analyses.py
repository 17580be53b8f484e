"""Is a saliency map faithful? The SaliencyExplorer's two checks of its current map: the sanity check (the map
recomputed while the model is randomised from the top layer down; Adebayo et al. 2018) and the deletion and insertion
curves (the class probability as pixels go or come in the map's order; Petsiuk et al. 2018).

Each runs in the background after the job computing the map, lands in its trait (``sanity``, ``curves``) only while
it still describes the current map, and is drawn by the view and by plotly charts beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

import traitlets

from ..engine.attribution import METHODS, deletion_insertion_steps, sanity_check_steps
from ..engine.errors import ViewError
from .encoding import encode_array
from .jobs import Job
from .maps import Key, Maps, Settings
from .photo import PhotoView
from .requests import Request, on

if TYPE_CHECKING:
    import ipywidgets

SANITY_STEPS = 6
CURVE_STEPS = 20
CHECKS = {"sanity": "run_sanity_check", "faithfulness": "run_deletion_insertion"}
"""The checks the view's buttons run, by the ``what`` of their request."""


class MapChecks(PhotoView):
    """A photo view whose current map can be checked: the subclass keeps its maps in ``_maps``, says what its current
    map takes (:meth:`_freeze`, :meth:`_current`) and shows a map that has landed (:meth:`_publish`)."""

    CHARTS = "AnalysisCharts"

    sanity = traitlets.Dict(
        help="Sanity check of the current map: {method, layer, names, correlation, maps: (S+1, H, W) array}."
    ).tag(sync=True)
    curves = traitlets.Dict(
        help="Deletion/insertion of the current map: "
        "{method, fractions, deletion, insertion, deletion_auc, insertion_auc}."
    ).tag(sync=True)

    _maps: Maps

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._checked: Dict[str, Key] = {}  # the map each check's result describes

    def _freeze(self) -> Settings:
        """What computing the current map takes; raises naming the valid choices."""
        raise NotImplementedError

    def _current(self) -> Key:
        """The key of the current map (it need not be computed)."""
        raise NotImplementedError

    def _publish(self) -> None:
        """Derive the view's traits from ``_maps`` (and :meth:`_forget_stale` checks)."""
        raise NotImplementedError

    def run_sanity_check(self, steps: int = SANITY_STEPS) -> None:
        """Recompute the current map while the model's layers are randomised top-down (Adebayo et al. 2018).

        The result lands in ``sanity`` (and :attr:`charts`); a faithful map decorrelates from the original.
        The work runs in the background after any running job; :meth:`wait` blocks until it is done.

        Parameters
        ----------
        steps : int
            Groups of layers randomised one after the other (on a copy of the model).
        """
        s, net, forward_args = self._freeze(), self._net, self._maps.forward_args
        title = METHODS[s.method].title

        def work(job: Job) -> None:
            job.progress(0.0, f"sanity check of {title}: randomising the model in {steps} steps…")
            updates = sanity_check_steps(net, s.x, s.target, s.method, s.layer, options=s.options,
                                         forward_args=forward_args, steps=steps)  # fmt: skip
            result = job.follow(updates)
            correlation = [float(c) for c in result.correlation]
            self._store("sanity", s.key, {"method": s.method, "layer": s.layer, "names": list(result.names),
                                          "correlation": correlation, "maps": encode_array(result.maps)})  # fmt: skip
            line = f"rank correlation {correlation[-1]:.2f} with every layer randomised"
            job.progress(1.0, f"sanity check of {title}: {line}")

        self.submit(work, queue=True)

    def run_deletion_insertion(self, steps: int = CURVE_STEPS) -> None:
        """Deletion and insertion curves of the current map (Petsiuk et al. 2018), into ``curves``.

        Runs in the background after any running job (which is usually computing that very map).

        Parameters
        ----------
        steps : int
            Pixel fractions between 0 and 1 at which the class probability is measured.
        """
        s, net, maps = self._freeze(), self._net, self._maps
        title = METHODS[s.method].title

        def work(job: Job) -> None:
            computed = maps.get(s.key)
            if computed is None:
                computed = maps.compute(job, net, s, 0.0, 0.5)
                self._publish()
            job.progress(0.5, f"deleting and inserting pixels in {title} order…")
            updates = deletion_insertion_steps(net, s.x, computed.map, s.target, steps, forward_args=maps.forward_args)
            r = job.follow(updates, 0.5, 1.0)
            value = {"method": s.method, "fractions": r.fractions.tolist(), "deletion": r.deletion.tolist(),
                     "insertion": r.insertion.tolist(), "deletion_auc": r.deletion_auc,
                     "insertion_auc": r.insertion_auc}  # fmt: skip
            self._store("curves", s.key, value)
            job.progress(1.0, f"{title}: deletion AUC {r.deletion_auc:.3f}, insertion AUC {r.insertion_auc:.3f}")

        self.submit(work, queue=True)

    @property
    def charts(self) -> "ipywidgets.VBox":
        """Plotly charts of ``sanity`` (rank correlation per step) and ``curves``, kept up to date."""
        return self._chart_set().widget

    @on("run")
    def _on_run(self, request: Request) -> None:
        """The check buttons: ``what`` is ``"sanity"`` or ``"faithfulness"``."""
        what = request.text("what")
        if what not in CHECKS:
            raise ViewError(f"unknown analysis {what!r}; choose one of: {', '.join(CHECKS)}")
        getattr(self, CHECKS[what])()

    def _store(self, name: str, key: Key, value: Dict[str, Any]) -> None:
        """Keep a check's result, and show it if it still describes the current map."""
        self._checked[name] = key
        if key == self._current():
            setattr(self, name, value)

    def _forget_stale(self, current: Key) -> None:
        """Clear the checks that describe another map than ``current``."""
        for name in ("sanity", "curves"):
            if self._checked.get(name) != current:
                setattr(self, name, {})
