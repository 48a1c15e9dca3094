"""Official outlines of regions, and counties checked against them (issue 17).

``gridmap regions outline FILE`` loads the official boundary of a province (2-digit code), city (4)
or county (6) from any boundary file gridmap reads (:func:`load_outlines`: the same readers, CRS
handling and size limits as a county upload; a file of several features with a code column loads
each code, e.g. a province's cities). Stored in ``region_outline`` (EPSG:4490), measured in the
Gauss-Krüger zone of the outline (:mod:`gridmap.geometry.metric`).

When a county file is validated or published (:func:`outline_findings`, called by
``gridmap.services.boundaries.check_file``) and its city or province (or the county itself) has
an outline:

- each part of the county outside the outline larger than :data:`MIN_OUTSIDE_M2` m² is a
  ``county_outside_region`` error;
- the outline minus every live county (the file's counties in place of their live versions)
  leaves pieces nobody covers: each piece touching a county of the file (within :data:`TOUCH_M`)
  of at least :data:`MIN_GAP_M2` m² is a ``county_gap`` warning, unless it is both large and wide
  (:data:`MAX_GAP_M2`, :data:`MAX_GAP_WIDTH_M`: a whole county not loaded yet). Pieces away from
  the county, or a county not loaded yet, are not its concern: ``gridmap regions gaps CODE``
  (:func:`region_gaps`) lists every piece.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine

from gridmap.db.region_outlines import (
    LiveCounty,
    Outline,
    counties_met,
    live_counties_near,
    live_counties_of,
    outlines_of,
    save_outlines,
)
from gridmap.db.regions import region_names
from gridmap.errors import GridmapError
from gridmap.geometry.metric import metric_crs, to_metric, to_storage
from gridmap.geometry.report import Finding
from gridmap.io.boundaries import ReadLimits, read_boundary_file
from gridmap.io.boundary_formats import BoundaryFile, BoundaryReadError
from gridmap.services.neighbours import file_counties

#: Parts of a county outside its region's outline below this (m²) are edge slivers of two
#: digitisations of the same border, not reported.
MIN_OUTSIDE_M2 = 1_000.0
#: Uncovered pieces of an outline below this (m²) are slivers, not gaps.
MIN_GAP_M2 = 1_000.0
#: Uncovered pieces touching a county both larger than this (m², 5 km²) and wider than
#: :data:`MAX_GAP_WIDTH_M` are taken for counties not loaded yet, not for a gap the county left:
#: validation does not report them (``regions gaps`` does). A gap strip along a border is thin.
MAX_GAP_M2 = 5_000_000.0
#: Mean width of a piece, 2 × area / perimeter (metres: a strip's width, a square's half side).
MAX_GAP_WIDTH_M = 1_000.0
#: A piece within this distance (metres) of a county touches it.
TOUCH_M = 1.0
#: Region codes an outline may have: a province (2 digits), a city (4) or a county (6).
_CODE = re.compile(r"\d{2}|\d{4}|\d{6}")
_LEVEL_WORDS = {2: "省", 4: "市", 6: "区县"}


class OutlineError(GridmapError):
    """An outline file or a region asked for cannot be used; ``code`` stable, ``message`` Chinese."""

    status = 422
    exit_code = 2
    statuses = {"outline_not_found": 404}


@dataclass
class OutlineLoad:
    """What ``gridmap regions outline`` loaded: the outlines (by code), the region rows renamed,
    and notes (Chinese) on the geometries repaired."""

    outlines: list[Outline]
    renamed: list[str]
    notes: list[str] = field(default_factory=list)


def read_outlines(
    path: str | Path,
    *,
    code: str | None = None,
    name: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    fields: Mapping[str, str] | None = None,
    limits: ReadLimits | None = None,
) -> tuple[BoundaryFile, list[Outline], list[str]]:
    """Read the outlines in ``path`` (EPSG:4490, made valid, polygons only): with ``code``, every
    feature together is that region's outline; without, each distinct value of the file's code
    column is one. ``name`` names the one outline (else the file's name column, when its features
    agree on one). Returns the file read, the outlines and notes on geometries repaired. Raises ``BoundaryReadError`` for
    a file that cannot be read (or is over the limits), :class:`OutlineError` for a bad code
    (``outline_bad_code``), a name given for several outlines (``outline_name_ambiguous``) or an
    empty outline (``outline_empty``). :func:`load_outlines` also refuses an outline meeting none
    of its region's live counties (``outline_misplaced``: a wrong CRS)."""
    if code is not None and not _CODE.fullmatch(code):
        raise OutlineError(
            "outline_bad_code", f"代码“{code}”无效：应为省（2 位）、市（4 位）或区县（6 位）的行政区划代码。"
        )
    try:
        src = read_boundary_file(
            path, layer=layer, crs=crs, encoding=encoding, fields=fields, limits=limits, require_code=code is None
        )
    except BoundaryReadError as exc:
        if exc.code == "no_code_field":  # an official outline may come without codes: say how
            exc.message = exc.message.rstrip("。") + "；整个文件是一个区域时，用 --code 给出它的代码。"
        raise
    areas = src.areas
    geoms = areas.geometry.to_numpy()
    names = areas["name"].to_numpy(dtype=object) if "name" in areas else np.full(len(areas), None, dtype=object)
    if code is not None:
        groups = {code: list(range(len(areas)))}
    else:
        groups = {}
        for row, value in enumerate(areas["code"].to_numpy(dtype=object)):
            text = "" if value is None or value != value else str(value).strip()
            if not _CODE.fullmatch(text):
                raise OutlineError(
                    "outline_bad_code",
                    f"“{src.path.name}”第 {row + 1} 个要素的代码“{text}”无效：应为省（2 位）、市（4 位）或区县（6 位）"
                    "的行政区划代码；整个文件是一个区域时可用 --code 指定。",
                    {"feature": row + 1, "code": text},
                )
            groups.setdefault(text, []).append(row)
    if name is not None and len(groups) > 1:
        raise OutlineError(
            "outline_name_ambiguous",
            f"“{src.path.name}”含 {len(groups)} 个区域（{'、'.join(sorted(groups))}），--name 只能用于一个区域：请去掉 --name，"
            "由文件的名称列给出各区域名称。",
        )
    notes: list[str] = []
    outlines = []
    for region, rows in sorted(groups.items()):
        parts = shapely.make_valid(np.array([g for g in geoms[rows] if g is not None], dtype=object))
        repaired = int((~shapely.is_valid(geoms[rows][shapely.is_geometry(geoms[rows])])).sum())
        if repaired:
            notes.append(f"{region} 有 {repaired} 个要素的几何无效，已自动修复（make_valid）。")
        polygons = [
            p
            for p in shapely.get_parts(shapely.get_parts(parts))
            if shapely.get_type_id(p) in (3, 6) and not p.is_empty
        ]
        outline = shapely.make_valid(shapely.union_all(polygons)) if polygons else shapely.MultiPolygon()
        outline = _multipolygon(outline)
        area = float(shapely.area(to_metric(np.array([outline]), metric_crs(np.array([outline])))[0]))
        if outline.is_empty or area < 1.0:
            raise OutlineError(
                "outline_empty",
                f"“{src.path.name}”中 {region} 的界线没有面积（空几何或只有点、线）：请检查文件后重新载入。",
                {"code": region},
            )
        given = name or _one_name(names[rows])
        outlines.append(Outline(region, given, shapely.to_wkb(outline), area, src.path.name))
    return src, outlines, notes


def load_outlines(engine: Engine, path: str | Path, **read: Any) -> OutlineLoad:
    """Read the outlines in ``path`` (:func:`read_outlines`, same keywords) and store them in one
    transaction, replacing earlier ones of the same codes; their names rename the region rows."""
    src, outlines, notes = read_outlines(path, **read)
    with engine.begin() as conn:
        for o in outlines:
            live, met = counties_met(conn, o.code, o.wkb)
            if live and not met:
                raise OutlineError(
                    "outline_misplaced",
                    f"“{src.path.name}”中 {o.code} 的界线与该区域已发布的 {live} 个区县都不相交：坐标系可能不对"
                    "（例如高斯-克吕格分带错了），请用 --crs 指定文件的坐标系后重新载入。",
                    {"code": o.code, "live_counties": live},
                )
        renamed = save_outlines(conn, outlines)
    return OutlineLoad(outlines, renamed, notes)


def _one_name(values: np.ndarray) -> str | None:
    distinct = {str(v).strip() for v in values if v is not None and v == v and str(v).strip()}
    return distinct.pop() if len(distinct) == 1 else None


def _multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    polygons = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and not p.is_empty]
    return shapely.MultiPolygon(polygons)


def _pieces(geom: BaseGeometry) -> list[BaseGeometry]:
    return [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and not p.is_empty]


def _metric(wkbs: list[bytes], crs: pyproj.CRS) -> np.ndarray:
    geoms = np.array([shapely.from_wkb(w) for w in wkbs], dtype=object)
    return shapely.make_valid(to_metric(geoms, crs)) if len(geoms) else geoms


def _storage(geom: BaseGeometry, crs: pyproj.CRS) -> BaseGeometry:
    return to_storage(np.array([geom], dtype=object), crs)[0]


def _label(code: str, names: Mapping[str, str], fallback: str | None = None) -> str:
    name = names.get(code) or fallback
    return f"{name}（{code}）" if name else f"{_LEVEL_WORDS.get(len(code), '区域')} {code}"


# ------------------------------------------------------------------------------- validation


def outline_findings(conn: Connection, src: BoundaryFile) -> list[Finding]:
    """The counties of ``src`` against the outlines of their cities and provinces (those loaded):
    ``county_outside_region`` errors and ``county_gap`` warnings (see the module docstring), areas
    in m² in the outline's Gauss-Krüger zone, geometries in EPSG:4490."""
    counties = file_counties(src)
    if counties.empty:
        return []
    codes = [str(c) for c in counties["code"]]
    counties6 = [c for c in codes if len(c) == 6]
    regions = sorted({c[:4] for c in counties6} | {c[:2] for c in counties6} | set(counties6))
    outlines = outlines_of(conn, regions)
    if not outlines:
        return []
    names = region_names(conn)
    rows = counties.index.tolist()
    found: list[Finding] = []
    for o in outlines:
        mine_at = [i for i, c in enumerate(codes) if c.startswith(o.code)]
        outline = shapely.from_wkb(o.wkb)
        crs = metric_crs(np.array([outline]))
        region = shapely.make_valid(to_metric(np.array([outline]), crs)[0])
        mine = shapely.make_valid(to_metric(counties.geometry.to_numpy()[mine_at], crs))
        where = _label(o.code, names, o.name)
        for i, g in zip(mine_at, mine):
            outside = shapely.difference(g, region)
            area = float(outside.area)
            if area < MIN_OUTSIDE_M2:
                continue
            found.append(
                Finding(
                    "county_outside_region",
                    list(dict.fromkeys([codes[i], o.code])),
                    area,
                    _storage(outside, crs),
                    f"{codes[i]} 有约 {area:,.0f} 平方米超出{where}的官方界线：请与官方界线核对该区县的外边界后重新上传。",
                    detail={"region": o.code, "region_name": names.get(o.code) or o.name},
                    rows=[int(rows[i])],
                )
            )
        live = live_counties_near(conn, shapely.to_wkb(shapely.box(*outline.bounds)), exclude=codes)
        theirs = _metric([c.wkb for c in live], crs)
        covered = shapely.union_all(np.concatenate([theirs, mine]))
        for piece in _pieces(shapely.difference(region, covered)):
            area = float(piece.area)
            if area < MIN_GAP_M2 or (area > MAX_GAP_M2 and 2 * area / piece.length > MAX_GAP_WIDTH_M):
                continue
            touching = [i for i, g in zip(mine_at, mine) if shapely.dwithin(piece, g, TOUCH_M)]
            if not touching:
                continue
            neighbours = [c.code for c, g in zip(live, theirs) if shapely.dwithin(piece, g, TOUCH_M)]
            between = "、".join(_label(c.code, {}, c.name) for c in live if c.code in neighbours)
            found.append(
                Finding(
                    "county_gap",
                    [codes[i] for i in touching] + neighbours,
                    area,
                    _storage(piece, crs),
                    f"{'、'.join(codes[i] for i in touching)} 边上、{where}官方界线以内有约 {area:,.0f} 平方米空白"
                    + (f"（与 {between} 之间）" if between else "")
                    + "，不属于任何已发布的区县：请核对交界线；若是尚未上传的区县，可忽略。",
                    detail={"region": o.code, "region_name": names.get(o.code) or o.name, "neighbours": neighbours},
                    rows=[int(rows[i]) for i in touching],
                )
            )
    return found


# ------------------------------------------------------------------------------- a region's report


def region_gaps(conn: Connection, code: str) -> dict[str, Any]:
    """A region's outline against its live counties (codes starting with ``code``), in m² in the
    outline's Gauss-Krüger zone: its area, the area its live counties cover (and other regions'
    live counties reaching in), every piece no live county covers of at least :data:`MIN_GAP_M2`
    (its area, the live counties it touches), and every part of one of its live counties outside
    the outline of at least :data:`MIN_OUTSIDE_M2`; geometries GeoJSON in
    EPSG:4490. Raises :class:`OutlineError` ``outline_not_found`` when no outline is loaded."""
    found = outlines_of(conn, [code])
    if not found:
        raise OutlineError(
            "outline_not_found",
            f"{code} 没有载入官方界线：先用 gridmap regions outline 文件 --code {code} 载入。",
            {"code": code},
        )
    o = found[0]
    names = region_names(conn)
    outline = shapely.from_wkb(o.wkb)
    crs = metric_crs(np.array([outline]))
    region = shapely.make_valid(to_metric(np.array([outline]), crs)[0])
    own: list[LiveCounty] = live_counties_of(conn, code)
    mine = _metric([c.wkb for c in own], crs)
    union = shapely.union_all(mine) if len(mine) else shapely.Polygon()
    # land other regions' counties cover is not empty (their overreach is their own report's)
    others = live_counties_near(conn, shapely.to_wkb(shapely.box(*outline.bounds)), exclude=[c.code for c in own])
    live, theirs = own + others, np.concatenate([mine, _metric([c.wkb for c in others], crs)])
    everyone = shapely.union_all(theirs) if len(theirs) else shapely.Polygon()
    uncovered = shapely.difference(region, everyone)
    gaps, smaller = [], 0.0
    for piece in sorted(_pieces(uncovered), key=lambda p: -p.area):
        if piece.area < MIN_GAP_M2:
            smaller += piece.area
            continue
        touches = [c.code for c, g in zip(live, theirs) if shapely.dwithin(piece, g, TOUCH_M)]
        gaps.append(
            {
                "area_m2": round(float(piece.area), 1),
                "touching": bool(touches),
                "touches": touches,
                "geometry": _geojson(_storage(piece, crs)),
            }
        )
    outside = []
    for c, g in zip(own, mine):
        for piece in sorted(_pieces(shapely.difference(g, region)), key=lambda p: -p.area):
            if piece.area >= MIN_OUTSIDE_M2:
                outside.append(
                    {
                        "code": c.code,
                        "name": c.name,
                        "area_m2": round(float(piece.area), 1),
                        "geometry": _geojson(_storage(piece, crs)),
                    }
                )
    covered = float(shapely.intersection(region, union).area)
    return {
        "code": code,
        "name": names.get(code) or o.name or next((c.name for c in own if c.code == code), None),
        "source": o.source,
        "crs": f"EPSG:{crs.to_epsg()}",
        "area_m2": round(float(region.area), 1),
        "covered_m2": round(covered, 1),
        "covered_by_others_m2": round(float(shapely.intersection(region, everyone).area) - covered, 1),
        "uncovered_m2": round(float(uncovered.area), 1),
        "counties": [{"code": c.code, "name": c.name} for c in own],
        "gaps": gaps,
        "slivers_m2": round(smaller, 1),
        "outside": outside,
        "min_gap_m2": MIN_GAP_M2,
        "min_outside_m2": MIN_OUTSIDE_M2,
    }


def _geojson(geom: BaseGeometry) -> dict[str, Any]:
    return json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-8)))
