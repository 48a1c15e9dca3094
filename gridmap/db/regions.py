"""The regions above the counties — provinces (level -2, 2-digit codes) and cities (level -1,
4-digit codes), see ``gridmap.levels`` — kept in ``area`` as rows derived from the live counties.

Boundary files never hold them: a county's code names its city and province (GB/T 2260 prefixes),
so whenever counties are published, replaced or rolled back :func:`sync_regions` (called by
``gridmap.db.areas.replace_subtree``) makes the region rows match: one city row per city with a
live county, one province row per province with a city, each county's ``parent_code`` its city's
code, each region's outline the union of its children's (EPSG:4490) and its area (m²) their sum.
A city whose counties are loaded one by one grows as they arrive; one left without counties goes.
Region rows have no version (``version_id`` NULL), no tile rows and no label rows: maps draw the
counties.

Their names: the built-in :data:`gridmap.levels.REGION_NAMES`, overridden and extended by the CSV
``GRIDMAP_REGION_NAMES`` names, and those by the name an official outline was loaded with
(``region_outline``, :mod:`gridmap.db.region_outlines`); :func:`region_names` gives them, and
every sync renames the region rows whose name changed.

Their figures follow the same chain as every area's (``gridmap.db.figures`` walks
``parent_code``): a camera write moves its city and province by deltas like its county, and a
publish replacing a county moves them by its cameras' deltas from the city (its anchor). A new
region starts with zero figures: its counties' cameras then arrive as deltas. Writers take
:func:`gridmap.db.locks.lock_regions` first, so each redraws a region from what the previous one
committed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from gridmap.config import get_settings, parse_region_names
from gridmap.db.locks import lock_regions
from gridmap.levels import CITY, PROVINCE, REGION_NAMES, region_codes_of

#: A region row's outline: the union of its children's (cheap for tens of counties; only the
#: regions whose counties changed are recomputed).
_OUTLINES = text("""
    UPDATE area r SET geom = u.geom, area_m2 = u.area_m2, updated_at = now()
    FROM (SELECT parent_code, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(geom)), 3)) AS geom,
                 sum(area_m2) AS area_m2
          FROM area WHERE level = :child_level AND parent_code = ANY(:codes) GROUP BY parent_code) u
    WHERE r.code = u.parent_code AND r.level = :level
""")


def region_names(conn: Connection) -> dict[str, str]:
    """Every region's name by code: :data:`REGION_NAMES`, then the ``GRIDMAP_REGION_NAMES`` CSV's,
    then the outlines' (each overriding the one before). Raises ``SettingsError``
    (``invalid_setting``) when the CSV cannot be used."""
    settings = get_settings()
    names = dict(REGION_NAMES)
    if settings.region_names is not None:
        names.update(parse_region_names(settings.region_names))
    names.update(
        {r[0]: r[1] for r in conn.execute(text("SELECT code, name FROM region_outline WHERE name IS NOT NULL"))}
    )
    return names


def sync_regions(conn: Connection, counties: Iterable[str] | None = None) -> list[str]:
    """Make the city and province rows match the live counties (on the caller's transaction):
    create the missing ones, link every county to its city, drop regions left empty, and redraw
    the outlines of the regions of ``counties`` (codes a write replaced; None: every region).
    Region rows take the names :func:`region_names` gives (renamed when one changed).
    Returns the codes of the region rows redrawn or created."""
    names = region_names(conn)
    lock_regions(conn)
    live = list(conn.execute(text("SELECT code FROM area WHERE level = 0")).scalars())
    wanted_provinces = sorted({region_codes_of(c)[0] for c in live})
    wanted_cities = sorted({region_codes_of(c)[1] for c in live})
    existing = set(conn.execute(text("SELECT code FROM area WHERE level < 0")).scalars())
    created = [c for c in wanted_provinces + wanted_cities if c not in existing]
    for code in created:
        level = PROVINCE if len(code) == PROVINCE.code_length else CITY
        conn.execute(
            text("""INSERT INTO area (code, name, level, parent_code, kind, geom)
                    VALUES (:code, :name, :level, :parent, :kind, ST_GeomFromText('MULTIPOLYGON EMPTY', 4490))
                    ON CONFLICT (code) DO NOTHING"""),
            {
                "code": code,
                "name": names.get(code),
                "level": level.number,
                "parent": code[: PROVINCE.code_length] if level is CITY else None,
                "kind": level.name_zh,
            },
        )
    if created:  # no camera below a new region yet: its figures start at zero
        conn.execute(
            text("""INSERT INTO area_stats (code, level, planned, installed, online)
                    SELECT code, level, 0, 0, 0 FROM area WHERE code = ANY(:codes)
                    ON CONFLICT (code) DO NOTHING"""),
            {"codes": created},
        )
    conn.execute(
        text("""UPDATE area SET parent_code = left(code, :n)
                WHERE level = 0 AND parent_code IS DISTINCT FROM left(code, :n)"""),
        {"n": CITY.code_length},
    )
    for number in (CITY.number, PROVINCE.number):  # regions left without children go, figures too
        gone = list(
            conn.execute(
                text("""DELETE FROM area r WHERE r.level = :level
                        AND NOT EXISTS (SELECT 1 FROM area c WHERE c.parent_code = r.code) RETURNING code"""),
                {"level": number},
            ).scalars()
        )
        if gone:
            conn.execute(text("DELETE FROM area_operator_stats WHERE code = ANY(:c)"), {"c": gone})
            conn.execute(text("DELETE FROM area_stats WHERE code = ANY(:c)"), {"c": gone})
    rename_regions(conn, names)
    if counties is None:
        cities = wanted_cities
    else:
        cities = sorted({region_codes_of(c)[1] for c in counties if len(c) == 6} | {c for c in created if len(c) == 4})
    provinces = sorted({c[: PROVINCE.code_length] for c in cities} & set(wanted_provinces))
    cities = [c for c in cities if c in wanted_cities]
    if cities:
        conn.execute(_OUTLINES, {"child_level": 0, "codes": cities, "level": CITY.number})
    if provinces:
        conn.execute(_OUTLINES, {"child_level": CITY.number, "codes": provinces, "level": PROVINCE.number})
    return sorted(set(cities) | set(provinces))


def rename_regions(conn: Connection, names: dict[str, str]) -> list[str]:
    """Give every region row (level < 0) its name in ``names`` (NULL when it has none); returns
    the codes renamed."""
    rows = conn.execute(text("SELECT code, name FROM area WHERE level < 0")).all()
    changed = [(r[0], names.get(r[0])) for r in rows if names.get(r[0]) != r[1]]
    for code, name in changed:
        conn.execute(
            text("UPDATE area SET name = :name, updated_at = now() WHERE code = :code"), {"code": code, "name": name}
        )
    return [code for code, _ in changed]
