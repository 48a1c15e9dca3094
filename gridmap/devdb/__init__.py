"""Developer tooling, not the runtime database layer: the project-local PostgreSQL + PostGIS
cluster that ``gridmap db up``, ``make demo`` and the tests use when ``GRIDMAP_DATABASE_URL`` is
unset (:mod:`gridmap.devdb.cluster`)."""

from gridmap.devdb.cluster import (
    ADMIN_ROLE,
    APP_ROLE,
    APP_ROLE_ATTRIBUTES,
    LEGACY_ADMIN_ROLE,
    OWNED_OBJECTS,
    RELOCATED_ROOT,
    LocalCluster,
    LocalClusterError,
)

__all__ = [
    "OWNED_OBJECTS",
    "ADMIN_ROLE",
    "APP_ROLE",
    "APP_ROLE_ATTRIBUTES",
    "LEGACY_ADMIN_ROLE",
    "RELOCATED_ROOT",
    "LocalCluster",
    "LocalClusterError",
]
