"""Generate the sample county files in ``data/`` (deterministic; run ``gridmap sample generate``).

Writes the files county staff actually bring:

- ``luyi_grids.gpkg``: GeoPackage, EPSG:4490, one layer per level (county … microgrid), Chinese fields.
- ``luyi_grids_gk38.zip``: zipped Shapefiles, CGCS2000 3° Gauss-Krüger zone 38 (EPSG:4526), Chinese
  field names, attributes encoded in GBK (with a ``.cpg`` saying so), one ``.shp`` per level.
- ``luyi_geojson/<level>.geojson``: GeoJSON, EPSG:4490, English field names.
- ``luyi_cameras.csv`` (UTF-8 with BOM, as Excel writes it) and ``luyi_cameras.xlsx``: the camera register.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from gridmap.config import SAMPLE_PROJECTED_EPSG, STORAGE_SRID
from gridmap.levels import LEVELS
from gridmap.sample.cameras import build_cameras
from gridmap.sample.county import CountySpec, build_county
from gridmap.sample.files import CAMERAS_CSV, CAMERAS_XLSX, CITY_DIR, GEOJSON_DIR, GPKG, MANIFEST, SHAPEFILE_ZIP

#: Field names in the GeoPackage and Shapefile (each fits the Shapefile's 10-byte limit in GBK).
CHINESE_FIELDS = {
    "code": "编码",
    "name": "名称",
    "parent_code": "上级编码",
    "level": "层级",
    "kind": "类型",
    "households": "户数",
    "worker_name": "网格员",
    "worker_phone": "联系电话",
}
# Fixed timestamps so regenerating gives byte-identical GeoPackage, XLSX and zip files.
_FIXED_TIME = dt.datetime(2026, 1, 1, 0, 0, 0)
#: The "last update" date in each .dbf header (bytes 1–3). The Shapefile driver writes today's date
#: there and does not read OGR_CURRENT_DATE; its layer option DBF_DATE_LAST_UPDATE pins it. This is
#: the date the committed files carry (they were written before it was pinned).
_DBF_DATE = "2026-11-21"


def generate(out_dir: Path, spec: CountySpec | None = None) -> dict[str, object]:
    """Build the county and cameras (``spec``: default the sample county's) and write every file
    into ``out_dir``; returns the manifest."""
    spec = spec or CountySpec()
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = build_county(spec)
    cameras = build_cameras(frames, seed=spec.seed + 2)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    try:
        _write_gpkg(frames, out_dir / GPKG)
        _write_shapefile_zip(frames, out_dir / SHAPEFILE_ZIP)
        _write_geojson(frames, out_dir / GEOJSON_DIR)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    cameras.to_csv(out_dir / CAMERAS_CSV, index=False, encoding="utf-8-sig")
    _write_xlsx(cameras, out_dir / CAMERAS_XLSX)
    manifest = _manifest(frames, cameras, out_dir)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def _chinese(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.rename(columns=CHINESE_FIELDS)


def _write_gpkg(frames: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    path.unlink(missing_ok=True)
    for lv in LEVELS:
        gdf = _chinese(frames[lv.key]).to_crs(STORAGE_SRID)
        pyogrio.write_dataframe(
            gdf, path, layer=lv.key, driver="GPKG", promote_to_multi=True, layer_options={"IDENTIFIER": f"{lv.name_zh}"}
        )


def _write_shapefile_zip(frames: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for lv in LEVELS:
            gdf = _chinese(frames[lv.key]).to_crs(SAMPLE_PROJECTED_EPSG)
            pyogrio.write_dataframe(
                gdf,
                Path(tmp) / f"{lv.key}.shp",
                driver="ESRI Shapefile",
                encoding="GBK",
                layer_options={"DBF_DATE_LAST_UPDATE": _DBF_DATE},
            )
        _write_zip(path, [(f.name, f.read_bytes()) for f in sorted(Path(tmp).iterdir())])


def _write_geojson(frames: dict[str, gpd.GeoDataFrame], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for lv in LEVELS:
        path = out / f"{lv.key}.geojson"
        path.unlink(missing_ok=True)
        # 9 decimals of a degree ≈ 0.1 mm: exact enough that shared vertices stay shared.
        pyogrio.write_dataframe(
            frames[lv.key].to_crs(STORAGE_SRID),
            path,
            driver="GeoJSON",
            layer_options={"COORDINATE_PRECISION": 9, "WRITE_BBOX": "NO"},
        )


def _write_xlsx(cameras: pd.DataFrame, path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        cameras.to_excel(writer, index=False, sheet_name="摄像头点位")
        props = writer.book.properties
        props.created = _FIXED_TIME
        props.creator = "gridmap sample generator"
    # openpyxl stamps the save time into docProps/core.xml and every zip entry: pin both.
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as zf:
        entries = [(info.filename, zf.read(info.filename)) for info in zf.infolist()]
    modified = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
    _write_zip(
        path,
        [
            (name, modified.sub(rb"\g<1>" + stamp + rb"\g<2>", data) if name == "docProps/core.xml" else data)
            for name, data in entries
        ],
    )


def _write_zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    """A zip whose bytes depend only on ``entries`` (fixed timestamps)."""
    path.unlink(missing_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def _manifest(frames: dict[str, gpd.GeoDataFrame], cameras: pd.DataFrame, out_dir: Path) -> dict[str, object]:
    installed = int((cameras["安装状态"] == "已安装").sum())
    online = int((cameras["在线状态"] == "在线").sum())
    files = sorted(
        p
        for p in out_dir.rglob("*")
        if p.is_file() and p.name not in {MANIFEST, "README.md"} and p.relative_to(out_dir).parts[0] != CITY_DIR
    )  # the sample city's files (``gridmap sample generate --city``) have their own manifest
    return {
        "county": {"code": frames["county"]["code"].iloc[0], "name": frames["county"]["name"].iloc[0]},
        "areas": {lv.key: len(frames[lv.key]) for lv in LEVELS},
        "area_km2": round(float(frames["county"].geometry.area.sum()) / 1e6, 3),
        "households": int(frames["microgrid"]["households"].sum()),
        "cameras": {"planned": len(cameras), "installed": installed, "online": online},
        "sha256": {str(p.relative_to(out_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
