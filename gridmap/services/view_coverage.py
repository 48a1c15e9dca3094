"""Field-of-view coverage for the API and the CLI: which counties to compute, caching, bounds.

A county is the unit of work (:func:`gridmap.coverage.view.view_coverage`, about a second for the
sample county): a request names an area, the counties it lies in or spans are computed (or taken
from the caller's cache, keyed per county and data revision by the API) and rows above the county
(city, province) are the sums of their counties' rows. A request spanning more than
:data:`MAX_COUNTIES` counties is refused (``view_scope_too_large``) instead of running unbounded.
Unseen polygons (视野盲区) are served for one township or anything below it at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import Connection

from gridmap.coverage.view import ViewCoverage, ViewRow, select_rows, view_coverage
from gridmap.db.areas import area_head, county_codes, region_heads
from gridmap.errors import GridmapError
from gridmap.geometry.metric import to_storage
from gridmap.geometry.view import view_specs

T = TypeVar("T")

#: Most counties one request may compute (each ~1 s for 10,000 cameras): a city of ten counties,
#: not a province. Figures alone are cached (~3 MB a county); the unseen polygons (~30 MB a
#: county) only for the counties whose 视野盲区 were asked for.
MAX_COUNTIES = 12
#: Unseen polygons: the area must be at least this deep (1 = a township, or below).
UNSEEN_MIN_LEVEL = 1
COUNTY_CODE_LENGTH = 6

#: ``get(key, compute)``: a cache lookup (the API's revision cache), or just ``compute()``.
Getter = Callable[[Hashable, Callable[[], Any]], Any]


class ViewRequestError(GridmapError):
    """A request the view figures cannot answer (404 ``area_not_found``, 400 ``view_scope_too_large``
    or ``unseen_scope_too_large``)."""

    status = 400
    statuses = {"area_not_found": 404}


def _no_cache(_key: Hashable, compute: Callable[[], T]) -> T:
    return compute()


def counties_of(conn: Connection, code: str | None) -> list[str]:
    """The county codes a request for ``code`` (None: the whole database) needs. Raises
    :class:`ViewRequestError` (404 ``area_not_found``, 400 ``view_scope_too_large``)."""
    if code is not None:
        area = area_head(conn, code)
        if area is None:
            raise ViewRequestError("area_not_found", f"没有编码为 {code} 的区域：请检查 code 参数。", {"code": code})
        if area[2] >= 0:
            return [code[:COUNTY_CODE_LENGTH]]
    counties = county_codes(conn, code)
    if len(counties) > MAX_COUNTIES:
        raise ViewRequestError(
            "view_scope_too_large",
            f"视野覆盖一次最多计算 {MAX_COUNTIES} 个县，{code or '全库'}下有 {len(counties)} 个县：请用 code 指定一个县或其下的区域。",
            {"code": code, "counties": len(counties), "max_counties": MAX_COUNTIES},
        )
    return counties


def county_view(
    conn: Connection,
    county: str,
    view_kinds: str = "",
    get: Getter = _no_cache,
    residences: tuple[np.ndarray, np.ndarray] | None = None,
    polygons: bool = True,
) -> ViewCoverage:
    """One county's view figures (through ``get``: the caller's cache, keyed by county and view
    settings; never cached with ``residences``: points in EPSG:4490 and their households). Without
    ``polygons`` the leaves' seen and unseen polygons are dropped before caching (figures only)."""
    specs = view_specs(view_kinds)
    if residences is not None:
        return view_coverage(conn, county, specs, residences)
    if polygons:
        return get(("view", county, view_kinds), lambda: view_coverage(conn, county, specs))
    return get(("view-figures", county, view_kinds), lambda: _figures_only(view_coverage(conn, county, specs)))


def _figures_only(view: ViewCoverage) -> ViewCoverage:
    none = np.full(len(view.leaves.codes), None, dtype=object)
    return dataclasses.replace(view, leaves=dataclasses.replace(view.leaves, seen=none, unseen=none))


def view_rows(
    conn: Connection,
    code: str | None = None,
    level: int | None = None,
    view_kinds: str = "",
    get: Getter = _no_cache,
    residences: tuple[np.ndarray, np.ndarray] | None = None,
    polygons: bool = True,
) -> tuple[list[ViewRow], list[ViewCoverage]]:
    """The rows ``gridmap coverage view`` shows for ``code`` / ``level`` (see
    :func:`gridmap.coverage.view.select_rows`) and the county results they came from (without
    their polygons unless ``polygons``)."""
    views = [county_view(conn, c, view_kinds, get, residences, polygons) for c in counties_of(conn, code)]
    rows: dict[str, ViewRow] = {}
    for v in views:
        rows.update(v.rows)
    # Regions above the county only when asked for (a region's code or level) or when several
    # counties are computed: one county's rows start at the county, as /api/v1/coverage's do.
    if len(views) > 1 or (code is not None and len(code) < COUNTY_CODE_LENGTH) or (level is not None and level < 0):
        _add_regions(conn, rows)
    return select_rows(rows, code, level), views


def view_figures(
    conn: Connection, code: str | None = None, view_kinds: str = "", get: Getter = _no_cache
) -> dict[str, ViewRow]:
    """Every area's view row (by code) of the counties a coverage table for ``code`` spans, with
    the regions above them: what the coverage exports add as columns (``--view``, ``view=true``).
    Raises :class:`ViewRequestError` as :func:`counties_of` does."""
    rows: dict[str, ViewRow] = {}
    for county in counties_of(conn, code):
        rows.update(county_view(conn, county, view_kinds, get, polygons=False).rows)
    _add_regions(conn, rows)
    return rows


def _add_regions(conn: Connection, rows: dict[str, ViewRow]) -> None:
    """Rows of the regions above the counties (city, province): sums of their counties' rows."""
    counties = [r for r in rows.values() if r.level == 0]
    if not counties:
        return
    for code, name, level, parent in region_heads(conn):
        under = [c for c in counties if c.code.startswith(code)]
        if not under:
            continue
        hh = [c.households for c in under if c.households is not None]
        hs = [c.households_seen for c in under if c.households_seen is not None]
        rows[code] = ViewRow(
            code,
            name,
            int(level),
            parent,
            sum(c.area_m2 for c in under),
            sum(c.seen_m2 for c in under),
            sum(hh) if hh else None,
            sum(hs) if hs else None,
            sum(c.cameras for c in under),
        )


def unseen_features(conn: Connection, code: str, view_kinds: str = "", get: Getter = _no_cache) -> dict[str, Any]:
    """The unseen parts (视野盲区) of the leaves at or under ``code`` as a GeoJSON FeatureCollection
    in EPSG:4490 (lon/lat degrees), one feature per leaf with ``code`` and ``unseen_m2`` (m², the
    GK zone). ``code`` must be a township or below (400 ``unseen_scope_too_large``)."""
    area = area_head(conn, code)
    if area is None:
        raise ViewRequestError("area_not_found", f"没有编码为 {code} 的区域：请检查 code 参数。", {"code": code})
    if area[2] < UNSEEN_MIN_LEVEL:
        raise ViewRequestError(
            "unseen_scope_too_large",
            "视野盲区一次只给一个乡镇/街道或其下的区域：请用乡镇、村、网格或微网格的编码。",
            {"code": code, "level": area[2], "min_level": UNSEEN_MIN_LEVEL},
        )
    view = county_view(conn, code[:COUNTY_CODE_LENGTH], view_kinds, get)
    found = view.unseen_under(code)
    geoms = (
        shapely.set_precision(to_storage(np.array([g for _, _, g in found], dtype=object), view.crs), 1e-7)
        if found
        else []
    )
    features = [
        {
            "type": "Feature",
            "properties": {"code": c, "unseen_m2": round(m2, 1)},
            "geometry": shapely.geometry.mapping(g),
        }
        for (c, m2, _), g in zip(found, geoms, strict=True)
    ]
    row = view.rows[code]
    return {
        "type": "FeatureCollection",
        "code": code,
        "unseen_m2": round(row.area_m2 - row.seen_m2, 1),
        "features": features,
    }
