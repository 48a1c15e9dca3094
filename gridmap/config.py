"""Settings: every knob gridmap reads from the environment, in one class (pydantic-settings), so
the rest of the code never reads ``os.environ`` itself. Each field is an environment variable
``GRIDMAP_<NAME>``; a value that cannot be used stops the program at start with a message naming
the variable.

Database
  - ``GRIDMAP_DATABASE_URL``: an existing PostGIS to use (production). When unset, ``gridmap db up``
    manages a project-local PostgreSQL cluster and the URL is derived from its state file.
  - ``GRIDMAP_HOME``: where project-local state lives (the local cluster, its password, logs).
    Default: ``<checkout>/.gridmap`` when running from a source checkout, else ``~/.local/share/gridmap``.
  - ``GRIDMAP_PG_PORT``: force the local cluster's port (otherwise a free port is chosen once and kept).
  - ``GRIDMAP_DATA_DIR``: the sample county files. Default: ``<checkout>/data``.

Service
  - ``GRIDMAP_READ_ACCESS``: ``open`` (default: read endpoints, tiles and pages need no token) or
    ``token`` (they need a viewer, editor or admin token; tiles and /embed also accept an embed token).
  - ``GRIDMAP_BASEMAP_URL``: optional XYZ basemap template for the pages, e.g. 天地图 with its key or a
    county's local tile server (``{z}/{x}/{y}``, optional ``{s}``). Unset: no basemap, fully offline.
  - ``GRIDMAP_BASEMAP_ATTRIBUTION``: the basemap's attribution text (default 底图).
  - ``GRIDMAP_MAX_UPLOAD_MB``: largest file the upload endpoints accept (default 200).
  - ``GRIDMAP_MAX_UNZIPPED_MB``, ``GRIDMAP_MAX_ZIP_RATIO``, ``GRIDMAP_MAX_ARCHIVE_MEMBERS``: what an
    uploaded archive (zipped shapefiles, KMZ, XLSX) may unpack to in all (default 2048 MB), how much
    one member may expand (default 200×: real shapefiles and sheets stay far below, zip bombs far
    above) and how many files it may hold (default 10,000); checked from the archive's directory
    before anything is extracted (``gridmap.io.archives``).

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
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
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
    # Service
    read_access: Literal["open", "token"] = Field(default="open", description="open | token")
    basemap_url: str | None = Field(default=None, description="XYZ basemap template for the pages.")
    basemap_attribution: str | None = Field(default=None, description="The basemap's attribution.")
    max_upload_mb: float = Field(default=200.0, gt=0, description="Largest upload, MB.")
    max_unzipped_mb: float = Field(default=2048.0, gt=0, description="Most an archive may unpack to, MB.")
    max_zip_ratio: float = Field(default=200.0, gt=1, description="Most one archive member may expand.")
    max_archive_members: int = Field(default=10_000, ge=1, description="Most files in one archive.")
    body_idle_s: float = Field(
        default=30.0,
        gt=0,
        lt=_MAX_SECONDS,
        validation_alias="GRIDMAP_BODY_IDLE_TIMEOUT",
        description="Seconds a request body may stall (no bytes) before the request is answered 408.",
    )
    # Live data
    status_ttl_s: float = Field(
        default=0.0, ge=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_STATUS_TTL", description="Seconds; 0 = off."
    )
    tile_check_interval_s: float = Field(
        default=1.0, ge=0, lt=_MAX_SECONDS, validation_alias="GRIDMAP_TILE_CHECK_INTERVAL", description="Seconds."
    )

    @field_validator("database_url", "basemap_url", "basemap_attribution", "pg_port", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("read_access", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() or "open" if isinstance(value, str) else value

    @field_validator("home", "data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def local_cluster_dir(self) -> Path:
        return self.home / "postgres"


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
