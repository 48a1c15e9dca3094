"""Loading the sample county (files in ``data/``) into the database, through the same readers and
writers real uploads use."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, text

from gridmap.config import STORAGE_SRID
from gridmap.coverage.snapshots import today_in_china, write_history
from gridmap.db.areas import VersionInfo, replace_subtree
from gridmap.db.cameras import assign_cameras_to_areas
from gridmap.db.locks import lock_areas_for_import, lock_areas_for_publish, lock_subtree
from gridmap.io.boundaries import read_areas
from gridmap.io.cameras import read_camera_file
from gridmap.levels import LEVELS
from gridmap.sample.files import CAMERAS_CSV, CITY_DIR, CITY_MANIFEST, GPKG
from gridmap.services.cameras import county_of, import_camera_table
from gridmap.services.changes import record_change

SAMPLE_COUNTY_CODE = "411628"
#: Days of made-up coverage history the sample load writes (so /embed's trend has something to show).
HISTORY_DAYS = 30


def load_sample(
    engine: Engine,
    data_dir: Path,
    *,
    cameras: bool = True,
    history_days: int = HISTORY_DAYS,
    history_end: dt.date | None = None,
) -> None:
    """Restore exactly the sample county: its areas as one new published version and its camera
    list as generated (unless ``cameras`` is False). The county's cameras are replaced, not
    updated: cameras imported since are removed and every online flag, report time and last-seen
    time is the sample's, so demos, benchmarks and acceptance checks start from the same state.

    Then ``history_days`` daily coverage snapshots of the county's areas ending at ``history_end``
    (default today in China; 0 days: none), a deterministic ramp whose last day is the loaded
    figures exactly (:func:`gridmap.coverage.snapshots.write_history`)."""
    _load_county(
        engine,
        SAMPLE_COUNTY_CODE,
        data_dir / GPKG,
        data_dir / CAMERAS_CSV if cameras else None,
        history_days=history_days,
        history_end=history_end,
        missing_hint="gridmap sample generate",
    )


def load_city(
    engine: Engine,
    data_dir: Path,
    *,
    history_days: int = HISTORY_DAYS,
    history_end: dt.date | None = None,
) -> list[str]:
    """Restore the sample city: 鹿邑 as :func:`load_sample` does, then each neighbour listed in
    ``data_dir/city/manifest.json`` as its own county subtree (areas, cameras imported into that
    county, coverage history), each in its own transaction. Returns the county codes loaded."""
    manifest_path = data_dir / CITY_DIR / CITY_MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"sample city missing: {manifest_path} (run `gridmap sample generate --city`)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    load_sample(engine, data_dir, history_days=history_days, history_end=history_end)
    codes = [SAMPLE_COUNTY_CODE]
    for county in manifest["counties"]:
        code = county["code"]
        _load_county(
            engine,
            code,
            data_dir / CITY_DIR / county["files"]["areas"],
            data_dir / CITY_DIR / county["files"]["cameras"],
            history_days=history_days,
            history_end=history_end,
            missing_hint="gridmap sample generate --city",
        )
        codes.append(code)
    return codes


def _load_county(
    engine: Engine,
    code: str,
    gpkg: Path,
    cameras_csv: Path | None,
    *,
    history_days: int,
    history_end: dt.date | None,
    missing_hint: str,
) -> None:
    """One county's subtree (``code``) from ``gpkg`` and its cameras from ``cameras_csv`` (None:
    areas only), replacing what the database had for it; then its coverage history."""
    for path in (gpkg, cameras_csv):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"sample file missing: {path} (run `{missing_hint}`)")
    areas = pd.concat([read_areas(gpkg, layer=lv.key) for lv in LEVELS], ignore_index=True)
    areas = gpd.GeoDataFrame(areas, geometry="geometry", crs=STORAGE_SRID)
    info = VersionInfo(
        created_by="gridmap sample", file_name=gpkg.name, file_sha256=hashlib.sha256(gpkg.read_bytes()).hexdigest()
    )
    with engine.begin() as conn:  # one transaction: areas, cameras and assignment land together
        lock_areas_for_publish(conn)
        lock_subtree(conn, code, "sample load")
        lock_areas_for_import(conn)
        replace_subtree(conn, code, areas, info)
        # The county's cameras: by their id's centre code, their area, or (outside every area) the
        # county's outline.
        conn.execute(
            text("""
            DELETE FROM camera c
            WHERE c.device_id LIKE :county || '%' OR c.area_code LIKE :county || '%'
               OR (c.area_code IS NULL AND ST_Intersects((SELECT geom FROM area WHERE code = :county), c.geom))"""),
            {"county": code},
        )
        assign_cameras_to_areas(conn, root_code=code)
        if cameras_csv is not None:
            county = county_of(conn, code)
            table = read_camera_file(cameras_csv, county_code=county.code, extent=county.extent)
            if table.rejected:
                raise ValueError(f"{cameras_csv.name}: {len(table.rejected)} rows rejected, e.g. {table.rejected[0]}")
            import_camera_table(
                conn,
                table,
                county,
                file_name=cameras_csv.name,
                file_sha256=hashlib.sha256(cameras_csv.read_bytes()).hexdigest(),
                created_by="gridmap sample",
            )
        record_change(conn, "sample_load", everything=True, root=code)
    if history_days > 0:
        with engine.begin() as conn:  # after the load: area_stats holds the loaded figures
            write_history(conn, code, history_end or today_in_china(), history_days)
