"""Exact nearest neighbours (engine.neighbours) against brute force: every distance of the query by numpy, then a
stable sort; across chunk boundaries, with ties, skipped rows and a memory-mapped file."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz_widgets.engine.errors import ScanError
from cnnviz_widgets.engine.neighbours import nearest


def brute_force(features, query, k, metric, skip=()):
    """Every row's distance to ``query`` written the textbook way, sorted by (distance, index)."""
    rows = np.asarray(features, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if metric == "l2":
        distances = np.sqrt(((rows - q) ** 2).sum(axis=1))
    else:
        distances = np.array([1 - (r @ q) / (np.linalg.norm(r) * np.linalg.norm(q)) for r in rows])
    candidates = [i for i in range(len(rows)) if i not in skip and np.isfinite(rows[i]).all()]
    order = sorted(candidates, key=lambda i: (distances[i], i))[:k]
    return np.array(order), distances[order]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("chunk", [None, 1, 7, 50, 999])
def test_equal_to_brute_force_for_every_chunk_size(metric, chunk):
    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, 24)).astype(np.float32)
    for query in (0, 123, 299):
        found = nearest(features, query, k=10, metric=metric, chunk=chunk)
        indices, distances = brute_force(features, features[query], 10, metric, skip={query})
        assert np.array_equal(found.indices, indices)
        np.testing.assert_allclose(found.distances, distances, rtol=1e-9, atol=1e-9)
    vector = rng.standard_normal(24)  # an image outside the set: nothing is excluded
    found = nearest(features, vector, k=300, metric=metric, chunk=chunk)
    indices, distances = brute_force(features, vector, 300, metric)
    assert np.array_equal(found.indices, indices) and found.indices.dtype == np.int64
    np.testing.assert_allclose(found.distances, distances, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_ties_come_in_index_order_wherever_the_chunks_split(metric):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((4, 16)).astype(np.float32)
    features = base[rng.integers(0, 4, size=97)]  # every row repeated, scattered over the chunks
    for chunk in (None, 3, 10, 96):
        found = nearest(features, 5, k=97, metric=metric, chunk=chunk)
        twins = [i for i in range(97) if i != 5 and np.array_equal(features[i], features[5])]
        assert list(found.indices[: len(twins)]) == twins
        assert np.all(found.distances[: len(twins)] == found.distances[0])
        distances = found.distances.tolist()
        pairs = list(zip(distances, found.indices.tolist()))
        assert pairs == sorted(pairs)  # by distance, then by index


def test_unscanned_rows_invalid_rows_and_the_excluded_row_are_never_returned():
    rng = np.random.default_rng(2)
    features = rng.standard_normal((60, 8)).astype(np.float32)
    features[[3, 30, 31]] = np.nan  # images a partial scan did not reach
    features[40, 2] = np.inf
    valid = np.ones(60, dtype=bool)
    valid[[10, 11]] = False
    found = nearest(features, 7, k=60, metric="l2", valid=valid, chunk=16)
    skip = {3, 30, 31, 40, 10, 11, 7}
    assert set(found.indices) == set(range(60)) - skip
    indices, _ = brute_force(features, features[7], 60, "l2", skip=skip)
    assert np.array_equal(found.indices, indices)
    assert 21 not in nearest(features, 7, k=60, exclude=21).indices  # another row excluded: the query comes back
    assert nearest(features, 7, k=60, exclude=21).indices[0] == 7
    assert nearest(features, features[7], k=1).indices[0] == 7  # a vector query keeps its own row
    with pytest.raises(ScanError, match="the query has NaN or infinite features"):
        nearest(features, 30)


def test_a_memory_mapped_file_gives_the_same_neighbours(tmp_path):
    rng = np.random.default_rng(3)
    features = rng.standard_normal((500, 32)).astype(np.float32)
    mapped = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float32, shape=features.shape)
    mapped[:] = features
    mapped.flush()
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    for metric in ("cosine", "l2"):
        ours, ref = nearest(mapped, 42, k=8, metric=metric, chunk=64), nearest(features, 42, k=8, metric=metric)
        assert np.array_equal(ours.indices, ref.indices) and np.array_equal(ours.distances, ref.distances)


def test_zero_vectors_are_at_cosine_distance_one_and_bad_arguments_name_the_valid_values():
    features = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    found = nearest(features, 0, k=3)
    assert found.indices.tolist() == [2, 1, 3] and found.distances.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ScanError, match=r"metric must be one of: cosine, l2; got 'dot'"):
        nearest(features, 0, metric="dot")
    with pytest.raises(ScanError, match=r"k must be a number >= 1, got 0"):
        nearest(features, 0, k=0)
    with pytest.raises(ScanError, match=r"query must be a number in 0\.\.3, got 4"):
        nearest(features, 4)
    with pytest.raises(
        ScanError, match=r"query must be a row index in 0\.\.3 or a vector of 2 features, got shape \(3,\)"
    ):
        nearest(features, np.zeros(3))
    with pytest.raises(ScanError, match=r"valid must be \(4,\) bools"):
        nearest(features, 0, valid=np.ones(3, dtype=bool))
    with pytest.raises(ScanError, match=r"features must be a 2-D numeric array"):
        nearest(features[0], 0)
