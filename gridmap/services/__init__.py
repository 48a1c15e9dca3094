"""Workflows above the database layer; today the write path (:mod:`gridmap.services.changes`)."""
