"""Writes: boundary uploads (validate → publish), versions and rollback, camera imports and
online/offline reports. Every route needs an editor or admin token; an editor only changes what
lies within its scope (see ``gridmap.services.uploads`` for the rules). The workflows (and their SQL) live
in ``gridmap.services.uploads``; this module translates HTTP to them. Their refusals are
``GridmapError``s, answered by the one handler in ``gridmap.api.errors``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as FormFile

from gridmap.api.deps import MAX_OFFSET, Conn, Editor, EngineDep, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.api.schemas_write import (
    ImportReport,
    Published,
    PublishRequest,
    StatusReport,
    UploadCreated,
    UploadDetail,
    UploadSummary,
    VersionItem,
)
from gridmap.config import Settings
from gridmap.db.versions import list_versions as versions_of
from gridmap.services import uploads as flow

router = APIRouter(prefix="/api/v1")

_ID = Path(ge=1, le=2**63 - 1)
_AUTH = (401, 403)


def _limit_bytes(settings: Settings) -> int:
    return int(settings.max_upload_mb * 1024 * 1024)


def _too_large(settings: Settings) -> ApiError:
    return ApiError(
        413,
        "file_too_large",
        f"文件超过 {settings.max_upload_mb:g} MB 的上限：请拆分后分批上传，或请管理员调整 GRIDMAP_MAX_UPLOAD_MB。",
        {"max_upload_mb": settings.max_upload_mb},
    )


def _read_file(file: UploadFile, settings: Settings) -> bytes:
    limit = _limit_bytes(settings)
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise _too_large(settings)
    if not data:
        raise ApiError(422, "empty_file", "上传的文件是空的，请重新选择文件。")
    return data


def _blank(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------
# Boundary uploads
# ---------------------------------------------------------------------------------------------


@router.post(
    "/uploads/boundaries",
    tags=["uploads"],
    status_code=201,
    response_model=UploadCreated,
    responses=responses(*_AUTH, 413, 422),
)
def upload_boundaries(
    principal: Editor,
    engine: EngineDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="Zipped Shapefile (.zip), GeoPackage, GeoJSON, KML/KMZ.")],
    layer: Annotated[str | None, Form(description="Layer to read (default: every polygon layer).")] = None,
    crs: Annotated[str | None, Form(description="CRS of the coordinates, e.g. 4526 (default: the file's).")] = None,
    encoding: Annotated[str | None, Form(description="Attribute encoding of a shapefile, e.g. GBK.")] = None,
    fields: Annotated[
        str | None, Form(description="Column mapping: NAME=COLUMN lines (e.g. code=网格编码) or a JSON object.")
    ] = None,
    level: Annotated[
        int | None, Form(ge=0, le=4, description="Level of the features: 0 county … 4 micro-grid.")
    ] = None,
    parent_code: Annotated[
        str | None, Form(pattern=r"^\s*\d*\s*$", description="Code of the area the upload belongs to.")
    ] = None,
):
    """Upload a boundary file: it is validated against the live data (as `gridmap validate
    --format json`) and kept, `validated` or `rejected`, for publishing. An editor may only upload
    areas whose scope root lies within its scope (otherwise 403 `out_of_scope`, nothing is kept)."""
    content = _read_file(file, settings)
    options = flow.BoundaryOptions(
        layer=_blank(layer),
        crs=_blank(crs),
        encoding=_blank(encoding),
        fields=flow.parse_fields(fields),
        level=level,
        parent_code=_blank(parent_code),
    )
    record = flow.store_boundary_upload(engine, principal, file.filename or "", content, options)
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
    responses=responses(*_AUTH, 404, 409, 422, 500, 503),
)
def publish_upload(
    principal: Editor, engine: EngineDep, upload_id: Annotated[int, _ID], body: PublishRequest | None = None
):
    """Publish a stored boundary upload as a new version (as `gridmap publish --format json`). The
    stored bytes are validated again against the data live now; refusals answer 409 with the code
    (validation_failed, would_remove_descendants, reason_required, already_published, …) and the
    report in `detail`; `409 publish_conflict` when an overlapping subtree is being published (or
    was, since the validation). An editor's publish, forced or not, must stay within its scope:
    codes, areas overlapped or left, cameras moved (`403 out_of_scope`)."""
    body = body or PublishRequest()
    result = flow.publish_upload(engine, principal, upload_id, force=body.force, reason=_blank(body.reason))
    return JSONResponse(result.to_dict())


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


@router.post(
    "/uploads/cameras",
    tags=["cameras"],
    status_code=201,
    response_model=ImportReport,
    responses=responses(*_AUTH, 413, 422),
)
def upload_cameras(
    principal: Editor,
    engine: EngineDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="Camera register: CSV, XLSX or GeoJSON.")],
    crs: Annotated[
        str | None, Form(description="wgs84, cgcs2000, gcj02 (高德/腾讯), bd09 (百度) or an EPSG code.")
    ] = None,
    sheet: Annotated[str | None, Form(description="XLSX sheet (default: the first with camera columns).")] = None,
    fields: Annotated[
        str | None, Form(description="Column mapping: NAME=COLUMN lines (e.g. device_id=通道编码) or a JSON object.")
    ] = None,
    county: Annotated[str | None, Form(description="County code (only when the database holds several).")] = None,
):
    """Import a camera register (as `gridmap cameras import --format json`): good rows are upserted
    by device id, bad rows listed (`ok` false). An editor's import may only touch cameras in its
    scope: otherwise 403 `out_of_scope` listing the device ids, and nothing is imported."""
    content = _read_file(file, settings)
    upload_id, result = flow.import_camera_upload(
        engine,
        principal,
        file.filename or "",
        content,
        crs=_blank(crs),
        sheet=_blank(sheet),
        fields=flow.parse_fields(fields, "device_id=通道编码"),
        county=_blank(county),
    )
    return JSONResponse(
        flow.jsonable(result.to_dict()), status_code=201, headers={"Location": f"/api/v1/uploads/{upload_id}"}
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
    limit = _limit_bytes(settings)
    if (request.headers.get("content-type") or "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, FormFile):  # the form's file (its other values are str)
            raise ApiError(422, "file_required", "表单中缺少文件字段 file。")
        body = await upload.read(limit + 1)
    else:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _too_large(settings)
        received = bytearray()
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                break
        body = bytes(received)
    if len(body) > limit:
        raise _too_large(settings)
    if not body.strip():
        raise ApiError(422, "empty", "请求中没有状态上报记录。")
    result = await run_in_threadpool(flow.apply_status, engine, principal, body)
    return JSONResponse(flow.jsonable(result.to_dict()))
