"""Is a saliency map faithful? The SaliencyExplorer's two checks as trait values and status lines: the sanity check
(the map recomputed while the model is randomised from the top layer down; Adebayo et al. 2018) and the deletion and
insertion curves (the class probability as pixels go or come in the map's order; Petsiuk et al. 2018)."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..engine.attribution.faithfulness import Curves
from ..engine.attribution.sanity import SanityCheck
from .encoding import encode_array


def sanity_value(method: str, layer: Optional[str], result: SanityCheck) -> Dict[str, Any]:
    """The ``sanity`` trait: the layers randomised step by step, each step's rank correlation and maps."""
    correlation = [float(c) for c in result.correlation]
    names = list(result.names)
    return {"method": method, "layer": layer, "names": names, "correlation": correlation,
            "maps": encode_array(result.maps)}  # fmt: skip


def sanity_line(title: str, result: SanityCheck) -> str:
    """The status line after a sanity check."""
    return f"sanity check of {title}: rank correlation {float(result.correlation[-1]):.2f} with every layer randomised"


def curves_value(method: str, result: Curves) -> Dict[str, Any]:
    """The ``curves`` trait: the probability at each pixel fraction, deleting and inserting, and both AUCs."""
    return {
        "method": method, "fractions": result.fractions.tolist(), "deletion": result.deletion.tolist(),
        "insertion": result.insertion.tolist(), "deletion_auc": result.deletion_auc,
        "insertion_auc": result.insertion_auc,
    }  # fmt: skip


def curves_line(title: str, result: Curves) -> str:
    """The status line after deletion and insertion."""
    return f"{title}: deletion AUC {result.deletion_auc:.3f}, insertion AUC {result.insertion_auc:.3f}"
