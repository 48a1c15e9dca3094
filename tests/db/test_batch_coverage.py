"""Batch coverage counts (``gridmap.coverage.batch``), their distributed twin
(``gridmap.coverage.distributed``) and the point-to-leaf rule of ``LeafIndex`` on hard points,
checked against the database (``compute_coverage``, PostGIS ``ST_Covers``) and brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from gridmap.coverage.assign import OUTSIDE, LeafIndex
from gridmap.coverage.batch import BatchCounts, leaf_counts, roll_up, with_regions
from gridmap.coverage.table import compute_coverage
from gridmap.db.cameras import leaf_areas
from gridmap.io.boundaries import read_areas
from gridmap.levels import LEVELS
from gridmap.sample.files import CAMERAS_CSV, GPKG

STATUS = {"已安装": "installed", "未安装": "planned"}
ONLINE = {"在线": True, "离线": False}


@pytest.fixture(scope="module")
def microgrids(data_dir):
    return read_areas(data_dir / GPKG, layer="microgrid")


@pytest.fixture(scope="module")
def all_areas(data_dir) -> pd.DataFrame:
    return pd.concat(
        [read_areas(data_dir / GPKG, layer=lv.key)[["code", "level", "parent_code"]] for lv in LEVELS],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def index(microgrids) -> LeafIndex:
    return LeafIndex.build(microgrids["code"].to_numpy(), microgrids.geometry.to_numpy())


@pytest.fixture(scope="module")
def sample_cameras(data_dir) -> pd.DataFrame:
    """The sample register as lon, lat, status, online (read directly, not through the importer)."""
    raw = pd.read_csv(data_dir / CAMERAS_CSV, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert set(raw["安装状态"]) <= set(STATUS) and set(raw["在线状态"]) <= {*ONLINE, ""}
    return pd.DataFrame(
        {
            "lon": raw["经度"].astype(float),
            "lat": raw["纬度"].astype(float),
            "status": raw["安装状态"].map(STATUS),
            "online": raw["在线状态"].map(ONLINE).astype("boolean"),  # "" → <NA>
        }
    )


# ------------------------------------------------------------------------------------------------
# Batch counts = the database's coverage


def test_batch_equals_compute_coverage(loaded_engine, index, all_areas, sample_cameras):
    cams = sample_cameras
    counts = leaf_counts(index, cams["lon"], cams["lat"], cams["status"], cams["online"])
    per_area = roll_up(counts.leaf, with_regions(all_areas))  # the city and province rows too
    with loaded_engine.connect() as conn:
        coverage = compute_coverage(conn)
        outside_db = conn.execute(
            text("SELECT count(*) FROM camera WHERE area_code IS NULL AND status <> 'removed'")
        ).scalar_one()
    assert set(per_area.index) == set(coverage.rows)
    expected = pd.DataFrame(
        [(c, r.planned, r.installed, r.online) for c, r in coverage.rows.items()],
        columns=["code", "planned", "installed", "online"],
    ).set_index("code")
    got = per_area.loc[expected.index]
    diff = (got != expected).any(axis=1)
    assert not diff.any(), f"{int(diff.sum())} areas differ, e.g.\n{got[diff].head()}\n{expected[diff].head()}"
    assert per_area.loc["411628"].tolist() == per_area.loc["4116"].tolist() == [10520, 10048, 9896]
    assert counts.outside == outside_db
    # Every counted camera is in exactly one leaf or outside.
    assert int(counts.leaf["planned"].sum()) + counts.outside == int((cams["status"] != "removed").sum())


def test_leaf_counts_rule_and_roll_up_by_hand():
    """Two leaves under a parent under a root; removed/planned/installed/online each counted as
    the rule says, a NaN camera and a far-away camera outside."""
    a = shapely.box(0, 0, 1, 1)
    b = shapely.box(1, 0, 2, 1)
    index = LeafIndex.build(["r01a", "r01b"], [a, b])
    lon = [0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.5, np.nan, 9.0, 9.0]
    lat = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 9.0, 9.0]
    status = [
        "removed",
        "planned",
        "installed",
        "installed",
        "planned",
        "installed",
        "installed",
        "planned",
        "installed",
        "removed",
    ]
    online = [True, True, True, False, None, True, pd.NA, True, True, True]
    counts = leaf_counts(index, lon, lat, status, online)
    # x = 1.0 lies on the shared edge: the smaller code wins
    assert counts.leaf.loc["r01a"].tolist() == [5, 3, 2]  # planned ×2, installed ×3 (2 online; planned+online ignored)
    assert counts.leaf.loc["r01b"].tolist() == [1, 1, 0]  # online <NA> → offline
    assert counts.outside == 2  # NaN planned + far installed; removed never counts
    areas = pd.DataFrame(
        {
            "code": ["r", "r01", "r01a", "r01b", "s"],
            "level": [1, 2, 3, 3, 1],
            "parent_code": [None, "r", "r01", "r01", None],
        }
    )
    per_area = roll_up(counts.leaf, areas)
    assert per_area.loc["r"].tolist() == per_area.loc["r01"].tolist() == [6, 4, 2]
    assert per_area.loc["s"].tolist() == [0, 0, 0]
    assert list(per_area.index) == areas["code"].tolist()
    with pytest.raises(ValueError, match="status"):
        leaf_counts(index, [0.5], [0.5], ["broken"], [False])
    with pytest.raises(ValueError, match="not among the areas"):
        roll_up(counts.leaf, areas[areas["code"] != "r01b"])
    cyclic = pd.DataFrame({"code": ["x", "y"], "level": [1, 2], "parent_code": ["y", "x"]})
    with pytest.raises(ValueError, match="cycle"):
        roll_up(counts.leaf.iloc[:0], cyclic)


# ------------------------------------------------------------------------------------------------
# Distributed = single machine


@pytest.fixture(scope="module")
def client():
    from gridmap.coverage.distributed import connect

    c = connect(None)
    yield c
    c.close()


@pytest.mark.slow
def test_distributed_equals_single_machine(client, microgrids, index, sample_cameras):
    import dask.dataframe as dd

    from gridmap.coverage.distributed import distributed_leaf_counts, leaf_subsets

    rng = np.random.default_rng(20240611)
    minx, miny, maxx, maxy = microgrids.total_bounds
    n = 200_000
    # Random points over (and beyond) the micro-grids, plus every 7th vertex of the micro-grids:
    # vertices are shared by several grids, so the smallest-code rule decides them, and many are
    # extreme points of a partition (its extent's edge).
    verts = shapely.get_coordinates(microgrids.geometry.to_numpy())[::7]
    lon = np.concatenate([sample_cameras["lon"], rng.uniform(minx - 0.01, maxx + 0.01, n), verts[:, 0]])
    lat = np.concatenate([sample_cameras["lat"], rng.uniform(miny - 0.01, maxy + 0.01, n), verts[:, 1]])
    lon[rng.choice(lon.size, 50, replace=False)] = np.nan
    extra = n + len(verts)
    status = np.concatenate(
        [sample_cameras["status"], rng.choice(["planned", "installed", "removed"], extra, p=[0.2, 0.7, 0.1])]
    )
    online = np.concatenate([sample_cameras["online"].fillna(False).to_numpy(bool), rng.random(extra) < 0.8])
    cams = pd.DataFrame({"lon": lon, "lat": lat, "status": status, "online": online})

    single = leaf_counts(index, cams["lon"], cams["lat"], cams["status"], cams["online"])
    got = distributed_leaf_counts(
        dd.from_pandas(cams, npartitions=4), microgrids[["code", "geometry"]], client, npartitions=8
    )
    assert isinstance(got, BatchCounts)
    assert got.leaf.index.equals(single.leaf.index)
    diff = (got.leaf != single.leaf).any(axis=1)
    assert not diff.any(), f"{int(diff.sum())} leaves differ:\n{got.leaf[diff].head()}\n{single.leaf[diff].head()}"
    assert got.outside == single.outside
    assert got == single
    assert single.leaf["planned"].sum() > 100_000 and single.outside > 10_000  # the data exercised both

    # The subsets really are subsets (a partition does not see every leaf), yet complete.
    codes = microgrids["code"].to_numpy()
    geoms = microgrids.geometry.to_numpy()
    vx, vy = verts[0]
    extents = np.array([shapely.box(minx, miny, (minx + maxx) / 2, maxy), shapely.Point(vx, vy), None], dtype=object)
    subsets = leaf_subsets(codes, geoms, extents)
    assert 0 < len(subsets[0][0]) < len(codes) and len(subsets[2][0]) == 0
    covering = set(codes[shapely.intersects_xy(geoms, vx, vy)])
    assert covering and covering <= set(subsets[1][0]) and len(subsets[1][0]) < 20


# ------------------------------------------------------------------------------------------------
# LeafIndex = PostGIS on hard points


def _postgis_rule(conn, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The smallest-code live leaf area that ST_Covers each point, None if none — one query."""
    rows = conn.execute(
        text("""
        SELECT p.i, (SELECT a.code FROM area a
                     WHERE ST_Covers(a.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490))
                       AND NOT EXISTS (SELECT 1 FROM area ch WHERE ch.parent_code = a.code)
                     ORDER BY a.code LIMIT 1)
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, i)
        ORDER BY p.i
    """),
        {"xs": x.tolist(), "ys": y.tolist()},
    ).all()
    assert [r[0] for r in rows] == list(range(1, x.size + 1))
    return np.array([r[1] for r in rows], dtype=object)


@pytest.mark.slow
def test_leaf_index_equals_postgis_on_hard_points(loaded_engine):
    with loaded_engine.connect() as conn:
        codes, geoms = leaf_areas(conn)
    assert len(codes) == 10_311
    index = LeafIndex.build(codes, geoms)
    rng = np.random.default_rng(11)
    coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
    same = ring[1:] == ring[:-1]
    # The micro-grids have no axis-parallel edge (checked below), so "on a shared edge" means at
    # shared vertices; segment midpoints come as near-edge points (within rounding of the edge).
    assert not ((coords[1:, 0] == coords[:-1, 0]) & same).any()
    vertex = coords[rng.choice(len(coords), 6000, replace=False)]
    seg = np.flatnonzero(same)[rng.choice(int(same.sum()), 3000, replace=False)]
    midpoint = (coords[seg] + coords[seg + 1]) / 2
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    outside = np.column_stack(
        [rng.uniform(minx - 0.05, maxx + 0.05, 1000), rng.uniform(miny - 0.05, maxy + 0.05, 1000)]
    )
    outside[:100] = [maxx + 0.01, miny - 0.01]
    nan = np.array([[np.nan, miny + 0.01], [minx + 0.01, np.nan], [np.nan, np.nan]])
    pts = np.concatenate([vertex, midpoint, outside, nan])
    x, y = pts[:, 0], pts[:, 1]

    got = index.assign_codes(x, y)
    with loaded_engine.connect() as conn:
        expected = _postgis_rule(conn, x, y)
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, [(x[i], y[i], got[i], expected[i]) for i in mismatch[:5]]
    # Vertices are covered by at least their own micro-grid: never outside.
    assert all(c is not None for c in got[: len(vertex)])
    assert got[-3:].tolist() == [None, None, None]
    assert sum(c is not None for c in got[len(vertex) + len(midpoint) : -3]) > 0  # some random ones land inside
    # Each point counted exactly once: in one leaf or outside.
    counts = leaf_counts(index, x, y, ["planned"] * x.size, [False] * x.size)
    assert int(counts.leaf["planned"].sum()) + counts.outside == x.size
    assert counts.outside == sum(c is None for c in expected)


# ------------------------------------------------------------------------------------------------
# LeafIndex = brute force on synthetic polygons


def _synthetic():
    """Codes deliberately not in the order of the polygons. Coordinates dyadic, so edge points
    (midpoints, grid-aligned points) lie exactly on the edges."""
    square_b = shapely.box(0.0, 0.0, 2.0, 2.0)  # overlaps square_a
    square_a = shapely.box(1.0, 1.0, 3.0, 3.0)
    holed = shapely.Polygon([(4, 0), (8, 0), (8, 4), (4, 4)], [[(5, 1), (5, 3), (7, 3), (7, 1)]])
    filler = shapely.box(5.0, 1.0, 7.0, 3.0)  # fills the hole exactly
    island = shapely.Polygon([(5.5, 1.5), (6.5, 1.5), (6.0, 2.5)])  # inside the filler: overlap
    multi = shapely.MultiPolygon(
        [
            shapely.box(0.0, 5.0, 1.0, 6.0),
            shapely.Polygon([(2, 5), (3.5, 5.25), (3, 6.75), (2.25, 6)]),
            shapely.box(1.0, 6.0, 2.0, 7.0),
        ]
    )  # touches the first part's corner
    triangle = shapely.Polygon([(1.0, 3.0), (3.0, 5.0), (0.0, 4.5)])  # touches square_a's corner (1, 3)
    codes = np.array(["b", "a", "h", "f", "c", "m", "t"], dtype=object)
    geoms = np.array([square_b, square_a, holed, filler, island, multi, triangle], dtype=object)
    return codes, geoms


def _brute_force(codes, geoms, x, y):
    order = np.argsort(codes.astype(str))
    out = np.full(x.size, None, dtype=object)
    for k in order[::-1]:  # the smallest code is written last, so it wins
        hit = shapely.intersects_xy(geoms[k], x, y)
        out[hit] = codes[k]
    return out


@pytest.mark.parametrize("cell", [None, 2.0, 0.5, 0.125, 0.1, 0.0137])
def test_leaf_index_equals_brute_force_on_synthetic_polygons(cell):
    codes, geoms = _synthetic()
    rng = np.random.default_rng(3)
    random_pts = rng.uniform([-1.0, -1.0], [9.0, 8.0], size=(3000, 2))
    on_lattice = rng.integers(-4, 36, size=(3000, 2)) / 4.0  # multiples of 1/4: many on edges and in cells' corners
    vertices = shapely.get_coordinates(geoms)
    segs = []
    for ring in shapely.get_rings(shapely.get_parts(geoms)):
        c = shapely.get_coordinates(ring)
        segs.append(c[:-1] + (c[1:] - c[:-1]) * rng.random((len(c) - 1, 1)))  # on (or within rounding of) edges
        segs.append((c[:-1] + c[1:]) / 2)
    special = [
        (1, 1),
        (2, 2),
        (1, 2),
        (2, 1),
        (1, 3),
        (5, 2),
        (6, 1),
        (5, 1),
        (7, 3),
        (6, 2),
        (1, 6),
        (2, 6),
        (4, 2),
        (8, 4),
        (np.nan, 1.0),
        (1.0, np.nan),
        (np.nan, np.nan),
        (-1, -1),
        (10, 10),
    ]
    pts = np.concatenate([random_pts, on_lattice, vertices, *segs, np.array(special, dtype=float)])
    x, y = pts[:, 0], pts[:, 1]
    index = LeafIndex.build(codes, geoms, cell=cell)
    got = index.assign_codes(x, y)
    expected = _brute_force(codes, geoms, x, y)
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, [(x[i], y[i], got[i], expected[i]) for i in mismatch[:5]]
    # The cases the data is meant to exercise really occur.
    assert (expected == "a").any() and (expected == "b").any() and (expected == "c").any()
    assert (expected == "f").any() and (expected == "h").any() and (expected == "m").any()
    on_overlap = (x > 1) & (x < 2) & (y > 1) & (y < 2)
    assert on_overlap.any() and (got[on_overlap] == "a").all()  # "a" < "b"
    assert (got[(x == 5.0) & (y == 2.0)] == "f").all()  # hole edge: filler "f" < holed "h"
    assert (index.assign(x, y) == OUTSIDE).sum() == sum(c is None for c in expected)
