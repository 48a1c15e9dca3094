"""Boundary workflows shared by the CLI and the API: check a file, publish it as a version, roll
back to an earlier version.

Flow: file → ``gridmap.io`` (read, EPSG:4490) → ``gridmap.geometry`` (validate, with parents from
PostGIS) → ``gridmap.db`` (replace the subtree in one transaction, re-assign cameras). Nothing
touches the live areas unless validation passed (or ``force`` with a recorded reason), and then
everything happens in one transaction: any failure leaves the live data exactly as it was.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from gridmap.config import STORAGE_SRID
from gridmap.db.areas import (
    VersionInfo,
    count_below,
    county_schemes,
    live_children,
    live_codes_below,
    parent_areas,
    replace_subtree,
)
from gridmap.db.cameras import CHANGED_CAMERAS, assign_cameras_to_areas, cameras_in, lock_cameras
from gridmap.db.figures import parents_of, planned_in
from gridmap.db.locks import SubtreeBusy, lock_areas_for_publish, lock_subtree
from gridmap.db.revisions import current_revision, replaced_since
from gridmap.db.session import is_bad_value
from gridmap.db.versions import archived_areas, get_version, record_rejected
from gridmap.errors import GridmapError
from gridmap.geometry.local_codes import LOCAL_CODE_COLUMN, known_from_rows, local_counties, localize
from gridmap.geometry.scope import Scope, encroachments
from gridmap.geometry.validate import Analysis, ParentLookup, ValidationOptions, analyse
from gridmap.io.boundaries import BoundaryFile, ReadLimits, read_boundary_file
from gridmap.io.boundary_formats import BoundaryReadError
from gridmap.io.crs import crs_label
from gridmap.levels import LEVELS, SCHEME_ATTR, STANDARD, Scheme, SchemeError
from gridmap.logs import get_logger
from gridmap.services.changes import AreaReplacement, extent_of, extent_wkt, record_change
from gridmap.services.neighbours import neighbour_findings
from gridmap.services.placement import override_finding, placement_finding
from gridmap.services.region_outlines import outline_findings

log = get_logger("services.boundaries")


class PublishRefused(GridmapError):
    """Publishing (or rolling back) did not happen. ``code`` is stable (API), ``message`` Chinese;
    ``detail`` the validation report when validation was the reason, else the conflict's context."""

    status = 409
    exit_code = 1
    statuses = {
        "version_not_found": 404,
        "out_of_scope": 403,
        "database_unavailable": 503,
        "database_error": 500,
        "invalid_value": 422,
    }

    def __init__(self, code: str, message: str, detail: dict | None = None):
        super().__init__(
            code, message, detail, headers={"Retry-After": "5"} if code == "database_unavailable" else None
        )


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
    removed: int  # live areas replaced
    added: int  # areas now live from this version
    cameras_assigned: int  # cameras in the replaced subtree after re-assignment
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``gridmap publish|rollback --format json`` and of the API."""
        return {
            "published": True,
            "version": self.version_id,
            "root": self.scope.root,
            "top_level": self.scope.top_level,
            "removed": self.removed,
            "added": self.added,
            "cameras_assigned": self.cameras_assigned,
            "summary": self.report["summary"],
        }


def database_parents(conn: Connection) -> ParentLookup:
    """Parent lookup backed by the live areas in PostGIS."""
    return lambda scope, codes: parent_areas(conn, codes, scope)


def source_info(src: BoundaryFile) -> dict[str, Any]:
    """What was read and how, for the report."""
    return {
        "file": src.path.name,
        "format": src.format,
        "layers": src.layers,
        "encoding": src.encoding,
        "encoding_source": src.encoding_source,
        "crs": crs_label(src.source_crs),
        "crs_source": src.crs_source,
        "fields": src.field_mapping,
        "notes": src.notes,
    }


def check_file(
    path: str | Path,
    *,
    read: ReadOptions | None = None,
    level: int | None = None,
    parent_code: str | None = None,
    options: ValidationOptions | None = None,
    parent_lookup: ParentLookup | None = None,
    limits: ReadLimits | None = None,
    live: Connection | None = None,
    scheme: str | Scheme | None = None,
    schemes: Connection | None = None,
) -> tuple[BoundaryFile, Analysis]:
    """Read and validate a boundary file (features and vertices within ``limits``, default: the
    settings'). With ``live`` (the database), also check that the file lies where the live areas
    are (:func:`gridmap.services.placement.placement_finding`: a ``crs_mismatch`` error naming the
    CRS that fits). Areas numbered with local codes under a stated parent get standard codes
    (:func:`with_standard_codes`; a repaired copy still writes the file's own attributes).
    ``scheme``: the county's level scheme as declared for this upload (``Scheme.spec`` text, e.g.
    ``township:9,village:12,grid:15``); without it, the scheme its live county declared before,
    else the standard one (:func:`resolve_scheme`; read from ``live``, or from ``schemes`` when the
    file is not to be checked against the live areas). Raises ``BoundaryReadError`` when it cannot be
    read, is over the limits, or its scheme is bad (``bad_scheme``) or contradicts the live
    county's (``scheme_conflict``)."""
    read = read or ReadOptions()
    src = read_boundary_file(
        path, layer=read.layer, crs=read.crs, encoding=read.encoding, fields=dict(read.fields) or None, limits=limits
    )
    chosen = resolve_scheme(src.areas, scheme, live if live is not None else schemes)
    src = with_standard_codes(src, live, chosen)
    analysis = analyse(
        src.areas,
        level=level,
        parent_code=parent_code,
        parent_lookup=parent_lookup,
        options=options,
        source=source_info(src),
        scheme=chosen,
    )
    if not chosen.is_standard:
        analysis.report.source["scheme"] = {"spec": chosen.spec(), "levels": list(chosen.numbers)}
    overridden = override_finding(src)
    if overridden is not None:
        analysis.report.findings.insert(0, overridden)
    if live is not None:
        misplaced = placement_finding(live, src)
        if misplaced is not None:
            analysis.report.findings.insert(0, misplaced)
        else:  # placed right: does it reach into the live counties next to it?
            analysis.report.findings.extend(neighbour_findings(live, src))
            # … or past its city's or province's official outline, or leaves a gap next to it?
            analysis.report.findings.extend(outline_findings(live, src))
    return src, analysis


def file_county(areas: gpd.GeoDataFrame) -> str | None:
    """The county (6-digit code) most of a boundary file's codes and parent codes start with."""
    found: Counter[str] = Counter()
    for column in ("code", "parent_code"):
        if column in areas:
            values = areas[column].dropna().astype(str).str.strip()
            found.update(values[values.str.fullmatch(r"\d{6,}")].str[: LEVELS[0].code_length])
    return found.most_common(1)[0][0] if found else None


def resolve_scheme(areas: gpd.GeoDataFrame, declared: str | Scheme | None, live: Connection | None) -> Scheme:
    """The level scheme a boundary file is read with: ``declared`` (for this upload), else the one
    its live county declared before (kept in the county's attrs, :func:`county_schemes`), else
    :data:`gridmap.levels.STANDARD`. A declared scheme that differs from the live county's is
    refused (``scheme_conflict``) unless the file holds the county itself: a scheme changes with
    the whole county."""
    try:
        chosen = Scheme.parse(declared) if isinstance(declared, str) and declared.strip() else declared
    except SchemeError as exc:
        raise BoundaryReadError("bad_scheme", str(exc)) from None
    county = file_county(areas)
    spec = county_schemes(live, [county]).get(county) if live is not None and county else None
    try:
        stored = Scheme.parse(spec) if spec else None
    except SchemeError:  # written by an older or hand-edited row: treat as none declared
        stored = None
    if not isinstance(chosen, Scheme):
        return stored or STANDARD
    if live is not None and county and chosen != (stored or STANDARD):
        has_county = "code" in areas and bool((areas["code"].astype(str).str.strip() == county).any())
        if not has_county:
            raise BoundaryReadError(
                "scheme_conflict",
                f"声明的编码方案（{chosen.describe()}）与县 {county} 已发布的方案（{(stored or STANDARD).describe()}）不同："
                "更改编码方案须连同县级区域整体上传。",
            )
    return chosen


def archived_scheme(areas: gpd.GeoDataFrame) -> Scheme | None:
    """The level scheme archived areas were published with, when they hold their county (its
    ``attrs``; none there: the standard scheme); None when they do not hold it."""
    if "attrs" not in areas or "level" not in areas:
        return None
    counties = areas.loc[areas["level"] == 0, "attrs"]
    if counties.empty:
        return None
    spec = (counties.iloc[0] or {}).get(SCHEME_ATTR)
    try:
        return Scheme.parse(spec) if spec else STANDARD
    except SchemeError:
        return STANDARD


def with_standard_codes(src: BoundaryFile, live: Connection | None, scheme: Scheme = STANDARD) -> BoundaryFile:
    """``src`` with standard codes for its locally numbered areas
    (:func:`gridmap.geometry.local_codes.localize`), the live areas (``live``) keeping the codes
    they were given before; ``src`` itself when it has none."""
    areas = src.areas
    if "code" not in areas or "parent_code" not in areas:
        return src
    codes, parents = areas["code"].to_numpy(dtype=object), areas["parent_code"].to_numpy(dtype=object)
    counties = local_counties(codes, parents, scheme)
    if not counties:
        return src
    known = known_from_rows(live_children(live, counties, LOCAL_CODE_COLUMN)) if live is not None else None
    done = localize(codes, parents, known, scheme)
    areas = areas.copy()
    areas["code"], areas["parent_code"], areas[LOCAL_CODE_COLUMN] = done.codes, done.parents, done.local
    return replace(src, areas=areas, notes=[*src.notes, *done.notes])


def publish_file(
    engine: Engine,
    path: str | Path,
    *,
    by: str,
    read: ReadOptions | None = None,
    level: int | None = None,
    parent_code: str | None = None,
    options: ValidationOptions | None = None,
    force: bool = False,
    reason: str | None = None,
    scheme: str | None = None,
) -> PublishResult:
    """Validate ``path`` against the live data and publish it as a new version; ``scheme``: the
    county's level scheme declared with it (see :func:`check_file`)."""
    with engine.connect() as conn:
        based_on = current_revision(conn)
        src, analysis = check_file(
            path,
            read=read,
            level=level,
            parent_code=parent_code,
            options=options,
            parent_lookup=database_parents(conn),
            live=conn,
            scheme=scheme,
        )
    info = VersionInfo(
        created_by=by,
        file_name=src.path.name,
        file_sha256=hashlib.sha256(src.path.read_bytes()).hexdigest(),
        reason=reason,
    )
    return publish_analysis(engine, analysis, src.areas, info, force=force, based_on=based_on)


def rollback(
    engine: Engine,
    version_id: int,
    *,
    by: str,
    force: bool = False,
    reason: str | None = None,
    options: ValidationOptions | None = None,
    restrict_to: str | None = None,
) -> PublishResult:
    """Make the areas of version ``version_id`` live again, as a new version that records it.
    ``restrict_to``: an editor's scope (see :func:`publish_analysis`)."""
    with engine.connect() as conn:
        based_on = current_revision(conn)
        version = get_version(conn, version_id)
        if version is None:
            raise PublishRefused("version_not_found", f"没有版本 {version_id}，请用 gridmap versions 查看。")
        areas = archived_areas(conn, version_id)
        if not len(areas):
            raise PublishRefused(
                "version_has_no_areas", f"版本 {version_id}（{version.status}）没有发布过区域，无法回滚到它。"
            )
        top = version.top_level or 0
        # The root is the parent of the top features, unless the version replaced one area with
        # its subtree (root = that area's own code): then the codes tell the scope by themselves.
        one_area = bool((areas["code"] == version.root_code).any())
        analysis = analyse(
            areas,
            parent_code=version.root_code if top > 0 and not one_area else None,
            parent_lookup=database_parents(conn),
            options=options,
            source={"file": version.file_name, "rollback_of": version_id},
            scheme=archived_scheme(areas) or resolve_scheme(areas, None, conn),
        )
    info = VersionInfo(created_by=by, file_name=version.file_name, reason=reason or f"回滚到版本 {version_id}")
    return publish_analysis(
        engine,
        analysis,
        areas,
        info,
        force=force,
        restored_from=version_id,
        reason_required=False,
        based_on=based_on,
        restrict_to=restrict_to,
    )


def publish_analysis(
    engine: Engine,
    analysis: Analysis,
    areas: gpd.GeoDataFrame,
    info: VersionInfo,
    *,
    force: bool = False,
    restored_from: int | None = None,
    reason_required: bool = True,
    on_publish: Callable[[Connection, int], None] | None = None,
    based_on: int | None = None,
    restrict_to: str | None = None,
) -> PublishResult:
    """Publish analysed ``areas`` (refusing on errors unless ``force``), in one transaction.
    ``on_publish(conn, version_id)`` runs last in that transaction (the API marks its upload).

    Concurrency: the subtree is locked (:func:`gridmap.db.locks.lock_subtree`); an overlapping
    publish in progress, or one committed after ``based_on`` (the data revision the analysis was
    made at), refuses this one (``publish_conflict``): it was validated against other data.

    ``restrict_to``: an editor's scope (a code prefix). Every code written must lie in it, and,
    ``force`` or not, the areas written must not reach over areas outside it (overlap more than
    ``ENCROACH_M2``, or leave the scope's own area when it stays) nor move cameras of areas outside
    it (``out_of_scope``, nothing changed)."""
    report, scope = analysis.report, analysis.scope
    if force and reason_required and not (info.reason or "").strip():
        raise PublishRefused("reason_required", "强制发布（--force）必须用 --reason 写明原因，原因会记入版本记录。")
    unusable = shapely.is_missing(analysis.validity.usable)
    if unusable.any():
        rows = "、".join(str(r) for r in analysis.labels[unusable][:5])
        raise PublishRefused(
            "unusable_geometry",
            f"{int(unusable.sum())} 个要素没有可用的面几何（{rows}），无法发布，请重新绘制。",
            report.to_dict(),
        )
    if scope.root is None or scope.top_level is None:
        raise PublishRefused(
            "scope_unknown", "无法确定本次上传替换哪一部分：请检查编码，或用 --parent-code 指定上级。", report.to_dict()
        )
    store = _storable(areas, analysis)
    if restrict_to is not None:
        _check_codes_in_scope(restrict_to, scope.root, store["code"].tolist())
    misplaced = [f for f in report.findings if f.kind == "crs_mismatch"]
    if misplaced and not force:
        with engine.begin() as conn:
            record_rejected(conn, info, scope.root, scope.top_level, len(areas), report.to_dict())
        raise PublishRefused("crs_mismatch", misplaced[0].message, report.to_dict())
    if not report.ok and not force:
        with engine.begin() as conn:
            record_rejected(conn, info, scope.root, scope.top_level, len(areas), report.to_dict())
        raise PublishRefused(
            "validation_failed",
            f"校验发现 {len(report.errors)} 个错误，未发布。请修正后重试，或用 --force --reason 说明原因后强制发布。",
            report.to_dict(),
        )
    with engine.connect() as conn:
        deeper = count_below(conn, scope.root, max(scope.levels))
    if deeper and not force:
        raise PublishRefused(
            "would_remove_descendants",
            f"文件只到第 {max(scope.levels)} 级，发布会删除库中 {scope.root} 下 {deeper} 个更下级区域。"
            f"请把下级区域一并上传，或用 --force --reason 确认删除。",
            report.to_dict(),
        )
    kind = "rollback" if restored_from else "publish"
    try:
        with engine.begin() as conn:
            lock_areas_for_publish(conn)
            _lock_subtree(conn, scope.root, kind, based_on)
            removed_codes = live_codes_below(conn, scope.root, scope.top_level)
            before = extent_of(conn, _TOP_GEOMS, {"root": scope.root, "top": scope.top_level})
            minx, miny, maxx, maxy = (float(v) for v in store.total_bounds)
            after = (minx, miny, maxx, maxy)
            # The cameras this can move: those in the areas it replaces, and those its new leaves cover.
            lock_cameras(
                conn,
                "c.area_code = ANY(CAST(:removed AS text[])) "
                "OR (c.geom && ST_GeomFromWKB(:cover, 4490) AND ST_Covers(ST_GeomFromWKB(:cover, 4490), c.geom))",
                {"removed": removed_codes, "cover": shapely.to_wkb(_new_leaves_outline(store))},
            )
            version_id = replace_subtree(
                conn, scope.root, store, info, report.to_dict(), top_level=scope.top_level, restored_from=restored_from
            )
            assign_cameras_to_areas(conn, locked=True)
            if restrict_to is not None:
                _check_reach(conn, restrict_to, scope, store, version_id)
            anchor = scope.parent if scope.includes_root else scope.root
            if anchor is None and scope.root is not None:  # a county: its city row (gridmap.db.regions)
                anchor = next(iter(parents_of(conn, [scope.root])), None)
            record_change(
                conn,
                kind,
                areas=AreaReplacement(
                    scope.root, tuple(removed_codes), tuple(store["code"]), anchor, extent_wkt([before, after])
                ),
            )
            assigned = planned_in(conn, scope.root)
            if assigned is None:  # the root is a code prefix, not an area
                assigned = cameras_in(conn, scope.root)
            if on_publish is not None:
                on_publish(conn, version_id)
    except DBAPIError as exc:
        raise database_refusal(exc, report.to_dict()) from exc
    return PublishResult(version_id, scope, len(removed_codes), len(store), assigned, report.to_dict())


def _new_leaves_outline(store: gpd.GeoDataFrame) -> shapely.Geometry:
    """Where the published areas without children lie (EPSG:4490): a camera can only be assigned
    to one of them."""
    parents = set(store["parent_code"].dropna())
    leaves = store.geometry[~store["code"].isin(parents)].to_numpy()
    return shapely.union_all(leaves)


#: The top-level areas a publish replaces (their outlines bound everything below them).
_TOP_GEOMS = "SELECT geom FROM area WHERE code LIKE CAST(:root AS text) || '%' AND level = :top"
#: Overlaps smaller than this (m²) are slivers of edges that do not match to the last digit, not a
#: reach into another's area (validation reports them as slivers).
ENCROACH_M2 = 1.0


def _lock_subtree(conn: Connection, root: str, kind: str, based_on: int | None) -> None:
    try:
        lock_subtree(conn, root, kind)
    except SubtreeBusy as busy:
        doing = f"（{busy.holder}）" if busy.holder else ""
        raise PublishRefused(
            "publish_conflict",
            f"另一次发布或回滚{doing}正在修改与 {root} 重叠的区域：本次未发布。请等它完成后刷新，"
            f"按新的数据重新校验再发布。",
            {"root": root, "conflict": busy.holder},
        ) from None
    if based_on is not None:
        newer = replaced_since(conn, based_on, root)
        if newer is not None:
            revision, what, other = newer
            raise PublishRefused(
                "publish_conflict",
                f"校验之后，数据版本 {revision} 已{_KIND_ZH.get(what, '修改')}了与 {root} 重叠的区域"
                f"（{other}）：本次未发布。请按新的数据重新校验再发布。",
                {"root": root, "conflict": other, "revision": revision, "kind": what},
            )


_KIND_ZH = {"publish": "发布", "rollback": "回滚", "sample_load": "重新载入"}


def _check_codes_in_scope(restrict_to: str, root: str, codes: list[str]) -> None:
    outside = sorted({c for c in [root, *codes] if not str(c).startswith(restrict_to)})
    if outside:
        shown = "、".join(outside[:5]) + (" 等" if len(outside) > 5 else "")
        raise PublishRefused(
            "out_of_scope",
            f"只能修改编码以 {restrict_to} 开头的区域，本次会写入或替换 {shown}，未发布。",
            {"scope": restrict_to, "codes": outside[:100]},
        )


def _check_reach(conn: Connection, restrict_to: str, scope: Scope, store: gpd.GeoDataFrame, version_id: int) -> None:
    """Inside the publish transaction (areas replaced, cameras re-assigned): the new areas, every
    level of them, must not overlap the areas outside the scope at the upload's top level, leave the
    scope's own area (when this version did not replace it), or move cameras of areas outside the
    scope."""
    x0, y0, x1, y1 = (float(v) for v in store.total_bounds)
    others = gpd.read_postgis(
        text("""
        SELECT code, geom FROM area
        WHERE level = :top AND code NOT LIKE CAST(:scope AS text) || '%'
          AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"""),
        conn,
        geom_col="geom",
        params={"top": scope.top_level, "scope": restrict_to, "x0": x0, "y0": y0, "x1": x1, "y1": y1},
    )
    own = conn.execute(
        text("""SELECT ST_AsBinary(geom) FROM area
                               WHERE code = :scope AND version_id IS DISTINCT FROM :version"""),
        {"scope": restrict_to, "version": version_id},
    ).scalar_one_or_none()
    reach = encroachments(
        store.geometry.to_numpy(),
        others.geometry.to_numpy(),
        others["code"].to_numpy(),
        shapely.from_wkb(bytes(own)) if own is not None else None,
        ENCROACH_M2,
    )
    moved = conn.execute(
        text(f"""
        SELECT device_id, area_code, now_area_code FROM {CHANGED_CAMERAS}
        WHERE area_code IS DISTINCT FROM now_area_code ORDER BY device_id""")
    ).all()
    cameras = [
        (d, old, new)
        for d, old, new in moved
        if not (old or "").startswith(restrict_to) or not (new or "").startswith(restrict_to)
    ]
    if not reach and not cameras:
        return
    codes = sorted(
        {c for c in reach if c}
        | {a for _, old, new in cameras for a in (old, new) if a and not a.startswith(restrict_to)}
    )
    parts = []
    if reach:
        overlap = "、".join(f"{c}（{m2:,.0f} m²）" for c, m2 in sorted(reach.items(), key=lambda kv: -kv[1]) if c)
        if overlap:
            parts.append(f"与范围外的区域重叠：{overlap}")
        if None in reach:
            parts.append(f"超出 {restrict_to} 的范围 {reach[None]:,.0f} m²")
    if cameras:
        parts.append(f"会改变 {len(cameras)} 个范围外（或不在任何网格内）摄像头的所属区域")
    raise PublishRefused(
        "out_of_scope",
        f"只能修改编码以 {restrict_to} 开头的区域；本次发布"
        + "；".join(parts)
        + "。未做任何修改：请修正边界，或请管理员发布。",
        {
            "scope": restrict_to,
            "codes": codes[:100],
            "overlap_m2": {c: round(m2, 1) for c, m2 in reach.items() if c},
            "outside_scope_m2": round(reach[None], 1) if None in reach else None,
            "device_ids": [d for d, _, _ in cameras][:100],
            "cameras": len(cameras),
        },
    )


def database_refusal(exc: DBAPIError, report: dict | None = None) -> PublishRefused:
    """A database failure during a publish, as a refusal: nothing was changed (the transaction
    rolled back). A unique or exclusion violation means another write got there first."""
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if isinstance(exc, IntegrityError):
        return PublishRefused(
            "publish_conflict",
            f"另一次写入与本次发布冲突，数据库未做任何修改：{detail}。请刷新后重新校验再发布。",
            report,
        )
    if isinstance(exc, OperationalError):  # the driver's words go to the log, not to the client
        log.warning("publish: database unavailable: %s", detail)
        return PublishRefused(
            "database_unavailable", "数据库暂时无法完成发布（繁忙或不可用），未做任何修改。请稍后重试。", report
        )
    if is_bad_value(exc):  # a NUL character, a number out of range …: the file's or the reason's
        log.warning("publish: value refused by the database: %s", detail)
        return PublishRefused(
            "invalid_value",
            "发布失败，数据库未做任何修改：文件或说明中有数据库无法保存的值（例如空字符 NUL、超出范围的数字）。"
            "请检查名称等文字后重新上传。",
            report,
        )
    return PublishRefused("database_error", f"发布失败，数据库未做任何修改：{detail}", report)


def _storable(areas: gpd.GeoDataFrame, analysis: Analysis) -> gpd.GeoDataFrame:
    """The areas as stored: cleaned codes, resolved level and parent, repaired valid geometry."""
    h = analysis.hierarchy
    out = gpd.GeoDataFrame(
        areas.drop(columns=areas.geometry.name), geometry=list(analysis.validity.usable), crs=STORAGE_SRID
    )
    out["code"], out["level"] = h.codes, h.level
    # np.array(None): numpy's stubs refuse a bare None
    out["parent_code"] = np.where(h.level == 0, np.array(None), h.parent)
    scheme = analysis.scope.scheme
    out[SCHEME_ATTR] = np.where(h.level == 0, np.array(None if scheme.is_standard else scheme.spec()), np.array(None))
    return out
