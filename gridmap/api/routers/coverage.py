"""Coverage: GET /api/v1/coverage (the rows of ``gridmap coverage`` as JSON, CSV or XLSX),
/api/v1/coverage/blind (areas with no installed camera), /api/v1/coverage/trend/{code} (daily
snapshots) and /api/v1/summary (figures of the areas in a map view).

The rows are the stored figures (:func:`gridmap.coverage.table.coverage_rows`, kept current by
every write), rendered by :mod:`gridmap.coverage.formats` exactly as the CLI does; rendered answers
are cached per data revision.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import Connection

from gridmap.api.deps import Reader, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.api.revision_cache import RevisionedDep, SnapshotConn
from gridmap.api.schemas_read import (
    BBOX_DESCRIPTION,
    LEVEL_DESCRIPTION,
    BlindRows,
    CoverageRows,
    Summary,
    Trend,
    json_bytes,
    parse_bbox,
    parse_date,
    parse_format,
    parse_level,
)
from gridmap.coverage.rates import rate
from gridmap.coverage.snapshots import trend as read_trend
from gridmap.coverage.table import BLIND_DEFAULT_LEVEL, BLIND_SORTS, CoverageRow, blind_rows, coverage_rows
from gridmap.db import areas as areas_db
from gridmap.services.view_coverage import view_figures

router = APIRouter(prefix="/api/v1", tags=["coverage"])

FORMATS = ("json", "csv", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}},
        "description": "JSON rows, or with format=csv / xlsx a download (coverage_<code>[_level<n>].<ext>).",
    },
}

LevelQuery = Annotated[str | None, Query(description=LEVEL_DESCRIPTION)]
CodeQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description=("Area code: that area and its direct children; with `level`, the areas of that level under it."),
    ),
]
FormatQuery = Annotated[
    str,
    Query(
        description="json, csv (UTF-8 with BOM, rates as percentages) or xlsx (sheets 覆盖统计 and 运营商); "
        "another value is 400 unknown_format.",
        json_schema_extra={"enum": list(FORMATS)},  # documented; parse_format answers the rest (any case) itself
    ),
]


def _area_not_found(code: str | None) -> ApiError:
    return ApiError(404, "area_not_found", f"没有编码为 {code} 的区域：请检查 code 参数。", {"code": code})


def _file_name(stem: str, conn: Connection, code: str | None, level: int | None, ext: str) -> str:
    where = code or areas_db.screen_root(conn) or "all"
    return f"{stem}_{where}{'' if level is None else f'_level{level}'}.{ext}"


def _render(rows: Sequence[CoverageRow], fmt: str, extra: dict | None = None, view=None) -> bytes:
    from gridmap.coverage.formats import to_csv, view_row_dict, write_xlsx

    if fmt == "csv":
        # with BOM, as `gridmap coverage --out x.csv`: Excel reads Chinese
        return to_csv(rows, view).encode("utf-8-sig")
    if fmt == "xlsx":
        out = io.BytesIO()
        write_xlsx(rows, out, view)
        return out.getvalue()
    return json_bytes({**(extra or {}), "rows": [view_row_dict(r, view) for r in rows]})


def _answer(body: bytes, fmt: str, file_name: str) -> Response:
    headers = {} if fmt == "json" else {"Content-Disposition": f'attachment; filename="{file_name}"'}
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.get("/coverage", response_model=CoverageRows, responses={**responses(400, 401, 403, 404), **_DOWNLOADS})
def coverage_table(
    _: Reader,
    data: RevisionedDep,
    settings: SettingsDep,
    level: LevelQuery = None,
    code: CodeQuery = None,
    format: FormatQuery = "json",
    view: Annotated[
        bool,
        Query(
            description="Add the field-of-view figures (`seen_m2`, `seen_rate`, `households_seen`, "
            "`households_seen_rate`; 视野覆盖 columns in CSV/XLSX), as `gridmap coverage --view`: about a "
            "second per county the first time, then cached per data revision; more than a few counties: "
            "400 `view_scope_too_large`."
        ),
    ] = False,
):
    """The rows of `gridmap coverage` (same options, same figures): without options the county and
    its townships; `level`: every area of that level (under `code`); `code` alone: that area and its
    direct children. Rates are fractions (null when undefined) in JSON, percentages in CSV, percentage-
    formatted fractions in XLSX."""
    fmt = parse_format(format, FORMATS)
    level_number = parse_level(level)

    def render(conn: Connection) -> bytes | None:
        try:
            rows = coverage_rows(conn, level=level_number, code=code)
        except KeyError:
            return None
        figures = None
        if view:  # the view figures are cached on their own (per county), shared with /coverage/view
            figures = view_figures(conn, code, settings.view_kinds, lambda k, f: data.cache.get(k, data.revision, f))
        return _render(rows, fmt, view=figures)

    body = data.get(("coverage", fmt, level_number, code, view), render)
    if body is None:
        raise _area_not_found(code)
    return _answer(body, fmt, _file_name("coverage", data.conn, code, level_number, fmt))


@router.get("/coverage/blind", response_model=BlindRows, responses={**responses(400, 401, 403, 404), **_DOWNLOADS})
def coverage_blind(
    _: Reader,
    data: RevisionedDep,
    level: Annotated[str | None, Query(description=LEVEL_DESCRIPTION + " Default 3 (网格).")] = None,
    code: Annotated[str | None, Query(max_length=64, description="Only areas under this code.")] = None,
    format: FormatQuery = "json",
    sort: Annotated[
        str,
        Query(
            description="code (default: the CLI's order) or households (most households first, unknown last); "
            "another value is 400 unknown_sort.",
            json_schema_extra={"enum": list(BLIND_SORTS)},
        ),
    ] = "code",
):
    """Areas of `level` (default 网格) under `code` with no installed camera, by code (or with
    `sort=households` most households first): the rows of `gridmap coverage blind`. JSON adds
    `level`, `total` (how many areas of the level there are) and `classes` (how many rows have no
    camera planned, `no_plan`, and how many have some planned but none installed, `not_installed`)."""
    fmt = parse_format(format, FORMATS)
    level_number = parse_level(level)
    level_number = BLIND_DEFAULT_LEVEL if level_number is None else level_number
    if sort not in BLIND_SORTS:
        raise ApiError(
            400, "unknown_sort", f"不支持的排序 {sort}：可用 {'、'.join(BLIND_SORTS)}。", {"sort": sort[:64]}
        )

    def render(conn: Connection) -> bytes | None:
        try:
            rows, total = blind_rows(conn, level=level_number, code=code, sort=sort)
        except KeyError:
            return None
        no_plan = sum(1 for r in rows if not r.counts.planned)
        classes = {"no_plan": no_plan, "not_installed": len(rows) - no_plan}
        return _render(rows, fmt, {"level": level_number, "total": total, "classes": classes})

    body = data.get(("blind", fmt, level_number, code, sort), render)
    if body is None:
        raise _area_not_found(code)
    return _answer(body, fmt, _file_name("blind", data.conn, code, level_number, fmt))


@router.get("/coverage/trend/{code}", response_model=Trend, responses=responses(400, 401, 403, 404))
def coverage_trend(
    _: Reader,
    conn: SnapshotConn,
    code: Annotated[str, Path(max_length=64, description="Area code.")],
    since: Annotated[str | None, Query(alias="from", description="First date YYYY-MM-DD (inclusive).")] = None,
    until: Annotated[str | None, Query(alias="to", description="Last date YYYY-MM-DD (inclusive).")] = None,
):
    """The area's daily snapshots (`gridmap coverage snapshot`), oldest first. 404 `area_not_found`
    when the code is neither a live area nor has snapshots; 400 `invalid_date`."""
    start, end = parse_date(since, "from"), parse_date(until, "to")
    if start is not None and end is not None and start > end:
        raise ApiError(400, "invalid_date", f"from（{start}）不能晚于 to（{end}）。", {"from": since, "to": until})
    if not areas_db.area_known(conn, code):
        raise ApiError(404, "area_not_found", f"没有编码为 {code} 的区域，也没有它的快照。", {"code": code})
    return {"code": code, "points": [p.to_dict() for p in read_trend(conn, code, start, end)]}


@router.get("/summary", response_model=Summary, responses=responses(400, 401, 403, 422))
def summary(
    _: Reader,
    conn: SnapshotConn,
    level: Annotated[str | None, Query(description=LEVEL_DESCRIPTION + " Default 3 (网格).")] = None,
    bbox: Annotated[
        str | None,
        Query(
            description=BBOX_DESCRIPTION + " Areas whose representative point "
            "(ST_PointOnSurface) lies in the box; "
            "none: every area of the level."
        ),
    ] = None,
):
    """Figures of the current map view: the areas of `level` whose representative point lies in
    `bbox` (EPSG:4490 lon/lat degrees), how many there are, their planned / installed / online sums,
    rates of those sums and `blind` (how many have no installed camera). Without bbox the whole
    database (for one county: the county's own figures)."""
    level_number = parse_level(level)
    level_number = BLIND_DEFAULT_LEVEL if level_number is None else level_number
    figures = areas_db.view_summary(conn, level_number, parse_bbox(bbox))
    return {
        "level": level_number,
        **figures,
        "rollout_rate": rate(figures["installed"], figures["planned"]),
        "online_rate": rate(figures["online"], figures["installed"]),
    }
