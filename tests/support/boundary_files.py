"""Boundary files as county offices hand them in, written by GDAL for the tests: the sample's
first township with Chinese field names, as a GeoPackage or a zipped GBK shapefile; and (written by
ezdxf) a CAD drawing as survey offices keep them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import ezdxf
import geopandas as gpd
import pyogrio
import shapely

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


def surveyed_drawing(frame: gpd.GeoDataFrame, path: Path, *, codes: str) -> Path:
    """``frame`` (projected, columns 编码 and 名称, single-part polygons) drawn as survey offices do: boundaries on layer “JJX” among closed
    house outlines (“房屋”, each with a house number inside, on “门牌”) and a frame year on “图框”
    inside every area, so code-like texts are many. The codes are where ``codes`` says: ``layer``
    TEXT on layer “WGBM注记”, ``attrib`` a block “网格属性” with tags DM (code) and MC (name), or
    ``xdata`` the boundary's own XDATA of application “SOUTH” (name first, then code)."""
    doc = ezdxf.new("R2000")
    doc.encoding = "gbk"
    msp = doc.modelspace()
    doc.appids.add("SOUTH")
    block = doc.blocks.new("网格属性")
    block.add_attdef("DM", (0, 0), dxfattribs={"height": 20})
    block.add_attdef("MC", (0, -30), dxfattribs={"height": 20})
    for i, (geom, code, name) in enumerate(zip(frame.geometry, frame["编码"], frame["名称"])):
        (polygon,) = shapely.get_parts(geom)
        outline = msp.add_lwpolyline(list(polygon.exterior.coords)[:-1], close=True, dxfattribs={"layer": "JJX"})
        inside = polygon.representative_point()
        house = shapely.box(inside.x + 50, inside.y + 50, inside.x + 70, inside.y + 65)
        if polygon.contains(house):
            msp.add_lwpolyline(list(house.exterior.coords)[:-1], close=True, dxfattribs={"layer": "房屋"})
            msp.add_text(f"{i + 1}", height=5, dxfattribs={"layer": "门牌"}).set_placement(
                (inside.x + 60, inside.y + 57)
            )
        msp.add_text("2024", height=10, dxfattribs={"layer": "图框"}).set_placement((inside.x - 40, inside.y - 40))
        if codes == "layer":
            msp.add_text(code, height=30, dxfattribs={"layer": "WGBM注记"}).set_placement((inside.x, inside.y))
            msp.add_text(name, height=30, dxfattribs={"layer": "WGMC注记"}).set_placement((inside.x, inside.y - 45))
        elif codes == "attrib":
            msp.add_blockref("网格属性", (inside.x, inside.y)).add_auto_attribs({"DM": code, "MC": name})
        else:
            outline.set_xdata("SOUTH", [(1000, name), (1000, code)])
    doc.saveas(path)
    return path
