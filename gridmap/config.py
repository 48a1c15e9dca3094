"""Settings read from the environment.

Every knob lives here so the rest of the code never reads ``os.environ`` directly.

- ``GRIDMAP_DATABASE_URL``: an existing PostGIS to use (production). When unset, ``gridmap db up``
  manages a project-local PostgreSQL cluster and the URL is derived from its state file.
- ``GRIDMAP_HOME``: where project-local state lives (the local cluster, its password, logs).
  Default: ``<checkout>/.gridmap`` when running from a source checkout, else ``~/.local/share/gridmap``.
- ``GRIDMAP_DATA_DIR``: the sample county files. Default: ``<checkout>/data``.
- ``GRIDMAP_PG_PORT``: force the local cluster's port (otherwise a free port is chosen once and kept).
- ``GRIDMAP_READ_ACCESS``: ``open`` (default: read endpoints, tiles and pages need no token) or
  ``token`` (they need a viewer, editor or admin token; tiles and /embed also accept an embed token).
- ``GRIDMAP_BASEMAP_URL``: optional XYZ basemap template for the pages, e.g. 天地图 with its key or a
  county's local tile server (``{z}/{x}/{y}``, optional ``{s}``). Unset: no basemap, fully offline.
- ``GRIDMAP_BASEMAP_ATTRIBUTION``: the basemap's attribution text (default 底图).
- ``GRIDMAP_MAX_UPLOAD_MB``: largest file the upload endpoints accept (default 200).
- ``GRIDMAP_STATUS_TTL``: seconds after its last online report a camera counts as offline (the
  service sets it offline, which moves the figures like any report). GB/T 28181 platforms mark a
  channel offline after 3 missed 60 s keep-alives: 180 matches them. Default 0: off (a camera stays
  online until a report says otherwise).
- ``GRIDMAP_TILE_CHECK_INTERVAL``: seconds between the tile cache's looks at the data revision
  (default 1). Tile URLs that name a revision (``?v=``, as the pages write them) are always
  answered at that revision or newer, whatever this is; for clients that do not name one it is
  how stale a tile may be, and the trade: under thousands of status changes a second, 0.2 s kept
  ~60 % of a screen's tiles cached, 1 s ~90 % (``benchmarks/writes.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Storage CRS of every geometry in the database: CGCS2000 geographic (lon/lat, degrees).
STORAGE_SRID = 4490
#: Default projected CRS for metric work on the sample county: CGCS2000 3-degree Gauss-Krüger
#: zone 38 (central meridian 114°E), easting carries the zone prefix "38".
SAMPLE_PROJECTED_EPSG = 4526

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").exists() else None


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    home: Path
    data_dir: Path
    pg_port: int | None
    read_access: str = "open"
    basemap_url: str | None = None
    basemap_attribution: str | None = None
    max_upload_mb: float = 200.0
    status_ttl_s: float = 0.0
    tile_check_interval_s: float = 1.0

    @property
    def local_cluster_dir(self) -> Path:
        return self.home / "postgres"


def get_settings() -> Settings:
    """Settings from the current environment (read on every call: tests change the environment)."""
    default_home = _CHECKOUT / ".gridmap" if _CHECKOUT else Path.home() / ".local/share/gridmap"
    default_data = _CHECKOUT / "data" if _CHECKOUT else Path.cwd() / "data"
    port = os.environ.get("GRIDMAP_PG_PORT")
    return Settings(
        database_url=os.environ.get("GRIDMAP_DATABASE_URL") or None,
        home=Path(os.environ.get("GRIDMAP_HOME") or default_home).resolve(),
        data_dir=Path(os.environ.get("GRIDMAP_DATA_DIR") or default_data).resolve(),
        pg_port=int(port) if port else None,
        read_access=_choice("GRIDMAP_READ_ACCESS", READ_ACCESS_MODES),
        basemap_url=os.environ.get("GRIDMAP_BASEMAP_URL") or None,
        basemap_attribution=os.environ.get("GRIDMAP_BASEMAP_ATTRIBUTION") or None,
        max_upload_mb=float(os.environ.get("GRIDMAP_MAX_UPLOAD_MB") or 200),
        status_ttl_s=_seconds("GRIDMAP_STATUS_TTL", 0.0),
        tile_check_interval_s=_seconds("GRIDMAP_TILE_CHECK_INTERVAL", 1.0),
    )


def _seconds(name: str, default: float) -> float:
    value = (os.environ.get(name) or "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 <= seconds < 10**9:
        raise ValueError(f"{name} must be a number of seconds ≥ 0, not {value!r}")
    return seconds


#: ``open``: reading needs no token; ``token``: reading needs one (see the module docstring).
READ_ACCESS_MODES = ("open", "token")


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or allowed[0]).strip().lower()
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value
