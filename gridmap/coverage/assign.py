"""Assigning camera points to leaf areas, fast: a raster of the coverage with exact tests only near
boundaries.

The rule (the same as the PostGIS assignment in ``gridmap.db.cameras``): a point belongs to the leaf
area that *covers* it (boundary included); a point covered by several areas (on a shared boundary,
or inside an overlap) goes to the one with the **smallest code**; a point covered by none is outside.

How: the extent of the areas is cut into square cells (degrees, EPSG:4490). Every cell that any
polygon edge passes through or touches is a *boundary cell*; this is computed exactly by walking
each edge across the grid lines (with a margin for rounding). A cell no edge touches lies wholly in
one face of the coverage, and so do its unmarked neighbours: connected components of unmarked
cells are labelled by one exact point-in-polygon test each. A point in an unmarked cell takes its
cell's label (one array lookup); a point in a boundary cell is tested exactly
(``shapely.intersects_xy``, prepared) against that cell's candidates: the polygons whose edges touch
it and the polygons covering its centre.

Coordinates are lon/lat degrees in EPSG:4490 throughout, like the stored areas, so a point is
never reprojected and the result equals PostGIS ``ST_Covers`` on the stored geometries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage

OUTSIDE = -1
#: Default cell count along the longer side of the extent is chosen so that an average polygon is
#: about this many cells across (finer: fewer exact tests, more memory).
CELLS_PER_POLYGON = 32
#: Upper bound on the raster size (cells); int32 labels, so 4 bytes each.
MAX_CELLS = 64_000_000
_MARGIN = 1e-9  # in cell units: grid-line crossings this close to a line mark both sides


@dataclass(frozen=True)
class LeafIndex:
    """A point-to-area index over a set of leaf polygons (EPSG:4490 lon/lat degrees).

    Build it with :meth:`build`; :meth:`assign` maps point coordinates to positions in ``codes``
    (sorted ascending) or ``OUTSIDE``.
    """

    codes: np.ndarray  # area codes, sorted; positions are the labels
    geoms: np.ndarray  # polygons in the order of ``codes``, prepared
    x0: float
    y0: float
    cell: float  # cell size in degrees (square cells)
    labels: np.ndarray  # int32 (rows, cols): label of an unmarked cell, OUTSIDE, or -2 - k for boundary cell k
    cand_ptr: np.ndarray  # CSR over boundary cells: candidates of boundary cell k are
    cand_idx: np.ndarray  #   cand_idx[cand_ptr[k]:cand_ptr[k + 1]], ascending (smallest code first)

    @classmethod
    def build(
        cls, codes: Sequence[str] | np.ndarray, geoms: Sequence[object] | np.ndarray, cell: float | None = None
    ) -> LeafIndex:
        """Index ``geoms`` (polygons in EPSG:4490) under ``codes``; ``cell`` is the cell size in
        degrees (default: about 1/``CELLS_PER_POLYGON`` of an average polygon's width)."""
        code_arr = np.asarray(codes, dtype=object)
        geom_arr = np.asarray(geoms, dtype=object)
        if len(code_arr) != len(geom_arr):
            raise ValueError("codes and geoms differ in length")
        order = np.argsort(code_arr.astype(str), kind="stable")
        code_arr, geom_arr = code_arr[order], geom_arr[order]
        keep = ~(shapely.is_missing(geom_arr) | shapely.is_empty(geom_arr))
        if not keep.all():
            code_arr, geom_arr = code_arr[keep], geom_arr[keep]
        shapely.prepare(geom_arr)
        if len(geom_arr) == 0:
            return cls(
                code_arr,
                geom_arr,
                0.0,
                0.0,
                1.0,
                np.full((1, 1), OUTSIDE, np.int32),
                np.zeros(1, np.int64),
                np.zeros(0, np.int32),
            )
        minx, miny, maxx, maxy = shapely.total_bounds(geom_arr)
        if cell is None:
            cell = _default_cell(geom_arr, maxx - minx, maxy - miny)
        cols = int(np.floor((maxx - minx) / cell)) + 1
        rows = int(np.floor((maxy - miny) / cell)) + 1
        if rows * cols > MAX_CELLS:
            cell *= float(np.sqrt(rows * cols / MAX_CELLS)) * 1.01
            cols = int(np.floor((maxx - minx) / cell)) + 1
            rows = int(np.floor((maxy - miny) / cell)) + 1
        x0, y0 = float(minx), float(miny)

        # 1. Boundary cells: every cell a polygon edge passes through or touches.
        marked = _edge_cells(geom_arr, x0, y0, cell, rows, cols)

        # 2. Faces: connected components of unmarked cells, each labelled by one exact test.
        components, n = ndimage.label(~marked.reshape(rows, cols))
        face_label = _smallest_covering(geom_arr, *_centres(_representatives(components, n), x0, y0, cell, cols))
        # One lookup per cell (component 0, the boundary cells, is overwritten below).
        labels = np.append(np.int32(OUTSIDE), face_label)[components.ravel()]

        # 3. Candidates of boundary cells: the polygons whose envelope meets the cell (a superset of
        #    those that intersect it; the exact test at assignment decides).
        boundary = np.flatnonzero(marked)
        pair_k, pair_poly = _envelope_pairs(geom_arr, boundary, x0, y0, cell, rows, cols)
        order = np.argsort(pair_k, kind="stable")  # stable: polygons stay ascending within a cell
        pair_poly = pair_poly[order]
        cand_ptr = np.zeros(boundary.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(pair_k, minlength=boundary.size), out=cand_ptr[1:])
        labels[boundary] = -2 - np.arange(boundary.size, dtype=np.int32)
        return cls(
            code_arr, geom_arr, x0, y0, float(cell), labels.reshape(rows, cols), cand_ptr, pair_poly.astype(np.int32)
        )

    @property
    def boundary_cells(self) -> int:
        return int(self.cand_ptr.size - 1)

    def assign(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Label (position in ``codes``) of each point (lon ``x``, lat ``y``, degrees, EPSG:4490);
        ``OUTSIDE`` (-1) for a point no area covers or a NaN coordinate."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rows, cols = self.labels.shape
        out = np.full(x.shape, OUTSIDE, dtype=np.int32)
        col = np.floor((x - self.x0) / self.cell)
        row = np.floor((y - self.y0) / self.cell)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)  # False for NaN
        where = np.flatnonzero(inside)
        lab = self.labels.ravel()[row[where].astype(np.int64) * cols + col[where].astype(np.int64)]
        out[where] = lab
        exact = lab <= -2
        if exact.any():
            pts = where[exact]
            out[pts] = self._exact(x[pts], y[pts], -2 - lab[exact].astype(np.int64))
        return out

    def assign_codes(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Like :meth:`assign`, as an object array of codes (None outside)."""
        lab = self.assign(x, y)
        codes = np.append(self.codes, [None])  # label -1 picks the trailing None
        return codes[lab]

    def _exact(self, x: np.ndarray, y: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Exact covers-test of points against the candidates of their boundary cells ``k``;
        the smallest-code candidate that covers a point wins."""
        start, stop = self.cand_ptr[k], self.cand_ptr[k + 1]
        count = stop - start
        point_of_pair = np.repeat(np.arange(k.size), count)
        offset = np.arange(point_of_pair.size) - np.repeat(np.cumsum(count) - count, count)
        poly = self.cand_idx[np.repeat(start, count) + offset]
        # One prepared-polygon call per candidate polygon (fast) rather than one per pair.
        order = np.argsort(poly, kind="stable")
        poly_sorted, pts_sorted = poly[order], point_of_pair[order]
        xs, ys = x[pts_sorted], y[pts_sorted]
        starts = np.r_[0, np.flatnonzero(np.diff(poly_sorted)) + 1]
        stops = np.r_[starts[1:], poly.size]
        hit = np.empty(poly.size, dtype=bool)
        intersects_xy = shapely.lib.intersects_xy  # the ufunc itself: the wrapper costs more than the test
        for lo, hi, geom in zip(starts.tolist(), stops.tolist(), self.geoms[poly_sorted[starts]]):
            hit[lo:hi] = intersects_xy(geom, xs[lo:hi], ys[lo:hi])
        result = np.full(k.size, np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(result, pts_sorted[hit], poly_sorted[hit])
        result[result == np.iinfo(np.int32).max] = OUTSIDE
        return result.astype(np.int32)


def _default_cell(geoms: np.ndarray, width: float, height: float) -> float:
    b = shapely.bounds(geoms)
    mean_side = float(np.sqrt(np.mean((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))))
    cell = mean_side / CELLS_PER_POLYGON if mean_side > 0 else max(width, height, 1e-9) / 1024
    return max(cell, max(width, height) / 65_536, 1e-9)


def _envelope_pairs(
    geoms: np.ndarray, boundary: np.ndarray, x0: float, y0: float, cell: float, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray]:
    """(boundary cell number, polygon) for every boundary cell inside a polygon's envelope, with
    polygons ascending. ``boundary`` holds the flat indices of the boundary cells, sorted, so the
    boundary cells of one envelope row are a contiguous run of cell numbers."""
    b = shapely.bounds(geoms)
    c0 = np.clip(np.floor((b[:, 0] - x0) / cell - _MARGIN), 0, cols - 1).astype(np.int64)
    c1 = np.clip(np.floor((b[:, 2] - x0) / cell + _MARGIN), 0, cols - 1).astype(np.int64)
    r0 = np.clip(np.floor((b[:, 1] - y0) / cell - _MARGIN), 0, rows - 1).astype(np.int64)
    r1 = np.clip(np.floor((b[:, 3] - y0) / cell + _MARGIN), 0, rows - 1).astype(np.int64)
    n_rows = r1 - r0 + 1
    poly = np.repeat(np.arange(len(geoms)), n_rows)  # one entry per (polygon, envelope row)
    row = np.repeat(r0, n_rows) + (np.arange(poly.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows))
    first = np.searchsorted(boundary, row * cols + c0[poly], side="left")
    last = np.searchsorted(boundary, row * cols + c1[poly], side="right")
    n = last - first
    pair_poly = np.repeat(poly, n)
    pair_k = np.repeat(first, n) + (np.arange(pair_poly.size) - np.repeat(np.cumsum(n) - n, n))
    return pair_k, pair_poly


def _representatives(components: np.ndarray, n: int) -> np.ndarray:
    """A flat cell index inside each of the components 1..n of ``components`` (0: background).

    ``ndimage.label`` numbers components in the order their first cells appear in raster order, so
    the first cell of each is where the label exceeds every label before it; those positions are
    found among the cells whose label exceeds their predecessor's (a few per component row). The
    order is checked, with a full scan as the fallback.
    """
    flat = components.ravel()
    rise = np.flatnonzero(flat[1:] > flat[:-1]) + 1
    if flat.size and flat[0] > 0:
        rise = np.r_[0, rise]
    values = flat[rise]
    before = np.maximum.accumulate(np.r_[0, values[:-1]]) if values.size else values
    first = rise[values > before]
    if first.size == n and np.array_equal(flat[first], np.arange(1, n + 1)):
        return first.astype(np.int64)
    idx = np.flatnonzero(flat)  # not in raster order: any cell of each component will do
    first = np.empty(n + 1, dtype=np.int64)
    first[flat[idx][::-1]] = idx[::-1]
    return first[1:]


def _centres(cells: np.ndarray, x0: float, y0: float, cell: float, cols: int) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.divmod(cells, cols)
    return x0 + (c + 0.5) * cell, y0 + (r + 0.5) * cell


def _smallest_covering(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position of the smallest-code polygon covering each point, or OUTSIDE."""
    out = np.full(x.size, OUTSIDE, dtype=np.int32)
    if x.size == 0:
        return out
    pt, poly = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")
    order = np.lexsort((poly, pt))
    pt, poly = pt[order], poly[order]
    first = np.ones(pt.size, dtype=bool)
    first[1:] = pt[1:] != pt[:-1]
    out[pt[first]] = poly[first]
    return out


def _edge_cells(geoms: np.ndarray, x0: float, y0: float, cell: float, rows: int, cols: int) -> np.ndarray:
    """Flat boolean raster: True for every cell a polygon edge passes through or touches.

    Each edge marks the cells of its end points and, at every crossing of a vertical or horizontal
    grid line, the cells on both sides of the crossing (and both neighbours along the line when the
    crossing lies within rounding distance of a grid corner). Between two crossings an edge stays
    in one cell, so every cell it enters is marked.
    """
    marked = np.zeros(rows * cols, dtype=bool)

    def mark(c: np.ndarray, r: np.ndarray) -> None:
        ok = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
        marked[r[ok] * cols + c[ok]] = True

    def floors(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """floor(a); floor(a) on the other side where a lies within rounding distance of an
        integer; the positions in ``a`` of those (usually none: each cell is marked once)."""
        lo, hi = np.floor(a - _MARGIN).astype(np.int64), np.floor(a + _MARGIN).astype(np.int64)
        near = np.flatnonzero(hi != lo)
        return lo, hi[near], near

    coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
    u = (coords[:, 0] - x0) / cell
    v = (coords[:, 1] - y0) / cell
    cu, cu_other, at_u = floors(u)  # vertices: their cells, and across grid lines within rounding
    rv, rv_other, at_v = floors(v)
    mark(cu, rv)
    mark(cu_other, rv[at_u])
    mark(cu[at_v], rv_other)
    both = np.intersect1d(at_u, at_v)
    mark(np.floor(u[both] + _MARGIN).astype(np.int64), np.floor(v[both] + _MARGIN).astype(np.int64))
    same = ring[1:] == ring[:-1]
    u1, v1, u2, v2 = u[:-1][same], v[:-1][same], u[1:][same], v[1:][same]
    # Crossings of the vertical lines u = k and the horizontal lines v = k (k integer).
    for a1, a2, b1, b2, vertical in ((u1, u2, v1, v2, True), (v1, v2, u1, u2, False)):
        k_first = np.ceil(np.minimum(a1, a2) - _MARGIN).astype(np.int64)
        k_last = np.floor(np.maximum(a1, a2) + _MARGIN).astype(np.int64)
        n = np.maximum(k_last - k_first + 1, 0)
        seg = np.repeat(np.arange(a1.size), n)
        k = np.repeat(k_first, n) + (np.arange(seg.size) - np.repeat(np.cumsum(n) - n, n))
        da = a2[seg] - a1[seg]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(np.where(da != 0, (k - a1[seg]) / da, 0.0), 0.0, 1.0)
        b = b1[seg] + t * (b2[seg] - b1[seg])
        lo, hi, near = floors(b)
        line = np.concatenate([k, k[near]])
        other = np.concatenate([lo, hi])
        for side in (line - 1, line):  # the cells on both sides of the grid line
            if vertical:
                mark(side, other)
            else:
                mark(other, side)
    return marked


def assign_points(
    codes: Sequence[str] | np.ndarray, geoms: Sequence[object] | np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Code of the leaf area each point (lon/lat degrees, EPSG:4490) falls in, None outside."""
    return LeafIndex.build(codes, geoms).assign_codes(x, y)
