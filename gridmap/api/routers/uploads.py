"""Writes: boundary uploads (validate → publish), versions and rollback, camera imports and
online/offline reports. Every route needs an editor or admin token; an editor only changes what
lies within its scope (see ``gridmap.services.uploads`` for the rules). The workflows (and their SQL) live
in ``gridmap.services.uploads``; this module translates HTTP to them. Their refusals are
``GridmapError``s, answered by the one handler in ``gridmap.api.errors``.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as FormFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from gridmap.api.deps import MAX_OFFSET, Conn, Editor, EngineDep, SettingsDep, header_principal
from gridmap.api.errors import ApiError, responses
from gridmap.api.limits import FORM_OVERHEAD_BYTES, UploadPrincipal, too_large
from gridmap.api.schemas_write import (
    ImportReport,
    Published,
    PublishRequest,
    StatusReport,
    TokenInfo,
    UploadCreated,
    UploadDetail,
    UploadSummary,
    VersionItem,
)
from gridmap.config import Settings
from gridmap.db.areas import area_names
from gridmap.db.tokens import Principal
from gridmap.db.versions import list_versions as versions_of
from gridmap.services import uploads as flow

router = APIRouter(prefix="/api/v1")
FormModel = TypeVar("FormModel", bound=BaseModel)

_ID = Path(ge=1, le=2**63 - 1)
_AUTH = (401, 403)


def _limit_bytes(settings: Settings) -> int:
    return int(settings.max_upload_mb * 1024 * 1024)


def _too_large(settings: Settings) -> ApiError:
    return too_large(settings.max_upload_mb)


# ---------------------------------------------------------------------------------------------
# Forms: parsed in the route, after the token and the upload slot (``UploadPrincipal``)
# ---------------------------------------------------------------------------------------------

#: Small form fields (options) are short; the file is the one large part.
_MAX_FIELD_BYTES = 64 * 1024
_MAX_FORM_FIELDS = 20


def _blank(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


async def _form(request: Request) -> FormData:
    """The request's multipart form (one file, a few short fields); 400 ``malformed_form`` when it
    cannot be parsed, 415 ``form_required`` when it is not a form."""
    if not (request.headers.get("content-type") or "").lower().startswith("multipart/form-data"):
        raise ApiError(
            415, "form_required", "请以 multipart/form-data 表单上传：文件放在字段 file 中，选项放在其他字段中。"
        )
    try:
        return await request.form(max_files=1, max_fields=_MAX_FORM_FIELDS, max_part_size=_MAX_FIELD_BYTES)
    except (MultiPartException, StarletteHTTPException, ValueError, KeyError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or type(exc).__name__
        raise ApiError(
            400,
            "malformed_form",
            "上传的表单格式不正确（可能未传完整），请重新选择文件上传。",
            {"reason": str(detail)[:200]},
        ) from None


def _form_file(form: FormData) -> FormFile:
    upload = form.get("file")
    if not isinstance(upload, FormFile):  # the form's file (its other values are str)
        raise ApiError(422, "file_required", "表单中缺少文件字段 file。")
    return upload


def _form_values(form: FormData, model: type[FormModel]) -> FormModel:
    """The form's option fields as ``model`` (blank values count as unset); 422 like any other
    invalid parameter."""
    values = {k: v for k, v in form.multi_items() if k != "file" and isinstance(v, str) and v.strip()}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        ) from None


async def _read_file(upload: FormFile, settings: Settings) -> bytes:
    limit = _limit_bytes(settings)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(settings)
    if not data:
        raise ApiError(422, "empty_file", "上传的文件是空的，请重新选择文件。")
    return data


def _form_body(model: type[BaseModel], file_description: str) -> dict[str, Any]:
    """OpenAPI of a multipart form: ``file`` plus ``model``'s fields."""
    schema = model.model_json_schema()
    properties = {"file": {"type": "string", "format": "binary", "description": file_description}}
    properties.update(schema.get("properties", {}))
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": properties}}
            },
        }
    }


# ---------------------------------------------------------------------------------------------
# The token itself
# ---------------------------------------------------------------------------------------------


def _attachment(file_name: str) -> str:
    """A Content-Disposition naming a (Chinese) file: RFC 6266 ``filename*`` with an ASCII fallback."""
    from urllib.parse import quote

    fallback = "".join(ch if ch.isascii() and ch.isalnum() or ch in "._-" else "_" for ch in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name)}"


@router.get("/token", tags=["uploads"], response_model=TokenInfo, responses=responses(401))
def who_am_i(principal: Annotated[Principal | None, Depends(header_principal)], conn: Conn):
    """The token in the Authorization header: its name, role and scope, so a page can check a
    token before keeping it. 401 `token_required` without one; 401 `token_invalid`,
    `token_expired`, `token_revoked`, `token_malformed` for a token that cannot be used. Any role
    is answered (`writes` says whether it may upload)."""
    if principal is None:
        raise ApiError(401, "token_required", "请在 Authorization 请求头中提供令牌（Bearer gm_…）。")
    names = area_names(conn, [principal.scope]) if principal.scope else {}
    return JSONResponse(
        {
            "name": principal.name,
            "role": principal.role,
            "scope": principal.scope,
            "scope_name": names.get(principal.scope or ""),
            "writes": principal.writes,
        }
    )


# ---------------------------------------------------------------------------------------------
# Boundary uploads
# ---------------------------------------------------------------------------------------------


class BoundaryForm(BaseModel):
    """How to read a boundary upload (form fields beside ``file``)."""

    model_config = ConfigDict(extra="ignore")

    layer: str | None = Field(None, max_length=200, description="Layer to read (default: every polygon layer).")
    crs: str | None = Field(
        None, max_length=200, description="CRS of the coordinates, e.g. 4526 (default: the file's)."
    )
    encoding: str | None = Field(None, max_length=50, description="Attribute encoding of a shapefile, e.g. GBK.")
    fields: str | None = Field(
        None, max_length=10_000, description="Column mapping: NAME=COLUMN lines (e.g. code=网格编码) or a JSON object."
    )
    level: int | None = Field(None, ge=0, le=4, description="Level of the features: 0 county … 4 micro-grid.")
    parent_code: str | None = Field(
        None, pattern=r"^\s*\d{1,30}\s*$", description="Code of the area the upload belongs to."
    )
    scheme: str | None = Field(
        None,
        max_length=200,
        description="The county's levels and code lengths, e.g. `township:9,village:12,grid:15` (no micro-grids); "
        "kept with the county when published (default: as published before, else the five standard levels).",
    )


@router.post(
    "/uploads/boundaries",
    tags=["uploads"],
    status_code=201,
    response_model=UploadCreated,
    responses=responses(*_AUTH, 400, 413, 415, 422, 429),
    openapi_extra=_form_body(BoundaryForm, "Zipped Shapefile (.zip), GeoPackage, GeoJSON, KML/KMZ."),
)
async def upload_boundaries(request: Request, principal: UploadPrincipal, engine: EngineDep, settings: SettingsDep):
    """Upload a boundary file (multipart form: `file` plus the options): it is validated against
    the live data (as `gridmap validate --format json`) in a worker process bounded in time and
    memory, and kept, `validated` or `rejected`, for publishing. The token, the upload slot (429),
    the file type and an editor's declared `parent_code` are checked before the file is read; an
    editor may only upload areas whose scope root lies within its scope (otherwise 403
    `out_of_scope`, nothing is kept)."""
    form = await _form(request)
    upload, values = _form_file(form), _form_values(form, BoundaryForm)
    options = flow.BoundaryOptions(
        layer=_blank(values.layer),
        crs=_blank(values.crs),
        encoding=_blank(values.encoding),
        fields=flow.parse_fields(values.fields),
        level=values.level,
        parent_code=_blank(values.parent_code),
        scheme=_blank(values.scheme),
    )
    flow.check_boundary_request(principal, upload.filename or "", options)
    content = await _read_file(upload, settings)
    record = await run_in_threadpool(
        flow.store_boundary_upload,
        engine,
        principal,
        upload.filename or "",
        content,
        options,
        flow.UploadLimits.from_settings(settings),
    )
    return JSONResponse(
        flow.created_json(record), status_code=201, headers={"Location": f"/api/v1/uploads/{record.id}"}
    )


@router.get("/uploads", tags=["uploads"], response_model=list[UploadSummary], responses=responses(*_AUTH))
def list_uploads(
    principal: Editor,
    conn: Conn,
    kind: Annotated[Literal["boundary", "camera"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    """Uploads, newest first, without their reports: an admin sees all, an editor its own and those
    within its scope."""
    rows = flow.list_uploads(conn, principal, kind=kind, limit=limit, offset=offset)
    return JSONResponse([r.summary() for r in rows])


@router.get("/uploads/{upload_id}", tags=["uploads"], response_model=UploadDetail, responses=responses(*_AUTH, 404))
def get_upload(principal: Editor, conn: Conn, upload_id: Annotated[int, _ID]):
    """One upload with its stored report (and the defects as GeoJSON)."""
    record = flow.get_upload(conn, upload_id)
    if record is None:
        raise ApiError(404, "upload_not_found", f"没有编号为 {upload_id} 的上传。")
    if not record.visible_to(principal):
        raise flow.OutOfScope(principal, [record.root_code])
    return JSONResponse(record.to_dict())


@router.post(
    "/uploads/{upload_id}/publish",
    tags=["uploads"],
    response_model=Published,
    responses=responses(*_AUTH, 404, 409, 422, 429, 500, 503),
)
def publish_upload(
    principal: UploadPrincipal,
    engine: EngineDep,
    settings: SettingsDep,
    upload_id: Annotated[int, _ID],
    body: PublishRequest | None = None,
):
    """Publish a stored boundary upload as a new version (as `gridmap publish --format json`). The
    stored bytes are validated again against the data live now; refusals answer 409 with the code
    (validation_failed, would_remove_descendants, reason_required, already_published, …) and the
    report in `detail`; `409 publish_conflict` when an overlapping subtree is being published (or
    was, since the validation). An editor's publish, forced or not, must stay within its scope:
    codes, areas overlapped or left, cameras moved (`403 out_of_scope`)."""
    body = body or PublishRequest()
    result = flow.publish_upload(
        engine,
        principal,
        upload_id,
        force=body.force,
        reason=_blank(body.reason),
        limits=flow.UploadLimits.from_settings(settings),
    )
    return JSONResponse(result.to_dict())


_ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "The repaired file and 修复说明.csv, zipped."}
}
_XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/uploads/{upload_id}/fixed",
    tags=["uploads"],
    response_class=Response,
    responses={**_ZIP, **responses(*_AUTH, 404, 409, 422, 429, 503)},
)
async def fixed_upload(
    principal: UploadPrincipal,
    engine: EngineDep,
    settings: SettingsDep,
    upload_id: Annotated[int, _ID],
    max_area_m2: Annotated[
        float,
        Query(ge=0, le=100_000, description="Largest gap / overlap / outside part repaired, m² (as --max-fix-area)."),
    ] = 100.0,
):
    """The stored boundary upload repaired as `gridmap validate --fix` repairs it (small gaps,
    overlaps, slivers and parts outside the parent merged or cut, invalid geometries made valid,
    shared edges snapped), in the same format, CRS and attributes, zipped with `修复说明.csv` (one row
    per changed area) and `请先阅读.txt` (the validation of the repaired file). Runs in a worker
    process bounded like a validation and holds an upload slot (429). Nothing is stored or
    published: upload the repaired file to publish it. 409 `nothing_to_repair` when nothing can be
    repaired automatically, `not_a_boundary_upload` for a camera import."""
    fixed = await run_in_threadpool(
        flow.fixed_upload, engine, principal, upload_id, flow.UploadLimits.from_settings(settings), max_area_m2
    )
    return Response(
        fixed.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": _attachment(fixed.name),
            "X-Repaired-Areas": str(len(fixed.changes)),
            "X-Errors-After": str(int(fixed.after.get("errors") or 0)),
        },
    )


@router.get(
    "/uploads/{upload_id}/rejected.xlsx",
    tags=["cameras"],
    response_class=Response,
    responses={
        200: {"content": {_XLSX_TYPE: {}}, "description": "One row per rejected row, with the reason in Chinese."},
        **responses(*_AUTH, 404, 409),
    },
)
def rejected_rows(principal: Editor, engine: EngineDep, upload_id: Annotated[int, _ID]):
    """The rejected rows of a camera import as an XLSX: row number, device id, reason (Chinese
    label and message), column, value and, when read, the point. The stored report keeps the
    first GRIDMAP_MAX_REPORT_REJECTED rows: the sheet says so when rows were left out. 409
    `not_a_camera_upload` for a boundary upload."""
    name, content = flow.rejected_rows_xlsx(engine, principal, upload_id)
    return Response(content, media_type=_XLSX_TYPE, headers={"Content-Disposition": _attachment(name)})


# ---------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------


@router.get("/versions", tags=["versions"], response_model=list[VersionItem], responses=responses(*_AUTH))
def list_versions(
    principal: Editor,
    conn: Conn,
    code: Annotated[
        str | None, Query(pattern=r"^\d+$", description="Only versions whose subtree contains or lies in CODE.")
    ] = None,
):
    """Boundary versions, newest first (as `gridmap versions --format json`)."""
    return JSONResponse([v.to_dict() for v in versions_of(conn, code)])


@router.post(
    "/versions/{version_id}/rollback",
    tags=["versions"],
    response_model=Published,
    responses=responses(*_AUTH, 404, 409, 500, 503),
)
def rollback_version(
    principal: Editor, engine: EngineDep, version_id: Annotated[int, _ID], body: PublishRequest | None = None
):
    """Make an earlier version's areas live again, as a new version (as `gridmap rollback --format
    json`). An editor needs the version's root code within its scope."""
    body = body or PublishRequest()
    result = flow.rollback_version(engine, principal, version_id, force=body.force, reason=_blank(body.reason))
    return JSONResponse(result.to_dict())


# ---------------------------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------------------------


class CameraForm(BaseModel):
    """How to read a camera register (form fields beside ``file``)."""

    model_config = ConfigDict(extra="ignore")

    crs: str | None = Field(
        None, max_length=200, description="wgs84, cgcs2000, gcj02 (高德/腾讯), bd09 (百度) or an EPSG code."
    )
    sheet: str | None = Field(None, max_length=200, description="XLSX sheet (default: the first with camera columns).")
    fields: str | None = Field(
        None,
        max_length=10_000,
        description="Column mapping: NAME=COLUMN lines (e.g. device_id=通道编码) or a JSON object.",
    )
    county: str | None = Field(
        None, pattern=r"^\s*\d{6}\s*$", description="County code (only when the database holds several)."
    )
    force: bool = Field(
        False,
        description="Import even when another CRS fits the grids far better than the declared one "
        "(else 422 `crs_mismatch` naming it, nothing imported).",
    )


@router.post(
    "/uploads/cameras",
    tags=["cameras"],
    status_code=201,
    response_model=ImportReport,
    responses=responses(*_AUTH, 400, 413, 415, 422, 429),
    openapi_extra=_form_body(CameraForm, "Camera register: CSV, XLSX or GeoJSON."),
)
async def upload_cameras(request: Request, principal: UploadPrincipal, engine: EngineDep, settings: SettingsDep):
    """Import a camera register (as `gridmap cameras import --format json`; multipart form: `file`
    plus the options): good rows are upserted by device id, bad rows listed (`ok` false). The file
    is read in a worker process bounded in time and memory. An editor's import may only touch
    cameras in its scope: otherwise 403 `out_of_scope` listing the device ids, and nothing is
    imported."""
    form = await _form(request)
    upload, values = _form_file(form), _form_values(form, CameraForm)
    fields = flow.parse_fields(values.fields, "device_id=通道编码")
    content = await _read_file(upload, settings)
    upload_id, _result, report = await run_in_threadpool(
        functools.partial(
            flow.import_camera_upload,
            engine,
            principal,
            upload.filename or "",
            content,
            crs=_blank(values.crs),
            sheet=_blank(values.sheet),
            fields=fields,
            county=_blank(values.county),
            limits=flow.UploadLimits.from_settings(settings),
            force=values.force,
        )
    )
    return JSONResponse(
        {**report, "upload_id": upload_id}, status_code=201, headers={"Location": f"/api/v1/uploads/{upload_id}"}
    )


_STATUS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "device_id": {"type": "string"},
                                    "online": {"type": ["boolean", "string"]},
                                    "at": {"type": "string", "description": "ISO 8601 or epoch seconds/milliseconds"},
                                },
                            },
                        },
                        {"type": "object", "properties": {"reports": {"type": "array", "items": {"type": "object"}}}},
                    ]
                }
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "设备编码,在线状态,时间\n41162800011318000001,在线,2026-11-21 08:00:00\n",
            },
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    },
}


@router.post(
    "/cameras/status",
    tags=["cameras"],
    response_model=StatusReport,
    responses=responses(*_AUTH, 413, 422, 503),
    openapi_extra=_STATUS_BODY,
)
async def camera_status(request: Request, principal: Editor, engine: EngineDep, settings: SettingsDep):
    """Online/offline reports from a video platform (as `gridmap cameras status --format json`): a
    JSON list of `{"device_id", "online", "at"}`, `{"reports": [...]}`, or a CSV (XLSX) sheet as
    the body or as the `file` of a form. Per camera the newest report counts; reports for unknown
    cameras, or for cameras outside an editor's scope (`out_of_scope`), are rejected by row."""
    limit_mb = min(settings.max_status_mb, settings.max_upload_mb)
    limit = int(limit_mb * 1024 * 1024)
    too_large = ApiError(
        413,
        "file_too_large",
        f"状态上报超过 {limit_mb:g} MB 的上限：请分批上报（每批数万条以内），或请管理员调整 GRIDMAP_MAX_STATUS_MB。",
        {"max_status_mb": limit_mb},
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        raise too_large
    if (request.headers.get("content-type") or "").lower().startswith("multipart/form-data"):
        body = await _form_file(await _form(request)).read(limit + 1)
    else:
        received = bytearray()
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                break
        body = bytes(received)
    if len(body) > limit:
        raise too_large
    if not body.strip():
        raise ApiError(422, "empty", "请求中没有状态上报记录。")
    result = await run_in_threadpool(flow.apply_status, engine, principal, body)
    return JSONResponse(flow.jsonable(result.to_dict()))
