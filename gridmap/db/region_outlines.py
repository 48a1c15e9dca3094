"""Official outlines of regions (``region_outline``, migration 0010): the boundary a province (2-digit
code), city (4) or county (6) officially has, EPSG:4490, loaded by ``gridmap regions outline``
(:mod:`gridmap.services.region_outlines` reads and checks the file, measures it in metres).

A county is checked against its city's and province's outlines when it is validated or published
(``county_outside_region``, ``county_gap``), and ``gridmap regions gaps`` compares a region's
outline with its live counties; the SQL both need is here, the geometry in metres is the
service's. An outline loaded with a name names its region row too
(:func:`gridmap.db.regions.region_names`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gridmap.db.locks import lock_regions
from gridmap.db.regions import region_names, rename_regions
from gridmap.db.revisions import bump_revision


@dataclass(frozen=True)
class Outline:
    code: str
    name: str | None
    wkb: bytes  # EPSG:4490 MultiPolygon
    area_m2: float
    source: str


@dataclass(frozen=True)
class LiveCounty:
    code: str
    name: str | None
    wkb: bytes  # EPSG:4490


def save_outlines(conn: Connection, outlines: Sequence[Outline]) -> list[str]:
    """Insert or replace ``outlines`` (on the caller's transaction; one loaded again without a name
    keeps the name it had), then rename the region rows
    their names change (bumping the data revision when one was renamed: pages show the names).
    Returns the codes of the region rows renamed."""
    for o in outlines:
        conn.execute(
            text("""INSERT INTO region_outline (code, name, geom, area_m2, source)
                    VALUES (:code, :name, ST_Multi(ST_GeomFromWKB(:wkb, 4490)), :area, :source)
                    ON CONFLICT (code) DO UPDATE SET name = coalesce(excluded.name, region_outline.name), geom = excluded.geom,
                        area_m2 = excluded.area_m2, source = excluded.source, loaded_at = now()"""),
            {"code": o.code, "name": o.name, "wkb": o.wkb, "area": o.area_m2, "source": o.source},
        )
    return apply_region_names(conn)


def apply_region_names(conn: Connection) -> list[str]:
    """Rename the region rows whose name (:func:`gridmap.db.regions.region_names`) changed, on the
    caller's transaction, bumping the data revision when one was (pages show the names). Returns
    the codes renamed."""
    lock_regions(conn)
    renamed = rename_regions(conn, region_names(conn))
    if renamed:
        bump_revision(conn)
    return renamed


def outlines_of(conn: Connection, codes: Sequence[str]) -> list[Outline]:
    """The loaded outlines of ``codes`` (those that have one), by code."""
    rows = conn.execute(
        text("""SELECT code, name, ST_AsBinary(geom), area_m2, source FROM region_outline
                WHERE code = ANY(CAST(:codes AS text[])) ORDER BY code"""),
        {"codes": list(codes)},
    ).all()
    return [Outline(r[0], r[1], bytes(r[2]), float(r[3]), r[4]) for r in rows]


def listed_outlines(conn: Connection) -> list[tuple[str, str | None, float, str, str]]:
    """Every loaded outline: code, name, area (m²), source file, loaded at (ISO text), by code."""
    return [
        (r[0], r[1], float(r[2]), r[3], r[4])
        for r in conn.execute(
            text("""SELECT code, name, area_m2, source, to_char(loaded_at, 'YYYY-MM-DD HH24:MI:SSOF')
                    FROM region_outline ORDER BY code""")
        ).all()
    ]


def region_rows(conn: Connection) -> list[tuple[str, str | None, int, int, bool]]:
    """Every region row (province, city): code, name, level, live children, whether it has an
    outline loaded; by code."""
    return [
        (r[0], r[1], int(r[2]), int(r[3]), bool(r[4]))
        for r in conn.execute(
            text("""SELECT r.code, r.name, r.level,
                           (SELECT count(*) FROM area c WHERE c.parent_code = r.code),
                           EXISTS (SELECT 1 FROM region_outline o WHERE o.code = r.code)
                    FROM area r WHERE r.level < 0 ORDER BY r.code""")
        ).all()
    ]


def live_counties_near(
    conn: Connection, box_wkb: bytes, *, prefix: str | None = None, exclude: Sequence[str] = ()
) -> list[LiveCounty]:
    """The live counties (level 0) whose boxes meet ``box_wkb`` (EPSG:4490), only those whose code
    starts with ``prefix`` when given, without the codes in ``exclude``; by code."""
    rows = conn.execute(
        text("""SELECT code, name, ST_AsBinary(geom) FROM area
                WHERE level = 0 AND geom && ST_GeomFromWKB(:box, 4490)
                  AND (CAST(:prefix AS text) IS NULL OR starts_with(code, CAST(:prefix AS text)))
                  AND NOT code = ANY(CAST(:exclude AS text[]))
                ORDER BY code"""),
        {"box": box_wkb, "prefix": prefix, "exclude": list(exclude)},
    ).all()
    return [LiveCounty(r[0], r[1], bytes(r[2])) for r in rows]


def live_counties_of(conn: Connection, prefix: str) -> list[LiveCounty]:
    """Every live county whose code starts with ``prefix`` (a region's), by code."""
    rows = conn.execute(
        text("""SELECT code, name, ST_AsBinary(geom) FROM area
                WHERE level = 0 AND starts_with(code, :prefix) ORDER BY code"""),
        {"prefix": prefix},
    ).all()
    return [LiveCounty(r[0], r[1], bytes(r[2])) for r in rows]


def counties_met(conn: Connection, code: str, wkb: bytes) -> tuple[int, int]:
    """How many live counties of region ``code`` (by code prefix) there are, and how many of them
    ``wkb`` (EPSG:4490) meets."""
    row = conn.execute(
        text("""SELECT count(*), count(*) FILTER (WHERE ST_Intersects(geom, ST_GeomFromWKB(:wkb, 4490)))
                FROM area WHERE level = 0 AND starts_with(code, :code)"""),
        {"code": code, "wkb": wkb},
    ).one()
    return int(row[0]), int(row[1])
