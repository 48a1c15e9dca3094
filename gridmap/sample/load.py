"""Loading the sample county (files in ``data/``) into the database, through the same readers and
writers real uploads use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine

from gridmap.config import STORAGE_SRID
from gridmap.db.areas import VersionInfo, replace_subtree
from gridmap.db.cameras import assign_cameras_to_areas, upsert_cameras
from gridmap.io.boundaries import read_areas
from gridmap.io.cameras import read_camera_table
from gridmap.levels import LEVELS
from gridmap.sample.files import CAMERAS_CSV, GPKG

SAMPLE_COUNTY_CODE = "411628"


def load_sample(engine: Engine, data_dir: Path) -> None:
    """Replace the sample county's areas (one published version) and upsert its cameras."""
    gpkg, cameras_csv = data_dir / GPKG, data_dir / CAMERAS_CSV
    for path in (gpkg, cameras_csv):
        if not path.exists():
            raise FileNotFoundError(f"sample file missing: {path} (run `gridmap sample generate`)")
    areas = pd.concat([read_areas(gpkg, layer=lv.key) for lv in LEVELS], ignore_index=True)
    areas = gpd.GeoDataFrame(areas, geometry="geometry", crs=STORAGE_SRID)
    cameras = read_camera_table(cameras_csv)
    info = VersionInfo(created_by="gridmap sample", file_name=gpkg.name,
                       file_sha256=hashlib.sha256(gpkg.read_bytes()).hexdigest())
    with engine.begin() as conn:  # one transaction: areas, cameras and assignment land together
        replace_subtree(conn, SAMPLE_COUNTY_CODE, areas, info)
        upsert_cameras(conn, cameras, raw_crs="cgcs2000")
        assign_cameras_to_areas(conn)
