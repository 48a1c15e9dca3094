"""The sample county's areas: five nested levels with codes, names, households and grid workers.

Modelled on 鹿邑县 (411628): about 1,240 km² around 115.48°E 33.86°N, 24 townships,
565 villages/communities, 1,294 grids, 10,311 micro-grids. Geometry is built in CGCS2000 3° Gauss-Krüger
zone 38 (EPSG:4526, metres) and returned in that CRS; the writer reprojects to EPSG:4490.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy import ndimage

from gridmap.config import SAMPLE_PROJECTED_EPSG, STORAGE_SRID
from gridmap.levels import LEVELS
from gridmap.sample import names as nm
from gridmap.sample.partition import (
    Frame,
    Warp,
    county_outline,
    frame_for,
    grow_labels,
    largest_piece,
    place_markers,
    rasterize_mask,
    smooth_noise,
    split_region,
    vectorize_labels,
)


@dataclass(frozen=True)
class CountySpec:
    code: str = "411628"
    name: str = "鹿邑县"
    centre_lonlat: tuple[float, float] = (115.48, 33.86)
    area_km2: float = 1240.0
    townships: tuple[tuple[str, str], ...] = nm.TOWNSHIPS
    villages: int = 565
    grids: int = 1294
    microgrids: int = 10311
    pixel_m: float = 20.0
    seed: int = 411628
    #: Coverage simplification tolerance (metres): removes the pixel staircase, keeps shared edges.
    simplify_m: float = 20.0
    #: Household range per micro-grid (the policy range county staff use).
    households: tuple[int, int, int] = (15, 30, 60)  # min, typical, max


@dataclass
class _Region:
    """One area during construction: its pixels (a bbox slice + mask) and its place in the tree."""

    level: int
    index: int  # 1-based within its level, global
    parent: int  # index of the parent at level-1 (0 for the county)
    rows: slice
    cols: slice
    mask: np.ndarray
    marker_xy: tuple[float, float] = (0.0, 0.0)
    children: list[int] = field(default_factory=list)


def _allocate(weights: np.ndarray, total: int, capacity: np.ndarray) -> np.ndarray:
    """Integers ∝ ``weights`` summing to ``total``, each at least 1 and at most ``capacity``
    (largest-remainder rounding, then moving units to respect the bounds)."""
    share = weights / weights.sum() * total
    counts = np.maximum(1, np.floor(share).astype(np.int64))
    counts = np.minimum(counts, capacity)
    remainder = share - np.floor(share)
    order = np.argsort(-remainder, kind="stable")
    i = 0
    while counts.sum() < total:
        j = order[i % order.size]
        if counts[j] < capacity[j]:
            counts[j] += 1
        i += 1
    while counts.sum() > total:
        excess = np.where(counts > 1, counts - share, -np.inf)
        counts[int(np.argmax(excess))] -= 1
    if counts.min() < 1:
        raise ValueError("cannot allocate at least one child per parent")
    return counts


class _Builder:
    def __init__(
        self, spec: CountySpec, region: shapely.Polygon | None = None, keep_out: shapely.Geometry | None = None
    ):
        """``region``: the outline to partition (metres; default a random one of ``spec.area_km2``).
        ``keep_out``: land that is not this county's (a neighbour already built, metres): areas are
        placed on the region's pixels outside it, and the leaf labels then grow a few pixels into it
        (``self.grow_into``) so that the caller can cut them back exactly along the neighbour's border."""
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        to_gk = Transformer.from_crs(STORAGE_SRID, SAMPLE_PROJECTED_EPSG, always_xy=True)
        self.centre = to_gk.transform(*spec.centre_lonlat)
        outline = region if region is not None else county_outline(self.rng, self.centre, spec.area_km2 * 1e6)
        self.frame: Frame = frame_for(outline, spec.pixel_m)
        self.mask = rasterize_mask(outline, self.frame)
        self.grow_into: np.ndarray | None = None
        if keep_out is not None:
            self.grow_into = self.mask
            self.mask = largest_piece(self.mask & ~rasterize_mask(keep_out, self.frame, largest=False))
        self.labels = [np.zeros(self.frame.shape, dtype=np.int32) for _ in LEVELS]
        self.labels[0][self.mask] = 1
        self.regions: list[list[_Region]] = [[] for _ in LEVELS]
        self.regions[0].append(
            _Region(0, 1, 0, slice(0, self.frame.shape[0]), slice(0, self.frame.shape[1]), self.mask)
        )
        # The county seat sits a little north-east of the geometric centre.
        self.seat = np.array(self.centre) + np.array([1500.0, 2500.0])

    # --- density: where people live, hence where micro-grids are small -------------------------
    def _density(self, town_seats: np.ndarray) -> np.ndarray:
        rows, cols = np.indices(self.frame.shape, sparse=True)
        x = self.frame.x0 + (cols + 0.5) * self.frame.pixel
        y = self.frame.y0 - (rows + 0.5) * self.frame.pixel
        d2_seat = (x - self.seat[0]) ** 2 + (y - self.seat[1]) ** 2
        density = 1.0 + 9.0 * np.exp(-d2_seat / (2 * 2600.0**2))
        for sx, sy in town_seats:
            density += 1.6 * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * 700.0**2))
        texture = smooth_noise(self.rng, self.frame.shape, (40.0,))
        return (density * np.exp(0.25 * texture)).astype(np.float32)

    # --- level 1: townships -----------------------------------------------------------------
    def townships(self) -> None:
        n_urban = sum(1 for _, kind in self.spec.townships if kind == "街道")
        n_rural = len(self.spec.townships) - n_urban
        # Town seats spread evenly over the county outside the urban core; 街道 seats ring the seat.
        rows, cols = np.nonzero(self.mask)
        xy = self.frame.pixel_centres(rows, cols)
        far = np.hypot(xy[:, 0] - self.seat[0], xy[:, 1] - self.seat[1]) > 6500.0
        rural_mask = np.zeros_like(self.mask)
        rural_mask[rows[far], cols[far]] = True
        town_rc = place_markers(self.rng, rural_mask, np.ones(self.frame.shape, np.float32), n_rural)
        angles = np.deg2rad(45.0 + 90.0 * np.arange(n_urban)) + self.rng.uniform(-0.2, 0.2, n_urban)
        urban_xy = self.seat + 2400.0 * np.column_stack([np.cos(angles), np.sin(angles)])
        urban_rc = np.rint(self.frame.to_pixel(urban_xy) - 0.5).astype(np.int64)
        # Number townships clockwise from north within each kind, as a county register would.
        town_xy = self.frame.pixel_centres(town_rc[:, 0], town_rc[:, 1])
        order = np.argsort(np.arctan2(town_xy[:, 0] - self.seat[0], town_xy[:, 1] - self.seat[1]) % (2 * np.pi))
        markers = np.vstack([urban_rc, town_rc[order]])
        self.density = self._density(town_xy)
        radius = float(np.sqrt(self.mask.sum() / len(markers) / np.pi))
        warp = Warp.random(self.rng, self.frame.shape, (0.45 * radius, 0.15 * radius), rough_sigma_px=4.0)
        labels = split_region(self.mask, markers, warp, warp_px=0.30 * radius, rough_px=3.0)
        self._register(1, 1, labels, slice(0, self.frame.shape[0]), slice(0, self.frame.shape[1]), markers)

    # --- levels 2..4: split every parent into an allocated number of children -------------------
    def split_level(self, level: int, total: int, warp_fraction: float) -> None:
        """Split every area of ``level - 1`` into children; ``total`` children in all, allocated ∝
        population. Boundaries bend by ``warp_fraction`` of the typical child radius."""
        parents = self.regions[level - 1]
        weights = np.array([self.density[p.rows, p.cols][p.mask].sum() for p in parents])
        capacity = np.array([int(p.mask.sum()) // 25 for p in parents])  # >= 25 px (1 ha) per child
        counts = _allocate(weights, total, capacity)
        typical_radius = float(np.sqrt(self.mask.sum() / total / np.pi))
        warp = Warp.random(
            self.rng,
            self.frame.shape,
            (0.6 * typical_radius, 0.25 * typical_radius),
            rough_sigma_px=max(1.5, 0.08 * typical_radius),
        )
        for parent, k in zip(parents, counts):
            sub_density = self.density[parent.rows, parent.cols]
            sub_warp = warp.window(parent.rows, parent.cols)
            parent_px = int(parent.mask.sum())
            radius = np.sqrt(parent_px / k / np.pi)
            min_px = max(25, int(0.12 * parent_px / k))  # no child under 1 ha or far below average
            for attempt in range(8):  # deterministic retries with a calmer warp; the last is plain Voronoi
                markers = place_markers(self.rng, parent.mask, sub_density, int(k))
                markers = markers[np.lexsort((markers[:, 1], markers[:, 0] // 25))]  # north→south bands
                damping = 0.0 if attempt == 7 else 0.75**attempt
                labels = split_region(
                    parent.mask,
                    markers,
                    sub_warp,
                    warp_px=warp_fraction * radius * damping,
                    rough_px=0.06 * radius * damping,
                )
                sizes = np.bincount(labels.ravel(), minlength=k + 1)[1:]
                if sizes.min() >= min_px:
                    break
            else:
                raise RuntimeError(f"level {level}: could not split {parent.index} into {k} regions of >= {min_px} px")
            self._register(level, parent.index, labels, parent.rows, parent.cols, markers)

    def _register(
        self, level: int, parent: int, labels: np.ndarray, rows: slice, cols: slice, markers: np.ndarray
    ) -> None:
        found = [s for s in ndimage.find_objects(labels) if s is not None]
        base = len(self.regions[level])
        if len(found) != len(markers):
            raise RuntimeError(f"level {level}: {len(markers)} markers gave {len(found)} regions")
        for i, (r, c) in enumerate(found, start=1):
            index = base + i
            sub = labels[r, c] == i
            g_rows = slice(rows.start + r.start, rows.start + r.stop)
            g_cols = slice(cols.start + c.start, cols.start + c.stop)
            self.labels[level][g_rows, g_cols][sub] = index
            xy = self.frame.pixel_centres(markers[i - 1 : i, 0] + rows.start, markers[i - 1 : i, 1] + cols.start)[0]
            self.regions[level].append(_Region(level, index, parent, g_rows, g_cols, sub, (float(xy[0]), float(xy[1]))))
            self.regions[level - 1][parent - 1].children.append(index)


def build_geometry(
    spec: CountySpec, region: shapely.Polygon | None = None, keep_out: shapely.Geometry | None = None
) -> tuple[_Builder, list[np.ndarray]]:
    """Run the partition; return the builder and, per level, the polygons (metres, EPSG:4526)
    ordered by region index. ``region``, ``keep_out``: see ``_Builder`` (with ``keep_out`` the
    polygons reach a few pixels into it: the caller cuts them back)."""
    b = _Builder(spec, region, keep_out)
    b.townships()
    b.split_level(2, spec.villages, warp_fraction=0.40)
    b.split_level(3, spec.grids, warp_fraction=0.40)
    b.split_level(4, spec.microgrids, warp_fraction=0.35)

    leaf = LEVELS[-1].number
    leaf_labels = b.labels[leaf] if b.grow_into is None else grow_labels(b.labels[leaf], b.grow_into, steps=3)
    by_label = vectorize_labels(leaf_labels, b.frame)
    micro = np.array([by_label[i] for i in range(1, len(b.regions[leaf]) + 1)], dtype=object)
    micro = shapely.coverage_simplify(micro, spec.simplify_m)
    if not shapely.coverage_is_valid(micro):
        raise RuntimeError("micro-grid coverage is not valid after simplification")
    polys: list[np.ndarray] = [np.empty(0, dtype=object) for _ in LEVELS]
    polys[leaf] = micro
    for level in range(leaf - 1, -1, -1):
        children = polys[level + 1]
        parent_of = np.array([r.parent for r in b.regions[level + 1]])
        polys[level] = np.array(
            [shapely.coverage_union_all(children[parent_of == r.index]) for r in b.regions[level]],
            dtype=object,
        )
    return b, polys


def build_county(
    spec: CountySpec = CountySpec(), region: shapely.Polygon | None = None, keep_out: shapely.Geometry | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """All five levels as GeoDataFrames in EPSG:4526, keyed by level key (``county`` … ``microgrid``).

    Columns: code, name, parent_code, level, households, worker_name, worker_phone, kind.
    ``region``, ``keep_out`` (metres): see ``_Builder``; the sample city uses them for the neighbours.
    """
    b, polys = build_geometry(spec, region, keep_out)
    rng = np.random.default_rng(spec.seed + 1)  # attributes draw from their own stream
    lo, typical, hi = spec.households
    leaf = LEVELS[-1].number

    codes: list[list[str]] = [[spec.code]] + [[""] * len(b.regions[lv]) for lv in range(1, len(LEVELS))]
    names: list[list[str]] = [[spec.name]] + [[""] * len(b.regions[lv]) for lv in range(1, len(LEVELS))]
    kinds: list[list[str]] = [["县"]] + [[""] * len(b.regions[lv]) for lv in range(1, len(LEVELS))]

    counters = {"街道": 0, "镇": 100, "乡": 200}
    for i, (tname, tkind) in enumerate(spec.townships):
        counters[tkind] += 1
        codes[1][i] = spec.code + f"{counters[tkind]:03d}"
        names[1][i] = tname
        kinds[1][i] = tkind

    taken: set[str] = set()
    for t in b.regions[1]:
        tkind = kinds[1][t.index - 1]
        kids = [b.regions[2][v - 1] for v in t.children]
        # 社区 where people are densest: all children of a 街道, the 1–2 nearest the town seat otherwise.
        seat = np.array(t.marker_xy)
        dist = np.array([np.hypot(*(np.array(v.marker_xy) - seat)) for v in kids])
        n_comm = len(kids) if tkind == "街道" else (0 if tkind == "乡" else min(2, len(kids) - 1))
        community = set(np.argsort(dist)[:n_comm].tolist())
        comm_names = iter(nm.village_names(rng, len(community), urban=True, taken=taken))
        vil_names = iter(nm.village_names(rng, len(kids) - len(community), urban=False, taken=taken))
        n_c = n_v = 0
        for j, v in enumerate(kids):
            if j in community:
                n_c += 1
                codes[2][v.index - 1] = codes[1][t.index - 1] + f"{n_c:03d}"
                names[2][v.index - 1], kinds[2][v.index - 1] = next(comm_names), "社区"
            else:
                n_v += 1
                codes[2][v.index - 1] = codes[1][t.index - 1] + f"{200 + n_v:03d}"
                names[2][v.index - 1], kinds[2][v.index - 1] = next(vil_names), "村"

    for level, label in ((3, "网格"), (4, "微网格")):
        for parent in b.regions[level - 1]:
            for n, child in enumerate(parent.children, start=1):
                codes[level][child - 1] = codes[level - 1][parent.index - 1] + f"{n:03d}"
                pname = names[level - 1][parent.index - 1]
                names[level][child - 1] = (
                    f"{pname}第{nm.chinese_ordinal(n)}网格" if level == 3 else f"{pname}{n}号微网格"
                )
                kinds[level][child - 1] = label

    n_leaf = len(b.regions[leaf])
    households = np.clip(np.rint(typical * rng.lognormal(0.0, 0.28, n_leaf)), lo, hi).astype(np.int64)
    hh: list[np.ndarray | None] = [None] * len(LEVELS)
    hh[leaf] = households
    for level in range(leaf - 1, -1, -1):
        parent_of = np.array([r.parent for r in b.regions[level + 1]])
        hh[level] = np.bincount(parent_of - 1, weights=hh[level + 1], minlength=len(b.regions[level])).astype(np.int64)

    frames: dict[str, gpd.GeoDataFrame] = {}
    for lv in LEVELS:
        n = len(b.regions[lv.number])
        parent_codes = (
            [None] * n if lv.number == 0 else [codes[lv.number - 1][r.parent - 1] for r in b.regions[lv.number]]
        )
        has_worker = lv.number >= 3  # 专职网格员 per grid, 微网格员 per micro-grid
        frames[lv.key] = gpd.GeoDataFrame(
            {
                "code": codes[lv.number],
                "name": names[lv.number],
                "parent_code": parent_codes,
                "level": lv.number,
                "kind": kinds[lv.number],
                "households": hh[lv.number],
                "worker_name": [nm.person_name(rng) for _ in range(n)] if has_worker else [None] * n,
                "worker_phone": [nm.phone_number(rng) for _ in range(n)] if has_worker else [None] * n,
            },
            geometry=gpd.GeoSeries(polys[lv.number], crs=SAMPLE_PROJECTED_EPSG),
        )
        frames[lv.key]["households"] = frames[lv.key]["households"].astype("int64")
    _check_counts(spec, frames)
    return frames


def _check_counts(spec: CountySpec, frames: dict[str, gpd.GeoDataFrame]) -> None:
    expected = {
        "county": 1,
        "township": len(spec.townships),
        "village": spec.villages,
        "grid": spec.grids,
        "microgrid": spec.microgrids,
    }
    got = {k: len(v) for k, v in frames.items()}
    if got != expected:
        raise RuntimeError(f"level counts {got} != {expected}")
    for key, gdf in frames.items():
        if gdf["code"].duplicated().any():
            raise RuntimeError(f"duplicate codes at level {key}")
