"""Pooled feature vectors of every scanned item, one ``(N, D)`` float32 table per layer, within a memory budget.

Nearest neighbours and embeddings need one vector per image and layer (the layer's maps averaged over positions),
so these tables grow with the dataset: 1.28 M ImageNet images at 1280 dimensions take 6.5 GB. The tables are
allocated once, when the number of items is known: those that fit in the byte budget (in order) live in memory,
the others in memory-mapped ``.npy`` files, which the system pages in and out as they are used. The files go in the
scan's cache folder, where they are also what a reopened scan reads (instantly, mapped), or in anonymous temporary
files that vanish with the scan. Parts of a scan (batches, shards) write their rows by dataset index, so they may
arrive in any order.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Dict, Mapping, Optional

import numpy as np

FEATURE_BUDGET_BYTES = 512 * 2**20
"""Default bytes of feature tables held in memory; the rest are memory-mapped files."""


class FeatureStore:
    """The tables of a scan by name (``arrays``), written row by row; see the module's docstring.

    Parameters
    ----------
    total : int
        Rows of every table (the dataset's items).
    dims : mapping of str to int
        Columns of each table, in the order the budget is spent.
    budget : int
        Bytes of tables held in memory.
    folder : Path, optional
        Where tables beyond the budget are mapped (``<i>.npy``, ``i`` their position in ``dims``), and where
        :meth:`save` writes the others; without it they are mapped to anonymous temporary files.
    resume : bool
        Read the tables that ``folder`` already holds instead of starting with zeros.
    """

    def __init__(
        self, total: int, dims: Mapping[str, int], budget: int, folder: Optional[Path] = None, resume: bool = False
    ) -> None:
        self.folder = folder
        self.arrays: Dict[str, np.ndarray] = {}
        self._files: Dict[str, Path] = {}
        spent = 0
        for i, (name, dim) in enumerate(dims.items()):
            size = total * dim * 4
            path = folder / f"{i}.npy" if folder is not None else None
            in_memory = spent + size <= budget
            spent += size if in_memory else 0
            if path is not None:
                self._files[name] = path
            if resume and path is not None and path.exists():
                self.arrays[name] = np.load(path) if in_memory else np.load(path, mmap_mode="r+")
            elif in_memory:
                self.arrays[name] = np.zeros((total, dim), np.float32)
            elif path is not None:
                self.arrays[name] = np.lib.format.open_memmap(path, "w+", np.float32, (total, dim))
            else:
                with tempfile.TemporaryFile() as spare:  # the mapping outlives the file, which vanishes with it
                    self.arrays[name] = np.memmap(spare, np.float32, "w+", shape=(total, dim))

    @property
    def mapped(self) -> Dict[str, bool]:
        """Which tables live in a memory-mapped file."""
        return {name: isinstance(a, np.memmap) for name, a in self.arrays.items()}

    def put(self, indices: np.ndarray, rows: Mapping[str, np.ndarray]) -> None:
        """Write ``rows[name]`` ``(n, D)`` into the rows ``indices`` ``(n,)`` of each table."""
        for name, values in rows.items():
            self.arrays[name][indices] = values

    def save(self) -> None:
        """Make the tables in ``folder`` current: mapped ones flushed, in-memory ones written (each atomically)."""
        for name, array in self.arrays.items():
            if isinstance(array, np.memmap):
                array.flush()
            elif name in self._files:
                path = self._files[name]
                spare = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.npy")
                np.save(spare, array)
                os.replace(spare, path)
