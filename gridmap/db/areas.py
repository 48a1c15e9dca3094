"""The ``area`` table: writes (a set of areas replaces a subtree as one new published boundary
version) and the API's reads (lists as GeoJSON, one area in detail, view summaries, search).

GeoJSON is built by PostgreSQL (``json_build_object`` / ``ST_AsGeoJSON``) and returned as text, so
a page of a thousand micro-grids is never parsed and re-serialised in Python. Coordinates are
EPSG:4490 (CGCS2000) longitude/latitude degrees rounded to 7 decimals (about 1 cm), exterior rings
counter-clockwise (RFC 7946); the API puts the ``crs`` member naming EPSG:4490 around them
(``gridmap.api.schemas_read.CRS_MEMBER``). Figures (planned, installed, online, rates, households) come from
``area_stats`` (moved by every change, see ``gridmap.db.figures``), i.e. they are exactly
the rows of ``gridmap coverage``.

Subtrees follow ``parent_code`` (never code prefixes), like the coverage roll-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from gridmap.db.copy import copy_columns, ewkb_hex
from gridmap.db.regions import sync_regions
from gridmap.geometry.metric import metric_crs, to_metric

if TYPE_CHECKING:
    from gridmap.geometry.scope import Scope
from collections.abc import Sequence
from typing import Any, Literal

from gridmap.levels import ALL_LEVELS, LEVELS, SCHEME_ATTR

AREA_COLUMNS = (
    "code",
    "name",
    "level",
    "parent_code",
    "kind",
    "households",
    "population",
    "worker_name",
    "worker_phone",
    "attrs",
    "geom",
    "area_m2",
)


#: Columns the readers add for bookkeeping; not the county's attributes.
_NOT_ATTRS = ("layer", "source_row", "area_m2")


@dataclass(frozen=True)
class VersionInfo:
    created_by: str
    file_name: str | None = None
    file_sha256: str | None = None
    reason: str | None = None


def replace_subtree(
    conn: Connection,
    root_code: str,
    areas: gpd.GeoDataFrame,
    info: VersionInfo,
    report: dict | None = None,
    *,
    top_level: int = 0,
    restored_from: int | None = None,
) -> int:
    """Replace every live area under ``root_code`` (code prefix) at ``top_level`` and below by
    ``areas`` (canonical columns, EPSG:4490 MultiPolygons) and record it as a new published version;
    returns the version id. Counties among ``areas`` are linked to their city and province rows
    (:func:`gridmap.db.regions.sync_regions`).

    Versions left with no live area become ``superseded`` (``rolled_back`` when this is a rollback,
    ``restored_from`` naming the version restored). Runs on the caller's transaction: if anything
    fails, the caller's rollback leaves the live data exactly as it was. Parent links are checked by
    the deferred foreign key at commit.
    """
    version_id = conn.execute(
        text("""INSERT INTO boundary_version (created_by, file_name, file_sha256, root_code, top_level, status,
                                              reason, feature_count, report, published_at, restored_from)
                VALUES (:by, :file, :sha, :root, :top, 'published', :reason, :n, CAST(:report AS jsonb), now(),
                        :restored)
                RETURNING id"""),
        {
            "by": info.created_by,
            "file": info.file_name,
            "sha": info.file_sha256,
            "root": root_code,
            "top": top_level,
            "reason": info.reason,
            "n": len(areas),
            "report": json.dumps(report, ensure_ascii=False) if report is not None else None,
            "restored": restored_from,
        },
    ).scalar_one()
    conn.execute(
        text("DELETE FROM area WHERE code LIKE :root || '%' AND level >= :top"), {"root": root_code, "top": top_level}
    )
    copy_columns(conn, "area", {**_area_columns(areas), "version_id": [version_id] * len(areas)})
    conn.execute(
        text(f"""INSERT INTO area_version (version_id, {", ".join(AREA_COLUMNS)})
                 SELECT version_id, {", ".join(AREA_COLUMNS)} FROM area WHERE version_id = :id"""),
        {"id": version_id},
    )
    conn.execute(
        text("""UPDATE boundary_version v SET status = :displaced
                WHERE v.status = 'published' AND v.id <> :id
                  AND NOT EXISTS (SELECT 1 FROM area a WHERE a.version_id = v.id)"""),
        {"id": version_id, "displaced": "rolled_back" if restored_from is not None else "superseded"},
    )
    counties = [str(c) for c, lv in zip(areas["code"], areas["level"]) if lv == 0]
    if counties:  # their city and province rows, and the counties' links to them
        sync_regions(conn, counties)
    return int(version_id)


def parent_areas(conn: Connection, codes: set[str], scope: Scope) -> gpd.GeoDataFrame:
    """The live areas an upload is checked against (columns code, level, parent_code, geometry in
    EPSG:4490): ``codes`` (parents named by the upload), the areas one level above the upload
    under its root, and, when the upload replaces a single area, that area's live siblings."""
    siblings = scope.includes_root and scope.parent is not None
    return gpd.read_postgis(
        text("""SELECT code, level, parent_code, geom FROM area
                WHERE code = ANY(CAST(:codes AS text[]))
                   OR (code LIKE CAST(:root AS text) || '%' AND level = CAST(:level AS smallint))
                   OR (:siblings AND parent_code = CAST(:parent AS text) AND level = CAST(:top AS smallint)
                       AND code NOT LIKE CAST(:root AS text) || '%')"""),
        conn,
        geom_col="geom",
        params={
            "codes": sorted(codes),
            "root": scope.root,
            "level": scope.parent_level,
            "siblings": siblings,
            "parent": scope.parent,
            "top": scope.top_level,
        },
    ).rename_geometry("geometry")


def live_codes_below(conn: Connection, root: str, top_level: int) -> list[str]:
    """The codes ``replace_subtree(root, top_level=…)`` would replace: under ``root`` at
    ``top_level`` and below."""
    return list(
        conn.execute(
            text("SELECT code FROM area WHERE code LIKE :root || '%' AND level >= :top"),
            {"root": root, "top": top_level},
        ).scalars()
    )


def count_below(conn: Connection, root: str, level: int) -> int:
    """How many live areas under ``root`` sit deeper than ``level``."""
    return int(
        conn.execute(
            text("SELECT count(*) FROM area WHERE code LIKE :root || '%' AND level > :level"),
            {"root": root, "level": level},
        ).scalar_one()
    )


def _area_columns(areas: gpd.GeoDataFrame) -> dict[str, Sequence[object]]:
    """The ``AREA_COLUMNS`` of ``areas`` as lists; columns we do not know go into ``attrs``."""
    n = len(areas)
    columns: dict[str, Sequence[object]] = {c: areas[c].tolist() if c in areas else [None] * n for c in AREA_COLUMNS}
    extra = [
        c
        for c in areas.columns
        if c not in AREA_COLUMNS and c != areas.geometry.name and c not in _NOT_ATTRS and c != "attrs"
    ]
    base = areas["attrs"].tolist() if "attrs" in areas else [None] * n  # e.g. restored from the archive
    columns["attrs"] = [
        json.dumps({**(b or {}), **{k: v for k, v in rec.items() if not pd.isna(v)}}, ensure_ascii=False, default=str)
        for b, rec in zip(base, areas[extra].to_dict("records"))
    ]
    geoms = areas.geometry.to_numpy()
    columns["geom"] = ewkb_hex(geoms)
    columns["area_m2"] = shapely.area(to_metric(geoms, metric_crs(geoms))).tolist() if n else []
    return columns


# ---------------------------------------------------------------------------------------------
# Reads for the API
# ---------------------------------------------------------------------------------------------

#: Metres per degree of latitude (and of longitude at the equator) on the CGCS2000 ellipsoid, rounded.
METRES_PER_DEGREE = 111_320.0

GeometryMode = Literal["full", "simplified", "none"]

#: Level names by level number, for ``level_name`` (index with level + 1 in SQL).
#: Chinese level names from the province (-2) down: the SQL takes ``[level + 3]`` (arrays count from 1).
LEVEL_NAMES = [lv.name_zh for lv in ALL_LEVELS]

#: Properties of an area feature (``a`` = area, ``s`` = area_stats, left-joined).
AREA_PROPERTIES = """json_build_object(
    'code', a.code, 'name', a.name, 'level', a.level,
    'level_name', (CAST(:level_names AS text[]))[a.level + 3], 'kind', a.kind, 'parent_code', a.parent_code,
    'households', coalesce(s.households, a.households), 'population', a.population,
    'worker_name', a.worker_name, 'area_m2', a.area_m2,
    'planned', s.planned, 'installed', s.installed, 'online', s.online,
    'rollout_rate', s.rollout_rate, 'online_rate', s.online_rate)"""

#: ``sub(code)``: the area ``:root`` and every area below it (by parent_code).
SUBTREE_CTE = """sub(code) AS (
    SELECT code FROM area WHERE code = :root
    UNION ALL
    SELECT a.code FROM area a JOIN sub ON a.parent_code = sub.code
)"""

ENVELOPE = "ST_MakeEnvelope(:minlon, :minlat, :maxlon, :maxlat, 4490)"


def metres_to_degrees(metres: float) -> float:
    """A simplification tolerance in degrees for ``metres`` on the ground.

    One degree of latitude is ~111.32 km everywhere; one degree of longitude is that times
    cos(latitude) (~92 km at 34°N). The tolerance is applied in degrees on both axes, so it is
    ``metres`` north-south and a little less east-west: never coarser than asked.
    """
    return metres / METRES_PER_DEGREE


@dataclass(frozen=True)
class Page:
    """One page of a feature list: how many match, how many are here, the features as JSON text."""

    matched: int
    returned: int
    features_json: str


def like_escape(value: str) -> str:
    """``value`` with LIKE wildcards escaped (backslash is PostgreSQL's default escape)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def bbox_params(bbox: Sequence[float]) -> dict[str, float]:
    minlon, minlat, maxlon, maxlat = bbox
    return {"minlon": minlon, "minlat": minlat, "maxlon": maxlon, "maxlat": maxlat}


@dataclass(frozen=True)
class OutputCrs:
    """How geometries are written: ``srid`` 4490 (degrees, 7 decimals) or a projected one such as
    3857 (metres, 2 decimals); ``lat_first``: latitude before longitude (the EPSG axis order of
    EPSG:4490, as OGC API – Features Part 2 asks for it), else longitude first (RFC 7946, CRS84)."""

    srid: int = 4490
    lat_first: bool = False

    @property
    def decimals(self) -> int:
        return 7 if self.srid == 4490 else 2


#: RFC 7946 GeoJSON: EPSG:4490 longitude, latitude (what /api/v1 writes, and OGC's CRS84).
LONLAT = OutputCrs()


def geometry_sql(mode: GeometryMode, column: str = "a.geom", crs: OutputCrs = LONLAT) -> str:
    """The GeoJSON geometry of ``column`` as SQL, in ``crs`` (default EPSG:4490 lon/lat degrees,
    7 decimals): exterior rings counter-clockwise and holes clockwise in longitude/latitude
    (RFC 7946 §3.1.6, ``ST_ForcePolygonCCW``), whatever the orientation the file was drawn in.
    ``crs.lat_first`` swaps the axes after that (``ST_FlipCoordinates``): a client that swaps
    them back gets the same rings."""
    if mode == "none":
        return "NULL::json"
    geom = f"ST_ForcePolygonCCW({column})"
    if mode == "simplified":
        geom = f"ST_ForcePolygonCCW(ST_Multi(ST_SimplifyPreserveTopology({column}, :tolerance)))"
    if crs.srid != 4490:
        geom = f"ST_Transform({geom}, {int(crs.srid)})"
    if crs.lat_first:
        geom = f"ST_FlipCoordinates({geom})"
    return f"ST_AsGeoJSON({geom}, {crs.decimals}, 0)::json"


def envelope_sql(srid: int = 4490) -> str:
    """The box ``:minlon, :minlat, :maxlon, :maxlat`` (x/y, in ``srid``) as an EPSG:4490 polygon.
    A box in Web Mercator (3857) stays a lon/lat rectangle: each axis maps on its own."""
    if srid == 4490:
        return ENVELOPE
    return f"ST_Transform(ST_MakeEnvelope(:minlon, :minlat, :maxlon, :maxlat, {int(srid)}), 4490)"


def area_exists(conn: Connection, code: str) -> bool:
    return conn.execute(text("SELECT EXISTS (SELECT 1 FROM area WHERE code = :code)"), {"code": code}).scalar_one()


def screen_root(conn: Connection) -> str | None:
    """The area pages and screens show by default: from the top of the tree (a province, see
    ``gridmap.db.regions``) down through every region with a single child, so one county alone is
    shown as the county and several as their city (or province); None without areas."""
    return conn.execute(
        text("""
        WITH RECURSIVE down(code, level, depth) AS (
            (SELECT code, level, 0 FROM area WHERE parent_code IS NULL ORDER BY level, code COLLATE "C" LIMIT 1)
            UNION ALL
            SELECT c.code, c.level, down.depth + 1 FROM down JOIN area c ON c.parent_code = down.code
            WHERE down.level < 0 AND down.depth < 8
              AND (SELECT count(*) FROM area s WHERE s.parent_code = down.code) = 1
        ) SELECT code FROM down ORDER BY depth DESC LIMIT 1""")
    ).scalar_one_or_none()


@dataclass(frozen=True)
class CountyExtent:
    code: str
    name: str | None
    extent: tuple[float, float, float, float]  # lon/lat degrees, EPSG:4490


def county_extents(conn: Connection) -> list[CountyExtent]:
    """The live counties (level 0) with their boxes, by code."""
    rows = conn.execute(
        text("""SELECT code, name, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
                FROM area WHERE level = 0 ORDER BY code COLLATE "C" """)
    ).all()
    return [CountyExtent(c, n, (float(x0), float(y0), float(x1), float(y1))) for c, n, x0, y0, x1, y1 in rows]


@dataclass(frozen=True)
class CountyShapes:
    codes: list[str]
    names: dict[str, str | None]
    geoms: np.ndarray  # shapely MultiPolygons, EPSG:4490


def county_shapes(conn: Connection, codes: Sequence[str]) -> CountyShapes:
    """The outlines (EPSG:4490) of the live counties with ``codes``."""
    rows = conn.execute(
        text("SELECT code, name, ST_AsBinary(geom) FROM area WHERE level = 0 AND code = ANY(CAST(:c AS text[]))"),
        {"c": list(codes)},
    ).all()
    return CountyShapes(
        [r[0] for r in rows],
        {r[0]: r[1] for r in rows},
        np.array([shapely.from_wkb(bytes(r[2])) for r in rows], dtype=object),
    )


def live_children(
    conn: Connection, counties: Sequence[str], local_column: str
) -> dict[str, list[tuple[str, str | None]]]:
    """Per parent code in the ``counties`` (code prefixes), its live children's codes with the
    local code each keeps in ``attrs`` under ``local_column`` (None without one)."""
    rows = conn.execute(
        text("""SELECT parent_code, code, attrs ->> :column FROM area
                WHERE parent_code IS NOT NULL AND left(parent_code, 6) = ANY(CAST(:counties AS text[]))"""),
        {"counties": list(counties), "column": local_column},
    ).all()
    out: dict[str, list[tuple[str, str | None]]] = {}
    for parent, code, local in rows:
        out.setdefault(parent, []).append((code, local))
    return out


def county_schemes(conn: Connection, counties: Sequence[str] | None = None) -> dict[str, str]:
    """The level schemes the live ``counties`` (default: all) declared, as stored in their
    ``attrs`` under :data:`gridmap.levels.SCHEME_ATTR` (``Scheme.spec`` text); a county that
    declared none (the standard scheme) is left out."""
    rows = conn.execute(
        text("""SELECT code, attrs ->> :attr FROM area
                WHERE level = 0 AND attrs ->> :attr IS NOT NULL AND (CAST(:codes AS text[]) IS NULL OR code = ANY(CAST(:codes AS text[])))"""),
        {"attr": SCHEME_ATTR, "codes": list(counties) if counties is not None else None},
    ).all()
    return {code: spec for code, spec in rows if spec}


def levels_present(conn: Connection, prefix: str | None = None) -> list[int]:
    """The levels from the county down (0–4) that have live areas, all of them or those whose
    code starts with ``prefix``: the levels a page offers (a county without micro-grids has
    none at 4). One index probe per level."""
    return list(
        conn.execute(
            text("""SELECT l FROM unnest(CAST(:levels AS smallint[])) AS l
                    WHERE EXISTS (SELECT 1 FROM area a WHERE a.level = l
                                  AND (CAST(:prefix AS text) IS NULL OR left(a.code, length(CAST(:prefix AS text))) = :prefix))
                    ORDER BY l"""),
            {"levels": [lv.number for lv in LEVELS], "prefix": prefix},
        ).scalars()
    )


def county_codes(conn: Connection, prefix: str | None = None) -> list[str]:
    """The codes of the live counties (level 0; those whose code starts with ``prefix``), by code."""
    sql = text(
        "SELECT code FROM area WHERE level = 0 AND (CAST(:prefix AS text) IS NULL "
        'OR starts_with(code, CAST(:prefix AS text))) ORDER BY code COLLATE "C"'
    )
    return list(conn.execute(sql, {"prefix": prefix}).scalars())


AreaHead = tuple[str, str | None, int, str | None]


def area_head(conn: Connection, code: str) -> AreaHead | None:
    """(code, name, level, parent_code) of the live area ``code``, or None."""
    row = conn.execute(
        text("SELECT code, name, level, parent_code FROM area WHERE code = :code"), {"code": code}
    ).first()
    return None if row is None else (row[0], row[1], int(row[2]), row[3])


def region_heads(conn: Connection) -> list[AreaHead]:
    """(code, name, level, parent_code) of the region rows above the counties (city, province)."""
    rows = conn.execute(text("SELECT code, name, level, parent_code FROM area WHERE level < 0 ORDER BY level, code"))
    return [(r[0], r[1], int(r[2]), r[3]) for r in rows]


def area_box(conn: Connection, code: str) -> dict[str, Any] | None:
    """``code``, ``name``, ``level`` and ``bbox`` ([minlon, minlat, maxlon, maxlat], EPSG:4490
    degrees, rounded outwards to 7 decimals) of one live area; None when there is none."""
    row = (
        conn.execute(
            text(f"SELECT code, name, level, {BBOX_SQL.format(g='geom')} AS bbox FROM area WHERE code = :code"),
            {"code": code},
        )
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


def area_known(conn: Connection, code: str) -> bool:
    """A live area, or one with coverage snapshots (an area since removed still has its history)."""
    return conn.execute(
        text("""SELECT EXISTS (SELECT 1 FROM area WHERE code = :code)
                                    OR EXISTS (SELECT 1 FROM coverage_snapshot WHERE area_code = :code)"""),
        {"code": code},
    ).scalar_one()


def list_areas(
    conn: Connection,
    *,
    level: int | None = None,
    parent: str | None = None,
    bbox: Sequence[float] | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
    geometry: GeometryMode = "full",
    tolerance_m: float = 10.0,
    code: str | None = None,
    parent_code: str | None = None,
    crs: OutputCrs = LONLAT,
    bbox_srid: int = 4490,
) -> Page:
    """Areas as GeoJSON features, sorted by level then code.

    - ``level``: only that level;
    - ``parent``: its direct children; with ``level``, the areas of that level anywhere below it;
    - ``bbox`` (x/y in ``bbox_srid``, default EPSG:4490 lon/lat degrees): areas whose geometry
      intersects the box;
    - ``q``: code starting with ``q`` or name containing it;
    - ``code``, ``parent_code``: exactly that code, exactly that parent (OGC property filters);
    - ``crs``: the coordinates written (:class:`OutputCrs`; default EPSG:4490 lon/lat);
    - ``geometry``: ``full``, ``simplified`` (``ST_SimplifyPreserveTopology`` with ``tolerance_m``
      metres, see :func:`metres_to_degrees`; neighbours may no longer share edges exactly) or
      ``none`` (null geometry).
    """
    where, params, ctes = [], {"limit": limit, "offset": offset, "level_names": LEVEL_NAMES}, []
    if level is not None:
        where.append("a.level = :level")
        params["level"] = level
    if parent is not None:
        params["root"] = parent
        if level is None:
            where.append("a.parent_code = :root")
        else:
            ctes.append(SUBTREE_CTE)
            where.append("a.code IN (SELECT code FROM sub) AND a.code <> :root")
    if bbox is not None:
        where.append(f"ST_Intersects(a.geom, {envelope_sql(bbox_srid)})")
        params.update(bbox_params(bbox))
    if code is not None:
        where.append("a.code = :code")
        params["code"] = code
    if parent_code is not None:
        where.append("a.parent_code = :parent_code")
        params["parent_code"] = parent_code
    if q:
        where.append("(a.code LIKE :q_prefix OR a.name ILIKE :q_part)")
        params["q_prefix"] = like_escape(q) + "%"
        params["q_part"] = "%" + like_escape(q) + "%"
    if geometry == "simplified":
        params["tolerance"] = metres_to_degrees(tolerance_m)
    ctes.append(f"matched AS (SELECT a.code, a.level FROM area a WHERE {' AND '.join(where) or 'true'})")
    ctes.append("page AS (SELECT code, level FROM matched ORDER BY level, code LIMIT :limit OFFSET :offset)")
    sql = f"""
        WITH RECURSIVE {", ".join(ctes)}
        SELECT (SELECT count(*) FROM matched), (SELECT count(*) FROM page),
               coalesce((SELECT json_agg(json_build_object(
                             'type', 'Feature', 'id', a.code, 'geometry', {geometry_sql(geometry, crs=crs)},
                             'properties', {AREA_PROPERTIES}) ORDER BY a.level, a.code)
                         FROM page p JOIN area a ON a.code = p.code LEFT JOIN area_stats s ON s.code = a.code),
                        '[]'::json)::text
    """
    matched, returned, features = conn.execute(text(sql), params).one()
    return Page(int(matched), int(returned), features)


def level_extents(conn: Connection) -> dict[int, list[float] | None]:
    """Per level, [minlon, minlat, maxlon, maxlat] of its live areas (EPSG:4490 degrees, rounded
    outwards to 7 decimals); None for a level without areas."""
    rows = conn.execute(
        text(
            f"SELECT level, {BBOX_SQL.format(g='e')} FROM (SELECT level, ST_Extent(geom)::geometry AS e "
            "FROM area GROUP BY level) x"
        )
    ).all()
    found = {int(level): box for level, box in rows}
    return {lv.number: found.get(lv.number) for lv in LEVELS}


#: [minlon, minlat, maxlon, maxlat] of ``g``, rounded outwards to 7 decimals (the box still contains g).
BBOX_SQL = """json_build_array(floor(ST_XMin({g}) * 1e7) / 1e7, floor(ST_YMin({g}) * 1e7) / 1e7,
                              ceil(ST_XMax({g}) * 1e7) / 1e7, ceil(ST_YMax({g}) * 1e7) / 1e7)"""


def area_detail(conn: Connection, code: str) -> dict[str, Any] | None:
    """One area: ``properties`` (as in lists, plus worker_phone, ancestors, children, bbox), its full
    ``geometry`` as GeoJSON text; None when there is no such area. Coverage and camera counts are
    added by the caller."""
    row = conn.execute(
        text(f"""
        SELECT {AREA_PROPERTIES} AS properties, a.worker_phone, {geometry_sql("full")}::text AS geometry,
               {BBOX_SQL.format(g="a.geom")} AS bbox
        FROM area a LEFT JOIN area_stats s ON s.code = a.code WHERE a.code = :code
    """),
        {"code": code, "level_names": LEVEL_NAMES},
    ).one_or_none()
    if row is None:
        return None
    properties = dict(row.properties)
    properties["worker_phone"] = row.worker_phone
    properties["ancestors"] = ancestors(conn, code)
    properties["children"] = children(conn, code)
    properties["levels"] = [lv for lv in levels_present(conn, code) if lv >= properties["level"]]
    properties["bbox"] = row.bbox
    return {"properties": properties, "geometry": row.geometry}


def ancestors(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The areas above ``code``, from the top (county) down to its parent."""
    rows = (
        conn.execute(
            text("""
        WITH RECURSIVE up(code, name, level, parent_code, depth) AS (
            SELECT p.code, p.name, p.level, p.parent_code, 1
            FROM area c JOIN area p ON p.code = c.parent_code WHERE c.code = :code
            UNION ALL
            SELECT p.code, p.name, p.level, p.parent_code, up.depth + 1
            FROM up JOIN area p ON p.code = up.parent_code WHERE up.depth < 32
        )
        SELECT code, name, level FROM up ORDER BY depth DESC
    """),
            {"code": code},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def children(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The direct children of ``code`` with their figures, by code."""
    rows = (
        conn.execute(
            text("""
        SELECT a.code, a.name, a.level, s.planned, s.installed, s.online, s.rollout_rate, s.online_rate
        FROM area a LEFT JOIN area_stats s ON s.code = a.code
        WHERE a.parent_code = :code ORDER BY a.code
    """),
            {"code": code},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def view_summary(conn: Connection, level: int, bbox: Sequence[float] | None = None) -> dict[str, int]:
    """Areas of ``level`` whose representative point (``ST_PointOnSurface``) lies in ``bbox`` (all
    when None): how many, their planned / installed / online sums and how many have nothing installed.
    Counting each area by one point means adjoining map views never count an area twice."""
    params: dict[str, Any] = {"level": level}
    where = "a.level = :level"
    if bbox is not None:
        where += f" AND a.geom && {ENVELOPE} AND ST_Intersects(ST_PointOnSurface(a.geom), {ENVELOPE})"
        params.update(bbox_params(bbox))
    row = (
        conn.execute(
            text(f"""
        SELECT count(*) AS areas, coalesce(sum(s.planned), 0) AS planned,
               coalesce(sum(s.installed), 0) AS installed, coalesce(sum(s.online), 0) AS online,
               count(*) FILTER (WHERE coalesce(s.installed, 0) = 0) AS blind
        FROM area a LEFT JOIN area_stats s ON s.code = a.code WHERE {where}
    """),
            params,
        )
        .mappings()
        .one()
    )
    return {k: int(v) for k, v in row.items()}


def search(conn: Connection, q: str, limit: int = 10) -> list[dict[str, Any]]:
    """Areas whose code starts with ``q`` or whose name contains it: exact code or name first,
    then names starting with ``q``, then by level and code."""
    rows = (
        conn.execute(
            text(f"""
        SELECT a.code, a.name, a.level, (CAST(:level_names AS text[]))[a.level + 3] AS level_name,
               CASE WHEN a.geom IS NULL THEN NULL ELSE {BBOX_SQL.format(g="a.geom")} END AS bbox
        FROM area a
        WHERE a.code LIKE :q_prefix OR a.name ILIKE :q_part
        ORDER BY a.code = :q DESC, a.name = :q DESC, a.name LIKE :q_prefix DESC, a.level, a.code
        LIMIT :limit
    """),
            {
                "q": q,
                "q_prefix": like_escape(q) + "%",
                "q_part": "%" + like_escape(q) + "%",
                "limit": limit,
                "level_names": LEVEL_NAMES,
            },
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def area_names(conn: Connection, codes: set[str] | list[str]) -> dict[str, str]:
    """The live names of the areas with these codes (codes without a live area, or without a
    name, are left out)."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    rows = conn.execute(
        text("SELECT code, name FROM area WHERE code = ANY(:codes) AND coalesce(name, '') <> ''"), {"codes": wanted}
    )
    return {str(code): str(name) for code, name in rows}
