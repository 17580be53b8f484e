"""The images nearest to a query in a layer's feature space (or in raw pixels), exactly, by cosine or L2 distance.

Exact search over ~100k feature vectors needs no index: one pass of matrix-vector products over the rows, a chunk
at a time, keeping the k best so far. Memory stays bounded by the chunk (the features may be an ``np.memmap`` far
larger than memory). The products are computed in float64 by ``np.einsum``, whose loop treats every row alike: BLAS's
matrix-vector kernels round a row differently depending on where it falls in their blocks, so equal rows in
different places could differ in the last bit and their order would depend on the chunk size. With equal rows at
equal distances, ties are broken the same way every time: by the smaller index.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import numpy as np

from .checks import check_choice, check_int
from .errors import ScanError

METRICS = ("cosine", "l2")
"""The distances :func:`nearest` knows: ``1 - cosine similarity``, and the Euclidean distance."""
CHUNK_BYTES = 64 * 2**20
"""About how much memory one chunk of rows takes in float64 (so 6,500 rows of 1,280 features)."""


class Neighbours(NamedTuple):
    """The rows nearest to a query, nearest first: their ``indices`` (int64) and ``distances`` (float64)."""

    indices: np.ndarray
    distances: np.ndarray


def _query(features: np.ndarray, query: Union[int, np.ndarray]) -> np.ndarray:
    """The query as a float64 vector of the features' width: row ``query`` or the vector given."""
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
        index = check_int("query", query, 0, len(features) - 1, error=ScanError)
        return np.asarray(features[index], dtype=np.float64)
    vector = np.asarray(query, dtype=np.float64)
    if vector.shape != (features.shape[1],):
        raise ScanError(
            f"query must be a row index in 0..{len(features) - 1} or a vector of {features.shape[1]} features, "
            f"got shape {vector.shape}"
        )
    return vector


def _distances(rows: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    """Distances of float64 ``rows`` to ``query``; a row or query of norm 0 is at cosine distance 1 (no direction)."""
    dots = np.einsum("ij,j->i", rows, query)
    norms = np.einsum("ij,ij->i", rows, rows)
    if metric == "l2":
        return np.sqrt(np.maximum(norms - 2 * dots + query @ query, 0.0))
    scale = np.sqrt(norms) * np.sqrt(query @ query)
    return 1.0 - np.divide(dots, scale, out=np.zeros_like(dots), where=scale > 0)


def nearest(
    features: np.ndarray,
    query: Union[int, np.ndarray],
    k: int = 8,
    metric: str = "cosine",
    exclude: Optional[int] = None,
    *,
    valid: Optional[np.ndarray] = None,
    chunk: Optional[int] = None,
) -> Neighbours:
    """The ``k`` rows of ``features`` nearest to ``query``, exactly (no approximate index).

    Rows that are not finite (NaN or infinity) and rows where ``valid`` is ``False`` (a partial scan's images it did
    not reach: ``valid=scan.scanned``) are never returned; neither is ``exclude``, which by default is the query's
    own row when ``query`` is an index (pass ``features[i]`` as a vector to keep it). Equal distances are ordered by
    index.

    Parameters
    ----------
    features : np.ndarray
        ``(N, D)`` feature vectors (an ``np.memmap`` is read a chunk at a time).
    query : int or np.ndarray
        A row index, or a ``(D,)`` vector (an image outside the set).
    k : int
        How many neighbours; fewer come back when fewer rows qualify.
    metric : str
        ``"cosine"`` (``1 - cosine similarity``, in 0..2) or ``"l2"`` (Euclidean distance).
    exclude : int, optional
        A row never returned; by default the query's row when it is an index.
    valid : np.ndarray, optional
        ``(N,)`` bools: only these rows are candidates (e.g. the scan's ``scanned``).
    chunk : int, optional
        Rows per matrix product; by default about :data:`CHUNK_BYTES` of float64.

    Returns
    -------
    Neighbours
        ``indices`` and ``distances``, nearest first.
    """
    features = features if isinstance(features, np.ndarray) else np.asarray(features)
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
        raise ScanError(f"features must be a 2-D numeric array (N, D), got {features.dtype} of shape {features.shape}")
    n, width = features.shape
    metric = check_choice("metric", metric, METRICS, error=ScanError)
    k = check_int("k", k, 1, error=ScanError)
    vector = _query(features, query)
    if not np.isfinite(vector).all():
        raise ScanError("the query has NaN or infinite features")
    if exclude is None and isinstance(query, (int, np.integer)):
        exclude = int(query)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (n,):
            raise ScanError(f"valid must be ({n},) bools, one per row, got shape {valid.shape}")
    step = chunk if chunk is not None else max(1, CHUNK_BYTES // (8 * max(1, width)))
    step = check_int("chunk", step, 1, error=ScanError)
    best_index = np.empty(0, dtype=np.int64)
    best_distance = np.empty(0, dtype=np.float64)
    for start in range(0, n, step):
        rows = np.asarray(features[start : start + step], dtype=np.float64)
        keep = np.asarray(np.isfinite(rows).all(axis=1))
        if valid is not None:
            keep &= valid[start : start + step]
        if exclude is not None and start <= exclude < start + len(rows):
            keep[exclude - start] = False
        index = np.flatnonzero(keep) + start
        distance = _distances(rows[keep], vector, metric)
        best_index = np.concatenate([best_index, index])
        best_distance = np.concatenate([best_distance, distance])
        order = np.lexsort((best_index, best_distance))[:k]  # by distance, then index
        best_index, best_distance = best_index[order], best_distance[order]
    return Neighbours(best_index, best_distance)
