"""Bulk exports: GET /api/v1/exports/areas (the live areas of one level with their figures) and
/api/v1/exports/cameras, as GeoPackage, GeoParquet, zipped Shapefile, CSV or XLSX downloads for
QGIS, ArcGIS Pro, Excel and notebooks.

One request is one snapshot (:data:`SnapshotConn`): geometry, figures and the data revision in
the file name (``…_r<revision>.<ext>``, also in ``X-Data-Revision``) are of the same moment. The
file is written by :mod:`gridmap.services.exports` in a temporary directory
(``GRIDMAP_UPLOAD_TMP_DIR``, else the system's) in the thread pool, opened, and the directory
removed *before* the answer starts: the open file is streamed and its space freed when it is
closed, whether the client reads it all, goes away, or the write failed. At most
``GRIDMAP_EXPORT_WORKERS`` exports are written at once (429 ``too_many_exports`` beyond).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from gridmap.api.deps import Reader, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.api.limits import ExportSlots
from gridmap.api.revision_cache import SnapshotConn
from gridmap.api.schemas_read import LEVEL_DESCRIPTION, parse_level, parse_statuses
from gridmap.io.exports import FORMATS
from gridmap.services import exports as exports_service

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

CHUNK_BYTES = 1024 * 1024

_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {f.media_type: {"schema": {"type": "string", "format": "binary"}} for f in FORMATS.values()},
        "description": "The file, as an attachment (Content-Disposition names it).",
    },
}
FormatQuery = Annotated[
    str,
    Query(
        description="gpkg (GeoPackage), parquet (GeoParquet), shp (zipped Shapefile, text in GBK with a .cpg; "
        "UTF-8 when a name cannot be written in GBK), csv (UTF-8 with BOM) or xlsx; "
        "another value is 400 unknown_format.",
        json_schema_extra={"enum": list(FORMATS)},
    ),
]
CrsQuery = Annotated[
    str,
    Query(
        description="4490 (CGCS2000 lon/lat degrees, the default) or gk: the CGCS2000 3° Gauss-Krüger zone of the "
        "data (metres, e.g. EPSG:4547), for gpkg, parquet and shp only (400 crs_not_applicable with csv/xlsx).",
        json_schema_extra={"enum": list(exports_service.CRS_CHOICES)},
    ),
]


def _stream(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _download(
    request: Request, tmp_dir: Path | None, fmt: str, write: Callable[[Path], exports_service.Export]
) -> StreamingResponse:
    """Write the export in a temporary directory (holding an export slot), open it, remove the
    directory, stream the open file."""
    slots: ExportSlots = request.app.state.export_slots
    with slots.hold():
        if tmp_dir is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="gridmap-export-", dir=tmp_dir))
        try:
            export = write(folder / f"export{FORMATS[fmt].suffix}")
            handle = export.path.open("rb")
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the open file lives on until it is closed
    headers = {
        "Content-Disposition": f'attachment; filename="{export.file_name}"',
        "Content-Length": str(os.fstat(handle.fileno()).st_size),
        "X-Data-Revision": str(export.revision),
        "X-Export-Rows": str(export.rows),
    }
    if export.encoding:
        headers["X-Shapefile-Encoding"] = export.encoding
    return StreamingResponse(_stream(handle), media_type=export.media_type, headers=headers)


@router.get("/areas", response_class=StreamingResponse, responses={**responses(400, 401, 403, 404, 429), **_FILE})
def export_areas(
    request: Request,
    _: Reader,
    conn: SnapshotConn,
    settings: SettingsDep,
    level: Annotated[str | None, Query(description=LEVEL_DESCRIPTION + " Required.")] = None,
    parent: Annotated[
        str | None, Query(max_length=64, description="Only the areas of `level` anywhere below this area.")
    ] = None,
    format: FormatQuery = "gpkg",
    crs: CrsQuery = "4490",
):
    """Every live area of `level` (below `parent`) with its figures, by code: code, name, level,
    level_name, parent_code, kind, households, population, worker_name, area_m2, planned, installed,
    online, rollout_rate, online_rate (fractions; empty when undefined): the properties of
    /api/v1/areas. GeoPackage, GeoParquet and Shapefile carry the boundaries (MultiPolygon) in
    EPSG:4490 or, with `crs=gk`, the Gauss-Krüger zone; CSV and XLSX only the figures. File name
    `areas_<county or parent>_<level>[_epsg<code>]_r<revision>.<ext>`. 400 `level_required`,
    `invalid_level`, `unknown_format`, `invalid_crs`, `crs_not_applicable`, `level_not_below_parent`;
    404 `area_not_found`; 429 `too_many_exports`."""
    if level is None or not level.strip():
        raise ApiError(
            400,
            "level_required",
            "请用 level 参数指定要导出的层级，例如 level=microgrid 或 level=4。",
            {"level": level},
        )
    level_number = parse_level(level)
    assert level_number is not None
    fmt = exports_service.check_format(format)
    exports_service.check_crs(crs, fmt)
    return _download(
        request,
        settings.upload_tmp_dir,
        fmt,
        lambda out: exports_service.export_areas(conn, level=level_number, parent=parent, fmt=fmt, crs=crs, out=out),
    )


@router.get("/cameras", response_class=StreamingResponse, responses={**responses(400, 401, 403, 404, 429), **_FILE})
def export_cameras(
    request: Request,
    _: Reader,
    conn: SnapshotConn,
    settings: SettingsDep,
    area: Annotated[str | None, Query(max_length=64, description="Only cameras in this area or below.")] = None,
    status: Annotated[
        str | None,
        Query(description="planned, installed or removed; several separated by commas. Default: all but removed."),
    ] = None,
    online: Annotated[bool | None, Query(description="true: online cameras only; false: not online ones.")] = None,
    operator: Annotated[
        str | None, Query(max_length=100, description="Operator, exactly as imported; 未知: cameras without one.")
    ] = None,
    format: FormatQuery = "gpkg",
    crs: CrsQuery = "4490",
):
    """The cameras (filters as /api/v1/cameras), by device id: device_id, name, status, online,
    operator, area_code, installed_on, last_seen, place_type, lon, lat (EPSG:4490 degrees, in
    every format) and, in GeoPackage, GeoParquet and Shapefile, the point in EPSG:4490 or the
    Gauss-Krüger zone (`crs=gk`). File name `cameras_<county or area>[_epsg<code>]_r<revision>.<ext>`.
    Refusals as /api/v1/exports/areas (`invalid_status` too)."""
    statuses = parse_statuses(status)
    fmt = exports_service.check_format(format)
    exports_service.check_crs(crs, fmt)
    return _download(
        request,
        settings.upload_tmp_dir,
        fmt,
        lambda out: exports_service.export_cameras(
            conn, area=area, statuses=statuses, online=online, operator=operator or None, fmt=fmt, crs=crs, out=out
        ),
    )
