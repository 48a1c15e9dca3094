"""Names of the sample county files in the data directory (no heavy imports: the loader and the
tests use these without the generator's raster dependencies)."""

GPKG = "luyi_grids.gpkg"
SHAPEFILE_ZIP = "luyi_grids_gk38.zip"
GEOJSON_DIR = "luyi_geojson"
CAMERAS_CSV = "luyi_cameras.csv"
CAMERAS_XLSX = "luyi_cameras.xlsx"
MANIFEST = "manifest.json"

#: The sample city's generated neighbours of 鹿邑 (``gridmap sample generate --city``), in ``data/city/``.
CITY_DIR = "city"
CITY_MANIFEST = "manifest.json"


def city_gpkg(code: str) -> str:
    return f"{code}_grids.gpkg"


def city_cameras_csv(code: str) -> str:
    return f"{code}_cameras.csv"
