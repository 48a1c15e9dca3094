"""Writing areas: a set of areas replaces a subtree as one new published boundary version."""

from __future__ import annotations

import json
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.db.copy import copy_columns, ewkb_hex

AREA_COLUMNS = ("code", "name", "level", "parent_code", "kind", "households", "population",
                "worker_name", "worker_phone", "attrs", "geom")


@dataclass(frozen=True)
class VersionInfo:
    created_by: str
    file_name: str | None = None
    file_sha256: str | None = None
    reason: str | None = None


def replace_subtree(conn: Connection, root_code: str, areas: gpd.GeoDataFrame, info: VersionInfo,
                    report: dict | None = None) -> int:
    """Replace every live area whose code starts with ``root_code`` by ``areas`` (canonical columns,
    EPSG:4490 MultiPolygons) and record it as a new published version; returns the version id.

    Runs on the caller's transaction: if anything fails, the caller's rollback leaves the live
    data exactly as it was. The parent links are checked by the deferred foreign key at commit.
    """
    version_id = conn.execute(
        text("""INSERT INTO boundary_version (created_by, file_name, file_sha256, root_code, status, reason,
                                              feature_count, report, published_at)
                VALUES (:by, :file, :sha, :root, 'published', :reason, :n, CAST(:report AS jsonb), now())
                RETURNING id"""),
        {"by": info.created_by, "file": info.file_name, "sha": info.file_sha256, "root": root_code,
         "reason": info.reason, "n": len(areas), "report": json.dumps(report) if report is not None else None},
    ).scalar_one()
    conn.execute(
        text("""UPDATE boundary_version SET status = 'superseded'
                WHERE status = 'published' AND id <> :id AND root_code LIKE :root || '%'"""),
        {"id": version_id, "root": root_code},
    )
    conn.execute(text("DELETE FROM area WHERE code LIKE :root || '%'"), {"root": root_code})
    copy_columns(conn, "area", {**_area_columns(areas), "version_id": [version_id] * len(areas)})
    conn.execute(
        text(f"""INSERT INTO area_version (version_id, {', '.join(AREA_COLUMNS)})
                 SELECT version_id, {', '.join(AREA_COLUMNS)} FROM area WHERE version_id = :id"""),
        {"id": version_id},
    )
    return int(version_id)


def _area_columns(areas: gpd.GeoDataFrame) -> dict[str, list[object]]:
    """The ``AREA_COLUMNS`` of ``areas`` as lists; columns we do not know go into ``attrs``."""
    n = len(areas)
    columns = {c: areas[c].tolist() if c in areas else [None] * n for c in AREA_COLUMNS}
    extra = [c for c in areas.columns if c not in AREA_COLUMNS and c != areas.geometry.name]
    columns["attrs"] = [json.dumps({k: v for k, v in rec.items() if not pd.isna(v)}, ensure_ascii=False)
                        for rec in areas[extra].to_dict("records")]
    columns["geom"] = ewkb_hex(areas.geometry.to_numpy())
    return columns
