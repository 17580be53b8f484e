"""2-D embeddings (engine.embedding): PCA against numpy's SVD and the property that no other 2-D projection keeps
more variance; t-SNE and UMAP shapes and determinism with a seed; the message for a missing package; the grid
layout against brute force over every assignment, and points already on a grid staying where they are."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from cnnviz_widgets.engine.embedding import GRID_LIMIT, embed, grid_layout, grid_shape
from cnnviz_widgets.engine.errors import ScanError


def blobs(n: int = 200, dims: int = 12, seed: int = 0) -> np.ndarray:
    """Anisotropic Gaussian data (distinct variances, so the principal axes are unique) with an offset."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(3.0, 0.2, dims)
    rotation, _ = np.linalg.qr(rng.standard_normal((dims, dims)))
    return ((rng.standard_normal((n, dims)) * scales) @ rotation + 5.0).astype(np.float32)


def test_pca_is_the_svd_projection_up_to_sign_and_keeps_the_most_variance():
    x = blobs()
    ours = embed(x)
    assert ours.shape == (200, 2) and ours.dtype == np.float32
    centred = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    ref = centred @ vt[:2].T
    for j in range(2):
        sign = np.sign(ours[:, j] @ ref[:, j])
        np.testing.assert_allclose(ours[:, j], sign * ref[:, j], rtol=1e-4, atol=1e-4)
    kept = ours.astype(np.float64).var(axis=0).sum()
    assert kept == pytest.approx((s[:2] ** 2).sum() / len(x), rel=1e-5)
    rng = np.random.default_rng(1)
    for _ in range(100):  # any other orthonormal pair of axes keeps less
        axes, _ = np.linalg.qr(rng.standard_normal((x.shape[1], 2)))
        assert (centred @ axes).var(axis=0).sum() <= kept * (1 + 1e-9)


def test_pca_signs_do_not_depend_on_the_row_order_and_nan_rows_stay_nan():
    x = blobs(seed=2)
    perm = np.random.default_rng(3).permutation(len(x))
    np.testing.assert_allclose(embed(x[perm]), embed(x)[perm], rtol=1e-4, atol=1e-4)
    holed = x.copy()
    holed[[0, 50]] = np.nan  # images a partial scan did not reach
    ours = embed(holed)
    assert np.isnan(ours[[0, 50]]).all()
    rest = np.setdiff1d(np.arange(len(x)), [0, 50])
    np.testing.assert_allclose(ours[rest], embed(x[rest]), rtol=1e-5, atol=1e-5)
    assert np.array_equal(embed(np.ones((5, 1))), np.zeros((5, 2), dtype=np.float32))  # no spread: all at 0


def test_tsne_is_the_same_for_the_same_seed():
    x = blobs(150)
    first, second = embed(x, "tsne", seed=7), embed(x, "tsne", seed=7)
    assert first.shape == (150, 2) and first.dtype == np.float32 and np.isfinite(first).all()
    assert np.array_equal(first, second)
    assert not np.array_equal(first, embed(x, "tsne", seed=8, perplexity=10))


@pytest.mark.slow  # umap-learn compiles its numba code on first use (about 10 s)
def test_umap_is_the_same_for_the_same_seed():
    x = blobs(150)
    first, second = embed(x, "umap", seed=3), embed(x, "umap", seed=3, n_neighbors=15)
    assert first.shape == (150, 2) and first.dtype == np.float32 and np.isfinite(first).all()
    assert np.array_equal(first, second)


@pytest.mark.parametrize("method, module", [("tsne", "openTSNE"), ("umap", "umap")])
def test_a_missing_package_names_the_extra_to_install(monkeypatch, method, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    with pytest.raises(
        ScanError, match=rf'needs the {module} package, which is not installed: pip install "cnnviz_widgets\[embed\]"'
    ):
        embed(blobs(20), method)


def test_bad_arguments_name_the_valid_values():
    with pytest.raises(ScanError, match=r"method must be one of: pca, tsne, umap; got 'mds'"):
        embed(blobs(20), "mds")
    with pytest.raises(ScanError, match=r"PCA takes no options, got perplexity"):
        embed(blobs(20), perplexity=5)
    with pytest.raises(ScanError, match=r"features must be a 2-D numeric array"):
        embed(np.zeros(5))
    with pytest.raises(ScanError, match=r"tsne needs at least 4 scanned feature vectors, got 3"):
        embed(blobs(3), "tsne")


def cost_by_hand(points: np.ndarray, cells, rows: int, cols: int) -> float:
    """The documented objective: points scaled to the unit square per axis, cell (r, c) at
    (c / (cols - 1), 1 - r / (rows - 1)), summed squared distances."""
    low, high = points.min(axis=0), points.max(axis=0)
    unit = (points - low) / (high - low)
    total = 0.0
    for (px, py), (r, c) in zip(unit, cells):
        total += (px - c / (cols - 1)) ** 2 + (py - (1 - r / (rows - 1))) ** 2
    return total


@pytest.mark.parametrize("n, shape", [(6, (2, 3)), (5, (2, 3)), (6, (3, 3))])
def test_the_grid_is_the_best_assignment_of_all(n, shape):
    rng = np.random.default_rng(n + shape[0])
    points = rng.standard_normal((n, 2))
    rows, cols = shape
    ours = grid_layout(points, shape)
    assert ours.shape == (n, 2) and ours.dtype == np.int64
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    best = min(cost_by_hand(points, chosen, rows, cols) for chosen in itertools.permutations(cells, n))
    assert cost_by_hand(points, ours.tolist(), rows, cols) == pytest.approx(best, abs=1e-12)


def test_the_grid_is_a_bijection_onto_distinct_cells():
    points = np.random.default_rng(0).standard_normal((103, 2))
    ours = grid_layout(points)
    assert grid_shape(103) == (10, 11)
    assert len({tuple(cell) for cell in ours}) == 103
    assert ours[:, 0].min() >= 0 and ours[:, 0].max() < 10 and ours[:, 1].min() >= 0 and ours[:, 1].max() < 11


def test_points_already_on_a_grid_stay_in_their_cells_whatever_their_scale():
    rows, cols = grid_shape(30)  # 5 x 6: the default grid of 30 points, full
    cells = np.array([(r, c) for r in range(rows) for c in range(cols)])
    perm = np.random.default_rng(5).permutation(len(cells))
    points = np.stack([cells[:, 1] * 3.5 - 7, (rows - 1 - cells[:, 0]) * 0.2 + 1], axis=1)[perm]  # y up: row 0 on top
    assert (rows, cols) == (5, 6)
    assert np.array_equal(grid_layout(points), cells[perm])
    # the axes swapped: x is the old row counted from the bottom, y the old column, on a 6 x 5 grid
    r, c = cells[perm, 0], cells[perm, 1]
    assert np.array_equal(grid_layout(points[:, ::-1], (cols, rows)), np.stack([cols - 1 - c, rows - 1 - r], axis=1))


def test_grid_shapes_and_limits():
    for n in range(1, 200):
        rows, cols = grid_shape(n)
        assert rows * cols >= n and (rows - 1) * cols < n and abs(rows - cols) <= 1
    assert grid_layout(np.zeros((1, 2))).tolist() == [[0, 0]]
    assert grid_layout(np.zeros((0, 2))).shape == (0, 2)
    with pytest.raises(ScanError, match=r"a 2 x 2 grid has 4 cells, fewer than the 5 points"):
        grid_layout(np.zeros((5, 2)), (2, 2))
    with pytest.raises(ScanError, match=rf"grid_layout places at most {GRID_LIMIT} points exactly .* lay out a sample"):
        grid_layout(np.zeros((GRID_LIMIT + 1, 2)))
    with pytest.raises(ScanError, match=r"points must be finite"):
        grid_layout(np.array([[0.0, np.nan]]))
