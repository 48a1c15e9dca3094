"""Database schema (SQLAlchemy 2 + GeoAlchemy2). Every geometry is stored in EPSG:4490 (CGCS2000).

The Alembic migrations in ``gridmap/db/migrations`` create exactly this schema; a test compares
the two so they cannot drift apart.

Tables:
- ``area``: the live areas of every level (county … micro-grid), one row per code.
- ``boundary_version``: one row per boundary upload (who, when, which file, which subtree, status,
  validation report). ``area_version`` keeps the areas each published version contained, so any
  earlier version can be restored.
- ``camera``: public cameras with their GB/T 28181 id, status and online flag.
- ``camera_import``: one row per camera-list import (file, CRS, counts, rejected rows).
- ``coverage_snapshot``: daily planned / installed / online counts per area, for trends.
- ``api_token``: hashed bearer tokens with a role and an area scope.
- ``data_revision`` / ``data_change``: a counter bumped by every write that changes what maps show
  (publish, rollback, camera import, status reports), with the extent each change touched: the
  API's caches compare revisions instead of guessing.
- ``area_stats`` / ``area_operator_stats``: every live area's camera counts and rates (also per
  operator) as of the current revision, moved by deltas in each write's transaction
  (``gridmap.db.figures``), so readers and tiles join figures instead of rolling them up.
- ``upload``: files uploaded through the API, with their validation report, until published.
- ``region_outline``: official outlines of provinces, cities and counties (``gridmap regions
  outline``), which counties are checked against (``gridmap.db.region_outlines``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as _sql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gridmap.config import STORAGE_SRID

AREA_GEOMETRY = Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False)
POINT_GEOMETRY = Geometry("POINT", srid=STORAGE_SRID, spatial_index=False)

CAMERA_STATUSES = ("planned", "installed", "removed")
VERSION_STATUSES = ("validated", "published", "rejected", "superseded", "rolled_back")
TOKEN_ROLES = ("viewer", "editor", "admin", "embed")
UPLOAD_KINDS = ("boundary", "camera")
UPLOAD_STATUSES = ("validated", "rejected", "published", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class BoundaryVersion(Base):
    __tablename__ = "boundary_version"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    #: Code of the subtree this version replaces (e.g. the county code for a full load) and the
    #: highest level it replaces: areas under ``root_code`` at ``top_level`` and below.
    root_code: Mapped[str] = mapped_column(Text)
    top_level: Mapped[int | None] = mapped_column(SmallInteger)
    #: For a rollback: the version whose areas were restored.
    restored_from: Mapped[int | None] = mapped_column(ForeignKey("boundary_version.id"))
    status: Mapped[str] = mapped_column(Text)
    #: Why a version with errors was published anyway (``--force --reason``).
    reason: Mapped[str | None] = mapped_column(Text)
    feature_count: Mapped[int] = mapped_column(Integer, server_default="0")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("status", VERSION_STATUSES), name="ck_boundary_version_status"),
        Index("ix_boundary_version_root_code", "root_code"),
    )


class AreaAttributes:
    """Columns every stored copy of an area has: the live ``area`` and the ``area_version`` archive
    (declared once so a restored version always carries everything the live row had)."""

    name: Mapped[str | None] = mapped_column(Text)
    #: -2 province, -1 city (derived, gridmap.db.regions), 0 county, 1 township, 2 village/community,
    #: 3 grid, 4 micro-grid (see gridmap.levels).
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(Text)
    #: What the area is in the county's own words: 街道 / 镇 / 乡 / 社区 / 村 / 网格 / 微网格.
    kind: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    worker_name: Mapped[str | None] = mapped_column(Text)
    worker_phone: Mapped[str | None] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    geom: Mapped[Any] = mapped_column(AREA_GEOMETRY)
    #: Area in square metres, measured when written, in the CGCS2000 Gauss-Krüger zone of the data.
    area_m2: Mapped[float | None] = mapped_column()


class Area(AreaAttributes, Base):
    __tablename__ = "area"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_version.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        # Deferred: a subtree is replaced (delete + insert) inside one transaction.
        ForeignKeyConstraint(
            ["parent_code"], ["area.code"], name="fk_area_parent_code", deferrable=True, initially="DEFERRED"
        ),
        CheckConstraint("code ~ '^[0-9]+$'", name="ck_area_code_digits"),
        CheckConstraint("level BETWEEN -2 AND 4", name="ck_area_level"),
        CheckConstraint("households IS NULL OR households >= 0", name="ck_area_households"),
        CheckConstraint("ST_IsValid(geom)", name="ck_area_geom_valid"),
        Index("ix_area_geom", "geom", postgresql_using="gist"),
        Index("ix_area_parent_code", "parent_code"),
        Index("ix_area_level", "level"),
    )


class AreaVersion(AreaAttributes, Base):
    """The areas as a published version contained them (restored by a rollback)."""

    __tablename__ = "area_version"

    version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)


class Camera(Base):
    __tablename__ = "camera"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    #: GB/T 28181 device id: 8-digit centre code + 2 industry + 3 type + 1 network + 6 serial.
    device_id: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(POINT_GEOMETRY)
    #: Coordinates exactly as imported, and the CRS they were declared in (wgs84, gcj02, ...).
    raw_x: Mapped[float | None] = mapped_column()
    raw_y: Mapped[float | None] = mapped_column()
    raw_crs: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    online: Mapped[bool] = mapped_column(Boolean, server_default="false")
    #: Last time a status report said the camera was online.
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Time of the newest online/offline report applied (older reports arriving later are ignored).
    status_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    operator: Mapped[str | None] = mapped_column(Text)
    installed_on: Mapped[dt.date | None] = mapped_column(Date)
    direction: Mapped[str | None] = mapped_column(Text)
    place_type: Mapped[str | None] = mapped_column(Text)
    #: The leaf area the camera falls in (assigned spatially; not a foreign key because boundary
    #: versions replace areas underneath cameras).
    area_code: Mapped[str | None] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("device_id ~ '^[0-9]{20}$'", name="ck_camera_device_id"),
        CheckConstraint(_in("status", CAMERA_STATUSES), name="ck_camera_status"),
        CheckConstraint("NOT online OR status = 'installed'", name="ck_camera_online_installed"),
        Index("ix_camera_geom", "geom", postgresql_using="gist"),
        Index("ix_camera_area_code", "area_code"),
        Index("ix_camera_status", "status"),
        # Status reports update online, status_at and last_seen all day: no index on them, and room
        # on each page, so those updates are HOT (no index entry written).
        {"postgresql_with": {"fillfactor": 80}},
    )


class CameraImport(Base):
    """One import of a camera list: what came in, what was written, which rows were rejected."""

    __tablename__ = "camera_import"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    crs: Mapped[str] = mapped_column(Text)
    source_rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    #: The import report (rejected rows with their reasons, warnings, cameras outside every area).
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class CoverageSnapshot(Base):
    __tablename__ = "coverage_snapshot"

    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    area_code: Mapped[str] = mapped_column(Text, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    planned: Mapped[int] = mapped_column(Integer)
    installed: Mapped[int] = mapped_column(Integer)
    online: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("installed <= planned AND online <= installed", name="ck_coverage_snapshot_counts"),
        Index("ix_coverage_snapshot_area_code", "area_code", "snapshot_date"),
    )


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the secret; the secret itself is shown once at creation and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: First characters of the secret, so people can tell their tokens apart.
    token_prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(Text)
    #: Area code prefix the token may change (None: every area).
    scope: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("role", TOKEN_ROLES), name="ck_api_token_role"),
        CheckConstraint("scope IS NULL OR scope ~ '^[0-9]+$'", name="ck_api_token_scope"),
    )


class DataRevision(Base):
    """One row: the revision of everything maps show. Writers bump it in their own transaction
    (the row lock orders them), so a reader never sees a revision before its data."""

    __tablename__ = "data_revision"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (CheckConstraint("id = 1", name="ck_data_revision_single_row"),)


class DataChange(Base):
    """What each revision changed, for the caches that evict selectively (see
    ``gridmap.services.changes``): the areas whose figures changed (``codes``), the cameras drawn
    differently (``points``: where they were and are), the box where area boundaries changed
    (``extent``) and the subtree replaced (``root``); ``everything`` when a cache should start
    over."""

    __tablename__ = "data_change"

    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(Text)
    extent: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=True)
    codes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    points: Mapped[Any] = mapped_column(Geometry("MULTIPOINT", srid=STORAGE_SRID, spatial_index=False), nullable=True)
    everything: Mapped[bool] = mapped_column(Boolean, server_default="false")
    #: The subtree a publish, rollback or sample load replaced (its root code).
    root: Mapped[str | None] = mapped_column(Text)


class AreaStats(Base):
    """Coverage figures of every live area (the rows of ``gridmap coverage``), kept current by
    deltas on every write (``gridmap.db.figures``); read by the API, the CLI, tiles and maps."""

    __tablename__ = "area_stats"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    planned: Mapped[int] = mapped_column(Integer)
    installed: Mapped[int] = mapped_column(Integer)
    online: Mapped[int] = mapped_column(Integer)
    rollout_rate: Mapped[float | None] = mapped_column()
    online_rate: Mapped[float | None] = mapped_column()
    households: Mapped[int | None] = mapped_column(Integer)
    #: Direct child areas, and those of them with no installed camera.
    children: Mapped[int] = mapped_column(Integer, server_default="0")
    no_camera_children: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = {"postgresql_with": {"fillfactor": 70}}


class AreaOperatorStats(Base):
    """An area's figures per operator (运营商; '' for cameras without one): only operators with a
    planned camera in the area."""

    __tablename__ = "area_operator_stats"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    operator: Mapped[str] = mapped_column(Text, primary_key=True)
    planned: Mapped[int] = mapped_column(Integer)
    installed: Mapped[int] = mapped_column(Integer)
    online: Mapped[int] = mapped_column(Integer)

    __table_args__ = {"postgresql_with": {"fillfactor": 70}}


class Upload(Base):
    """A file uploaded through the API: kept with its validation report so that exactly the
    validated bytes are published later (re-validated against the then live data)."""

    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    #: How the file is read and validated (layer, crs, encoding, fields, level, parent_code).
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)
    root_code: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_version.id"))

    __table_args__ = (
        CheckConstraint(_in("kind", UPLOAD_KINDS), name="ck_upload_kind"),
        CheckConstraint(_in("status", UPLOAD_STATUSES), name="ck_upload_status"),
    )


# ----------------------------------------------------------------------------------------------
# Vector tiles (migration 0005): precomputed tile geometry, kept in step with the data by
# the write path (``gridmap.services.changes.record_change`` → ``gridmap.tiles.store``).


#: Geometry in a zoom's global tile units (no CRS; see gridmap.tiles.store).
TILE_UNITS_GEOMETRY = Geometry("GEOMETRY", spatial_index=False)


class AreaFeatureId(Base):
    """The MVT feature id of each area code ever drawn (migration 0007): a small integer given
    once, in the writer's transaction (:func:`gridmap.tiles.store.sync_area_rows`), and never taken
    back, so a code keeps its id across publishes and rollbacks. Codes themselves (up to 18 digits)
    are above 2^53, where JavaScript numbers stop telling integers apart."""

    __tablename__ = "area_feature_id"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    fid: Mapped[int] = mapped_column(BigInteger, Identity(always=True))

    __table_args__ = (UniqueConstraint("fid", name="uq_area_feature_id_fid"),)


class AreaLabel(Base):
    """Where a live area's name goes on a map (migration 0008): the centre of its largest inscribed
    circle (the pole of inaccessibility: the point deepest inside, never outside a concave or holed
    area as a centroid can be), EPSG:4490, and that circle's radius in metres (measured in the
    CGCS2000 Gauss-Krüger zone of the area), which tells a map at which zoom the name fits.
    Kept in step with the areas by the write path (:func:`gridmap.db.labels.sync_label_rows`)."""

    __tablename__ = "area_label"

    #: ``area.id`` the row was built from (a publish writes new ids, so stale rows are found by id).
    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    level: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    #: The name as a map writes it inside its parent: without the parent's name when it starts
    #: with it ("杜庄村第一网格2号微网格" under "杜庄村第一网格" is "2号微网格").
    short_name: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(POINT_GEOMETRY)
    radius_m: Mapped[float] = mapped_column()

    __table_args__ = (
        Index("ix_area_label_geom", "geom", postgresql_using="gist"),
        Index("ix_area_label_level_radius", "level", "radius_m"),
    )


class TileArea(Base):
    """One live area at one zoom: its geometry simplified, snapped and validated for that zoom's
    tiles, in the zoom's global tile units (y up), with its fixed properties (the figures are
    joined from ``area_stats`` when a tile is made)."""

    __tablename__ = "tile_area"

    #: ``area.id`` the row was built from (a publish writes new ids, so stale rows are found by id).
    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    level: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(Text)
    #: The MVT feature id: the code's id in ``area_feature_id`` (below 2^53, safe in JavaScript).
    fid: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)
    area_m2: Mapped[float | None] = mapped_column()
    geom: Mapped[Any] = mapped_column(TILE_UNITS_GEOMETRY)
    #: The geometry's exact box (the GiST index and ``&&`` compare single-precision boxes, off by
    #: up to 32 units at z16 in these coordinates).
    x_min: Mapped[float] = mapped_column()
    y_min: Mapped[float] = mapped_column()
    x_max: Mapped[float] = mapped_column()
    y_max: Mapped[float] = mapped_column()

    __table_args__ = (
        *(
            Index(f"ix_tile_area_geom_l{lv}", "geom", postgresql_using="gist", postgresql_where=_sql(f"level = {lv}"))
            for lv in range(5)
        ),
        Index("ix_tile_area_code", "code"),  # cache eviction finds a changed area's rows by code
    )


class TileCamera(Base):
    """A drawn camera (status planned or installed) with its point in EPSG:3857."""

    __tablename__ = "tile_camera"

    device_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: The MVT feature id: ``camera.id`` (the 20-digit device id is no safe JavaScript number).
    fid: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    online: Mapped[bool] = mapped_column(Boolean)
    operator: Mapped[str | None] = mapped_column(Text)
    area_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=3857, spatial_index=False))

    __table_args__ = (
        Index("ix_tile_camera_geom", "geom", postgresql_using="gist"),
        {"postgresql_with": {"fillfactor": 80}},
    )  # room for HOT updates of the status


class RegionOutline(Base):
    """The official outline of a province (2-digit code), city (4) or county (6), EPSG:4490, as
    loaded from a boundary file (migration 0010); ``area_m2`` measured in its Gauss-Krüger zone.
    A loaded ``name`` names the region row too (:func:`gridmap.db.regions.sync_regions`)."""

    __tablename__ = "region_outline"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(AREA_GEOMETRY)
    area_m2: Mapped[float] = mapped_column()
    #: The file's name it was loaded from.
    source: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("code ~ '^([0-9]{2}|[0-9]{4}|[0-9]{6})$'", name="ck_region_outline_code"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="ck_region_outline_geom"),
        Index("ix_region_outline_geom", "geom", postgresql_using="gist"),
    )
