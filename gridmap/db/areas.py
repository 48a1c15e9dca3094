"""Writing areas: a set of areas replaces a subtree as one new published boundary version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from gridmap.db.copy import copy_columns, ewkb_hex
from gridmap.geometry.metric import metric_crs, to_metric

if TYPE_CHECKING:
    from gridmap.geometry.scope import Scope

AREA_COLUMNS = ("code", "name", "level", "parent_code", "kind", "households", "population",
                "worker_name", "worker_phone", "attrs", "geom", "area_m2")


#: Columns the readers add for bookkeeping; not the county's attributes.
_NOT_ATTRS = ("layer", "source_row", "area_m2")


@dataclass(frozen=True)
class VersionInfo:
    created_by: str
    file_name: str | None = None
    file_sha256: str | None = None
    reason: str | None = None


def replace_subtree(conn: Connection, root_code: str, areas: gpd.GeoDataFrame, info: VersionInfo,
                    report: dict | None = None, *, top_level: int = 0, restored_from: int | None = None) -> int:
    """Replace every live area under ``root_code`` (code prefix) at ``top_level`` and below by
    ``areas`` (canonical columns, EPSG:4490 MultiPolygons) and record it as a new published version;
    returns the version id.

    Versions left with no live area become ``superseded`` (``rolled_back`` when this is a rollback,
    ``restored_from`` naming the version restored). Runs on the caller's transaction: if anything
    fails, the caller's rollback leaves the live data exactly as it was. Parent links are checked by
    the deferred foreign key at commit.
    """
    version_id = conn.execute(
        text("""INSERT INTO boundary_version (created_by, file_name, file_sha256, root_code, top_level, status,
                                              reason, feature_count, report, published_at, restored_from)
                VALUES (:by, :file, :sha, :root, :top, 'published', :reason, :n, CAST(:report AS jsonb), now(),
                        :restored)
                RETURNING id"""),
        {"by": info.created_by, "file": info.file_name, "sha": info.file_sha256, "root": root_code,
         "top": top_level, "reason": info.reason, "n": len(areas),
         "report": json.dumps(report, ensure_ascii=False) if report is not None else None,
         "restored": restored_from},
    ).scalar_one()
    conn.execute(text("DELETE FROM area WHERE code LIKE :root || '%' AND level >= :top"),
                 {"root": root_code, "top": top_level})
    copy_columns(conn, "area", {**_area_columns(areas), "version_id": [version_id] * len(areas)})
    conn.execute(
        text(f"""INSERT INTO area_version (version_id, {', '.join(AREA_COLUMNS)})
                 SELECT version_id, {', '.join(AREA_COLUMNS)} FROM area WHERE version_id = :id"""),
        {"id": version_id},
    )
    conn.execute(
        text("""UPDATE boundary_version v SET status = :displaced
                WHERE v.status = 'published' AND v.id <> :id
                  AND NOT EXISTS (SELECT 1 FROM area a WHERE a.version_id = v.id)"""),
        {"id": version_id, "displaced": "rolled_back" if restored_from is not None else "superseded"},
    )
    return int(version_id)


def parent_areas(conn: Connection, codes: set[str], scope: "Scope") -> gpd.GeoDataFrame:
    """The live areas an upload is checked against (columns code, level, parent_code, geometry in
    EPSG:4490): ``codes`` (parents named by the upload), the areas one level above the upload
    under its root, and, when the upload replaces a single area, that area's live siblings."""
    siblings = scope.includes_root and scope.parent is not None
    return gpd.read_postgis(
        text("""SELECT code, level, parent_code, geom FROM area
                WHERE code = ANY(CAST(:codes AS text[]))
                   OR (code LIKE CAST(:root AS text) || '%' AND level = CAST(:level AS smallint))
                   OR (:siblings AND parent_code = CAST(:parent AS text) AND level = CAST(:top AS smallint)
                       AND code NOT LIKE CAST(:root AS text) || '%')"""),
        conn, geom_col="geom",
        params={"codes": sorted(codes), "root": scope.root, "level": scope.parent_level, "siblings": siblings,
                "parent": scope.parent, "top": scope.top_level},
    ).rename_geometry("geometry")


def live_codes_below(conn: Connection, root: str, top_level: int) -> list[str]:
    """The codes ``replace_subtree(root, top_level=…)`` would replace: under ``root`` at
    ``top_level`` and below."""
    return list(conn.execute(text("SELECT code FROM area WHERE code LIKE :root || '%' AND level >= :top"),
                             {"root": root, "top": top_level}).scalars())


def count_below(conn: Connection, root: str, level: int) -> int:
    """How many live areas under ``root`` sit deeper than ``level``."""
    return int(conn.execute(text("SELECT count(*) FROM area WHERE code LIKE :root || '%' AND level > :level"),
                            {"root": root, "level": level}).scalar_one())


def _area_columns(areas: gpd.GeoDataFrame) -> dict[str, list[object]]:
    """The ``AREA_COLUMNS`` of ``areas`` as lists; columns we do not know go into ``attrs``."""
    n = len(areas)
    columns = {c: areas[c].tolist() if c in areas else [None] * n for c in AREA_COLUMNS}
    extra = [c for c in areas.columns if c not in AREA_COLUMNS and c != areas.geometry.name
             and c not in _NOT_ATTRS and c != "attrs"]
    base = areas["attrs"].tolist() if "attrs" in areas else [None] * n  # e.g. restored from the archive
    columns["attrs"] = [json.dumps({**(b or {}), **{k: v for k, v in rec.items() if not pd.isna(v)}},
                                   ensure_ascii=False, default=str)
                        for b, rec in zip(base, areas[extra].to_dict("records"))]
    geoms = areas.geometry.to_numpy()
    columns["geom"] = ewkb_hex(geoms)
    columns["area_m2"] = shapely.area(to_metric(geoms, metric_crs(geoms))).tolist() if n else []
    return columns
