"""Loading the sample county (files in ``data/``) into the database, through the same readers and
writers real uploads use."""

from __future__ import annotations

import datetime as dt
import hashlib
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
from gridmap.sample.files import CAMERAS_CSV, GPKG
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
    gpkg, cameras_csv = data_dir / GPKG, data_dir / CAMERAS_CSV
    for path in (gpkg, cameras_csv) if cameras else (gpkg,):
        if not path.exists():
            raise FileNotFoundError(f"sample file missing: {path} (run `gridmap sample generate`)")
    areas = pd.concat([read_areas(gpkg, layer=lv.key) for lv in LEVELS], ignore_index=True)
    areas = gpd.GeoDataFrame(areas, geometry="geometry", crs=STORAGE_SRID)
    info = VersionInfo(
        created_by="gridmap sample", file_name=gpkg.name, file_sha256=hashlib.sha256(gpkg.read_bytes()).hexdigest()
    )
    with engine.begin() as conn:  # one transaction: areas, cameras and assignment land together
        lock_areas_for_publish(conn)
        lock_subtree(conn, SAMPLE_COUNTY_CODE, "sample load")
        lock_areas_for_import(conn)
        replace_subtree(conn, SAMPLE_COUNTY_CODE, areas, info)
        # The county's cameras: by their id's centre code, their area, or (outside every area) the
        # county's outline.
        conn.execute(
            text("""
            DELETE FROM camera c
            WHERE c.device_id LIKE :county || '%' OR c.area_code LIKE :county || '%'
               OR (c.area_code IS NULL AND c.geom && (SELECT geom FROM area WHERE code = :county))"""),
            {"county": SAMPLE_COUNTY_CODE},
        )
        assign_cameras_to_areas(conn, root_code=SAMPLE_COUNTY_CODE)
        if cameras:
            county = county_of(conn, SAMPLE_COUNTY_CODE)
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
        record_change(conn, "sample_load", everything=True, root=SAMPLE_COUNTY_CODE)
    if history_days > 0:
        with engine.begin() as conn:  # after the load: area_stats holds the loaded figures
            write_history(conn, SAMPLE_COUNTY_CODE, history_end or today_in_china(), history_days)
