"""Settings: every knob gridmap reads from the environment, in one class (pydantic-settings), so
the rest of the code never reads ``os.environ`` itself. Each field is an environment variable
``GRIDMAP_<NAME>``; a value that cannot be used stops the program at start with a message naming
the variable.

Database
  - ``GRIDMAP_DATABASE_URL``: an existing PostGIS to use (production), as a role that owns the
    database's tables and is not a superuser (``gridmap db grant-sql`` prints the script a DBA runs
    to make it). When unset, ``gridmap db up`` manages a project-local PostgreSQL cluster and the URL
    is derived from its state file: the cluster's role ``gridmap_app``, likewise not a superuser.
  - ``GRIDMAP_HOME``: where project-local state lives (the local cluster, its password, logs).
    Default: ``<checkout>/.gridmap`` when running from a source checkout, else ``~/.local/share/gridmap``.
  - ``GRIDMAP_PG_PORT``: force the local cluster's port (otherwise a free port is chosen once and kept).
  - ``GRIDMAP_DATA_DIR``: the sample county files. Default: ``<checkout>/data``.
  - ``GRIDMAP_INDEX_DIR``: where built camera-assignment indexes are kept, one file per database,
    county and boundary state (``services.cameras.leaf_index``; a few tens of MB each, the newest
    few kept). Default: ``<GRIDMAP_HOME>/indexes``.

Service
  - ``GRIDMAP_READ_ACCESS``: ``open`` (default: read endpoints, tiles and pages need no token) or
    ``token`` (they need a viewer, editor or admin token; tiles and /embed also accept an embed token).
  - ``GRIDMAP_CORS_ORIGINS``: which other origins' pages may read the read-only routes (tiles,
    TileJSON, the read API, /ogc, /static/vendor) with GET/HEAD (``gridmap.api.cors``): ``*``
    (default: any), a comma list of origins (``https://screen.example.cn, http://10.1.2.3:8080``),
    or empty / ``none`` (off). Writes are never open to other origins.
  - Basemaps (chosen in /map's side panel, ``?basemap=`` on /embed; see :func:`offered_basemaps`).
    None by default: the pages are fully offline.

    - ``GRIDMAP_TIANDITU_KEY``: a 天地图 browser key; when set, 天地图矢量 (``vec_w`` + its labels
      ``cva_w``) and 天地图影像 (``img_w`` + ``cia_w``) are offered, the Web Mercator layers (the
      pages are EPSG:3857; CGCS2000 and WGS84 differ by less than 1 m). The key is written only into
      their tile URLs.
    - ``GRIDMAP_BASEMAPS``: intranet basemaps, a JSON list of ``{"id", "name", "url", "labels"?,
      "attribution"?, "subdomains"?, "max_native_zoom"?}``; ``url`` (and ``labels``, a layer drawn
      above the areas) an http(s) XYZ template (``{z}/{x}/{y}``, optional ``{s}``) or a WMTS one,
      KVP or RESTful, with ``{TileMatrix}``/``{TileRow}``/``{TileCol}`` (any case).
    - ``GRIDMAP_BASEMAP_URL``, ``GRIDMAP_BASEMAP_ATTRIBUTION``: one more XYZ basemap (id ``basemap``,
      named by its attribution, default 底图), as before: the default one when it is set.
    - ``GRIDMAP_BASEMAP_DEFAULT``: the id shown on first load (``none``: no basemap; default ``none``,
      or ``basemap`` when ``GRIDMAP_BASEMAP_URL`` is set).
    - ``GRIDMAP_BASEMAP_CUSTOM``: whether a reader may type an XYZ/WMTS URL of their own in /map
      (default true; the pages' policy then admits images from any http(s) host; 0: only the
      configured hosts).
  - ``GRIDMAP_MAX_UPLOAD_MB``: largest file the upload endpoints accept (default 200).
  - ``GRIDMAP_MAX_UNZIPPED_MB``, ``GRIDMAP_MAX_ZIP_RATIO``, ``GRIDMAP_MAX_ARCHIVE_MEMBERS``: what an
    uploaded archive (zipped shapefiles, KMZ, XLSX) may unpack to in all (default 2048 MB), how much
    one member may expand (default 200×: real shapefiles and sheets stay far below, zip bombs far
    above) and how many files it may hold (default 10,000); checked from the archive's directory
    before anything is extracted (``gridmap.io.archives``).
  - ``GRIDMAP_MAX_FEATURES``, ``GRIDMAP_MAX_FEATURE_VERTICES``, ``GRIDMAP_MAX_FILE_VERTICES``: most
    features in a boundary file (default 500,000; the sample county has 12,195), vertices in one
    feature (default 500,000; its largest has 2,318) and in the whole file (default 10,000,000; it
    has 415,126); counted as the file is read, before any validation (``gridmap.io.boundaries``).
  - ``GRIDMAP_MAX_REPORT_ISSUES``: most issues a validation report lists one by one (default 2,000);
    the rest are counted by kind (``gridmap.geometry.report``).
  - ``GRIDMAP_WORK_TIMEOUT``, ``GRIDMAP_WORK_MEMORY_MB``: an upload is read and validated in a child
    process that is stopped after this many seconds of wall-clock time (default 180; the sample
    county takes ~3 s) or when it needs more address space than this (default 4096 MB; the sample
    county needs ~330 MB resident), answering 422 ``validation_timeout`` / ``too_complex``
    (``gridmap.workers``).
  - ``GRIDMAP_CENTRE_CODES``: camera id centre codes per county, a JSON object
    (``{"411628": ["411628", "41160000"]}``, see :func:`parse_centre_codes`): the prefixes a
    camera id of that county may start with (default: the county's own 6-digit code). Imports
    check each camera's id against the county its point lies in.
  - ``GRIDMAP_REGION_NAMES``: a CSV of region names (columns 代码/名称 or code/name, UTF-8 or GBK;
    2-digit province and 4-digit city codes) that override and extend the built-in
    ``gridmap.levels.REGION_NAMES`` (see :func:`parse_region_names`); applied to the region rows
    whenever they are synced (``gridmap.db.regions``).
  - ``GRIDMAP_VIEW_KINDS``: what each kind of camera sees, a JSON object overriding the defaults
    ``{"bullet": {"angle": 80, "range": 50}, "dome": {"angle": 360, "range": 80},
    "half_dome": {"angle": 100, "range": 20}}`` (degrees, metres; see :func:`parse_view_kinds`),
    used by the field-of-view figures (``gridmap.geometry.view``).
  - ``GRIDMAP_PLAN_MAX_BUDGET`` (5,000 cameras), ``GRIDMAP_PLAN_TIME_LIMIT`` (60 s per solve),
    ``GRIDMAP_PLAN_SITE_SPACING_M`` (200 m), ``GRIDMAP_PLAN_DEMAND_SPACING_M`` (10 m),
    ``GRIDMAP_PLAN_MAX_NONZEROS`` (3,000,000): the camera placement plan (``gridmap.coverage.plan``);
    ``GRIDMAP_PLAN_API_TIMEOUT`` (25 s): longest plan ``POST /api/v1/plan`` computes (then 422).
  - ``GRIDMAP_MAX_STATUS_MB``: largest body of one status push (``POST /api/v1/cameras/status``,
    default 20 MB: ~200,000 reports as JSON). It is parsed in the server process, so it is kept far
    below the upload limit: a JSON document takes ~10× its size in memory once parsed.
  - ``GRIDMAP_UPLOAD_TMP_DIR``: where uploads are written and unpacked while they are worked on
    (default: the system's temporary directory); each upload's directory is removed when its
    request ends, whatever happened to the work.
  - ``GRIDMAP_UPLOAD_WORKERS``, ``GRIDMAP_UPLOADS_PER_TOKEN``: how many uploads the server works on
    at once (default 2) and how many of them one token may have in flight (default 2); beyond
    either, 429 with ``Retry-After``.
  - ``GRIDMAP_EXPORT_WORKERS``: how many bulk exports (``/api/v1/exports/…``) the server writes at
    once (default 2; the sample county's 10,311 micro-grids take 0.4–1.5 s and ~60 MB each); beyond it,
    429 ``too_many_exports`` with ``Retry-After``. Their files are written under
    ``GRIDMAP_UPLOAD_TMP_DIR`` too and removed before the answer is sent.
  - ``GRIDMAP_MAX_TABLE_ROWS``, ``GRIDMAP_MAX_TABLE_COLUMNS``: the most rows (default 500,000; a
    city's register has ~100,000 cameras) and columns (default 256; real registers have fewer than
    100) of one camera register or status report: an XLSX sheet (its declared ``<dimension>``
    checked before any cell is read, then the cells as they are streamed), a CSV (counted while
    reading) or a JSON list of reports (``gridmap.io.tables``). Beyond them: 413 ``too_many_rows`` /
    ``too_many_columns``.
  - ``GRIDMAP_MAX_REPORT_REJECTED``: rejected rows listed in full in an import's or a status
    report's answer (and in the stored ``upload.report``); the rest are counted, in all and per code
    (default 1,000). ``gridmap cameras import|status --rejected FILE`` writes every one.

  - ``GRIDMAP_OGC_MAX_LIMIT``: the most features one page of ``/ogc/collections/{id}/items`` and of
    ``/api/v1/areas`` may hold (``limit``; default 20,000: a whole county's 10,311 micro-grids or
    10,520 cameras in one request). Advertised as the ``limit`` maximum in the OpenAPI documents,
    where GDAL and QGIS read it to size their pages.

Live data
  - ``GRIDMAP_STATUS_TTL``: seconds after its last online report a camera counts as offline (the
    service sets it offline, which moves the figures like any report). GB/T 28181 platforms mark a
    channel offline after 3 missed 60 s keep-alives: 180 matches them. Default 0: off (a camera stays
    online until a report says otherwise).
  - ``GRIDMAP_TILE_CHECK_INTERVAL``: seconds between the tile cache's looks at the data revision
    (default 1). Tile URLs that name a revision (``?v=``, as the pages write them) are always
    answered at that revision or newer, whatever this is; for clients that do not name one it is
    how stale a tile may be, and the trade: under thousands of status changes a second, 1 s kept
    ~84–92 % of a screen's tiles cached, 2 s ~94 % (``benchmarks/writes.py``).
  - ``GRIDMAP_SNAPSHOT_CHECK``: seconds between the server's looks at whether today's coverage
    snapshot (China time) exists; when it does not, the server takes it (one process at a time, once
    a day: the trend on /embed and ``/api/v1/coverage/trend``). Default 600; 0: off (take them with
    ``gridmap coverage snapshot`` from cron instead).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridmap.errors import GridmapError

#: Storage CRS of every geometry in the database: CGCS2000 geographic (lon/lat, degrees).
STORAGE_SRID = 4490
#: Default projected CRS for metric work on the sample county: CGCS2000 3-degree Gauss-Krüger
#: zone 38 (central meridian 114°E), easting carries the zone prefix "38".
SAMPLE_PROJECTED_EPSG = 4526

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None
_DEFAULT_HOME = _CHECKOUT / ".gridmap" if _CHECKOUT else Path.home() / ".local/share/gridmap"

#: ``open``: reading needs no token; ``token``: reading needs one (see the module docstring).
READ_ACCESS_MODES = ("open", "token")
_MAX_SECONDS = 10**9


class Settings(BaseSettings):
    """The settings (see the module docstring for each). Immutable: tests make variants with
    ``settings.model_copy(update={...})``."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", frozen=True, extra="ignore", populate_by_name=True)

    # Database
    database_url: str | None = Field(default=None, repr=False, description="An existing PostGIS (production).")
    home: Path = Field(default=_DEFAULT_HOME, description="Project-local state (the local cluster).")
    pg_port: int | None = Field(default=None, ge=1, le=65535, description="Port of the local cluster.")
    data_dir: Path = Field(
        default_factory=lambda: _CHECKOUT / "data" if _CHECKOUT else Path.cwd() / "data",
        description="The sample county files.",
    )
    index_dir: Path | None = Field(default=None, description="Kept leaf indexes (default <home>/indexes).")
    # Service
    read_access: Literal["open", "token"] = Field(default="open", description="open | token")
    cors_origins: str = Field(default="*", description="* | comma list of origins | none")
    basemap_url: str | None = Field(default=None, description="XYZ basemap template for the pages.")
    basemap_attribution: str | None = Field(default=None, description="The basemap's attribution.")
    tianditu_key: str | None = Field(default=None, repr=False, description="A 天地图 browser key.")
    basemaps: str = Field(default="", description="Intranet basemaps, a JSON list.")
    basemap_default: str | None = Field(default=None, description="Basemap id shown first (none: no basemap).")
    basemap_custom: bool = Field(default=True, description="Whether a reader may type a basemap URL.")
    max_upload_mb: float = Field(default=200.0, gt=0, description="Largest upload, MB.")
    max_unzipped_mb: float = Field(default=2048.0, gt=0, description="Most an archive may unpack to, MB.")
    max_zip_ratio: float = Field(default=200.0, gt=1, description="Most one archive member may expand.")
    max_archive_members: int = Field(default=10_000, ge=1, description="Most files in one archive.")
    max_features: int = Field(default=500_000, ge=1, description="Most features in a boundary file.")
    max_feature_vertices: int = Field(default=500_000, ge=4, description="Most vertices in one feature.")
    max_file_vertices: int = Field(default=10_000_000, ge=4, description="Most vertices in a boundary file.")
    max_report_issues: int = Field(default=2_000, ge=1, description="Most issues listed one by one in a report.")
    work_timeout_s: float = Field(
        default=180.0, gt=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_WORK_TIMEOUT", description="Seconds."
    )
    work_memory_mb: float = Field(default=4096.0, ge=256, description="Address space of a worker, MB.")
    max_status_mb: float = Field(default=20.0, gt=0, description="Largest status push, MB.")
    upload_tmp_dir: Path | None = Field(default=None, description="Where uploads are unpacked.")
    upload_workers: int = Field(default=2, ge=1, description="Uploads worked on at once.")
    uploads_per_token: int = Field(default=2, ge=1, description="Uploads one token may have in flight.")
    export_workers: int = Field(default=2, ge=1, description="Bulk exports written at once.")
    # Tables (camera registers, status reports) and the reports about them
    max_table_rows: int = Field(default=500_000, ge=1, description="Most rows of one sheet, CSV or JSON list.")
    max_table_columns: int = Field(default=256, ge=1, description="Most columns of one sheet or CSV.")
    max_report_rejected: int = Field(default=1_000, ge=0, description="Rejected rows listed in full in a report.")
    body_idle_s: float = Field(
        default=30.0,
        gt=0,
        lt=_MAX_SECONDS,
        validation_alias="GRIDMAP_BODY_IDLE_TIMEOUT",
        description="Seconds a request body may stall (no bytes) before the request is answered 408.",
    )
    ogc_max_limit: int = Field(default=20_000, ge=1, le=1_000_000, description="Most features in one page.")
    # Live data
    status_ttl_s: float = Field(
        default=0.0, ge=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_STATUS_TTL", description="Seconds; 0 = off."
    )
    tile_check_interval_s: float = Field(
        default=1.0, ge=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_TILE_CHECK_INTERVAL", description="Seconds."
    )
    snapshot_check_s: float = Field(
        default=600.0, ge=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_SNAPSHOT_CHECK", description="Seconds; 0 = off."
    )
    centre_codes: str = Field(default="", description="Camera id centre codes per county, a JSON object.")
    region_names: Path | None = Field(default=None, description="CSV of region names (代码,名称).")
    view_kinds: str = Field(default="", description="Camera views per kind (angle°, range m), a JSON object.")
    # The camera placement plan (gridmap.coverage.plan)
    plan_max_budget: int = Field(default=5_000, ge=1, le=1_000_000, description="Most cameras one plan places.")
    plan_time_limit_s: float = Field(
        default=60.0, gt=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_PLAN_TIME_LIMIT", description="Seconds."
    )
    plan_site_spacing_m: float = Field(default=200.0, ge=10, le=5_000, description="Metres between auto sites.")
    plan_demand_spacing_m: float = Field(default=10.0, ge=1, le=100, description="Metres between demand points.")
    plan_max_nonzeros: int = Field(default=3_000_000, ge=1, description="Model size above which greedy is used.")
    plan_api_timeout_s: float = Field(
        default=25.0, gt=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_PLAN_API_TIMEOUT", description="Seconds."
    )

    @field_validator(
        "database_url",
        "basemap_url",
        "basemap_attribution",
        "tianditu_key",
        "basemap_default",
        "pg_port",
        "upload_tmp_dir",
        "region_names",
        "index_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("read_access", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() or "open" if isinstance(value, str) else value

    @field_validator("cors_origins", mode="after")
    @classmethod
    def _origins(cls, value: str) -> str:
        return ",".join(cors_origins(value) or ())  # "" when off

    @field_validator("basemap_url", mode="after")
    @classmethod
    def _basemap_url(cls, value: str | None) -> str | None:
        return None if value is None else tile_template(value)

    @field_validator("tianditu_key", mode="after")
    @classmethod
    def _tianditu_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{8,64}", value.strip()):
            raise ValueError("天地图密钥应为 8–64 位字母或数字")
        return None if value is None else value.strip()

    @field_validator("basemaps", mode="after")
    @classmethod
    def _basemaps(cls, value: str) -> str:
        parse_basemaps(value)
        return value

    @field_validator("centre_codes", mode="after")
    @classmethod
    def _centre_codes(cls, value: str) -> str:
        parse_centre_codes(value)
        return value

    @field_validator("view_kinds", mode="after")
    @classmethod
    def _view_kinds(cls, value: str) -> str:
        parse_view_kinds(value)
        return value

    @field_validator("region_names", mode="after")
    @classmethod
    def _region_names(cls, value: Path | None) -> Path | None:
        if value is not None:
            parse_region_names(value)
        return value

    @field_validator("basemap_default", mode="after")
    @classmethod
    def _basemap_default(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not {"basemaps", "basemap_url", "tianditu_key"} <= info.data.keys():
            return value  # (an error in those is reported on its own)
        ids = [b.id for b in _offered(info.data["basemap_url"], None, info.data["tianditu_key"], info.data["basemaps"])]
        if value != NO_BASEMAP and value not in ids:
            raise ValueError(f"没有这个底图（可选 {', '.join([NO_BASEMAP, *ids])}）")
        return value

    @field_validator("home", "data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def local_cluster_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def leaf_index_dir(self) -> Path:
        return (self.index_dir or self.home / "indexes").expanduser().resolve()


_ORIGIN = re.compile(r"^https?://[^/\s?#@]+$")


def cors_origins(value: str) -> tuple[str, ...] | None:
    """``GRIDMAP_CORS_ORIGINS`` as origins: ``("*",)`` for any, a tuple of lower-case
    ``scheme://host[:port]`` (a trailing ``/`` dropped), or None when off (empty, ``none``, ``off``).
    Raises ``ValueError`` for an entry that is not an origin (a path, a bare host name)."""
    entries = [e.strip().lower().rstrip("/") for e in value.split(",") if e.strip()]
    if not entries or entries in (["none"], ["off"]):
        return None
    if "*" in entries:
        return ("*",)
    bad = [e for e in entries if not _ORIGIN.match(e)]
    if bad:
        raise ValueError(f"不是来源（应为 * 或 scheme://主机[:端口]，逗号分隔）：{', '.join(bad)}")
    return tuple(dict.fromkeys(entries))


# ------------------------------------------------------------------------------------ basemaps

#: The basemap id that means "no basemap" (the offline default), and the one of a reader's own URL.
NO_BASEMAP = "none"
CUSTOM_BASEMAP = "custom"
#: 天地图's Web Mercator (``_w``) WMTS layers, KVP; ``{layer}`` e.g. ``vec``, subdomains t0–t7.
TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
TIANDITU_ATTRIBUTION = "天地图"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_WMTS_NAMES = {"tilematrix": "z", "tilerow": "y", "tilecol": "x", "z": "z", "x": "x", "y": "y", "-y": "-y", "s": "s"}
_HOST = re.compile(r"^[A-Za-z0-9.\-{}\[\]:]+$")
_BASEMAP_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Basemap:
    """One basemap the pages offer: ``url`` (and ``labels``, a layer drawn above the areas) are
    Leaflet tile templates in Web Mercator (EPSG:3857 tiles: ``{z}``, ``{x}``, ``{y}``, optional
    ``{s}`` from ``subdomains``); ``max_native_zoom``: the deepest zoom level the server has tiles
    for (deeper, its tiles are scaled up)."""

    id: str
    name: str
    url: str
    labels: str | None = None
    attribution: str = "底图"
    subdomains: str = "abc"
    max_native_zoom: int = 18


def tile_template(url: str) -> str:
    """``url`` as a Leaflet tile template: WMTS placeholders ``{TileMatrix}``, ``{TileRow}``,
    ``{TileCol}`` (any case) become ``{z}``, ``{y}``, ``{x}``. Raises ``ValueError`` (in Chinese) for
    anything but an http(s) URL with a host and the ``{z}``, ``{x}``, ``{y}`` (or ``{-y}``) of a
    tile, or with another placeholder than those and ``{s}``."""
    url = url.strip()
    unknown: list[str] = []

    def name(match: re.Match) -> str:
        key = _WMTS_NAMES.get(match.group(1).strip().lower())
        if key is None:
            unknown.append(match.group(0))
            return match.group(0)
        return "{" + key + "}"

    out = _PLACEHOLDER.sub(name, url)
    scheme, _, rest = out.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if scheme.lower() not in ("http", "https") or not host or not _HOST.match(host) or re.search(r"[\s'\"<>\\]", out):
        raise ValueError(f"底图地址应为 http(s) 地址：{url[:200]}")
    if unknown:
        raise ValueError(
            f"底图地址含未知的占位符 {', '.join(unknown)}（可用 {{z}} {{x}} {{y}} {{s}} 或 WMTS 的 "
            f"{{TileMatrix}} {{TileRow}} {{TileCol}}）：{url[:200]}"
        )
    if not ("{z}" in out and "{x}" in out and ("{y}" in out or "{-y}" in out)):
        raise ValueError(
            f"底图地址缺少瓦片占位符（应含 {{z}} {{x}} {{y}}，或 WMTS 的 {{TileMatrix}} {{TileRow}} "
            f"{{TileCol}}）：{url[:200]}"
        )
    return out


@cache
def parse_centre_codes(value: str) -> dict[str, tuple[str, ...]]:
    """``GRIDMAP_CENTRE_CODES``: a JSON object from a county's 6-digit code to the centre codes its
    cameras' ids may start with (each 6–8 digits: the county's own code, or a platform's other one,
    e.g. ``{"411628": ["411628", "41160000"]}``); counties not listed use their own code."""
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError('应为 JSON 对象，如 {"411628": ["411628", "41160000"]}') from None
    if not isinstance(parsed, dict):
        raise ValueError("应为 JSON 对象：区县编码 → 中心编码列表")
    out: dict[str, tuple[str, ...]] = {}
    for county, codes in parsed.items():
        codes = [codes] if isinstance(codes, str) else codes
        if not (isinstance(county, str) and re.fullmatch(r"\d{6}", county)):
            raise ValueError(f"区县编码应为 6 位数字，而不是 {county!r}")
        if (
            not isinstance(codes, list)
            or not codes
            or not all(isinstance(c, str) and re.fullmatch(r"\d{6,8}", c) for c in codes)
        ):
            raise ValueError(f"{county} 的中心编码应为 6–8 位数字的列表，而不是 {codes!r}")
        out[county] = tuple(codes)
    return out


# What each kind of camera sees by default: (view angle in degrees, range in metres). A fixed bullet
# camera with a 4 mm lens sees about 80° and tells people apart to about 50 m; a dome (PTZ) turns all
# round and, zoomed, watches to about 80 m; an indoor/eaves half-dome sees about 100° to 20 m.
VIEW_KIND_DEFAULTS: dict[str, tuple[float, float]] = {
    "bullet": (80.0, 50.0),
    "dome": (360.0, 80.0),
    "half_dome": (100.0, 20.0),
}


@cache
def parse_view_kinds(value: str) -> dict[str, tuple[float, float]]:
    """``GRIDMAP_VIEW_KINDS``: a JSON object overriding the view of camera kinds (``bullet`` 枪机,
    ``dome`` 球机, ``half_dome`` 半球), each ``{"angle": degrees (0, 360], "range": metres (0, 1000]}``,
    e.g. ``{"bullet": {"angle": 60, "range": 40}}``. Returns every kind's (angle, range)."""
    out = dict(VIEW_KIND_DEFAULTS)
    if not value.strip():
        return out
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError('应为 JSON 对象，如 {"bullet": {"angle": 60, "range": 40}}') from None
    if not isinstance(parsed, dict):
        raise ValueError("应为 JSON 对象：摄像机类型 → {angle, range}")
    for kind, spec in parsed.items():
        if kind not in out:
            raise ValueError(f"没有摄像机类型 {kind!r}（可选 {', '.join(out)}）")
        if not isinstance(spec, dict) or not set(spec) <= {"angle", "range"}:
            raise ValueError(f"{kind} 应为 {{angle: 度, range: 米}}，而不是 {spec!r}")
        angle, rng = spec.get("angle", out[kind][0]), spec.get("range", out[kind][1])
        if not (isinstance(angle, int | float) and not isinstance(angle, bool) and 0 < angle <= 360):
            raise ValueError(f"{kind} 的视角应为 (0, 360] 度，而不是 {angle!r}")
        if not (isinstance(rng, int | float) and not isinstance(rng, bool) and 0 < rng <= 1000):
            raise ValueError(f"{kind} 的视距应为 (0, 1000] 米，而不是 {rng!r}")
        out[kind] = (float(angle), float(rng))
    return out


def parse_region_names(path: Path) -> dict[str, str]:
    """``GRIDMAP_REGION_NAMES``: a CSV with a header row naming a code column (代码, 编码, 区划代码 or
    code) and a name column (名称 or name), UTF-8 (with or without BOM) or GBK/GB18030; each code 2
    digits (a province) or 4 (a city), each name non-empty. Returns {code: name}; raises
    ``ValueError`` (Chinese) naming the file and the row. Read again only when the file changes."""
    try:
        stat = path.stat()
    except OSError:
        raise ValueError(f"找不到区划名称文件 {path}") from None
    return _region_names(path, stat.st_mtime_ns, stat.st_size)


@cache
def _region_names(path: Path, _mtime_ns: int, _size: int) -> dict[str, str]:
    import csv
    import io

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"无法读取区划名称文件 {path}（{exc.strerror}）") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            content = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path.name} 既不是 UTF-8 也不是 GBK 编码的 CSV")
    rows = list(csv.reader(io.StringIO(content)))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    code_col = next((header.index(c) for c in ("代码", "编码", "区划代码", "code") if c in header), None)
    name_col = next((header.index(c) for c in ("名称", "name") if c in header), None)
    if code_col is None or name_col is None:
        raise ValueError(f"{path.name} 的第一行应为列名：代码,名称（或 code,name）")
    out: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        code = row[code_col].strip() if code_col < len(row) else ""
        name = row[name_col].strip() if name_col < len(row) else ""
        if not re.fullmatch(r"\d{2}|\d{4}", code):
            raise ValueError(f"{path.name} 第 {number} 行：代码应为 2 位（省）或 4 位（市）数字，而不是“{code}”")
        if not name:
            raise ValueError(f"{path.name} 第 {number} 行：{code} 没有名称")
        out[code] = name
    return out


def parse_basemaps(value: str) -> tuple[Basemap, ...]:
    """``GRIDMAP_BASEMAPS`` (a JSON list of objects, see the module docstring) as basemaps, their
    URLs normalised by :func:`tile_template`. Raises ``ValueError`` (in Chinese) for anything else."""
    if not value.strip():
        return ()
    try:
        items = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"不是有效的 JSON：{exc}") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError('应为对象的 JSON 列表：[{"id": …, "name": …, "url": …}]')
    out: list[Basemap] = []
    for n, item in enumerate(items, 1):
        unknown = set(item) - {"id", "name", "url", "labels", "attribution", "subdomains", "max_native_zoom"}
        if unknown:
            raise ValueError(f"第 {n} 个底图有未知的键：{', '.join(sorted(unknown))}")
        id_, name, url = item.get("id"), item.get("name"), item.get("url")
        if not isinstance(id_, str) or not _BASEMAP_ID.match(id_) or id_ in (NO_BASEMAP, CUSTOM_BASEMAP):
            raise ValueError(f"第 {n} 个底图的 id 应为 1–40 位字母、数字、_ 或 -（不能是 none、custom）")
        if id_ in {b.id for b in out}:
            raise ValueError(f"底图 id 重复：{id_}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"底图 {id_} 缺少名称 name")
        if not isinstance(url, str):
            raise ValueError(f"底图 {id_} 缺少地址 url")
        labels, attribution = item.get("labels"), item.get("attribution", name)
        subdomains, zoom = item.get("subdomains", "abc"), item.get("max_native_zoom", 18)
        if labels is not None and not isinstance(labels, str):
            raise ValueError(f"底图 {id_} 的 labels 应为地址")
        if not isinstance(attribution, str):
            raise ValueError(f"底图 {id_} 的 attribution 应为文字")
        if not isinstance(subdomains, str) or not re.fullmatch(r"[A-Za-z0-9]{1,16}", subdomains):
            raise ValueError(f"底图 {id_} 的 subdomains 应为 1–16 个字母或数字（每个字符一个子域名）")
        if not isinstance(zoom, int) or isinstance(zoom, bool) or not 0 <= zoom <= 24:
            raise ValueError(f"底图 {id_} 的 max_native_zoom 应为 0–24 的整数")
        try:
            url = tile_template(url)
            labels = tile_template(labels) if labels else None
        except ValueError as exc:
            raise ValueError(f"底图 {id_}：{exc}") from None
        out.append(Basemap(id_, name.strip(), url, labels, attribution.strip(), subdomains, zoom))
    return tuple(out)


def _offered(url: str | None, attribution: str | None, key: str | None, basemaps: str) -> tuple[Basemap, ...]:
    offered: list[Basemap] = []
    if url:
        name = attribution or "底图"
        subdomains = "01234567" if "tianditu" in url.lower() else "abc"
        offered.append(Basemap("basemap", name, tile_template(url), None, name, subdomains))
    if key:
        for id_, name, base, labels in (
            ("tianditu_vec", "天地图矢量", "vec", "cva"),
            ("tianditu_img", "天地图影像", "img", "cia"),
        ):
            offered.append(
                Basemap(
                    id_,
                    name,
                    TIANDITU_URL.replace("{layer}", base).replace("{key}", key),
                    TIANDITU_URL.replace("{layer}", labels).replace("{key}", key),
                    TIANDITU_ATTRIBUTION,
                    "01234567",
                )
            )
    taken = {b.id for b in offered}
    offered += [b for b in parse_basemaps(basemaps) if b.id not in taken]
    return tuple(offered)


def offered_basemaps(settings: Settings) -> tuple[Basemap, ...]:
    """The basemaps the pages offer, in the order of their choice: ``GRIDMAP_BASEMAP_URL``'s (id
    ``basemap``), 天地图矢量 and 天地图影像 (``tianditu_vec``, ``tianditu_img``, with
    ``GRIDMAP_TIANDITU_KEY``), then ``GRIDMAP_BASEMAPS`` (an id already taken is left out)."""
    return _offered(settings.basemap_url, settings.basemap_attribution, settings.tianditu_key, settings.basemaps)


def default_basemap(settings: Settings) -> str:
    """The id of the basemap shown on first load: ``GRIDMAP_BASEMAP_DEFAULT``, else ``basemap`` when
    ``GRIDMAP_BASEMAP_URL`` is set (as before there was a choice), else :data:`NO_BASEMAP`."""
    if settings.basemap_default:
        return settings.basemap_default
    return "basemap" if settings.basemap_url else NO_BASEMAP


class SettingsError(GridmapError):
    """An environment variable holds a value gridmap cannot use."""


def get_settings() -> Settings:
    """Settings from the current environment (read on every call: tests change the environment).
    Raises :class:`SettingsError` naming each variable that cannot be used."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            name = name if name.startswith("GRIDMAP_") else f"GRIDMAP_{name.upper()}"
            problems.append(f"{name}={error.get('input')!r}：{error['msg']}")
        raise SettingsError(
            "invalid_setting", "环境变量的值无法使用，请改正后重试：" + "；".join(problems), problems
        ) from None
