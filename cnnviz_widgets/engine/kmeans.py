"""k-means clustering of feature vectors, small and seeded: what multifaceted class visualisation groups a class's
images by (Nguyen et al. 2016 cluster them in the penultimate layer and start one visualisation per cluster).

k-means++ seeding (Arthur and Vassilvitskii 2007: each new centre drawn with probability proportional to the squared
distance to the nearest centre so far), then Lloyd's iterations until no point changes cluster. A few hundred
vectors of a thousand dimensions take milliseconds, so there is no library behind it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_int
from .errors import SettingError


class Clusters(NamedTuple):
    """The ``centres`` ``(k, D)`` and, per vector, the index of its cluster (``labels`` ``(N,)``)."""

    centres: np.ndarray
    labels: np.ndarray


def kmeans(points: np.ndarray, k: int, *, seed: int = 0, iterations: int = 100) -> Clusters:
    """Cluster ``points`` ``(N, D)`` into ``k`` groups; every cluster keeps at least one point.

    Parameters
    ----------
    points : ndarray
        The vectors, one per row (at least ``k`` of them).
    k : int
        Number of clusters, 1..N.
    seed : int
        Seeds the k-means++ draws: the same points and seed give the same clusters.
    iterations : int
        Most Lloyd iterations (they stop earlier once no point moves).
    """
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise SettingError(f"k-means needs a non-empty (N, D) array of points, got shape {x.shape}")
    k = check_int("k", k, 1, len(x))
    iterations = check_int("iterations", iterations, 1)
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    nearest = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.choice(len(x), p=nearest / total) if total > 0 else rng.integers(len(x))
        centres.append(x[pick])
        nearest = np.minimum(nearest, ((x - x[pick]) ** 2).sum(1))
    c = np.stack(centres)
    labels = np.full(len(x), -1)
    for _ in range(iterations):
        distances = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        new = distances.argmin(1)
        counts = np.bincount(new, minlength=k)
        for j in np.flatnonzero(counts == 0):  # an emptied cluster takes the point farthest from its centre
            own = distances[np.arange(len(x)), new]
            own[counts[new] <= 1] = -1.0  # ... among clusters that keep a point
            far = int(own.argmax())
            counts[new[far]] -= 1
            new[far], counts[j] = j, 1
        if (new == labels).all():
            break
        labels = new
        c = np.stack([x[labels == j].mean(0) for j in range(k)])
    return Clusters(c, labels)
