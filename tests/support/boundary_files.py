"""Boundary files as county offices hand them in, written by GDAL for the tests: the sample's
first township with Chinese field names, as a GeoPackage or a zipped GBK shapefile."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio

from gridmap.sample.generate import CHINESE_FIELDS

#: Canonical → the Chinese column names county files use (as in the sample).
CHINESE = CHINESE_FIELDS


def write_gpkg(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """One layer with every level, Chinese field names, EPSG:4490 — as GDAL writes it."""
    out = gdf.to_crs(4490).rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]]
    pyogrio.write_dataframe(out, path, layer="网格", driver="GPKG")
    return path


def zip_shapefile(gdf: gpd.GeoDataFrame, folder: Path, archive: Path, *, leave_out: tuple[str, ...] = ()) -> Path:
    """``gdf`` (Chinese field names) as a GBK shapefile written by GDAL, zipped without the
    sidecar files in ``leave_out`` (e.g. ".cpg", ".prj")."""
    folder.mkdir()
    pyogrio.write_dataframe(
        gdf.rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]], folder / "网格.shp", encoding="GBK"
    )
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            if part.suffix not in leave_out:
                zf.write(part, part.name)
    return archive


def findings(report) -> list[tuple[str, set[str], float]]:
    return [(f["kind"], set(f["codes"]), f["area_m2"]) for f in report.to_dict()["issues"]]
