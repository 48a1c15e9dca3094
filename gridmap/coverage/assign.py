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

import json
import mmap
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
#: Kept index files (:meth:`LeafIndex.save`): magic, then the header's length (uint32 LE), the
#: header (JSON), the arrays each at a multiple of ``_ALIGN``. ``KEPT_FORMAT`` changes whenever the
#: layout or the meaning of any array changes, so an older file is never read as a newer one.
_MAGIC = b"GRIDMAP-LEAFIDX\n"
KEPT_FORMAT = 1
_ALIGN = 64
_KEPT_ARRAYS = ("labels", "cand_ptr", "cand_idx", "wkb", "wkb_ptr", "codes")


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

    def save(self, path: str | Path, key: str) -> None:
        """Keep this index in the file ``path`` under ``key`` (what it was built from: the caller's
        database, prefix and boundary fingerprint), for :meth:`load`. Written to a temporary file
        and renamed, so a reader sees the whole file or none; the header holds the format version,
        ``key``, each array's place and a checksum of everything after the header (:func:`_check`)."""
        path = Path(path)
        arrays = self._kept_arrays()
        layout: list[dict[str, object]] = []
        offsets: list[int] = []
        offset = 0
        for name in _KEPT_ARRAYS:
            a = arrays[name]
            layout.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset})
            offsets.append(offset)
            offset = _aligned(offset + a.nbytes)
        payload = bytearray(offset)
        for at, name in zip(offsets, _KEPT_ARRAYS):
            raw = arrays[name].tobytes()
            payload[at : at + len(raw)] = raw
        header = json.dumps(
            {
                "format": KEPT_FORMAT,
                "key": key,
                "x0": self.x0,
                "y0": self.y0,
                "cell": self.cell,
                "arrays": layout,
                "size": len(payload),
                "check": _check(payload),
            }
        ).encode()
        start = _aligned(len(_MAGIC) + 4 + len(header))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(_MAGIC + struct.pack("<I", len(header)) + header)
                f.write(b"\0" * (start - f.tell()))
                f.write(payload)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | Path, key: str) -> LeafIndex | None:
        """The index :meth:`save` kept in ``path`` under ``key``; None when the file is missing,
        unreadable, of another format version, kept under another key, cut short or damaged (its
        checksum differs). The raster and candidate arrays are read-only views of the mapped file."""
        try:
            with open(path, "rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # missing, unreadable, empty
            return None
        try:
            return cls._from_mapped(mapped, key)
        except (ValueError, KeyError, TypeError, IndexError, struct.error, shapely.errors.ShapelyError):
            return None

    @classmethod
    def _from_mapped(cls, mapped: mmap.mmap, key: str) -> LeafIndex | None:
        view = memoryview(mapped)
        if bytes(view[: len(_MAGIC)]) != _MAGIC:
            return None
        (length,) = struct.unpack_from("<I", view, len(_MAGIC))
        header = json.loads(bytes(view[len(_MAGIC) + 4 : len(_MAGIC) + 4 + length]))
        if not isinstance(header, dict) or header.get("format") != KEPT_FORMAT or header.get("key") != key:
            return None
        start = _aligned(len(_MAGIC) + 4 + length)
        payload = view[start:]
        if len(payload) != header["size"] or _check(payload) != header["check"]:
            return None
        arrays = {}
        for entry in header["arrays"]:
            dtype = np.dtype(entry["dtype"])
            count = int(np.prod(entry["shape"], dtype=np.int64))
            a = np.frombuffer(payload, dtype=dtype, count=count, offset=entry["offset"])
            arrays[entry["name"]] = a.reshape(entry["shape"])
        wkb, ptr = arrays["wkb"], arrays["wkb_ptr"]
        raw = wkb.tobytes()
        geoms = shapely.from_wkb([raw[a:b] for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist())])
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        codes = arrays["codes"].astype(object)
        labels = arrays["labels"]
        if labels.ndim != 2 or len(codes) != len(geoms) or arrays["cand_ptr"].size < 1:
            return None
        return cls(
            codes,
            geoms,
            float(header["x0"]),
            float(header["y0"]),
            float(header["cell"]),
            labels,
            arrays["cand_ptr"],
            arrays["cand_idx"],
        )

    def _kept_arrays(self) -> dict[str, np.ndarray]:
        wkb = shapely.to_wkb(self.geoms) if len(self.geoms) else np.array([], dtype=object)
        sizes = np.fromiter((len(w) for w in wkb), dtype=np.int64, count=len(wkb))
        ptr = np.zeros(len(wkb) + 1, dtype=np.int64)
        np.cumsum(sizes, out=ptr[1:])
        codes = np.asarray([str(c) for c in self.codes]) if len(self.codes) else np.array([], dtype="<U1")
        return {
            "labels": np.ascontiguousarray(self.labels, dtype=np.int32),
            "cand_ptr": np.ascontiguousarray(self.cand_ptr, dtype=np.int64),
            "cand_idx": np.ascontiguousarray(self.cand_idx, dtype=np.int32),
            "wkb": np.frombuffer(b"".join(wkb), dtype=np.uint8),
            "wkb_ptr": ptr,
            "codes": codes,
        }

    @property
    def boundary_cells(self) -> int:
        return int(self.cand_ptr.size - 1)

    def assign(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Label (position in ``codes``) of each point (lon ``x``, lat ``y``, degrees, EPSG:4490);
        ``OUTSIDE`` (-1) for a point no area covers or a NaN coordinate."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rows, cols = self.labels.shape
        col = np.subtract(x, self.x0)
        col /= self.cell
        np.floor(col, out=col)
        row = np.subtract(y, self.y0)
        row /= self.cell
        np.floor(row, out=row)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)  # False for NaN
        row *= cols
        row += col  # the flat cell number, exact in float64 (MAX_CELLS << 2**53)
        out = self.labels.ravel()[np.where(inside, row, 0).astype(np.int64)]  # a copy: writable
        out[~inside] = OUTSIDE
        pts = np.flatnonzero(out <= -2)  # in boundary cells: tested exactly
        if pts.size:
            out[pts] = self._exact(x[pts], y[pts], -2 - out[pts].astype(np.int64))
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
        # One vectorised call over the pairs sorted by polygon: each prepared polygon stays in the
        # cache while its points are tested (unsorted, the same call takes 3× as long). Labels
        # below 2**15 sort as int16, which numpy's stable sort does by radix.
        key = poly.astype(np.int16) if len(self.geoms) <= np.iinfo(np.int16).max else poly
        order = np.argsort(key, kind="stable")
        hit = np.empty(poly.size, dtype=bool)
        hit[order] = shapely.lib.intersects_xy(
            self.geoms[poly[order]], x[point_of_pair[order]], y[point_of_pair[order]]
        )
        # A point's pairs are in ascending polygon order (smallest code first): its first hit wins.
        found = np.flatnonzero(hit)
        first = np.ones(found.size, dtype=bool)
        first[1:] = point_of_pair[found[1:]] != point_of_pair[found[:-1]]
        result = np.full(k.size, OUTSIDE, dtype=np.int64)
        result[point_of_pair[found[first]]] = poly[found[first]]
        return result.astype(np.int32)


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _check(payload: bytes | bytearray | memoryview) -> list[int]:
    """Checksum of a kept file's payload (a multiple of 8 bytes): the XOR and the wrapping sum of
    its 64-bit words. It catches any flipped bit, zeroed or overwritten block and any cut (with the
    stored size), at ~1 ms per 15 MB (a CRC-32 takes 4× as long, a third of the whole load); the
    directory is the server's own, so it guards against damage, not against forgery."""
    words = np.frombuffer(payload, dtype="<u8")
    return [int(np.bitwise_xor.reduce(words)), int(np.add.reduce(words, dtype=np.uint64))]


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
