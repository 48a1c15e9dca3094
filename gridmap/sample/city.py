"""The sample city (周口市, 4116): 鹿邑县 as generated, plus generated neighbouring counties that share
its border exactly (run ``gridmap sample generate --city``).

Each neighbour is a full five-level county built like 鹿邑 (:func:`gridmap.sample.county.build_county`)
over a random region (GK zone 38 metres, EPSG:4526) that reaches into 鹿邑. Its areas are placed on
the region's pixels outside the counties already built, grown a few pixels into them, then cut back
in EPSG:4490 along those counties' stored outlines: all the micro-grids' edges and the outline are
noded and polygonized once, faces inside a built county are dropped, and every new node on the
border is moved to the nearest vertex of that border. So the shared stretch is made of the built
county's own vertices: no overlap, no gap, the same line in both files.

Files, in ``data/city/``: ``<code>_grids.gpkg`` (EPSG:4490, the layers and fields of
``luyi_grids.gpkg``), ``<code>_cameras.csv`` (the columns of ``luyi_cameras.csv``) and
``manifest.json`` with each county's figures and the files' SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from gridmap.config import SAMPLE_PROJECTED_EPSG, STORAGE_SRID
from gridmap.levels import LEVELS
from gridmap.sample import names as nm
from gridmap.sample.cameras import build_cameras
from gridmap.sample.county import CountySpec, build_county
from gridmap.sample.files import CITY_DIR, CITY_MANIFEST, GPKG, city_cameras_csv, city_gpkg
from gridmap.sample.generate import _FIXED_TIME, _write_gpkg
from gridmap.sample.partition import county_outline

CITY_CODE, CITY_NAME = "4116", "周口市"


@dataclass(frozen=True)
class Neighbour:
    """One generated county: its areas (``spec``; ``spec.area_km2`` is the region's area before
    鹿邑 is cut out) and its camera rollout stage."""

    spec: CountySpec
    planned: int
    installed: int
    online: int
    operators: tuple[str, ...]
    offline_weights: tuple[float, ...]


NEIGHBOURS: tuple[Neighbour, ...] = (
    # South of 鹿邑, early in its rollout: 安装率 70.00%, 上云率 90.00%.
    Neighbour(
        CountySpec(
            code="411625",
            name="郸城县",
            centre_lonlat=(115.50, 33.545),
            area_km2=1450.0,
            townships=nm.DANCHENG_TOWNSHIPS,
            villages=190,
            grids=360,
            microgrids=2600,
            pixel_m=40.0,
            seed=411625,
            simplify_m=40.0,
        ),
        planned=2700,
        installed=1890,
        online=1701,
        operators=("中国联通", "中国移动"),
        offline_weights=(1.5, 1.0),
    ),
    # North-west of 鹿邑, nearly done: 安装率 99.00%, 上云率 97.02%.
    Neighbour(
        CountySpec(
            code="411627",
            name="太康县",
            centre_lonlat=(115.21, 34.08),
            area_km2=1350.0,
            townships=nm.TAIKANG_TOWNSHIPS,
            villages=160,
            grids=300,
            microgrids=2100,
            pixel_m=40.0,
            seed=411627,
            simplify_m=40.0,
        ),
        planned=2200,
        installed=2178,
        online=2113,
        operators=("中国电信", "中国移动", "中国联通", "中国广电"),
        offline_weights=(1.0, 1.2, 2.0, 3.0),
    ),
)

#: Faces and vertices closer than this to a built county's border lie on it (degrees, ≈ 0.1 mm).
_ON_BORDER_DEG = 1e-9


def generate_city(data_dir: Path, out_dir: Path | None = None) -> dict[str, object]:
    """Build every neighbour around 鹿邑 as stored in ``data_dir/luyi_grids.gpkg`` and write their
    files into ``out_dir`` (default ``data_dir/city``); returns the manifest."""
    out_dir = out_dir or data_dir / CITY_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    luyi = pyogrio.read_dataframe(data_dir / GPKG, layer="county")
    built = [_single(luyi.geometry.iloc[0])]  # EPSG:4490, exactly as stored
    counties = []
    for n in NEIGHBOURS:
        taken = built[0] if len(built) == 1 else shapely.coverage_union_all(np.array(built, dtype=object))
        frames = build_neighbour(n.spec, _single(taken))
        built.append(_single(frames["county"].geometry.iloc[0]))
        metric = {k: f.to_crs(SAMPLE_PROJECTED_EPSG) for k, f in frames.items()}
        cameras = build_cameras(
            metric,
            seed=n.spec.seed + 2,
            planned=n.planned,
            installed=n.installed,
            online=n.online,
            centre_code=f"{n.spec.code}00",
            operators=n.operators,
            offline_weights=n.offline_weights,
        )
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
        try:
            _write_gpkg(frames, out_dir / city_gpkg(n.spec.code))
        finally:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
        cameras.to_csv(out_dir / city_cameras_csv(n.spec.code), index=False, encoding="utf-8-sig")
        counties.append(_figures(n.spec, metric, cameras, built))
    files = sorted(p for p in out_dir.iterdir() if p.is_file() and p.name != CITY_MANIFEST)
    manifest: dict[str, object] = {
        "city": {"code": CITY_CODE, "name": CITY_NAME},
        "counties": counties,
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
    (out_dir / CITY_MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_neighbour(spec: CountySpec, taken: shapely.Polygon) -> dict[str, gpd.GeoDataFrame]:
    """A county next to ``taken`` (the counties already built, EPSG:4490): all five levels in
    EPSG:4490, sharing ``taken``'s border vertex for vertex where they meet."""
    to_gk = Transformer.from_crs(STORAGE_SRID, SAMPLE_PROJECTED_EPSG, always_xy=True)
    region = county_outline(
        np.random.default_rng(spec.seed + 7), to_gk.transform(*spec.centre_lonlat), spec.area_km2 * 1e6
    )
    taken_gk = shapely.transform(taken, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    frames = build_county(spec, region=region, keep_out=taken_gk)
    out = {k: f.to_crs(STORAGE_SRID) for k, f in frames.items()}
    micro = cut_coverage(out["microgrid"].geometry.to_numpy(), taken)
    out["microgrid"] = out["microgrid"].set_geometry(
        gpd.GeoSeries(micro, index=out["microgrid"].index, crs=STORAGE_SRID)
    )
    for lv in reversed(LEVELS[:-1]):  # parents are the coverage union of their children, as for 鹿邑
        children = out[LEVELS[lv.number + 1].key]
        groups = children.groupby("parent_code", sort=False).geometry.apply(
            lambda g: shapely.coverage_union_all(g.to_numpy())
        )
        parents = out[lv.key]
        geoms = groups.reindex(parents["code"]).to_numpy()
        out[lv.key] = parents.set_geometry(gpd.GeoSeries(geoms, index=parents.index, crs=STORAGE_SRID))
    return out


def cut_coverage(polygons: np.ndarray, taken: shapely.Polygon) -> np.ndarray:
    """``polygons`` (a valid coverage, EPSG:4490, each reaching at most a few pixels into
    ``taken``) minus ``taken``, still a valid coverage, each polygon one piece; the new border
    runs along ``taken``'s own vertices (no vertex of ``taken``'s border is added or moved)."""
    ring = taken.exterior
    band = np.flatnonzero(shapely.intersects(polygons, ring))
    lines = shapely.unary_union(np.concatenate([shapely.boundary(polygons[band]), [ring]]))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))
    inside = shapely.point_on_surface(faces)
    keep = ~shapely.intersects(taken, inside)
    faces, inside = faces[keep], inside[keep]
    face_idx, band_idx = shapely.STRtree(polygons[band]).query(inside, predicate="within")
    owner = np.full(len(faces), -1)
    owner[face_idx] = band[band_idx]
    faces, owner = faces[owner >= 0], owner[owner >= 0]

    # Every new node on the border moves to the nearest vertex of the border.
    vertices = shapely.get_coordinates(ring)
    scale = np.array([np.cos(np.deg2rad(vertices[:, 1].mean())), 1.0])
    tree = cKDTree(vertices * scale)

    def snap(xy: np.ndarray) -> np.ndarray:
        dist, nearest = tree.query(xy * scale)
        on_border = shapely.distance(shapely.points(xy), ring) < _ON_BORDER_DEG
        move = on_border & (dist > 0)
        out = xy.copy()
        out[move] = vertices[nearest[move]]
        return out

    faces = shapely.remove_repeated_points(shapely.transform(faces, snap), 0.0)
    keep = (shapely.area(faces) > 0) & shapely.is_valid(faces)
    if not shapely.is_valid(faces[shapely.area(faces) > 0]).all():
        raise RuntimeError("a face became invalid when snapped to the border")
    faces, owner = faces[keep], owner[keep]

    pieces: dict[int, list[shapely.Geometry]] = {int(i): [] for i in band}
    for f, i in zip(faces, owner):
        pieces[int(i)].append(f)
    out = polygons.copy()
    for i in band:
        out[i] = shapely.coverage_union_all(np.array(pieces[int(i)], dtype=object)) if pieces[int(i)] else None
    # A polygon the cut left in several pieces keeps its largest; each other piece goes to the
    # neighbour it shares the longest edge with (or is dropped if it touches none: outside the county).
    for _ in range(3):
        split = [int(i) for i in band if out[i] is not None and shapely.get_num_geometries(out[i]) > 1]
        if not split:
            break
        for i in split:
            parts = sorted(shapely.get_parts(out[i]), key=lambda p: -p.area)
            out[i] = parts[0]
            others = np.array([j for j in range(len(out)) if j != i and out[j] is not None])
            for part in parts[1:]:
                near = others[shapely.intersects(out[others], part)]
                shared = shapely.length(shapely.intersection(shapely.boundary(out[near]), part.boundary))
                if near.size and shared.max() > 0:
                    j = int(near[int(np.argmax(shared))])
                    out[j] = shapely.coverage_union_all(np.array([out[j], part], dtype=object))
    if any(g is None or g.is_empty for g in out):
        raise RuntimeError("a polygon vanished when cut along the border")
    out = np.array([_single(g) for g in out], dtype=object)
    if not shapely.coverage_is_valid(out):
        raise RuntimeError("the cut polygons are not a valid coverage")
    return out


def _single(geom: shapely.Geometry) -> shapely.Polygon:
    """The one polygon of ``geom`` (a Polygon or a one-part MultiPolygon)."""
    parts = shapely.get_parts(geom)
    if len(parts) != 1:
        raise RuntimeError(f"expected one polygon, got {len(parts)}")
    return parts[0]


def _figures(
    spec: CountySpec, metric: dict[str, gpd.GeoDataFrame], cameras: pd.DataFrame, built: list[shapely.Polygon]
) -> dict[str, object]:
    """A county's figures for the manifest; ``built``: every county so far, this one last (EPSG:4490)."""
    to_gk = Transformer.from_crs(STORAGE_SRID, SAMPLE_PROJECTED_EPSG, always_xy=True)
    gk = [shapely.transform(g, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1]))) for g in built]
    shared = {}  # km of border shared with each county built before this one
    for k, other in enumerate(gk[:-1]):
        length = shapely.length(shapely.intersection(other.boundary, gk[-1].boundary))
        if length > 0:
            shared[_code_of(k, spec)] = round(float(length) / 1000, 3)
    installed = int((cameras["安装状态"] == "已安装").sum())
    online = int((cameras["在线状态"] == "在线").sum())
    return {
        "code": spec.code,
        "name": spec.name,
        "files": {"areas": city_gpkg(spec.code), "cameras": city_cameras_csv(spec.code)},
        "areas": {lv.key: len(metric[lv.key]) for lv in LEVELS},
        "area_km2": round(float(metric["county"].geometry.area.sum()) / 1e6, 3),
        "households": int(metric["microgrid"]["households"].sum()),
        "cameras": {"planned": len(cameras), "installed": installed, "online": online},
        "shared_border_km": shared,
    }


def _code_of(k: int, spec: CountySpec) -> str:
    """The code of the ``k``-th county built (0: 鹿邑, then ``NEIGHBOURS`` in order)."""
    return "411628" if k == 0 else NEIGHBOURS[k - 1].spec.code
