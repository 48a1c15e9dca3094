"""Reading the boundary version history, the archived areas of a version, and rejected uploads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
from sqlalchemy import Connection, text

from gridmap.db.areas import AREA_COLUMNS, VersionInfo


@dataclass(frozen=True)
class VersionRow:
    id: int
    created_at: datetime
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

    def to_dict(self) -> dict:
        """The JSON of ``gridmap versions --format json`` and of the API."""
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def list_versions(conn: Connection, code: str | None = None, *, version_id: int | None = None) -> list[VersionRow]:
    """Every version, newest first; with ``code``, those whose subtree contains it or lies in it;
    with ``version_id``, that one."""
    rows = conn.execute(
        text("""
        SELECT v.id, v.created_at, v.created_by, v.file_name, v.root_code, v.top_level, v.status, v.reason,
               v.feature_count,
               (SELECT count(*) FROM area a WHERE a.version_id = v.id) AS live_count,
               (v.report -> 'summary' ->> 'errors')::int AS errors,
               (v.report -> 'summary' ->> 'warnings')::int AS warnings,
               v.restored_from
        FROM boundary_version v
        WHERE (CAST(:code AS text) IS NULL OR :code LIKE v.root_code || '%' OR v.root_code LIKE :code || '%')
          AND (CAST(:id AS bigint) IS NULL OR v.id = :id)
        ORDER BY v.id DESC"""),
        {"code": code, "id": version_id},
    ).all()
    return [VersionRow(*r) for r in rows]


def get_version(conn: Connection, version_id: int) -> VersionRow | None:
    return next(iter(list_versions(conn, version_id=version_id)), None)


def archived_areas(conn: Connection, version_id: int) -> gpd.GeoDataFrame:
    """The areas version ``version_id`` published (canonical columns, EPSG:4490)."""
    columns = ", ".join(c for c in AREA_COLUMNS if c != "geom")
    return gpd.read_postgis(
        text(f"SELECT {columns}, geom FROM area_version WHERE version_id = :id ORDER BY level, code"),
        conn,
        geom_col="geom",
        params={"id": version_id},
    ).rename_geometry("geometry")


def record_rejected(
    conn: Connection, info: VersionInfo, root_code: str | None, top_level: int | None, feature_count: int, report: dict
) -> int:
    """Keep a refused upload in the history (status ``rejected``, with its report); touches no area."""
    return int(
        conn.execute(
            text("""INSERT INTO boundary_version (created_by, file_name, file_sha256, root_code, top_level, status,
                                              reason, feature_count, report)
                VALUES (:by, :file, :sha, :root, :top, 'rejected', :reason, :n, CAST(:report AS jsonb))
                RETURNING id"""),
            {
                "by": info.created_by,
                "file": info.file_name,
                "sha": info.file_sha256,
                "root": root_code or "",
                "top": top_level,
                "reason": info.reason,
                "n": feature_count,
                "report": json.dumps(report, ensure_ascii=False),
            },
        ).scalar_one()
    )
