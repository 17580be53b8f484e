"""Scans on disk: reopened instantly, invalidated by a changed weight or file, resumed where they stopped.

A scan's folder is named by a hash of everything its results depend on: the model's weights (every tensor of
its ``state_dict``, bytes included), the source's fingerprint (its file list with sizes and modification times, or
its pixels), the requested layers, ``k`` and the preprocessing (input size and normalisation). A changed weight or
file gives another name, so a stale scan is never read; a source without a fingerprint (a torch ``Dataset``) is
not cached. The folder holds the feature tables (``<i>.npy``, see :mod:`.features`) and ``state.npz``: everything
else, written atomically after the tables, so a scan stopped at any moment (or a crashed process) leaves a
consistent partial state that the next call with the same arguments resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import ScanError
from ..model import Net
from .topk import TopK

if TYPE_CHECKING:
    from .scan import Scan

FORMAT = 1
"""Version of the folder's layout (part of the key: a new layout never reads an old one)."""
DEFAULT_FOLDER = "~/.cache/cnnviz_widgets/scans"
"""Where scans are cached unless the environment variable ``CNNVIZ_CACHE`` names another folder."""
_TOP = ("values", "index", "y", "x")
CacheSetting = Union[bool, None, str, "os.PathLike[str]"]


def cache_root(cache: CacheSetting) -> Optional[Path]:
    """The folder of cached scans that ``cache`` names: ``True`` the default (``CNNVIZ_CACHE`` or
    ``~/.cache/cnnviz_widgets/scans``), a path that folder, ``False`` or ``None`` none."""
    if cache is True:
        return Path(os.environ.get("CNNVIZ_CACHE") or DEFAULT_FOLDER).expanduser()
    if cache is False or cache is None:
        return None
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache).expanduser()
    raise ScanError(f"cache must be True (the default folder), False (no cache) or a folder; got {cache!r}")


def weights_digest(model: nn.Module) -> str:
    """A hash of the class and every tensor of ``model``'s ``state_dict``: names, types, shapes and bytes."""
    digest = hashlib.blake2b(type(model).__qualname__.encode(), digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(f"\n{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy())
    return digest.hexdigest()


def scan_folder(
    root: Path, net: Net, fingerprint: str, layers: Optional[Sequence[str]], embed: Optional[Sequence[str]], k: int
) -> Path:
    """The folder of the scan with these arguments under ``root`` (see the module's docstring)."""
    parts = [str(FORMAT), weights_digest(net.model), fingerprint, repr((layers, embed, k)), repr(net.preprocess)]
    return root / hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()


def save(folder: Path, scan: "Scan") -> None:
    """Write everything of ``scan`` but its feature tables (saved before by their store) into ``folder``."""
    meta = {
        "layers": scan.layers,
        "embed": scan.embed,
        "k": scan.k,
        "input_shape": scan.input_shape,
        "names": scan.names,
        "classes": scan.classes,
        "failed": {str(i): why for i, why in scan.failed.items()},
        "dims": [[name, int(table.shape[1])] for name, table in scan.features.items()],
    }
    arrays: Dict[str, Any] = {
        "labels": scan.labels,
        "predicted": scan.predicted,
        "confidence": scan.confidence,
        "scanned": scan.scanned,
    }
    for i, name in enumerate(scan.layers):
        arrays.update({f"top{i}_{field}": getattr(scan.top[name], field).numpy() for field in _TOP})
    spare = folder / f"state.{os.getpid()}.{threading.get_ident()}.tmp.npz"  # two writers never share a spare
    np.savez(spare, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(spare, folder / "state.npz")


def load(folder: Path) -> Optional[Tuple[Dict[str, Any], Dict[str, int]]]:
    """The fields of the scan saved in ``folder`` (all but ``features`` and ``source``) and its tables' widths;
    ``None`` when there is none, or it cannot be read."""
    try:
        with np.load(folder / "state.npz", allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            layers = tuple(meta["layers"])
            top = {
                name: TopK(*(torch.from_numpy(saved[f"top{i}_{field}"]) for field in _TOP))
                for i, name in enumerate(layers)
            }
            fields = {name: saved[name] for name in ("labels", "predicted", "confidence", "scanned")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # none, or damaged: scan again
        return None
    fields.update(
        layers=layers,
        embed=tuple(meta["embed"]),
        k=meta["k"],
        input_shape=tuple(meta["input_shape"]),
        names=meta["names"],
        classes=None if meta["classes"] is None else tuple(meta["classes"]),
        failed={int(i): why for i, why in meta["failed"].items()},
        top=top,
    )
    dims = dict(meta["dims"])
    if not all((folder / f"{i}.npy").exists() for i in range(len(dims))):  # a table lost: the state is no use
        return None
    return fields, dims
