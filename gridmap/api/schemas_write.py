"""Request and response models of the write API (uploads, publish, versions, cameras).

The response models document the JSON for OpenAPI; the routes return the JSON the CLI prints
(``gridmap validate|publish|versions|rollback|cameras import|cameras status --format json``)
unchanged, so the fields here mirror those.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PublishRequest(BaseModel):
    """Body of ``POST /uploads/{id}/publish`` and ``POST /versions/{id}/rollback`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        default=False,
        description="Publish despite validation errors or dropped descendants "
        "(needs a reason when publishing an upload).",
    )
    reason: str | None = Field(
        default=None, max_length=2000, pattern=r"^[^\x00]*$", description="Why; recorded with the version (no NUL)."
    )


class Published(BaseModel):
    """As ``gridmap publish|rollback --format json``."""

    published: bool
    version: int
    root: str
    top_level: int
    removed: int
    added: int
    cameras_assigned: int
    summary: dict[str, Any]


class TokenInfo(BaseModel):
    """``GET /api/v1/token``: who the token in the Authorization header is."""

    name: str
    role: Literal["embed", "viewer", "editor", "admin"]
    scope: str | None = Field(description="Code prefix an editor may change (null: everything).")
    scope_name: str | None = Field(description="The live name of the scope's area, when there is one.")
    writes: bool = Field(description="May upload, import and publish (editor or admin).")


class UploadCreated(BaseModel):
    """The answer to a boundary upload."""

    upload_id: int
    status: Literal["validated", "rejected", "published", "failed"]
    ok: bool
    root_code: str | None
    report: dict[str, Any] | None = Field(description="As `gridmap validate --format json`.")
    defects: dict[str, Any] | None = Field(
        description="GeoJSON FeatureCollection of the issues with a geometry (EPSG:4490 lon/lat); feature id and "
        "property `issue` = index in report.issues; properties kind, kind_label, severity, message, "
        "codes, area_m2, locator (true: an extra point marking a tiny defect). Texts are not HTML-escaped."
    )
    area_names: dict[str, str] | None = Field(
        None, description="Names of the codes the report mentions: the uploaded file's, else the live area's."
    )
    repairable: int | None = Field(None, description="Findings GET /uploads/{id}/fixed would repair (100 m²).")


class UploadSummary(BaseModel):
    """One upload in ``GET /uploads`` (no report: see ``GET /uploads/{id}``)."""

    upload_id: int
    kind: Literal["boundary", "camera"]
    created_at: str
    created_by: str
    file_name: str
    file_sha256: str
    size: int
    options: dict[str, Any]
    status: Literal["validated", "rejected", "published", "failed"]
    ok: bool
    root_code: str | None
    version_id: int | None
    summary: dict[str, Any] | None = Field(description="Boundary: report.summary; camera: the import counts.")


class UploadDetail(UploadSummary, UploadCreated):
    """``GET /uploads/{id}``: the upload with its stored report (camera uploads: the import report;
    defects null)."""


class VersionItem(BaseModel):
    """As one element of ``gridmap versions --format json``."""

    id: int
    created_at: str
    created_by: str
    file_name: str | None
    root_code: str
    top_level: int | None
    status: str
    reason: str | None
    feature_count: int
    live_count: int
    errors: int | None
    warnings: int | None
    restored_from: int | None


class RowProblemOut(BaseModel):
    row: int
    code: str
    message: str
    device_id: str | None = None
    field: str | None = None
    value: str | None = None
    lon: float | None = Field(None, description="The row's point (EPSG:4490 degrees) when its coordinates were read.")
    lat: float | None = None


class ImportReport(BaseModel):
    """As ``gridmap cameras import --format json`` (``ImportResult.to_dict()``), plus the upload's id
    and the imported cameras' points."""

    upload_id: int | None = None
    ok: bool
    import_id: int | None
    file: str | None
    crs: str
    county: str
    rows: int
    imported: int
    inserted: int
    updated: int
    unchanged: int
    rejected_count: int = Field(description="Every rejected row.")
    rejected: list[RowProblemOut] = Field(description="The first GRIDMAP_MAX_REPORT_REJECTED (1,000) in full.")
    rejected_truncated: bool = Field(description="Whether `rejected` leaves rows out.")
    rejected_by_code: dict[str, int] = Field(description="Every rejected row, counted per code.")
    outside_count: int
    outside: list[dict[str, Any]] = Field(description="The first GRIDMAP_MAX_REPORT_REJECTED in full.")
    outside_truncated: bool
    warnings: list[str]
    notes: list[str]
    crs_suggestion: dict[str, Any] | None
    points: list[list[Any]] | None = Field(
        None, description="Imported cameras for a map: [device_id, name, lon, lat] (EPSG:4490), the first 20,000."
    )
    points_truncated: bool | None = None


class StatusReport(BaseModel):
    """As ``gridmap cameras status --format json`` (``StatusResult.to_dict()``)."""

    ok: bool
    rows: int
    applied: int
    stale: int
    rejected_count: int = Field(description="Every rejected report.")
    rejected: list[RowProblemOut] = Field(description="The first GRIDMAP_MAX_REPORT_REJECTED (1,000) in full.")
    rejected_truncated: bool = Field(description="Whether `rejected` leaves reports out.")
    rejected_by_code: dict[str, int] = Field(description="Every rejected report, counted per code.")
