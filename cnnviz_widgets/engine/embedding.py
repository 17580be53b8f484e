"""Feature vectors laid out in 2-D (PCA, t-SNE, UMAP), and a 2-D layout snapped to a grid of images.

PCA is built in: two passes over the rows a chunk at a time (the mean, then the covariance), so a memory-mapped
feature file is never read whole. t-SNE and UMAP come from openTSNE and umap-learn (the ``[embed]`` extra), which
are careful implementations of fiddly algorithms; this module only calls them with a seed.

The grid view (the cs231n / Karpathy t-SNE grid) gives each point its own cell of a rows x cols grid so that the
sum of squared distances between the points and their cells is least, solved exactly as an assignment problem
(:func:`scipy.optimize.linear_sum_assignment`). Its cost matrix has N x cells entries and the solver's time grows
like N³, so :func:`grid_layout` refuses more than :data:`GRID_LIMIT` points rather than run for minutes: lay out
a sample of them (a 50 x 50 grid of thumbnails already fills a screen).
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .checks import check_choice, check_int
from .errors import ScanError

METHODS = ("pca", "tsne", "umap")
"""The 2-D embeddings :func:`embed` makes."""
EXTRA = 'pip install "cnnviz_widgets[embed]"'
"""How to install openTSNE and umap-learn."""
GRID_LIMIT = 2500
"""The most points :func:`grid_layout` places (an exact assignment of 2,500 points takes a few seconds)."""
CHUNK_ROWS = 8192
"""Rows of features read at a time by :func:`pca`."""


def _features(features: Any) -> np.ndarray:
    """``features`` as a 2-D numeric array (a memmap stays one)."""
    features = features if isinstance(features, np.ndarray) else np.asarray(features)
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
        raise ScanError(f"features must be a 2-D numeric array (N, D), got {features.dtype} of shape {features.shape}")
    return features


def _finite_rows(features: np.ndarray) -> np.ndarray:
    """Indices of the rows without NaN or infinity."""
    keep = [np.isfinite(features[s : s + CHUNK_ROWS]).all(axis=1) for s in range(0, len(features), CHUNK_ROWS)]
    return np.flatnonzero(np.concatenate(keep)) if keep else np.empty(0, dtype=np.int64)


def pca(features: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """The first two principal components of ``features`` (of its ``rows``, all by default), ``(n, 2)`` float64.

    The covariance ``D x D`` is summed over chunks of centred rows in float64 and its top two eigenvectors are the
    axes; each axis is signed so that its largest loading is positive, so the picture does not flip between runs.
    Fewer than two dimensions (or a set without spread) give zeros for the missing axis.
    """
    rows = np.arange(len(features)) if rows is None else rows
    if len(rows) == 0:
        return np.zeros((0, 2))
    chunks = [rows[s : s + CHUNK_ROWS] for s in range(0, len(rows), CHUNK_ROWS)]
    mean = sum(np.asarray(features[c], dtype=np.float64).sum(axis=0) for c in chunks) / len(rows)
    cov = np.zeros((features.shape[1],) * 2)
    for c in chunks:
        centred = np.asarray(features[c], dtype=np.float64) - mean
        cov += centred.T @ centred
    values, vectors = np.linalg.eigh(cov)  # ascending
    axes = vectors[:, ::-1][:, :2] * (values[::-1][:2] > 0)
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])] < 0, -1.0, 1.0)
    axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    return np.concatenate([(np.asarray(features[c], dtype=np.float64) - mean) @ axes for c in chunks])


def _package(module: str, method: str) -> Any:
    """The optional package ``module``, or an error saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ScanError(f"{method} needs the {module} package, which is not installed: {EXTRA}") from exc


def embed(features: np.ndarray, method: str = "pca", *, seed: int = 0, **options: Any) -> np.ndarray:
    """``features`` laid out in 2-D, one point per row.

    Parameters
    ----------
    features : np.ndarray
        ``(N, D)`` feature vectors (an ``np.memmap`` too). Rows with NaN are left out and come back as NaN
        points (a partial scan's rows of images it did not reach are zeros: pass ``features[scan.scanned]``).
    method : str
        ``"pca"`` (built in), ``"tsne"`` (openTSNE) or ``"umap"`` (umap-learn); the last two need the
        ``[embed]`` extra.
    seed : int
        The random state of t-SNE and UMAP: the same seed gives the same layout.
    **options
        Passed on to ``openTSNE.TSNE`` (e.g. ``perplexity``, ``n_jobs``; default ``n_jobs=1``) or ``umap.UMAP``
        (e.g. ``n_neighbors``, ``min_dist``); PCA takes none.

    Returns
    -------
    np.ndarray
        ``(N, 2)`` float32.
    """
    features = _features(features)
    method = check_choice("method", method, METHODS, error=ScanError)
    seed = check_int("seed", seed, 0, 2**32 - 1, error=ScanError)
    if method == "pca" and options:
        raise ScanError(f"PCA takes no options, got {', '.join(options)}")
    rows = _finite_rows(features)
    out = np.full((len(features), 2), np.nan, dtype=np.float32)
    if method == "pca":
        out[rows] = pca(features, rows)
        return out
    data = np.asarray(features[rows], dtype=np.float32)
    if len(rows) < 4:
        raise ScanError(f"{method} needs at least 4 scanned feature vectors, got {len(rows)}; use method='pca'")
    if method == "tsne":
        tsne = _package("openTSNE", "t-SNE")
        settings = {"n_jobs": 1, **options, "n_components": 2, "random_state": seed}
        out[rows] = np.asarray(tsne.TSNE(**settings).fit(data))
    else:
        umap = _package("umap", "UMAP")
        settings = {"n_jobs": 1, **options, "n_components": 2, "random_state": seed}
        out[rows] = umap.UMAP(**settings).fit_transform(data)
    return out


def grid_shape(n: int) -> Tuple[int, int]:
    """The smallest near-square grid ``(rows, cols)`` holding ``n`` cells: ``cols = ceil(sqrt(n))``."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def grid_layout(points: np.ndarray, shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Each 2-D point snapped to its own cell of a grid, keeping the layout's neighbourhoods (the t-SNE grid).

    The points are scaled to the unit square (each axis on its own) and so are the cell positions (row 0 at the
    top, holding the largest second coordinate, so the grid reads like the scatter plot with y up); the cells are
    then assigned to minimise the sum of squared distances, exactly (:func:`scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    points : np.ndarray
        ``(N, 2)`` finite points, at most :data:`GRID_LIMIT` (lay out a sample of a larger set).
    shape : tuple of int, optional
        ``(rows, cols)`` with at least N cells; by default :func:`grid_shape`.

    Returns
    -------
    np.ndarray
        ``(N, 2)`` int64 ``(row, col)`` of each point, all different.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ScanError(f"points must be an (N, 2) array, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ScanError("points must be finite; leave out the NaN points")
    n = len(points)
    if n > GRID_LIMIT:
        raise ScanError(
            f"grid_layout places at most {GRID_LIMIT} points exactly (the assignment's time grows like N³), got "
            f"{n}; lay out a sample, e.g. points[np.random.default_rng(0).choice({n}, {GRID_LIMIT}, replace=False)]"
        )
    if shape is None:
        rows, cols = grid_shape(n)
    else:
        if not isinstance(shape, (tuple, list)) or len(shape) != 2:
            raise ScanError(f"shape must be a pair (rows, cols), got {shape!r}")
        rows = check_int("rows", shape[0], 1, error=ScanError)
        cols = check_int("cols", shape[1], 1, error=ScanError)
        if rows * cols < n:
            raise ScanError(f"a {rows} x {cols} grid has {rows * cols} cells, fewer than the {n} points")
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    unit = np.where(span > 0, (points - low) / np.where(span > 0, span, 1), 0.5)
    r, c = np.divmod(np.arange(rows * cols), cols)

    def spread(i: np.ndarray, count: int) -> np.ndarray:
        return i / (count - 1) if count > 1 else np.full(len(i), 0.5)

    cost = np.subtract.outer(unit[:, 0], spread(c, cols)) ** 2
    cost += np.subtract.outer(unit[:, 1], 1 - spread(r, rows)) ** 2
    _, chosen = linear_sum_assignment(cost)
    return np.stack([r[chosen], c[chosen]], axis=1).astype(np.int64)
