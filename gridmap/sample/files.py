"""Names of the sample county files in the data directory (no heavy imports: the loader and the
tests use these without the generator's raster dependencies)."""

GPKG = "luyi_grids.gpkg"
SHAPEFILE_ZIP = "luyi_grids_gk38.zip"
GEOJSON_DIR = "luyi_geojson"
CAMERAS_CSV = "luyi_cameras.csv"
CAMERAS_XLSX = "luyi_cameras.xlsx"
MANIFEST = "manifest.json"
