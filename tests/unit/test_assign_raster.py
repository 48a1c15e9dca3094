"""The leaf raster of ``gridmap.coverage.assign``: component representatives and exact answers at
every cell size (the rule: covered, boundary included, smallest code wins)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy import ndimage

from gridmap.coverage.assign import OUTSIDE, LeafIndex, _representatives


def _brute(codes: list[str], geoms: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    order = np.argsort(codes)
    out = np.full(x.size, OUTSIDE, dtype=np.int32)
    for label, i in reversed(list(enumerate(order))):  # smallest code last, so it wins
        out[shapely.intersects_xy(geoms[i], x, y)] = label
    return out


def test_representatives_lie_in_their_component_in_any_numbering() -> None:
    rng = np.random.default_rng(3)
    components, n = ndimage.label(rng.random((60, 80)) > 0.45)
    assert n > 20
    shuffled = np.r_[0, rng.permutation(n) + 1][components]  # not numbered in raster order
    for labelled in (components, shuffled):
        first = _representatives(labelled, n)
        assert np.array_equal(labelled.ravel()[first], np.arange(1, n + 1))


@pytest.mark.parametrize("cell", [None, 0.05, 0.013, 0.5])
def test_assign_equals_brute_force_on_and_off_boundaries(cell: float | None) -> None:
    # A 3×3 block of unit squares plus one overlapping square with a larger code, and a hole.
    codes, geoms = [], []
    for i in range(3):
        for j in range(3):
            codes.append(f"41162800{i}{j}")
            geoms.append(shapely.box(114 + i, 33 + j, 115 + i, 34 + j))
    codes.append("411628999")
    geoms.append(shapely.box(114.5, 33.5, 115.5, 34.5))
    geoms[4] = shapely.Polygon(geoms[4].exterior.coords, [[(115.2, 34.2), (115.8, 34.2), (115.8, 34.8)]])
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(113.5, 117.5, 4000), np.repeat(np.arange(114, 118, 0.25), 16)])
    y = np.concatenate([rng.uniform(32.5, 36.5, 4000), np.tile(np.arange(33, 37, 0.25), 16)])
    index = LeafIndex.build(codes, geoms, cell=cell)
    assert np.array_equal(index.assign(x, y), _brute(codes, geoms, x, y))
