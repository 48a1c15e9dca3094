"""Boundary workflows shared by the CLI and the API: check a file, publish it as a version, roll
back to an earlier version.

Flow: file → ``gridmap.io`` (read, EPSG:4490) → ``gridmap.geometry`` (validate, with parents from
PostGIS) → ``gridmap.db`` (replace the subtree in one transaction, re-assign cameras). Nothing
touches the live areas unless validation passed (or ``force`` with a recorded reason), and then
everything happens in one transaction: any failure leaves the live data exactly as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from gridmap.config import STORAGE_SRID
from gridmap.coverage.stats import extent_of, extent_wkt, record_change
from gridmap.db.areas import VersionInfo, count_below, parent_areas, replace_subtree
from gridmap.db.cameras import assign_cameras_to_areas, cameras_in
from gridmap.db.versions import archived_areas, get_version, record_rejected
from gridmap.errors import GridmapError
from gridmap.geometry.scope import Scope
from gridmap.geometry.validate import Analysis, ParentLookup, ValidationOptions, analyse
from gridmap.io.boundaries import BoundaryFile, read_boundary_file
from gridmap.io.crs import crs_label


class PublishRefused(GridmapError):
    """Publishing did not happen. ``code`` is stable (API), ``message`` Chinese; ``report`` the
    validation report when validation was the reason."""

    def __init__(self, code: str, message: str, report: dict | None = None):
        super().__init__(code, message)
        self.report = report


@dataclass(frozen=True)
class ReadOptions:
    """How to read a boundary file (the CLI's --layer/--crs/--encoding/--field)."""

    layer: str | None = None
    crs: str | None = None
    encoding: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PublishResult:
    version_id: int
    scope: Scope
    removed: int             # live areas replaced
    added: int               # areas now live from this version
    cameras_assigned: int  # cameras in the replaced subtree after re-assignment
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``gridmap publish|rollback --format json`` and of the API."""
        return {"published": True, "version": self.version_id, "root": self.scope.root,
                "top_level": self.scope.top_level, "removed": self.removed, "added": self.added,
                "cameras_assigned": self.cameras_assigned, "summary": self.report["summary"]}


def database_parents(conn: Connection) -> ParentLookup:
    """Parent lookup backed by the live areas in PostGIS."""
    return lambda scope, codes: parent_areas(conn, codes, scope)


def source_info(src: BoundaryFile) -> dict[str, Any]:
    """What was read and how, for the report."""
    return {"file": src.path.name, "format": src.format, "layers": src.layers, "encoding": src.encoding,
            "encoding_source": src.encoding_source, "crs": crs_label(src.source_crs),
            "crs_source": src.crs_source, "fields": src.field_mapping, "notes": src.notes}


def check_file(path: str | Path, *, read: ReadOptions | None = None, level: int | None = None,
               parent_code: str | None = None, options: ValidationOptions | None = None,
               parent_lookup: ParentLookup | None = None) -> tuple[BoundaryFile, Analysis]:
    """Read and validate a boundary file. Raises ``BoundaryReadError`` when it cannot be read."""
    read = read or ReadOptions()
    src = read_boundary_file(path, layer=read.layer, crs=read.crs, encoding=read.encoding,
                             fields=dict(read.fields) or None)
    analysis = analyse(src.areas, level=level, parent_code=parent_code, parent_lookup=parent_lookup,
                       options=options, source=source_info(src))
    return src, analysis


def publish_file(engine: Engine, path: str | Path, *, by: str, read: ReadOptions | None = None,
                 level: int | None = None, parent_code: str | None = None,
                 options: ValidationOptions | None = None, force: bool = False,
                 reason: str | None = None) -> PublishResult:
    """Validate ``path`` against the live data and publish it as a new version."""
    with engine.connect() as conn:
        src, analysis = check_file(path, read=read, level=level, parent_code=parent_code, options=options,
                                   parent_lookup=database_parents(conn))
    info = VersionInfo(created_by=by, file_name=src.path.name,
                       file_sha256=hashlib.sha256(src.path.read_bytes()).hexdigest(), reason=reason)
    return publish_analysis(engine, analysis, src.areas, info, force=force)


def rollback(engine: Engine, version_id: int, *, by: str, force: bool = False, reason: str | None = None,
             options: ValidationOptions | None = None) -> PublishResult:
    """Make the areas of version ``version_id`` live again, as a new version that records it."""
    with engine.connect() as conn:
        version = get_version(conn, version_id)
        if version is None:
            raise PublishRefused("version_not_found", f"没有版本 {version_id}，请用 gridmap versions 查看。")
        areas = archived_areas(conn, version_id)
        if not len(areas):
            raise PublishRefused("version_has_no_areas",
                                 f"版本 {version_id}（{version.status}）没有发布过区域，无法回滚到它。")
        top = version.top_level or 0
        # The root is the parent of the top features, unless the version replaced one area with
        # its subtree (root = that area's own code): then the codes tell the scope by themselves.
        one_area = bool((areas["code"] == version.root_code).any())
        analysis = analyse(areas, parent_code=version.root_code if top > 0 and not one_area else None,
                           parent_lookup=database_parents(conn), options=options,
                           source={"file": version.file_name, "rollback_of": version_id})
    info = VersionInfo(created_by=by, file_name=version.file_name, reason=reason or f"回滚到版本 {version_id}")
    return publish_analysis(engine, analysis, areas, info, force=force, restored_from=version_id,
                            reason_required=False)


def publish_analysis(engine: Engine, analysis: Analysis, areas: gpd.GeoDataFrame, info: VersionInfo, *,
                     force: bool = False, restored_from: int | None = None,
                     reason_required: bool = True,
                     on_publish: Callable[[Connection, int], None] | None = None) -> PublishResult:
    """Publish analysed ``areas`` (refusing on errors unless ``force``), in one transaction.
    ``on_publish(conn, version_id)`` runs last in that transaction (the API marks its upload)."""
    report, scope = analysis.report, analysis.scope
    if force and reason_required and not (info.reason or "").strip():
        raise PublishRefused("reason_required", "强制发布（--force）必须用 --reason 写明原因，原因会记入版本记录。")
    unusable = shapely.is_missing(analysis.validity.usable)
    if unusable.any():
        rows = "、".join(str(r) for r in analysis.labels[unusable][:5])
        raise PublishRefused("unusable_geometry", f"{int(unusable.sum())} 个要素没有可用的面几何（{rows}），"
                                                  f"无法发布，请重新绘制。", report.to_dict())
    if scope.root is None or scope.top_level is None:
        raise PublishRefused("scope_unknown", "无法确定本次上传替换哪一部分：请检查编码，或用 --parent-code 指定上级。",
                             report.to_dict())
    if not report.ok and not force:
        with engine.begin() as conn:
            record_rejected(conn, info, scope.root, scope.top_level, len(areas), report.to_dict())
        raise PublishRefused("validation_failed",
                             f"校验发现 {len(report.errors)} 个错误，未发布。请修正后重试，"
                             f"或用 --force --reason 说明原因后强制发布。", report.to_dict())
    with engine.connect() as conn:
        deeper = count_below(conn, scope.root, max(scope.levels))
    if deeper and not force:
        raise PublishRefused("would_remove_descendants",
                             f"文件只到第 {max(scope.levels)} 级，发布会删除库中 {scope.root} 下 {deeper} 个更下级区域。"
                             f"请把下级区域一并上传，或用 --force --reason 确认删除。", report.to_dict())
    store = _storable(areas, analysis)
    try:
        with engine.begin() as conn:
            removed = count_below(conn, scope.root, scope.top_level - 1)
            before = extent_of(conn, _ROOT_GEOM, {"root": scope.root})
            version_id = replace_subtree(conn, scope.root, store, info, report.to_dict(),
                                         top_level=scope.top_level, restored_from=restored_from)
            assign_cameras_to_areas(conn, root_code=scope.root)
            assigned = cameras_in(conn, scope.root)
            record_change(conn, "rollback" if restored_from else "publish",
                          extent_wkt(before, extent_of(conn, _ROOT_GEOM, {"root": scope.root})))
            if on_publish is not None:
                on_publish(conn, version_id)
    except DBAPIError as exc:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise PublishRefused("database_error", f"发布失败，数据库未做任何修改：{detail}", report.to_dict()) from exc
    return PublishResult(version_id, scope, removed, len(store), assigned, report.to_dict())


#: The subtree root's outline bounds everything a publish changes (its descendants lie inside it).
_ROOT_GEOM = "SELECT geom FROM area WHERE code = :root"


def _storable(areas: gpd.GeoDataFrame, analysis: Analysis) -> gpd.GeoDataFrame:
    """The areas as stored: cleaned codes, resolved level and parent, repaired valid geometry."""
    h = analysis.hierarchy
    out = gpd.GeoDataFrame(areas.drop(columns=areas.geometry.name), geometry=list(analysis.validity.usable),
                           crs=STORAGE_SRID)
    out["code"], out["level"] = h.codes, h.level
    out["parent_code"] = np.where(h.level == 0, None, h.parent)
    return out
