"""Shared fixtures: real PostGIS test databases with the sample county loaded.

Tests always run in databases of their own (``gridmap_test*``, recreated each session) in the
project-local cluster, never in ``GRIDMAP_DATABASE_URL``: a test run must not be able to wipe a
real county's data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from gridmap.config import get_settings
from gridmap.db.local import LocalCluster

DATA_DIR = get_settings().data_dir


def fresh_database(name: str) -> str:
    """URL of a new, empty PostGIS database ``name`` in the local cluster (dropped first)."""
    cluster = LocalCluster.from_settings(get_settings())
    cluster.up()
    return cluster.ensure_database(name, drop_first=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def db_url() -> str:
    """A migrated test database with no data yet."""
    from gridmap.db.migrate import upgrade

    url = fresh_database("gridmap_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Engine:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def loaded_engine(engine: Engine) -> Engine:
    """The test database with the sample county (areas and cameras) loaded."""
    from gridmap.sample.load import load_sample

    load_sample(engine, DATA_DIR)
    return engine
