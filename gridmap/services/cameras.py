"""Importing camera lists and online/offline reports into the database.

A camera file flows: read and check every row (``gridmap.io.cameras``: ids, coordinates, statuses;
bad rows are rejected with their row number) → check the declared CRS against the live grids
(GCJ-02 / BD-09 coordinates declared as WGS84 land in the wrong grids: we say so and name the
right ``--crs``) → one transaction: upsert by device id, assign the imported cameras to leaf areas,
log the import. A failure anywhere leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from gridmap.config import get_settings, parse_centre_codes
from gridmap.coverage.assign import LeafIndex
from gridmap.db.areas import area_names, county_extents, county_shapes, screen_root
from gridmap.db.cameras import (
    StatusCounts,
    UpsertCounts,
    apply_status_updates,
    areas_fingerprint,
    assign_cameras_to_areas,
    expire_statuses,
    leaf_areas,
    lock_cameras,
    record_current_states,
    upsert_cameras,
)
from gridmap.db.locks import lock_areas_for_import, try_lock_status_expiry
from gridmap.errors import GridmapError
from gridmap.io.cameras import CameraTable, RowProblem, read_camera_file
from gridmap.io.coords import to_storage
from gridmap.io.status_updates import StatusUpdates, read_status_updates
from gridmap.logs import get_logger
from gridmap.services.changes import record_change

T = TypeVar("T")
log = get_logger("services.cameras")

#: Camera coordinates may lie this far (degrees, ≈2 km) beyond the county's bounding box and still be
#: imported (then listed as outside every area); farther away they are rejected as wrong.
EXTENT_MARGIN_DEG = 0.02
#: CRS checks look at up to this many rows (the conversion is pure Python).
CRS_CHECK_SAMPLE = 2000


class ImportRefused(GridmapError):
    """The import cannot run at all (no county in the database, unknown county code), or would
    place the cameras wrongly (``crs_mismatch``: another CRS fits the grids far better)."""


@dataclass(frozen=True)
class County:
    """Where cameras are imported into: one county, or a city or province holding several
    (``counties``). ``extent`` is lon/lat degrees, EPSG:4490, with EXTENT_MARGIN_DEG;
    ``centre_codes`` the prefixes the cameras' ids may start with (``GRIDMAP_CENTRE_CODES``, by
    default each county's own code), and ``centres`` the same per county."""

    code: str
    name: str | None
    extent: tuple[float, float, float, float]
    counties: tuple[str, ...] = ()
    centres: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    @property
    def centre_codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for county in self.counties for c in self.centres.get(county, (county,))))


def county_of(conn: Connection, code: str | None = None) -> County:
    """Where cameras are imported into: ``code`` (a county, or a city or province: all its live
    counties), or by default the area every live county lies in (the one county, or their city or
    province, see :func:`gridmap.db.areas.screen_root`)."""
    counties = county_extents(conn)
    if not counties:
        raise ImportRefused("no_boundaries", "数据库中还没有区县边界：请先发布边界（gridmap publish）再导入摄像头。")
    if code is not None:
        code = code.strip()
        picked = [c for c in counties if c.code.startswith(code)] if len(code) <= 6 else []
        if not picked:
            raise ImportRefused(
                "county_unknown",
                f"数据库中没有区县或市 {code}：请检查 --county（区县、市或省的编码），或先发布该县边界。",
            )
    else:
        code = screen_root(conn) or ""
        picked = [c for c in counties if c.code.startswith(code)]
        if len(picked) < len(counties):
            codes = "、".join(c.code for c in counties)
            raise ImportRefused(
                "county_ambiguous", f"数据库中有多个省的区县（{codes}）：请用 --county 指定导入到哪个县、市或省。"
            )
    m = EXTENT_MARGIN_DEG
    box = (
        min(c.extent[0] for c in picked) - m,
        min(c.extent[1] for c in picked) - m,
        max(c.extent[2] for c in picked) + m,
        max(c.extent[3] for c in picked) + m,
    )
    name = picked[0].name if len(picked) == 1 else area_names(conn, {code}).get(code)
    configured = parse_centre_codes(get_settings().centre_codes)
    centres = {c.code: configured.get(c.code, (c.code,)) for c in picked}
    return County(picked[0].code if len(picked) == 1 else code, name, box, tuple(c.code for c in picked), centres)


def check_camera_counties(conn: Connection, table: CameraTable, target: County) -> CameraTable:
    """The rows of ``table`` whose id's centre code is not one of the county their point lies in
    moved to its rejected rows (``device_id_county``), for an import into several counties at once
    (a city's register); points outside every county are kept (then listed as outside)."""
    if len(target.counties) < 2 or table.cameras.empty:
        return table
    shapes = county_shapes(conn, list(target.counties))
    cams = table.cameras
    points = shapely.points(cams["lon"].to_numpy(dtype=float), cams["lat"].to_numpy(dtype=float))
    tree = shapely.STRtree(shapes.geoms)
    at = np.full(len(cams), None, dtype=object)
    point_idx, shape_idx = tree.query(points, predicate="within")
    at[point_idx] = np.array(shapes.codes, dtype=object)[shape_idx]
    ids = cams["device_id"].astype(str).tolist()
    bad = [
        i
        for i, county in enumerate(at)
        if county is not None and not ids[i].startswith(target.centres.get(county, (county,)))
    ]
    if not bad:
        return table
    field_name = table.mapping.get("device_id", "device_id")
    problems = []
    for i in bad:
        county = at[i]
        allowed = "、".join(target.centres.get(county, (county,)))
        name = shapes.names.get(county) or county
        problems.append(
            RowProblem(
                int(cams["row"].iloc[i]),
                "device_id_county",
                f"设备编码“{ids[i]}”的中心编码 {ids[i][:6]} 不属于点位所在的{name}（{county}，中心编码 {allowed}）："
                "请核对设备编码或坐标。",
                ids[i],
                field_name,
                ids[i],
                float(cams["lon"].iloc[i]),
                float(cams["lat"].iloc[i]),
            )
        )
    keep = np.ones(len(cams), dtype=bool)
    keep[bad] = False
    rejected = sorted([*table.rejected, *problems], key=lambda p: p.row)
    return replace(table, cameras=cams[keep].reset_index(drop=True), rejected=rejected)


@dataclass(frozen=True)
class CrsSuggestion:
    declared: str
    suggested: str
    declared_share: float  # share of checked rows consistent with the grids as declared
    suggested_share: float
    checked: int
    basis: str  # "grid_code": the file's own 所属网格; "inside": inside any area

    @property
    def _readings(self) -> str:
        """How the file fits as declared and as suggested (both sentences below start with it)."""
        what = "落在文件所填“所属网格”内" if self.basis == "grid_code" else "落在网格范围内"
        return (
            f"按 {self.declared} 解读，只有 {self.declared_share:.0%} 的点位{what}；"
            f"按 {self.suggested} 解读则有 {self.suggested_share:.0%}"
        )

    @property
    def message(self) -> str:
        return (
            f"坐标系可能不对：{self._readings}。"
            f"高德、腾讯地图取的坐标是 GCJ-02，百度地图是 BD-09：请确认后用 --crs {self.suggested} 重新导入。"
        )

    @property
    def refusal(self) -> str:
        """The message of an import refused for it (nothing written)."""
        return (
            f"坐标系与网格不符，未导入任何数据：{self._readings}（抽查 {self.checked:,} 行）。"
            f"高德、腾讯地图取的坐标是 GCJ-02，百度地图是 BD-09。请改用坐标系 {self.suggested} 重新导入"
            f"（命令行 --crs {self.suggested}；上传页面在“坐标系”中选择）；确认原坐标系无误时可强制导入"
            "（--force，或上传页面勾选“坐标系确认无误，强制导入”）。"
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "message": self.message}


#: Built leaf indexes, newest last, by (database URL, prefix, :func:`areas_fingerprint`): a camera
#: import reuses the index of the boundaries it reads instead of rebuilding it (~0.3 s and the
#: leaves' WKB for a county). A publish, rollback or sample load changes the fingerprint, so an index
#: is never used for other boundaries than its own. A few entries: one per database in use.
_LEAF_INDEXES: dict[tuple, LeafIndex] = {}
_LEAF_INDEXES_KEEP = 4
_LEAF_INDEXES_LOCK = threading.Lock()
#: Kept index files (``GRIDMAP_INDEX_DIR``): at most this many, the most recently written.
KEPT_INDEX_FILES = 8


def leaf_index(conn: Connection, prefix: str | None = None) -> LeafIndex:
    """The :class:`LeafIndex` of the live leaf areas (under ``prefix``: the county or city an
    import goes to; all of them when None) as the connection's snapshot sees them, built once per
    boundary state: kept in memory (``_LEAF_INDEXES``) and in a file (:func:`kept_leaf_index`), so
    another process loads it in a few tens of ms instead of building it; EPSG:4490 lon/lat."""
    key = (conn.engine.url.render_as_string(hide_password=True), prefix, *areas_fingerprint(conn, prefix))
    with _LEAF_INDEXES_LOCK:
        index = _LEAF_INDEXES.get(key)
    if index is not None:
        return index
    index = kept_leaf_index(conn, prefix, key)  # outside the lock: two first callers may both build
    with _LEAF_INDEXES_LOCK:
        _LEAF_INDEXES.pop(key, None)
        _LEAF_INDEXES[key] = index
        while len(_LEAF_INDEXES) > _LEAF_INDEXES_KEEP:
            _LEAF_INDEXES.pop(next(iter(_LEAF_INDEXES)))
    return index


def kept_index_path(key: tuple) -> Path:
    """The file (under ``GRIDMAP_INDEX_DIR``) that keeps the index of ``key`` = (database URL,
    prefix, *fingerprint): named by a digest of the database and prefix, then of the whole key."""
    head = hashlib.sha256(json.dumps(key[:2]).encode()).hexdigest()[:16]
    whole = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:24]
    return get_settings().leaf_index_dir / f"{head}-{whole}.leafidx"


def kept_leaf_index(conn: Connection, prefix: str | None, key: tuple) -> LeafIndex:
    """The index of ``key``'s boundary state loaded from its file, or built from the live leaf areas
    and written there. The file holds ``key`` itself, a format version and a checksum: a file of
    another state, version or database, cut short or altered, is never used, only replaced. Older
    files of the same database and prefix are removed, and all but the newest ``KEPT_INDEX_FILES``.
    A directory that cannot be written only costs the rebuild next time (logged)."""
    path = kept_index_path(key)
    stored_key = json.dumps(key)
    index = LeafIndex.load(path, stored_key)
    if index is not None:
        return index
    index = LeafIndex.build(*leaf_areas(conn, prefix))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save(path, stored_key)
        _prune_kept(path)
    except OSError as exc:
        log.warning("leaf index not kept in %s: %s", path.parent, exc)
    return index


def _prune_kept(path: Path) -> None:
    head = path.name.split("-", 1)[0]
    files = []
    for other in path.parent.glob("*.leafidx"):
        try:
            if other != path and other.name.startswith(head + "-"):
                other.unlink()
            else:
                files.append((other.stat().st_mtime_ns, other))
        except OSError:
            continue  # removed meanwhile by another process
    for _mtime, old in sorted(files, reverse=True)[KEPT_INDEX_FILES:]:
        old.unlink(missing_ok=True)


def check_crs(index: LeafIndex, table: CameraTable, *, sample: int = CRS_CHECK_SAMPLE) -> CrsSuggestion | None:
    """Would another CRS fit the grids clearly better than the declared one?

    Consistency of a reading = share of rows whose point lands in the grid the file itself names
    (所属网格, when the file has that column) or, failing that, inside any area. A suggestion is
    made when the declared reading is below 80 % and another reaches at least 90 % and beats it by
    20 points: GCJ-02 shifts points by a few hundred metres, enough to leave most grids.
    """
    cams = table.cameras
    if cams.empty or index.codes.size == 0:
        return None
    if len(cams) > sample:
        cams = cams.sample(sample, random_state=0)
    raw_x, raw_y = cams["raw_x"].to_numpy(float), cams["raw_y"].to_numpy(float)
    grid = cams["grid_code"] if "grid_code" in cams and cams["grid_code"].notna().any() else None

    def share(lon: np.ndarray, lat: np.ndarray) -> float:
        codes = index.assign_codes(lon, lat)
        if grid is None:
            return float(np.mean([c is not None for c in codes]))
        return float(
            np.mean([c is not None and g is not None and str(c).startswith(str(g)) for c, g in zip(codes, grid)])
        )

    declared = share(cams["lon"].to_numpy(float), cams["lat"].to_numpy(float))
    if declared >= 0.8:
        return None
    best: tuple[float, str] | None = None
    for candidate in ("wgs84", "gcj02", "bd09"):
        if candidate == table.crs or (candidate == "wgs84" and table.crs == "cgcs2000"):
            continue
        s = share(*to_storage(raw_x, raw_y, candidate))
        if best is None or s > best[0]:
            best = (s, candidate)
    if best is None or best[0] < 0.9 or best[0] < declared + 0.2:
        return None
    return CrsSuggestion(
        table.crs, best[1], declared, best[0], len(cams), "grid_code" if grid is not None else "inside"
    )


def report_limit(listed: int | None = None) -> int:
    """How many rejected rows a report lists in full: ``listed``, else ``GRIDMAP_MAX_REPORT_REJECTED``."""
    return get_settings().max_report_rejected if listed is None else listed


def rejected_report(rejected: list[RowProblem], limit: int) -> dict[str, object]:
    """The rejected rows as a report holds them: ``rejected_count`` (all), ``rejected`` (the first
    ``limit`` in full), ``rejected_truncated`` (whether some were left out) and
    ``rejected_by_code`` (all, counted per code, most frequent first)."""
    by_code = Counter(p.code for p in rejected)
    return {
        "rejected_count": len(rejected),
        "rejected": [asdict(p) for p in rejected[:limit]],
        "rejected_truncated": len(rejected) > limit,
        "rejected_by_code": dict(by_code.most_common()),
    }


@dataclass
class ImportResult:
    file_name: str | None
    crs: str
    county: str
    source_rows: int
    counts: UpsertCounts
    rejected: list[RowProblem]
    #: Imported cameras no leaf area covers: device_id, row, lon, lat.
    outside: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crs_suggestion: CrsSuggestion | None = None
    import_id: int | None = None
    #: Rejected rows (and outside cameras) listed in full by ``to_dict``; None: the setting
    #: ``GRIDMAP_MAX_REPORT_REJECTED``. ``rejected`` itself always holds every row.
    listed: int | None = None

    @property
    def imported(self) -> int:
        return self.counts.inserted + self.counts.updated + self.counts.unchanged

    @property
    def ok(self) -> bool:
        """Every row imported (cameras outside every area still count as imported)."""
        return not self.rejected

    def to_dict(self) -> dict[str, object]:
        """The report (``--format json``, the API's answer, ``upload.report``): bounded, whatever
        the file: the first ``listed`` rejected rows and outside cameras in full, the rest counted."""
        limit = report_limit(self.listed)
        notes = list(self.notes)
        if len(self.rejected) > limit:
            notes.append(
                f"被拒绝的行共 {len(self.rejected):,} 行，报告只列出前 {limit:,} 行，其余按原因计数"
                "（rejected_by_code）；命令行 gridmap cameras import --rejected 文件.csv 可导出全部被拒绝的行。"
            )
        return {
            "ok": self.ok,
            "import_id": self.import_id,
            "file": self.file_name,
            "crs": self.crs,
            "county": self.county,
            "rows": self.source_rows,
            "imported": self.imported,
            **asdict(self.counts),
            **rejected_report(self.rejected, limit),
            "outside_count": len(self.outside),
            "outside": self.outside[:limit],
            "outside_truncated": len(self.outside) > limit,
            "warnings": self.warnings,
            "notes": notes,
            "crs_suggestion": (self.crs_suggestion.to_dict() if self.crs_suggestion else None),
        }


def import_cameras(
    engine: Engine,
    path: str | Path,
    *,
    crs: str | None = None,
    fields: dict[str, str] | None = None,
    sheet: str | None = None,
    county: str | None = None,
    created_by: str = "gridmap cameras import",
    force: bool = False,
) -> ImportResult:
    """Read, check and import a camera file (CSV, XLSX or GeoJSON) in one transaction.

    Raises ``gridmap.io.cameras.CameraReadError`` when the file cannot be read at all and
    ``ImportRefused`` when there is no county to import into, or (``crs_mismatch``, unless
    ``force``) when another CRS fits the grids far better than the declared one; nothing is written then.
    """
    path = Path(path)
    with engine.connect() as conn:
        target = county_of(conn, county)
        table = read_camera_file(
            path, crs=crs, fields=fields, sheet=sheet, county_code=target.centre_codes, extent=target.extent
        )
        table = check_camera_counties(conn, table, target)
    index = None
    if not table.cameras.empty:  # only for the CRS check: not for a file refused anyway
        with engine.connect() as conn:
            index = leaf_index(conn, target.code)
    with engine.begin() as conn:
        result = import_camera_table(
            conn,
            table,
            target,
            index=index,
            file_name=path.name,
            file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            created_by=created_by,
            force=force,
        )
        record_import(conn, result)
        return result


def import_camera_table(
    conn: Connection,
    table: CameraTable,
    county: County,
    *,
    index: LeafIndex | None = None,
    file_name: str | None = None,
    file_sha256: str | None = None,
    created_by: str = "gridmap",
    force: bool = False,
) -> ImportResult:
    """Write the good rows of ``table`` on the caller's transaction and log the import. The caller
    then calls :func:`record_import` (once its own checks passed) so maps and tiles follow.

    Before anything is written: when another CRS fits the grids far better than the declared one
    (:func:`check_crs`), ``ImportRefused("crs_mismatch")`` naming it, unless ``force`` (then the
    import goes ahead with the suggestion as a warning)."""
    suggestion = check_crs(index, table) if index is not None else None
    if suggestion is not None and not force:
        raise ImportRefused("crs_mismatch", suggestion.refusal, {"crs_suggestion": suggestion.to_dict()})
    ids = table.cameras["device_id"].tolist()
    lock_areas_for_import(conn)
    lock_cameras(conn, "c.device_id = ANY(CAST(:ids AS text[]))", {"ids": ids}, new_ids=ids, digest=True)
    counts = upsert_cameras(conn, table.cameras, table.crs, table.present)
    assign_cameras_to_areas(conn, device_ids=ids)
    record_current_states(conn)
    outside = _outside(conn, table.cameras)
    warnings = [suggestion.message] if suggestion else []
    if outside:
        warnings.append(f"{len(outside)} 个摄像头不在任何网格内（已导入，见 outside 列表）：请核对坐标或网格边界。")
    result = ImportResult(
        file_name,
        table.crs,
        county.code,
        table.source_rows,
        counts,
        table.rejected,
        outside,
        warnings,
        list(table.notes),
        suggestion,
    )
    report = result.to_dict()
    result.import_id = int(
        conn.execute(
            text("""
        INSERT INTO camera_import (created_by, file_name, file_sha256, crs, source_rows, inserted, updated,
                                   unchanged, rejected, report)
        VALUES (:by, :file, :sha, :crs, :rows, :ins, :upd, :same, :rej, CAST(:report AS jsonb)) RETURNING id
    """),
            {
                "by": created_by,
                "file": file_name,
                "sha": file_sha256,
                "crs": table.crs,
                "rows": table.source_rows,
                "ins": counts.inserted,
                "upd": counts.updated,
                "same": counts.unchanged,
                "rej": len(table.rejected),
                "report": json.dumps(report, ensure_ascii=False, default=str),
            },
        ).scalar_one()
    )
    return result


def record_import(conn: Connection, result: ImportResult) -> None:
    """Record an import's change (figures, revision, tiles) on its transaction, if it changed anything."""
    if result.counts.inserted or result.counts.updated:
        record_change(conn, "camera_import")


def _outside(conn: Connection, cameras: pd.DataFrame) -> list[dict[str, object]]:
    ids = (
        conn.execute(
            text("""SELECT device_id FROM camera WHERE device_id = ANY(CAST(:ids AS text[]))
                               AND area_code IS NULL AND status <> 'removed'"""),
            {"ids": cameras["device_id"].tolist()},
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    rows = cameras[cameras["device_id"].isin(set(ids))]
    return [
        {"device_id": d, "row": int(r), "lon": float(x), "lat": float(y)}
        for d, r, x, y in zip(rows["device_id"], rows["row"], rows["lon"], rows["lat"])
    ]


@dataclass
class StatusResult:
    source_rows: int
    applied: int
    stale: int
    rejected: list[RowProblem]
    #: Rejected reports listed in full by ``to_dict`` (None: ``GRIDMAP_MAX_REPORT_REJECTED``).
    listed: int | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, object]:
        """The answer: bounded like an import's (:func:`rejected_report`)."""
        return {
            "ok": self.ok,
            "rows": self.source_rows,
            "applied": self.applied,
            "stale": self.stale,
            **rejected_report(self.rejected, report_limit(self.listed)),
        }


def apply_status_reports(
    engine: Engine,
    source: str | Path | bytes | list | dict,
    *,
    default_time=None,
    may_change: Callable[[str | None], bool] | None = None,
) -> StatusResult:
    """Read online/offline reports (file path, JSON text/bytes or parsed JSON) and apply them in one
    transaction. Reports for unknown devices, or "online" for a camera that is not installed, are
    rejected with their row; stale reports (older than the last applied) are counted, not errors.
    ``may_change(area_code)`` (the API's token scope): reports for known cameras whose leaf area it
    refuses are rejected (``out_of_scope``), every row of them, and not applied.

    Concurrent reports for the same cameras queue on the camera rows (locked in device-id order,
    so never in a cycle); a deadlock or serialization failure all the same is retried."""
    updates: StatusUpdates = read_status_updates(source, default_time=default_time)
    todo, rejected = updates.updates, list(updates.rejected)
    counts, refused = retry_on_conflict(lambda: _apply_status(engine, todo, may_change))
    row_of: dict[str, list[int]] = {}
    for device_id, row in zip(todo["device_id"], todo["row"]):
        row_of.setdefault(device_id, []).append(int(row))
    rejected += [
        RowProblem(
            row,
            "out_of_scope",
            f"设备 {d} 所在区域 {area or '（不在任何网格内）'} 不在本令牌可修改的范围内，未更新其在线状态。",
            device_id=d,
        )
        for d, area in refused
        for row in row_of[d]
    ]
    rejected += [
        RowProblem(row_of[d][-1], "device_unknown", f"设备编码 {d} 不在摄像头台账中：请先导入该摄像头。", device_id=d)
        for d in counts.unknown
    ]
    rejected += [
        RowProblem(
            row_of[d][-1],
            "online_not_installed",
            f"设备 {d} 在台账中未安装（规划或已拆除），不能标记为在线：请先在台账中更新安装状态。",
            device_id=d,
        )
        for d in counts.not_installed
    ]
    rejected.sort(key=lambda p: p.row)
    return StatusResult(updates.source_rows, counts.applied, counts.stale, rejected)


def _apply_status(engine: Engine, todo: pd.DataFrame, may_change) -> tuple[StatusCounts, list[tuple[str, str | None]]]:
    with engine.begin() as conn:
        counts, refused = apply_status_updates(conn, todo, may_change)
        if counts.applied:
            record_change(conn, "status")
        return counts, refused


def expire_stale_statuses(engine: Engine, ttl_seconds: float) -> int:
    """The status time-to-live (``GRIDMAP_STATUS_TTL``): online cameras whose last online report is
    older than ``ttl_seconds`` go offline, moving the figures like any status report. Returns how
    many went offline."""

    def run() -> int:
        with engine.begin() as conn:
            if not try_lock_status_expiry(conn):
                return 0  # another process is at it
            expired = expire_statuses(conn, ttl_seconds)
            if expired:
                record_change(conn, "status_expiry")
            return expired

    return retry_on_conflict(run)


def retry_on_conflict(work: Callable[[], T], attempts: int = 3) -> T:
    """``work()`` (one transaction), run again when PostgreSQL aborted it as a deadlock victim or
    for a serialization failure: the transaction changed nothing, running it again is safe."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if attempt == attempts or getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001"):
                raise
    raise AssertionError("unreachable")
