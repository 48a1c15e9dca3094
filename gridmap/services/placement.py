"""Does a boundary file lie where the live data says it should?

A file read in the wrong CRS validates clean on its own — a neighbouring Gauss-Krüger zone puts a
whole county 300 km away, Xi'an 80 read as CGCS2000 shifts it by about 100 m, a .prj-less file's
zone guessed wrong moves it by a zone — and publishing it would replace the live areas with
misplaced ones. So, when the database holds areas the file can be compared with, the file's
placement is checked before anything else (:func:`placement_finding`):

1. **Reference.** The live areas with the file's own codes, at the deepest level both have (up to
   :data:`SAMPLE` of them): a file that redraws live areas should overlap them. Failing that, the
   live parents of the file's top level (the file should lie inside them), failing that the live
   counties. A county not live yet is compared with the live counties of its city (it should lie
   within :data:`NEAR_M` of them), and not at all when its city has none.
2. **Fit.** The share of the file's area (of those areas) that lies on its reference, measured in
   metres in the reference's Gauss-Krüger zone. Redrawn boundaries keep most of it; a shift by
   more than a fraction of an area's width does not. Below :data:`MIN_FIT` (same codes) or
   :data:`MIN_INSIDE` (inside parents) the placement is suspect.
3. **Candidates.** The file's own coordinates are read again in the CRSs such mistakes come from:
   projected files in the other 3° Gauss-Krüger zones around the reference and around the zone
   their eastings carry, with and without zone prefix, in CGCS2000, Xi'an 80 and Beijing 54;
   geographic files as GCJ-02 and BD-09 (web-map offsets). The best that fits
   (:data:`GOOD_FIT`, and clearly better than the file as read) is named, with the shift in metres
   between the two readings.

The outcome is one error finding of kind ``crs_mismatch`` in the validation report: validation
fails, a publish is refused with ``crs_mismatch`` (``--force --reason`` publishes anyway).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
import shapely
from pyproj import CRS
from sqlalchemy import Connection, text

from gridmap.geometry.metric import metric_crs, to_metric
from gridmap.geometry.report import Finding
from gridmap.io.boundary_formats import BoundaryFile
from gridmap.io.coords import to_storage
from gridmap.io.crs import crs_label
from gridmap.levels import level_of_code, parent_code_of

#: Live areas compared at most (a sample of the file's codes, spread over the file).
SAMPLE = 300
#: Share of the file's area over live areas of the same codes below which placement is suspect.
MIN_FIT = 0.6
#: Share of the file's top level inside its live parents below which placement is suspect.
MIN_INSIDE = 0.8
#: Share a candidate CRS must reach to be named (and beat the file as read by 0.2).
GOOD_FIT = 0.8
#: Simplification before the overlay (metres): placement, not survey.
TOLERANCE_M = 2.0
#: Fits closer than this are equal (then the first candidate, CGCS2000 before Xi'an 80 and Beijing 54).
TIE = 0.001
#: A county not live yet must lie within this distance (metres) of its city's live counties: a
#: city spans up to about 150 km, a wrong Gauss-Krüger zone moves data by about 280 km.
NEAR_M = 150_000.0

_GK_NAME = re.compile(r"^(CGCS2000|Xian 1980|Beijing 1954) / 3-degree Gauss-Kruger (?:zone (\d+)|CM (\d+)E)$")
_DATUM_ZH = {"CGCS2000": "CGCS2000", "Xian 1980": "西安 80", "Beijing 1954": "北京 54"}
_BASIS_ZH = {
    "same_codes": "同编码的现有区域",
    "parents": "上级区域",
    "counties": "县域",
    "same_city": f"同市已发布区县周边 {NEAR_M / 1000:.0f} 公里范围",
}


@functools.lru_cache(maxsize=1)
def _gk_crs() -> dict[tuple[str, int, bool], int]:
    """(datum, central meridian °E, zone prefix) → EPSG code of the 3° Gauss-Krüger CRSs of China's
    three datums, from the EPSG database PROJ ships."""
    out: dict[tuple[str, int, bool], int] = {}
    for info in pyproj.database.query_crs_info(auth_name="EPSG", pj_types=pyproj.enums.PJType.PROJECTED_CRS):
        m = _GK_NAME.match(info.name)
        if m and not info.deprecated:
            if m[2]:
                out[(m[1], int(m[2]) * 3, True)] = int(info.code)
            else:
                out[(m[1], int(m[3]), False)] = int(info.code)
    return out


@dataclass(frozen=True)
class Reading:
    """One reading of the file's coordinates: a label, the ``--crs`` value that gives it, its fit."""

    label: str
    arg: str
    fit: float
    geoms: np.ndarray  # the compared areas in EPSG:4490


def _reference(conn: Connection, src: BoundaryFile) -> tuple[str, list[str], np.ndarray, np.ndarray] | None:
    """(basis, codes, the file's geometries compared, the reference geometries), EPSG:4490."""
    areas = src.areas
    if areas.empty or "code" not in areas:
        return None
    codes = areas["code"].astype(str)
    # the level column when the file has one, else the level its code's length gives
    levels = pd.Series([level_of_code(c) for c in codes], index=areas.index, dtype="float")
    if "level" in areas:
        levels = pd.to_numeric(areas["level"], errors="coerce").fillna(levels)
    for level in sorted(set(levels.dropna().astype(int)), reverse=True):
        mine = codes[levels == level]
        step = max(1, len(mine) // SAMPLE)
        picked = mine.iloc[::step][:SAMPLE].tolist()
        rows = conn.execute(
            text("SELECT code, ST_AsBinary(geom) FROM area WHERE code = ANY(CAST(:c AS text[]))"), {"c": picked}
        ).all()
        if len(rows) >= min(5, len(picked)) and rows:
            live = {c: shapely.from_wkb(bytes(g)) for c, g in rows}
            keep = [c for c in picked if c in live]
            by_code = areas.set_index(codes)
            by_code = by_code[
                ~by_code.index.duplicated()
            ]  # a repeated code: its first area (and a duplicate_code error)
            file_geoms = by_code.loc[keep].geometry.to_numpy()
            return "same_codes", keep, file_geoms, np.array([live[c] for c in keep], dtype=object)
    top = areas[levels == levels.min()]
    if levels.min() == 0:  # new counties: near the live counties of their city, if any
        return _same_city(conn, top)
    parents = sorted({str(p) for p in top.get("parent_code", []) if isinstance(p, str) and p})
    if not parents:
        parents = sorted({p for p in (parent_code_of(c) for c in top["code"].astype(str)) if p})
    if parents:
        rows = (
            conn.execute(
                text("SELECT ST_AsBinary(geom) FROM area WHERE code = ANY(CAST(:c AS text[]))"), {"c": parents}
            )
            .scalars()
            .all()
        )
        if rows:
            ref = shapely.union_all([shapely.from_wkb(bytes(g)) for g in rows])
            return "parents", parents, top.geometry.to_numpy(), np.array([ref], dtype=object)
    rows = conn.execute(text("SELECT ST_AsBinary(geom) FROM area WHERE level = 0")).scalars().all()
    if not rows:
        return None
    ref = shapely.union_all([shapely.from_wkb(bytes(g)) for g in rows])
    return "counties", top["code"].astype(str).tolist(), top.geometry.to_numpy(), np.array([ref], dtype=object)


def _same_city(conn: Connection, top: pd.DataFrame) -> tuple[str, list[str], np.ndarray, np.ndarray] | None:
    """The basis for counties not live yet: the live counties of the same cities (a new county
    lies within :data:`NEAR_M` of them); None when its city has no live county (then nothing tells
    where it should be: a county of another city may lie anywhere in the province)."""
    codes = top["code"].astype(str).tolist()
    rows = (
        conn.execute(
            text("""SELECT ST_AsBinary(geom) FROM area
                    WHERE level = 0 AND left(code, 4) = ANY(CAST(:cities AS text[]))
                      AND NOT code = ANY(CAST(:codes AS text[]))"""),
            {"cities": sorted({c[:4] for c in codes}), "codes": codes},
        )
        .scalars()
        .all()
    )
    if not rows:
        return None
    ref = shapely.union_all([shapely.from_wkb(bytes(g)) for g in rows])
    return "same_city", codes, top.geometry.to_numpy(), np.array([ref], dtype=object)


def _fit(basis: str, geoms: np.ndarray, ref: np.ndarray, crs: CRS) -> float:
    """Share of ``geoms``' area on ``ref`` (pairwise for the same codes, else on the one reference;
    for ``same_city`` on the reference widened by :data:`NEAR_M`)."""
    try:
        mine = shapely.simplify(to_metric(geoms, crs), TOLERANCE_M)
        theirs = shapely.simplify(to_metric(ref, crs), TOLERANCE_M)
        if basis == "same_city":
            theirs = shapely.buffer(shapely.simplify(theirs, NEAR_M / 100), NEAR_M, quad_segs=4)
    except Exception:  # a reading far outside the zone: nowhere near
        return 0.0
    mine = shapely.make_valid(mine)
    theirs = shapely.make_valid(theirs)
    if basis != "same_codes":
        theirs = np.repeat(theirs, len(mine))
    total = float(np.nansum(shapely.area(mine)))
    if not total or not np.isfinite(total):
        return 0.0
    return float(np.nansum(shapely.area(shapely.intersection(mine, theirs)))) / total


def _candidates(src: BoundaryFile, raw: np.ndarray, ref_lon: float) -> list[tuple[str, str, object]]:
    """(label, --crs value, CRS or web-map name) of the readings worth trying."""
    declared = src.source_crs
    out: list[tuple[str, str, object]] = []
    if declared.is_geographic:
        for name, label in (("gcj02", "GCJ-02（高德、腾讯）"), ("bd09", "BD-09（百度）")):
            out.append((label, name, name))
        return out
    xs = shapely.get_coordinates(raw)[:, 0]
    easting = float(np.median(xs)) if xs.size else 0.0
    prefix = easting > 1_000_000
    cms = {int(round(ref_lon / 3)) * 3 + d for d in (-3, 0, 3)}
    if prefix:
        cms.add(int(easting // 1_000_000) * 3)
    declared_epsg = declared.to_epsg()
    table = _gk_crs()
    for datum in ("CGCS2000", "Xian 1980", "Beijing 1954"):
        for cm in sorted(cms):
            epsg = table.get((datum, cm, prefix))
            if epsg is None or epsg == declared_epsg:
                continue
            zone = f"第 {cm // 3} 带" if prefix else f"中央经线 {cm}°E"
            out.append((f"EPSG:{epsg}（{_DATUM_ZH[datum]} 3° 高斯-克吕格 {zone}）", str(epsg), CRS.from_epsg(epsg)))
    return out


def _read_as(raw: np.ndarray, target: object, declared: CRS) -> np.ndarray:
    """The file's coordinates ``raw`` (in ``declared`` units) read as ``target``, in EPSG:4490."""
    if isinstance(target, str):  # a web-map offset on lon/lat
        to_lonlat = pyproj.Transformer.from_crs(declared, 4326, always_xy=True)

        def convert(xy: np.ndarray) -> np.ndarray:
            lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
            x, y = to_storage(np.asarray(lon), np.asarray(lat), target)
            return np.column_stack([x, y])

        return shapely.transform(raw, convert)
    t = pyproj.Transformer.from_crs(target, 4490, always_xy=True)
    return shapely.transform(raw, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _shift_m(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic distance (metres) between the centres of two readings."""
    ca, cb = shapely.centroid(shapely.union_all(a)), shapely.centroid(shapely.union_all(b))
    _, _, dist = pyproj.Geod(ellps="GRS80").inv(ca.x, ca.y, cb.x, cb.y)
    return float(abs(dist))


def placement_finding(conn: Connection, src: BoundaryFile) -> Finding | None:
    """A ``crs_mismatch`` error when the file, as read, does not lie where the live areas say it
    should and (if one does) naming the CRS that fits and the shift; None when it fits or there is
    nothing live to compare with."""
    found = _reference(conn, src)
    if found is None:
        return None
    basis, codes, geoms, ref = found
    crs = metric_crs(ref)
    fit = _fit(basis, geoms, ref, crs)
    threshold = MIN_FIT if basis == "same_codes" else MIN_INSIDE
    if fit >= threshold:
        return None
    declared = src.source_crs
    raw = shapely.transform(
        geoms,
        lambda xy: np.column_stack(
            pyproj.Transformer.from_crs(4490, declared, always_xy=True).transform(xy[:, 0], xy[:, 1])
        ),
    )
    ref_lon = shapely.centroid(shapely.union_all(ref)).x
    best: Reading | None = None
    tried: list[str] = []
    for label, arg, target in _candidates(src, raw, ref_lon):
        tried.append(label)
        try:
            candidate = _read_as(raw, target, declared)
        except Exception:  # a reading PROJ cannot make: not the one
            continue
        f = _fit(basis, candidate, ref, crs)
        if best is None or f > best.fit + TIE:  # equal fits: the candidates' order (CGCS2000 first)
            best = Reading(label, arg, f, candidate)
    how = {"file": "文件声明的", "inferred": "推断出的", "explicit": "指定的"}.get(src.crs_source, "")
    where = _BASIS_ZH[basis]
    head = f"文件按{how}坐标系 {crs_label(declared)}解读时，与库中{where}只重合 {fit:.0%}"
    detail: dict[str, object] = {
        "crs_declared": crs_label(declared),
        "crs_source": src.crs_source,
        "basis": basis,
        "fit": round(fit, 4),
        "tried": tried,
    }
    if best is not None and best.fit >= GOOD_FIT and best.fit >= fit + 0.2:
        shift = _shift_m(geoms, best.geoms)
        message = (
            f"{head}；按 {best.label}解读则重合 {best.fit:.0%}，两种解读相距约 {shift:,.0f} 米。"
            f"坐标系很可能不对：请用 --crs {best.arg} 重新校验（上传页面“坐标系”填 {best.arg}），未发布任何数据。"
        )
        detail.update({"crs_suggested": best.arg, "suggested_label": best.label, "suggested_fit": round(best.fit, 4)})
        detail["shift_m"] = round(shift, 1)
    else:
        message = f"{head}，试过的其他坐标系（{len(tried)} 种）也都不吻合：请确认文件的坐标系、编码和所属区域，未发布任何数据。"
    return Finding("crs_mismatch", codes[:5], 0.0, None, message, detail=detail)


#: A ``--crs`` that moves the file less than this (metres) from its own CRS's reading says the same.
OVERRIDE_TOLERANCE_M = 5.0


def override_finding(src: BoundaryFile) -> Finding | None:
    """A ``crs_override`` warning when ``--crs`` replaced a CRS the file declares itself (a .prj,
    a GeoPackage's SRS) with one that puts it elsewhere: how far apart the two readings are, in
    metres, at the file's centre. No database needed: it is the file contradicting the option."""
    for info in src.layer_info.values():
        declared = info.declared_crs
        if declared is None or src.areas.empty:
            continue
        x0, y0, x1, y1 = src.areas.total_bounds  # EPSG:4490, as read with --crs
        lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
        try:
            raw = pyproj.Transformer.from_crs(4490, info.crs, always_xy=True).transform(lon, lat)
            other = pyproj.Transformer.from_crs(declared, 4490, always_xy=True).transform(*raw)
            _, _, dist = pyproj.Geod(ellps="GRS80").inv(lon, lat, other[0], other[1])
        except Exception:  # a reading PROJ cannot make: say so without a distance
            dist = float("nan")
        if np.isfinite(dist) and abs(dist) < OVERRIDE_TOLERANCE_M:
            continue
        apart = f"，两种解读相距约 {abs(dist):,.0f} 米" if np.isfinite(dist) else ""
        message = (
            f"指定的坐标系 {crs_label(info.crs)}与文件自带的 {crs_label(declared)}不同{apart}。"
            "未连接数据库时无法判断哪一个对：请确认以哪个为准（连接数据库校验时会与现有区域比对）。"
        )
        detail: dict[str, object] = {"crs_explicit": crs_label(info.crs), "crs_declared": crs_label(declared)}
        if np.isfinite(dist):
            detail["shift_m"] = round(abs(float(dist)), 1)
        return Finding("crs_override", [], 0.0, None, message, detail=detail)
    return None
