"""Writes through the API: boundary uploads (store → validate → publish), rollbacks, camera imports
and online/offline reports, each on behalf of a token (``gridmap.db.tokens.Principal``).

Everything here goes through the same workflows as the CLI (``gridmap.services.boundaries``,
``gridmap.services.cameras``), so every change calls ``record_change`` in its transaction; this module
adds what the API needs on top: keeping the uploaded file, and the token's scope.

Uploads live in table ``upload`` (bytes, how to read them, the validation report). A boundary
upload is validated when it arrives (against the live parents) and re-validated from the stored
bytes when it is published, since the live data may have changed in between. The report and the
published JSON are the CLI's (``gridmap validate|publish --format json``).

Scope rules for an editor (scope = area code prefix; an admin may change anything):

- a boundary upload's scope root (the code prefix publishing replaces) must start with the scope;
  an upload outside it is refused and not stored; the check is made again at publish time, with
  every code written and where the new areas reach (``gridmap.services.boundaries.publish_analysis``,
  ``restrict_to``), forced or not;
- a rollback: the same, for the version restored;
- a camera import: every camera the import touches (inserted, or changed in any column incl. its
  leaf area) must lie in a leaf area starting with the scope, after the import and, for cameras
  that existed, before it; otherwise the whole import is rolled back;
- status reports: reports for cameras whose leaf area is outside the scope are rejected row by row
  (code ``out_of_scope``), the others are applied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gridmap.config import Settings, get_settings
from gridmap.db.cameras import CHANGED_CAMERAS, ROW_DIGEST
from gridmap.db.revisions import current_revision
from gridmap.db.tokens import Principal
from gridmap.errors import GridmapError
from gridmap.io.boundaries import ReadLimits
from gridmap.io.boundary_formats import UPLOAD_EXTENSIONS, BoundaryReadError
from gridmap.io.fields import parse_field_items
from gridmap.levels import Scheme, SchemeError
from gridmap.maps.geojson import drawn_geometries, usable_geometry
from gridmap.maps.labels import kind_label
from gridmap.services.boundaries import PublishRefused, PublishResult, ReadOptions, check_file, database_parents
from gridmap.workers import WorkLimits, preload, run_bounded

UPLOAD_KINDS = ("boundary", "camera")
#: Canonical field names and GDAL column names are short: a longer ``fields`` text is a mistake.
_MAX_FIELDS = 50


class UploadRefused(GridmapError):
    """The API write cannot be done as asked. ``code`` stable English, ``message`` Chinese,
    ``detail`` structured context."""

    status = 409
    exit_code = 1
    statuses = {"upload_not_found": 404, "invalid_fields": 422}


class OutOfScope(UploadRefused):
    """The token may not change these areas (``codes``) or cameras (``device_ids``)."""

    status = 403

    def __init__(self, principal: Principal, codes: list[str | None], device_ids: list[str] | None = None):
        self.codes, self.device_ids = codes, device_ids or []
        shown_codes = [c for c in codes if c]
        if device_ids:
            shown = "、".join(device_ids[:5]) + (" 等" if len(device_ids) > 5 else "")
            message = (
                f"令牌“{principal.name}”只能修改编码以 {principal.scope} 开头的区域内的摄像头；"
                f"{len(device_ids)} 个摄像头（{shown}）不在此范围内（或不在任何网格内），本次导入未做任何修改。"
            )
        else:
            shown = "、".join(str(c) for c in codes[:5]) + (" 等" if len(codes) > 5 else "")
            message = (
                f"令牌“{principal.name}”只能修改编码以 {principal.scope} 开头的区域和摄像头，"
                f"不能修改 {shown or '未知范围'}。"
            )
        detail: dict[str, Any] = {"scope": principal.scope, "codes": sorted(set(shown_codes))[:100]}
        if device_ids:
            detail["device_ids"] = device_ids[:100]
            detail["count"] = len(device_ids)
        super().__init__("out_of_scope", message, detail)


# ---------------------------------------------------------------------------------------------
# Options and files
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundaryOptions:
    """How a boundary upload is read and validated (stored with it as ``upload.options``)."""

    layer: str | None = None
    crs: str | None = None
    encoding: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    level: int | None = None
    parent_code: str | None = None
    scheme: str | None = None  # the county's level scheme (``Scheme.spec`` text), see check_file

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "fields": dict(self.fields)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> BoundaryOptions:
        data = dict(data or {})
        return cls(
            layer=data.get("layer"),
            crs=data.get("crs"),
            encoding=data.get("encoding"),
            fields=dict(data.get("fields") or {}),
            level=data.get("level"),
            parent_code=data.get("parent_code"),
            scheme=data.get("scheme"),
        )

    @property
    def read(self) -> ReadOptions:
        return ReadOptions(layer=self.layer, crs=self.crs, encoding=self.encoding, fields=dict(self.fields))


def parse_fields(value: str | None, example: str = "code=网格编码") -> dict[str, str]:
    """A column mapping given as ``NAME=COLUMN`` lines (also separated by ``;``) or as a JSON
    object ``{"code": "网格编码"}``; {} for nothing. Raises ``UploadRefused`` (invalid_fields)."""
    value = (value or "").strip()
    if not value:
        return {}
    bad = UploadRefused(
        "invalid_fields", f"fields 应为每行一个 名称=列名（例如 {example}），或 JSON 对象，而不是 {value[:100]!r}。"
    )
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise bad from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in data.items()
        ):
            raise bad
        items = [(k.strip(), v.strip()) for k, v in data.items()]
    else:
        try:
            items = list(parse_field_items(re.split(r"[\r\n;]+", value)).items())
        except ValueError:
            raise bad from None
    if len(items) > _MAX_FIELDS:
        raise bad
    return dict(items)


def safe_file_name(name: str | None, default: str = "upload") -> str:
    """The uploaded file's own name without any directory part (browsers and curl may send one),
    so it can be written into a temporary directory with its extension (the readers choose the
    format by it)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    return name[:200] or default


@contextmanager
def as_file(name: str, content: bytes, parent: Path | None = None) -> Iterator[Path]:
    """``content`` written as ``name`` to a new temporary directory (in ``parent``, default the
    system's); the directory, with whatever the work on the file put there, is removed afterwards."""
    # Ignore cleanup errors: at shutdown ``gridmap.workers.stop_all`` may have removed it already.
    with tempfile.TemporaryDirectory(prefix="gridmap-upload-", dir=parent, ignore_cleanup_errors=True) as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        yield path


@dataclass(frozen=True)
class UploadLimits:
    """What reading and validating one upload may take: features and vertices (``ReadLimits``),
    time and memory of the worker process (``gridmap.workers.WorkLimits``) and how many issues the
    stored report lists one by one. Defaults: the settings."""

    read: ReadLimits
    work: WorkLimits
    max_report_issues: int
    tmp_dir: Path | None = None  # where the upload is written and unpacked (None: the system's)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> UploadLimits:
        s = settings or get_settings()
        return cls(ReadLimits.from_settings(s), WorkLimits.from_settings(s), s.max_report_issues, s.upload_tmp_dir)


#: Modules the worker processes start with (``gridmap.workers.preload``).
WORKER_MODULES = ("gridmap.services.uploads", "gridmap.io.cameras")
preload(*WORKER_MODULES)


def check_boundary_extension(file_name: str) -> None:
    """Refuse a boundary upload by its name alone, before anything is read."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in UPLOAD_EXTENSIONS:
        raise BoundaryReadError(
            "unsupported_format",
            f"不支持的文件类型“{suffix or file_name}”。请上传压缩成 .zip 的 Shapefile（.shp .shx .dbf .prj .cpg 一起）"
            "或 MapInfo 表（.tab .dat .map .id 或 .mif .mid 一起）、GeoPackage（.gpkg）、GeoJSON（.geojson）、KML、KMZ "
            "或 CAD 的 DXF 文件（DWG 请先另存为 DXF）。",
        )


def _database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class BoundaryCheck:
    """What storing an upload needs of its validation (computed in a worker process)."""

    report: dict[str, Any]
    root: str | None
    codes: list[str]


#: Area codes (6–18 digits) as the report's messages write them.
_CODE_IN_TEXT = re.compile(r"(?<!\d)\d{6,18}(?!\d)")
#: At most this many names go with a report (the codes its issues and messages mention).
MAX_REPORT_NAMES = 5_000


def report_names(report: Mapping[str, Any], file_names: Mapping[str, str], conn: Connection) -> dict[str, str]:
    """Names for the area codes a report mentions (its root, the issues' codes and codes in their
    messages): the name in the uploaded file, else the live area's. Pages show "名称（编码）"."""
    wanted: set[str] = {str(report.get("root_code") or "")}
    for issue in report.get("issues") or []:
        wanted.update(str(c) for c in issue.get("codes") or [])
        wanted.update(_CODE_IN_TEXT.findall(str(issue.get("message") or "")))
    wanted.discard("")
    chosen = sorted(wanted)[:MAX_REPORT_NAMES]
    names = {c: file_names[c] for c in chosen if file_names.get(c)}
    from gridmap.db.areas import area_names

    live = area_names(conn, [c for c in chosen if c not in names])
    return {**names, **live}


def _file_names(codes: Any, names: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, name in zip(codes, names):
        if code and isinstance(name, str) and name.strip():
            out.setdefault(str(code), name.strip())
    return out


def _check_in_worker(
    path: str, options: BoundaryOptions, database_url: str, limits: UploadLimits, for_publish: bool
) -> Any:
    """Worker-process body: read and validate ``path`` against the live parents (its own database
    connection). For publishing, the areas and the analysis; otherwise a :class:`BoundaryCheck`."""
    from gridmap.geometry.repair import repairable

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            src, analysis = check_file(
                path,
                read=options.read,
                level=options.level,
                parent_code=options.parent_code,
                parent_lookup=database_parents(conn),
                limits=limits.read,
                live=conn,
                scheme=options.scheme,
            )
            if for_publish:
                return src.areas, analysis
            report = jsonable(analysis.report.to_dict(max_issues=limits.max_report_issues))
            # For the page: how many findings "自动修复并下载" would fix, and the areas' names.
            report["repairable"] = repairable(analysis)
            names = src.areas["name"] if "name" in src.areas else [None] * len(src.areas)
            report["area_names"] = report_names(
                {**report, "root_code": analysis.scope.root}, _file_names(analysis.hierarchy.codes, names), conn
            )
    finally:
        engine.dispose()
    return BoundaryCheck(report, analysis.scope.root, sorted({c for c in analysis.hierarchy.codes if c}))


def _read_cameras_in_worker(path: str, kwargs: dict[str, Any]) -> Any:
    """Worker-process body: read a camera register (``read_camera_file``)."""
    from gridmap.io.cameras import read_camera_file

    return read_camera_file(path, **kwargs)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, the way the CLI prints it (``default=str``); NaN → None."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return clean(json.loads(json.dumps(value, ensure_ascii=False, default=str)))


# ---------------------------------------------------------------------------------------------
# Defects as GeoJSON
# ---------------------------------------------------------------------------------------------


def defects_geojson(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's issues that have a geometry, as one GeoJSON FeatureCollection (EPSG:4490
    lon/lat). Property ``issue`` = the issue's index in ``report["issues"]``; properties: kind,
    kind_label, severity, message, codes (list), area_m2, locator. A defect too small to see at
    county scale gets a second feature, its locator point (``locator`` true), drawn as on the HTML
    validation map (:func:`gridmap.maps.geojson.drawn_geometries`). Texts are not HTML-escaped:
    pages must insert them as text."""
    features: list[dict[str, Any]] = []
    for i, issue in enumerate((report or {}).get("issues") or []):
        geometry = usable_geometry(issue.get("geometry"))
        if geometry is None:
            continue
        props = {
            "issue": i,
            "kind": issue.get("kind"),
            "kind_label": kind_label(issue.get("kind")),
            "severity": issue.get("severity"),
            "message": issue.get("message"),
            "codes": [str(c) for c in issue.get("codes") or []],
            "area_m2": issue.get("area_m2"),
        }
        for drawn, locator in drawn_geometries(geometry):
            features.append(
                {"type": "Feature", "id": len(features), "properties": {**props, "locator": locator}, "geometry": drawn}
            )
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------------------------------------
# The upload table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRecord:
    id: int
    kind: str
    created_at: dt.datetime
    created_by: str
    token_id: int | None
    file_name: str
    file_sha256: str
    size: int
    options: dict[str, Any]
    status: str
    ok: bool
    root_code: str | None
    report: dict[str, Any] | None
    version_id: int | None

    def visible_to(self, principal: Principal) -> bool:
        """Admins see every upload; editors their own and those within their scope."""
        return (
            principal.unrestricted
            or (principal.token_id is not None and principal.token_id == self.token_id)
            or (self.root_code is not None and principal.may_change(self.root_code))
        )

    def summary(self) -> dict[str, Any]:
        return {
            "upload_id": self.id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "file_name": self.file_name,
            "file_sha256": self.file_sha256,
            "size": self.size,
            "options": self.options,
            "status": self.status,
            "ok": self.ok,
            "root_code": self.root_code,
            "version_id": self.version_id,
            "summary": _report_summary(self.kind, self.report),
        }

    def to_dict(self) -> dict[str, Any]:
        """The upload as the API shows it: the answer to the upload itself, plus what is stored."""
        return {**created_json(self), **self.summary()}


def _report_summary(kind: str, report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    if kind == "boundary":
        return report.get("summary")
    return {
        k: report.get(k)
        for k in (
            "rows",
            "imported",
            "inserted",
            "updated",
            "unchanged",
            "rejected_count",
            "outside_count",
            "import_id",
        )
    }


def created_json(record: UploadRecord) -> dict[str, Any]:
    """The answer to a boundary upload: ``{upload_id, status, ok, root_code, report, defects}``, plus
    for the upload page ``area_names`` (code → name, :func:`report_names`) and ``repairable`` (how many
    findings the repair would fix)."""
    report = dict(record.report) if record.report is not None else None
    extras: dict[str, Any] = {}
    if report is not None and record.kind == "boundary":
        # Kept with the stored report for the page, answered beside it: ``report`` stays the CLI's JSON.
        extras = {"area_names": report.pop("area_names", {}), "repairable": report.pop("repairable", None)}
    return {
        "upload_id": record.id,
        "status": record.status,
        "ok": record.ok,
        "root_code": record.root_code,
        "report": report,
        "defects": defects_geojson(record.report) if record.kind == "boundary" else None,
        **extras,
    }


_UPLOAD_COLUMNS = """id, kind, created_at, created_by, token_id, file_name, file_sha256, octet_length(content),
                     options, status, ok, root_code, report, version_id"""


def get_upload(conn: Connection, upload_id: int) -> UploadRecord | None:
    row = conn.execute(text(f"SELECT {_UPLOAD_COLUMNS} FROM upload WHERE id = :id"), {"id": upload_id}).one_or_none()
    return None if row is None else UploadRecord(*row)


def upload_content(conn: Connection, upload_id: int) -> bytes:
    return bytes(conn.execute(text("SELECT content FROM upload WHERE id = :id"), {"id": upload_id}).scalar_one())


def list_uploads(
    conn: Connection, principal: Principal, *, kind: str | None = None, limit: int = 100, offset: int = 0
) -> list[UploadRecord]:
    """Uploads the principal may see (see ``UploadRecord.visible_to``), newest first."""
    everything = principal.unrestricted or principal.scope is None
    rows = conn.execute(
        text(f"""
        SELECT {_UPLOAD_COLUMNS} FROM upload
        WHERE (CAST(:kind AS text) IS NULL OR kind = :kind)
          AND (:all OR token_id = :token OR root_code LIKE CAST(:scope AS text) || '%')
        ORDER BY id DESC LIMIT :limit OFFSET :offset"""),
        {
            "kind": kind,
            "all": everything,
            "token": principal.token_id,
            "scope": principal.scope or "",
            "limit": limit,
            "offset": offset,
        },
    ).all()
    return [UploadRecord(*r) for r in rows]


def _insert_upload(
    conn: Connection,
    principal: Principal,
    *,
    kind: str,
    file_name: str,
    content: bytes,
    options: dict[str, Any],
    status: str,
    ok: bool,
    root_code: str | None,
    report: dict[str, Any] | None,
) -> int:
    return int(
        conn.execute(
            text("""
        INSERT INTO upload (kind, created_by, token_id, file_name, file_sha256, content, options, status, ok,
                            root_code, report)
        VALUES (:kind, :by, :token, :file, :sha, :content, CAST(:options AS jsonb), :status, :ok, :root,
                CAST(:report AS jsonb))
        RETURNING id"""),
            {
                "kind": kind,
                "by": principal.name,
                "token": principal.token_id,
                "file": file_name,
                "sha": sha256(content),
                "content": content,
                "options": json.dumps(options, ensure_ascii=False),
                "status": status,
                "ok": ok,
                "root": root_code,
                "report": None if report is None else json.dumps(report, ensure_ascii=False),
            },
        ).scalar_one()
    )


# ---------------------------------------------------------------------------------------------
# Boundaries: upload, publish, rollback
# ---------------------------------------------------------------------------------------------


def restriction(principal: Principal) -> str | None:
    """The code prefix a token's boundary writes must stay within (None: anywhere)."""
    return None if principal.unrestricted else principal.scope


def _require(principal: Principal, *codes: str | None) -> None:
    outside = [c for c in codes if not principal.may_change(c)]
    if outside:
        raise OutOfScope(principal, outside)


def check_boundary_request(principal: Principal, file_name: str, options: BoundaryOptions) -> None:
    """The cheap checks of a boundary upload, made before its bytes are read: the file type, and
    for an editor the declared parent (``parent_code``) against the token's scope."""
    check_boundary_extension(safe_file_name(file_name))
    if options.scheme:
        try:
            Scheme.parse(options.scheme)
        except SchemeError as exc:
            raise BoundaryReadError("bad_scheme", str(exc)) from None
    if options.parent_code:
        # Areas under a parent outside the scope are outside it too, unless the scope lies below
        # the parent (then the areas' own codes decide, after reading).
        _require_nested(principal, options.parent_code)


def _require_nested(principal: Principal, code: str) -> None:
    """Refuse an editor (``OutOfScope``) when the area ``code`` and the token's scope are disjoint:
    neither lies within the other. The cheap check made before a file is read."""
    scope = principal.scope or ""
    if not principal.unrestricted and not (code.startswith(scope) or scope.startswith(code)):
        raise OutOfScope(principal, [code])


def validate_in_worker(
    engine: Engine, file_name: str, content: bytes, options: BoundaryOptions, limits: UploadLimits, *, publish: bool
) -> Any:
    """Read and validate an upload in a worker process within ``limits`` (see ``_check_in_worker``).
    Raises ``BoundaryReadError``, ``WorkRefused`` (validation_timeout, too_complex)."""
    with as_file(file_name, content, limits.tmp_dir) as path:
        result, _stats = run_bounded(
            _check_in_worker,
            str(path),
            options,
            _database_url(engine),
            limits,
            publish,
            limits=limits.work,
            workdir=path.parent,
            label="publish" if publish else "validate",
        )
    return result


def store_boundary_upload(
    engine: Engine,
    principal: Principal,
    file_name: str,
    content: bytes,
    options: BoundaryOptions,
    limits: UploadLimits | None = None,
) -> UploadRecord:
    """Validate an uploaded boundary file against the live data (as ``gridmap validate``) and keep
    it with its report: status ``validated`` (no errors) or ``rejected``. Reading and validating
    run in a worker process within ``limits`` (default: the settings').

    Raises ``BoundaryReadError`` when the file cannot be read or is over the limits, ``WorkRefused``
    when validating it would take too long or too much memory, and ``OutOfScope`` when the token
    may not change the upload's scope root; in each case nothing is stored."""
    file_name = safe_file_name(file_name)
    check_boundary_request(principal, file_name, options)
    checked: BoundaryCheck = validate_in_worker(
        engine, file_name, content, options, limits or UploadLimits.from_settings(), publish=False
    )
    report, root = checked.report, checked.root
    if not principal.unrestricted:
        # No root (no usable code at all): it cannot be published anyway; an editor may keep it
        # only when every code in the file is within the scope.
        codes: list[str | None] = [root] if root is not None else [*checked.codes] or [None]
        _require(principal, *codes)
    with engine.begin() as conn:
        upload_id = _insert_upload(
            conn,
            principal,
            kind="boundary",
            file_name=file_name,
            content=content,
            options=options.to_json(),
            status="validated" if report["ok"] else "rejected",
            ok=bool(report["ok"]),
            root_code=root,
            report=report,
        )
        record = get_upload(conn, upload_id)
        assert record is not None  # inserted just above, in this transaction
        return record


def _lock_key(kind: str, ident: int) -> str:
    return f"gridmap.{kind}.{ident}"


def publish_upload(
    engine: Engine,
    principal: Principal,
    upload_id: int,
    *,
    force: bool = False,
    reason: str | None = None,
    limits: UploadLimits | None = None,
) -> PublishResult:
    """Publish a stored boundary upload: re-read its bytes, re-validate them against the live data
    and publish (``gridmap.services.boundaries.publish_analysis``); the upload is marked ``published`` with
    its version in the same transaction.

    Raises ``UploadRefused`` (upload_not_found, not_a_boundary_upload, already_published,
    publish_in_progress), ``OutOfScope``, ``PublishRefused`` or ``BoundaryReadError``."""
    from gridmap.db.areas import VersionInfo
    from gridmap.services.boundaries import publish_analysis

    # One publish per upload at a time: a transaction-level advisory lock, held while publishing.
    with engine.begin() as lock:
        got = lock.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": _lock_key("upload", upload_id)}
        ).scalar_one()
        if not got:
            raise UploadRefused("publish_in_progress", f"上传 {upload_id} 正在发布中，请稍后刷新查看结果。")
        record = get_upload(lock, upload_id)
        if record is None or not record.visible_to(principal):
            if record is None:
                raise UploadRefused("upload_not_found", f"没有编号为 {upload_id} 的上传。")
            raise OutOfScope(principal, [record.root_code])
        if record.kind != "boundary":
            raise UploadRefused(
                "not_a_boundary_upload",
                f"上传 {upload_id} 是摄像头台账，导入时已生效，无需发布。",
                {"kind": record.kind, "status": record.status},
            )
        if record.status == "published":
            raise UploadRefused(
                "already_published",
                f"上传 {upload_id} 已发布为版本 {record.version_id}，不能重复发布。",
                {"version_id": record.version_id},
            )
        if record.root_code is not None and not principal.unrestricted:
            _require(principal, record.root_code)
        content = upload_content(lock, upload_id)
        options = BoundaryOptions.from_json(record.options)
        with engine.connect() as conn:
            based_on = current_revision(conn)
        areas, analysis = validate_in_worker(
            engine, record.file_name, content, options, limits or UploadLimits.from_settings(), publish=True
        )
        if analysis.scope.root is not None and not principal.unrestricted:
            _require(principal, analysis.scope.root)

        def mark(conn: Connection, version_id: int) -> None:
            conn.execute(
                text("UPDATE upload SET status = 'published', version_id = :v WHERE id = :id"),
                {"v": version_id, "id": upload_id},
            )

        info = VersionInfo(
            created_by=principal.name, file_name=record.file_name, file_sha256=record.file_sha256, reason=reason
        )
        try:
            return publish_analysis(
                engine,
                analysis,
                areas,
                info,
                force=force,
                on_publish=mark,
                based_on=based_on,
                restrict_to=restriction(principal),
            )
        except PublishRefused as exc:
            if exc.code == "database_error":
                with engine.begin() as conn:
                    conn.execute(
                        text("UPDATE upload SET status = 'failed' WHERE id = :id AND status <> 'published'"),
                        {"id": upload_id},
                    )
            raise


def rollback_version(
    engine: Engine, principal: Principal, version_id: int, *, force: bool = False, reason: str | None = None
) -> PublishResult:
    """``gridmap rollback`` for a token: the version's root code, every code it restores and
    where its areas reach must be within the token's scope (see ``publish_analysis``)."""
    from gridmap.db.versions import get_version
    from gridmap.services.boundaries import rollback

    with engine.connect() as conn:
        version = get_version(conn, version_id)
    if version is None:
        raise PublishRefused("version_not_found", f"没有版本 {version_id}，请在版本列表中查看。")
    _require(principal, version.root_code or None)
    return rollback(
        engine, version_id, by=principal.name, force=force, reason=reason, restrict_to=restriction(principal)
    )


# ---------------------------------------------------------------------------------------------
# Cameras: import, status reports
# ---------------------------------------------------------------------------------------------

#: The cameras an import wrote (inserted, or changed in any column), with their leaf area before
#: (None for a new camera) and after.
_WRITTEN_CAMERAS = f"""SELECT g.device_id, g.status IS NOT NULL, g.area_code, c.area_code
                      FROM {CHANGED_CAMERAS} g JOIN camera c USING (device_id)
                      WHERE g.digest IS DISTINCT FROM {ROW_DIGEST} ORDER BY g.device_id"""


def import_camera_upload(
    engine: Engine,
    principal: Principal,
    file_name: str,
    content: bytes,
    *,
    crs: str | None = None,
    fields: dict[str, str] | None = None,
    sheet: str | None = None,
    county: str | None = None,
    limits: UploadLimits | None = None,
    force: bool = False,
) -> tuple[int, Any, dict[str, Any]]:
    """``gridmap cameras import`` for a token, in one transaction, keeping the file as an upload
    (kind ``camera``, status ``published``). Returns (upload id, ``ImportResult``, the report as
    stored: the result's JSON plus the imported cameras' points, :func:`camera_points`).

    Raises ``CameraReadError``, ``CrsUnknownError``, ``ImportRefused`` or ``OutOfScope`` (an editor
    touching a camera outside its scope: the whole import is rolled back); nothing is written then."""
    from gridmap.services.cameras import (
        check_camera_counties,
        county_of,
        import_camera_table,
        leaf_index,
        record_import,
    )

    file_name = safe_file_name(file_name)
    limits = limits or UploadLimits.from_settings()
    if county is None and not principal.unrestricted and principal.scope:
        county = principal.scope[:6]  # an editor's register goes to its own county (or city)
    with engine.connect() as conn:
        target = county_of(conn, county)
    _require_nested(principal, target.code)  # the whole county outside the token's scope
    with as_file(file_name, content, limits.tmp_dir) as path:
        read = {"crs": crs, "fields": fields or None, "sheet": sheet, "county_code": target.centre_codes}
        table, _stats = run_bounded(
            _read_cameras_in_worker,
            str(path),
            {**read, "extent": target.extent},
            limits=limits.work,
            workdir=path.parent,
            label="cameras",
        )
    with engine.connect() as conn:
        table = check_camera_counties(conn, table, target)
    index = None
    if not table.cameras.empty:  # only for the CRS check: not for a file refused anyway
        with engine.connect() as conn:
            index = leaf_index(conn, target.code)
    restricted = not principal.unrestricted
    with engine.begin() as conn:
        result = import_camera_table(
            conn,
            table,
            target,
            index=index,
            file_name=file_name,
            file_sha256=sha256(content),
            created_by=principal.name,
            force=force,
        )
        if restricted:
            outside, codes = [], []
            for d, existed, old_area, new_area in conn.execute(text(_WRITTEN_CAMERAS)):
                bad = [a for a in ([new_area] + ([old_area] if existed else [])) if not principal.may_change(a)]
                if bad:
                    outside.append(d)
                    codes.extend(bad)
            if outside:
                raise OutOfScope(principal, codes, outside)  # rolls the whole import back
        record_import(conn, result)
        report = jsonable(result.to_dict())
        report.update(camera_points(table.cameras))
        upload_id = _insert_upload(
            conn,
            principal,
            kind="camera",
            file_name=file_name,
            content=content,
            options={"crs": crs, "fields": fields or {}, "sheet": sheet, "county": county},
            status="published",
            ok=result.ok,
            root_code=principal.scope if restricted else target.code,
            report=report,
        )
    return upload_id, result, report


#: At most this many imported cameras are kept with a report for the upload page's map.
MAX_REPORT_POINTS = 20_000


def camera_points(cameras: Any) -> dict[str, Any]:
    """The imported cameras for the upload page's map: ``points`` = [device_id, name, lon, lat]
    (EPSG:4490 degrees), the first ``MAX_REPORT_POINTS``; ``points_truncated`` when cut."""
    if cameras is None or cameras.empty:
        return {"points": [], "points_truncated": False}
    shown = cameras.head(MAX_REPORT_POINTS)
    names = shown["name"] if "name" in shown else [None] * len(shown)
    points = [
        [str(d), None if not isinstance(n, str) else n, round(float(x), 7), round(float(y), 7)]
        for d, n, x, y in zip(shown["device_id"], names, shown["lon"], shown["lat"])
    ]
    return {"points": points, "points_truncated": len(cameras) > MAX_REPORT_POINTS}


def status_payload(body: bytes) -> bytes | list | dict:
    """A status request body as ``read_status_updates`` takes it: JSON (a list of reports,
    ``{"reports": [...]}``, ``{"updates": [...]}`` or ``{"items": [...]}``) or the bytes of a CSV
    (or XLSX) sheet. Raises ``CameraReadError`` for JSON that does not parse (``TableTooLarge``
    for a list of reports beyond ``GRIDMAP_MAX_TABLE_ROWS``)."""
    from gridmap.io.status_updates import load_reports_json
    from gridmap.io.tables import CameraReadError, decode_text

    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head not in (b"[", b"{"):
        return body
    try:
        document = load_reports_json(decode_text(body)[0])  # a list of reports: bounded as it is decoded
    except json.JSONDecodeError as exc:
        raise CameraReadError(
            "unreadable", f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）。"
        ) from exc
    except RecursionError:
        raise CameraReadError("unreadable", "JSON 嵌套层数过多：状态上报应为对象的数组。") from None
    if isinstance(document, dict):
        key = next((k for k in document if str(k).lower() == "reports"), None)
        if key is not None:
            return document[key] if isinstance(document[key], list) else {"updates": document[key]}
    return document


def apply_status(engine: Engine, principal: Principal, body: bytes):
    """Apply a platform's online/offline reports for a token (``StatusResult``); reports for cameras
    outside an editor's scope are rejected (``out_of_scope``)."""
    from gridmap.services.cameras import apply_status_reports

    return apply_status_reports(
        engine, status_payload(body), may_change=None if principal.unrestricted else principal.may_change
    )


# ---------------------------------------------------------------------------------------------
# Downloads for the upload page: the repaired boundary file, the rejected camera rows
# ---------------------------------------------------------------------------------------------

#: The name of the list of changes inside the repaired download.
REPAIR_NOTES_NAME = "修复说明.csv"
REPAIR_README_NAME = "请先阅读.txt"


@dataclass(frozen=True)
class FixedFile:
    """A repaired copy of an upload (as ``gridmap validate --fix`` writes it), zipped with the list
    of changes: ``name`` of the zip, its ``content``, the ``changes`` and the summary of the
    repaired file's validation (``after``: errors, warnings …)."""

    name: str
    content: bytes
    changes: list[dict[str, Any]]
    after: dict[str, Any]


def fixed_name(file_name: str) -> str:
    """The repaired file's name: the upload's with "_已修复" before its extension."""
    path = Path(safe_file_name(file_name))
    return f"{path.stem}_已修复{path.suffix}"


def _fix_in_worker(
    path: str, options: BoundaryOptions, database_url: str, limits: UploadLimits, max_area_m2: float
) -> Any:
    """Worker-process body: read, validate and repair ``path`` (``gridmap.geometry.repair``), write
    the repaired copy in the upload's format next to it (``write_boundary_file``) and validate the
    repaired areas again. Returns (the repaired file's bytes, the changes, the summary after)."""
    from gridmap.geometry.repair import RepairOptions, repair
    from gridmap.geometry.validate import analyse
    from gridmap.io.boundary_writer import write_boundary_file

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            lookup = database_parents(conn)
            src, analysis = check_file(
                path,
                read=options.read,
                level=options.level,
                parent_code=options.parent_code,
                parent_lookup=lookup,
                limits=limits.read,
                scheme=options.scheme,
                schemes=conn,
            )
            fixed = repair(analysis, src.areas.geometry.to_numpy(), RepairOptions(max_area_m2=max_area_m2))
            if not fixed.changes:
                return None, [], analysis.report.summary()
            out = Path(path).parent / "fixed" / fixed_name(Path(path).name)
            written = write_boundary_file(src, fixed.geoms_4490, out)
            areas = src.areas.set_geometry(list(fixed.geoms_4490), crs=src.areas.crs)
            after = analyse(
                areas,
                level=options.level,
                parent_code=options.parent_code,
                parent_lookup=lookup,
                source=analysis.report.source,
                scheme=analysis.scope.scheme,
            )
            names = src.areas["name"] if "name" in src.areas else [None] * len(src.areas)
            by_code = _file_names(analysis.hierarchy.codes, names)
            changes = [{**c, "name": by_code.get(str(c.get("code")) or "", "")} for c in fixed.changes]
            return written.read_bytes(), changes, jsonable(after.report.summary())
    finally:
        engine.dispose()


def _repair_notes_csv(changes: list[dict[str, Any]]) -> bytes:
    """The changes as a CSV for Excel/WPS (UTF-8 with BOM, CRLF, no formulas)."""
    import csv
    import io

    from gridmap.io.cells import safe_text

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["序号", "编码", "名称", "文件中的位置", "修复内容", "修复前面积（平方米）", "修复后面积（平方米）"]
    )
    for i, c in enumerate(changes, 1):
        writer.writerow(
            [
                i,
                *(safe_text(str(v or "")) for v in (c.get("code"), c.get("name"), c.get("row"))),
                safe_text("、".join(c.get("actions") or [])),
                c.get("area_before_m2"),
                c.get("area_after_m2"),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _repair_readme(file_name: str, fixed: str, changes: int, after: Mapping[str, Any], max_area_m2: float) -> bytes:
    errors, warnings = int(after.get("errors") or 0), int(after.get("warnings") or 0)
    lines = [
        f"原文件：{file_name}",
        f"修复后的文件：{fixed}（格式、坐标系、属性与原文件相同）",
        f"自动修复了 {changes} 个区域的边界，逐项见 {REPAIR_NOTES_NAME}。",
        f"自动修复只处理小的缝隙、重叠、细长碎片、超出上级的小块（{max_area_m2:g} 平方米以内）和无效几何；"
        "编码错误和较大的缝隙、重叠需要人工在 GIS 软件中修改。",
        f"修复后重新校验：{errors} 个错误，{warnings} 个警告。"
        + ("可以直接上传修复后的文件。" if errors == 0 else "仍有错误，请按上传页的问题列表人工修改后再上传。"),
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def fixed_upload(
    engine: Engine,
    principal: Principal,
    upload_id: int,
    limits: UploadLimits | None = None,
    max_area_m2: float = 100.0,
) -> FixedFile:
    """Repair a stored boundary upload as ``gridmap validate --fix`` does, in a worker process within
    ``limits``, and zip the repaired file (same format as uploaded) with ``修复说明.csv`` (one row
    per changed area) and ``请先阅读.txt``. Nothing is stored or published.

    Raises ``UploadRefused`` (upload_not_found, not_a_boundary_upload, nothing_to_repair),
    ``OutOfScope``, ``BoundaryReadError``/``BoundaryWriteError`` or ``WorkRefused``."""
    import io
    import zipfile

    limits = limits or UploadLimits.from_settings()
    with engine.connect() as conn:
        record = _visible_upload(conn, principal, upload_id)
        if record.kind != "boundary":
            raise UploadRefused(
                "not_a_boundary_upload",
                f"上传 {upload_id} 是摄像头台账，没有可修复的边界。",
                {"kind": record.kind},
            )
        content = upload_content(conn, upload_id)
    options = BoundaryOptions.from_json(record.options)
    with as_file(record.file_name, content, limits.tmp_dir) as path:
        (data, changes, after), _stats = run_bounded(
            _fix_in_worker,
            str(path),
            options,
            _database_url(engine),
            limits,
            max_area_m2,
            limits=limits.work,
            workdir=path.parent,
            label="repair",
        )
    if data is None:
        raise UploadRefused(
            "nothing_to_repair",
            f"这个文件没有可以自动修复的问题（缝隙、重叠等超过 {max_area_m2:g} 平方米或是编码错误）：请按问题列表人工修改。",
            {"errors": after.get("errors"), "warnings": after.get("warnings")},
        )
    name = fixed_name(record.file_name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
        archive.writestr(REPAIR_NOTES_NAME, _repair_notes_csv(changes))
        archive.writestr(REPAIR_README_NAME, _repair_readme(record.file_name, name, len(changes), after, max_area_m2))
    return FixedFile(f"{Path(name).stem}.zip", buffer.getvalue(), changes, after)


def _visible_upload(conn: Connection, principal: Principal, upload_id: int) -> UploadRecord:
    record = get_upload(conn, upload_id)
    if record is None:
        raise UploadRefused("upload_not_found", f"没有编号为 {upload_id} 的上传。")
    if not record.visible_to(principal):
        raise OutOfScope(principal, [record.root_code])
    return record


REJECTED_COLUMNS = ("行号", "设备编码", "原因", "说明", "字段", "值", "经度", "纬度")


def rejected_rows_xlsx(engine: Engine, principal: Principal, upload_id: int) -> tuple[str, bytes]:
    """The rejected rows of a camera import as an XLSX (file name, bytes): one row per rejected
    row with its Chinese reason; a note says when the stored report lists only the first
    ``GRIDMAP_MAX_REPORT_REJECTED`` rows. Raises ``UploadRefused`` (upload_not_found,
    not_a_camera_upload) or ``OutOfScope``."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from gridmap.io.cameras import row_problem_label
    from gridmap.io.cells import as_values

    with engine.connect() as conn:
        record = _visible_upload(conn, principal, upload_id)
    if record.kind != "camera":
        raise UploadRefused(
            "not_a_camera_upload", f"上传 {upload_id} 是边界文件，没有被拒绝的摄像头行。", {"kind": record.kind}
        )
    report = record.report or {}
    rows = report.get("rejected") or []
    total = int(report.get("rejected_count") or len(rows))
    book = Workbook()
    sheet = book.active
    sheet.title = "被拒绝的行"
    sheet.append(list(REJECTED_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for p in rows:
        sheet.append(
            [
                p.get("row"),
                p.get("device_id") or "",
                row_problem_label(p.get("code")),
                p.get("message") or "",
                p.get("field") or "",
                "" if p.get("value") is None else str(p.get("value")),
                p.get("lon"),
                p.get("lat"),
            ]
        )
    if report.get("rejected_truncated"):
        sheet.append([])
        sheet.append(
            [
                f"注意：共 {total:,} 行被拒绝，服务器只保存了前 {len(rows):,} 行（GRIDMAP_MAX_REPORT_REJECTED）；"
                "全部行可用命令 gridmap cameras import --rejected 文件.csv 导出。"
            ]
        )
    for column, width in zip("ABCDEFGH", (8, 24, 20, 60, 12, 24, 12, 12)):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    about = book.create_sheet("说明")
    for line in (
        ("文件", record.file_name),
        ("导入时间", record.created_at.isoformat(timespec="seconds")),
        ("表格行数", report.get("rows")),
        ("导入", report.get("imported")),
        ("被拒绝", total),
        ("本表列出", len(rows)),
        *((row_problem_label(code), n) for code, n in (report.get("rejected_by_code") or {}).items()),
    ):
        about.append(list(line))
    as_values(sheet)
    as_values(about)
    buffer = io.BytesIO()
    book.save(buffer)
    return f"{Path(record.file_name).stem}_被拒绝的行.xlsx", buffer.getvalue()
