"""Field-of-view coverage (视野覆盖): GET /api/v1/coverage/view (what the installed cameras see of
each area: m², share, households) and /api/v1/coverage/view/unseen (the unseen parts, 视野盲区, of
one township or anything below it, as GeoJSON).

Read like /api/v1/coverage (the same reader). Computing takes about a second per county
(:mod:`gridmap.services.view_coverage`), so the result is cached per county and data revision in
the app's revision cache; a request spanning more than a few counties is refused
(400 ``view_scope_too_large``). Not the 盲区 of /api/v1/coverage/blind (areas with no camera).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gridmap.api.deps import Reader, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.api.revision_cache import RevisionedDep
from gridmap.api.schemas_read import (
    CRS_MEMBER,
    LEVEL_DESCRIPTION,
    GeoJSONResponse,
    Geometry,
    NamedCrs,
    Rate,
    json_bytes,
    parse_format,
    parse_level,
)
from gridmap.coverage.view_formats import to_csv as view_csv
from gridmap.services.view_coverage import unseen_features, view_rows

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])

FORMATS = ("json", "csv")


class ViewRowModel(BaseModel):
    code: str
    name: str | None
    level: int
    parent_code: str | None
    area_m2: float = Field(description="Area, m² (the county's Gauss-Krüger zone).")
    seen_m2: float = Field(description="The part some installed camera's view covers, m².")
    seen_rate: float | None = Rate
    households: float | None = Field(description="Households (null: unknown).")
    households_seen: float | None = Field(
        description="Households in seen parts: spread uniformly over each micro-grid (fractions)."
    )
    households_seen_rate: float | None = Rate
    cameras: int = Field(description="Installed cameras with a position in the area (their views counted).")


class ViewRows(BaseModel):
    cameras: int = Field(description="Installed cameras whose views were drawn (the counties computed).")
    rows: list[ViewRowModel]


class UnseenProperties(BaseModel):
    code: str = Field(description="The leaf area (micro-grid) the unseen part lies in.")
    unseen_m2: float = Field(description="Its unseen area, m².")


class UnseenFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    properties: UnseenProperties
    geometry: Geometry


class UnseenCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    crs: NamedCrs
    code: str
    unseen_m2: float = Field(description="The area's unseen part, m².")
    features: list[UnseenFeature]


@router.get(
    "/view",
    response_model=ViewRows,
    responses={
        **responses(400, 401, 403, 404),
        200: {"content": {"text/csv; charset=utf-8": {}}, "description": "JSON rows, or with format=csv a download."},
    },
)
def coverage_view(
    _: Reader,
    data: RevisionedDep,
    settings: SettingsDep,
    level: Annotated[str | None, Query(description=LEVEL_DESCRIPTION)] = None,
    code: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Area code: that area and its direct children; with `level`, the areas of that level under it.",
        ),
    ] = None,
    format: Annotated[str, Query(description="json or csv (UTF-8 with BOM, rates as percentages).")] = "json",
):
    """What the installed cameras see (视野覆盖) of each area: `area_m2`, `seen_m2` (m², measured in
    the county's Gauss-Krüger zone), `seen_rate`, `households`, `households_seen` (households spread
    uniformly over each micro-grid) and its rate. Rows are chosen as in /api/v1/coverage. Views:
    sectors per camera kind (GRIDMAP_VIEW_KINDS), clipped to the county. 404 `area_not_found`,
    400 `view_scope_too_large` (more than a few counties at once)."""
    fmt = parse_format(format, FORMATS)
    level_number = parse_level(level)

    def get(key, compute):
        return data.cache.get(key, data.revision, compute)

    try:
        rows, views = view_rows(data.conn, code, level_number, settings.view_kinds, get, polygons=False)
    except KeyError:
        raise ApiError(404, "area_not_found", f"没有编码为 {code} 的区域：请检查 code 参数。", {"code": code}) from None
    if fmt == "csv":
        where = code or "all"
        name = f"view_{where}{'' if level_number is None else f'_level{level_number}'}.csv"
        return Response(
            view_csv(rows).encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    body: dict[str, Any] = {"cameras": sum(v.cameras for v in views), "rows": [r.to_dict() for r in rows]}
    return Response(json_bytes(body), media_type="application/json")


@router.get(
    "/view/unseen",
    response_model=UnseenCollection,
    response_class=GeoJSONResponse,
    responses=responses(400, 401, 403, 404, 422),
)
def coverage_view_unseen(
    _: Reader,
    data: RevisionedDep,
    settings: SettingsDep,
    code: Annotated[str, Query(max_length=64, description="A township, village, grid or micro-grid code.")],
):
    """The unseen parts (视野盲区: no installed camera's view reaches them) of the micro-grids of one
    township or anything below it: one feature per micro-grid with `code` and `unseen_m2` (m²),
    EPSG:4490 lon/lat degrees. 400 `unseen_scope_too_large` for a county or above, 404
    `area_not_found`."""

    def get(key, compute):
        return data.cache.get(key, data.revision, compute)

    body = unseen_features(data.conn, code, settings.view_kinds, get)
    body = {"type": "FeatureCollection", "crs": CRS_MEMBER, **{k: v for k, v in body.items() if k != "type"}}
    return Response(json_bytes(body), media_type=GeoJSONResponse.media_type)
