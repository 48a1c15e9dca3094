"""Reading area boundary layers into the canonical form (EPSG:4490, canonical column names)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely

from gridmap.config import STORAGE_SRID
from gridmap.io.fields import detect_fields

#: Canonical area fields and the column names counties use for them.
AREA_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "网格编码", "编码", "区划代码", "行政区划代码", "代码", "网格代码", "wgbm", "bm", "gridcode"),
    "name": ("name", "网格名称", "名称", "区划名称", "wgmc", "mc", "gridname"),
    "parent_code": ("parent_code", "上级编码", "上级网格编码", "父级编码", "上级代码", "parentcode", "sjbm", "pcode"),
    "level": ("level", "层级", "网格层级", "级别", "cj"),
    "kind": ("kind", "类型", "网格类型", "类别", "type"),
    "households": ("households", "户数", "总户数", "hs", "hh"),
    "population": ("population", "人口", "人口数", "总人口", "rk"),
    "worker_name": ("worker_name", "网格员", "网格员姓名", "负责人", "wgy"),
    "worker_phone": ("worker_phone", "联系电话", "网格员电话", "电话", "手机", "phone", "lxdh"),
}


def read_areas(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one polygon layer as canonical columns (see ``AREA_FIELD_ALIASES``) in EPSG:4490,
    every geometry a MultiPolygon. Columns not recognised are kept under their own names."""
    gdf = pyogrio.read_dataframe(path, layer=layer)
    if gdf.crs is None:
        raise ValueError(f"{path}: the layer has no CRS")
    mapping = detect_fields([c for c in gdf.columns if c != "geometry"], AREA_FIELD_ALIASES)
    gdf = gdf.rename(columns={column: canonical for canonical, column in mapping.items()})
    gdf = gdf.to_crs(STORAGE_SRID)
    geoms = gdf.geometry.to_numpy()
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    geoms[single] = shapely.multipolygons(geoms[single, None])
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=STORAGE_SRID))
