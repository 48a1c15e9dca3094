"""Developer tooling, not the runtime database layer: the project-local PostgreSQL + PostGIS
cluster that ``gridmap db up``, ``make demo`` and the tests use when ``GRIDMAP_DATABASE_URL`` is
unset (:mod:`gridmap.devdb.cluster`)."""

from gridmap.devdb.cluster import RELOCATED_ROOT, LocalCluster, LocalClusterError

__all__ = ["RELOCATED_ROOT", "LocalCluster", "LocalClusterError"]
