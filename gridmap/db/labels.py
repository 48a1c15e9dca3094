"""The ``area_label`` table: where each live area's name goes on a map.

One row per live area: the centre of its largest inscribed circle (``ST_MaximumInscribedCircle``:
the point deepest inside the area, which a centroid is not for a concave, ring-shaped or
multi-part area) as an EPSG:4490 point, and the circle's radius in metres, computed in the
area's CGCS2000 3-degree Gauss-Krüger zone (EPSG 4534–4554, no zone prefix: the zone whose central
meridian is nearest the area's centre, as :mod:`gridmap.geometry.metric` measures), and the name as
a map writes it inside its parent (``short_name``: without the parent's name where it starts with
it, "杜庄村第一网格2号微网格" under "杜庄村第一网格" is "2号微网格"). A page places
a name where it fits: a name ``w`` pixels wide fits at a zoom where ``2 · radius_m`` is at least
about ``w`` pixels' worth of metres.

Kept in step with the areas by the write path, in the writer's transaction, like the tile rows
(:func:`gridmap.tiles.store.sync_area_rows` calls :func:`sync_label_rows`): the rows of replaced
areas are deleted and the new areas' rows built. The sample county's 12,195 areas take about 3 s
(nearly all of it the inscribed circles of the 10,311 micro-grids); one township's a fraction of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

#: The GK zone (EPSG, no prefix) of a geometry ``g`` in EPSG:4490: central meridian 3·n nearest
#: its centre, n clamped to China's zones 25–45.
_GK_ZONE = "4509 + least(45, greatest(25, floor((ST_X(ST_Centroid(ST_Envelope({g}))) + 1.5) / 3)))::int"

_DELETE_GONE = text("""
    DELETE FROM area_label l
    WHERE (CAST(:codes AS text[]) IS NULL OR l.code = ANY(CAST(:codes AS text[])))
      AND NOT EXISTS (SELECT 1 FROM area a WHERE a.id = l.area_id)
""")

_BUILD_NEW = text(f"""
    INSERT INTO area_label (area_id, level, code, name, short_name, geom, radius_m)
    SELECT a.id, a.level, a.code, a.name,
           CASE WHEN p.name <> '' AND starts_with(a.name, p.name) AND length(a.name) > length(p.name)
                THEN substr(a.name, length(p.name) + 1) ELSE a.name END,
           ST_Transform(ST_SetSRID(c.center, a.zone), 4490),
           ST_Distance(c.center, c.nearest)
    FROM (SELECT id, level, code, name, parent_code, geom, {_GK_ZONE.format(g="geom")} AS zone
          FROM area
          WHERE (CAST(:codes AS text[]) IS NULL OR code = ANY(CAST(:codes AS text[])))
            AND NOT EXISTS (SELECT 1 FROM area_label l WHERE l.area_id = area.id)
            AND level >= 0  -- the city and province rows (gridmap.db.regions) are not labelled
            AND NOT ST_IsEmpty(geom)) AS a
    LEFT JOIN area p ON p.code = a.parent_code
    CROSS JOIN LATERAL ST_MaximumInscribedCircle(ST_Transform(a.geom, a.zone)) AS c
""")


def sync_label_rows(conn: Connection, codes: Sequence[str] | None = None) -> dict[str, int]:
    """Delete the label rows of areas that are gone and build those of areas that have none: among
    the areas with ``codes`` (a publish's removed and added codes), or everywhere when None."""
    if codes is not None and not codes:
        return {"label_rows_deleted": 0, "label_rows_built": 0}
    params = {"codes": None if codes is None else sorted(set(codes))}
    deleted = conn.execute(_DELETE_GONE, params).rowcount
    built = conn.execute(_BUILD_NEW, params).rowcount
    if built > 5000:
        conn.execute(text("ANALYZE area_label"))
    return {"label_rows_deleted": deleted, "label_rows_built": built}


def rebuild_label_rows(conn: Connection) -> dict[str, int]:
    """Build the table from scratch (the sample load, repairs)."""
    conn.execute(text("DELETE FROM area_label"))
    return sync_label_rows(conn, None)


def label_differences(conn: Connection) -> list[str]:
    """How the label rows differ from the live areas (empty: they agree)."""
    missing, stale = conn.execute(
        text("""
        SELECT (SELECT count(*) FROM area a WHERE a.level >= 0 AND NOT ST_IsEmpty(a.geom)
                  AND NOT EXISTS (SELECT 1 FROM area_label l WHERE l.area_id = a.id)),
               (SELECT count(*) FROM area_label l WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.id = l.area_id))
    """)
    ).one()
    found = []
    if missing:
        found.append(f"{missing} 个区域没有标注位置")
    if stale:
        found.append(f"{stale} 个标注属于已不存在的区域")
    return found


_LIST = text("""
    SELECT l.code, l.name, l.short_name, l.level, round(ST_X(l.geom)::numeric, 6)::float8 AS lon,
           round(ST_Y(l.geom)::numeric, 6)::float8 AS lat, round(l.radius_m::numeric, 1)::float8 AS radius_m
    FROM area_label l
    WHERE l.level = :level AND l.radius_m >= :min_radius_m
      AND (CAST(:scope AS text) IS NULL OR l.code LIKE CAST(:scope AS text) || '%')
      AND l.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)
    ORDER BY l.radius_m DESC, l.code COLLATE "C"
    LIMIT :limit
""")


def list_labels(
    conn: Connection,
    *,
    level: int,
    bbox: tuple[float, float, float, float],
    min_radius_m: float = 0.0,
    limit: int = 2000,
    scope: str | None = None,
) -> list[dict[str, Any]]:
    """The labels of ``level`` inside ``bbox`` (EPSG:4490 lon/lat: west, south, east, north) whose
    inscribed circle has at least ``min_radius_m`` metres of radius, roomiest first, at most
    ``limit`` (``scope``: only codes starting with it). Each: code, name, short_name, level, lon, lat (EPSG:4490
    degrees, 6 decimals ≈ 0.1 m) and radius_m (metres, 0.1 m)."""
    x0, y0, x1, y1 = bbox
    rows = conn.execute(
        _LIST,
        {
            "level": level,
            "min_radius_m": min_radius_m,
            "scope": scope,
            "x0": x0,
            "y0": y0,
            "x1": x1,
            "y1": y1,
            "limit": limit,
        },
    ).mappings()
    return [dict(r) for r in rows]
