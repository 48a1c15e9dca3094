"""Database layer: the project-local PostgreSQL/PostGIS cluster (:mod:`gridmap.db.local`) and schema."""
