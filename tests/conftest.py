"""Shared fixtures: real PostGIS test databases with the sample county loaded.

Tests always run in databases of their own (``gridmap_test*``, recreated each session) in the
project-local cluster, never in ``GRIDMAP_DATABASE_URL``: a test run must not be able to wipe a
real county's data. Database names carry the pytest process id, so two test runs at once (a
developer and a helper, say) never drop each other's databases; a run drops its own at the end and
the databases of runs that died without cleaning up.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from gridmap.config import get_settings
from gridmap.db.local import LocalCluster

DATA_DIR = get_settings().data_dir
_RUN_SUFFIX = re.compile(r"_p(\d+)$")
_created: list[str] = []


def _cluster() -> LocalCluster:
    cluster = LocalCluster.from_settings(get_settings())
    cluster.up()
    return cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fresh_database(name: str) -> str:
    """URL of a new, empty PostGIS database for this test run: ``name`` plus ``_p<pid>``."""
    cluster = _cluster()
    full = f"{name}_p{os.getpid()}"
    _created.append(full)
    return cluster.ensure_database(full, drop_first=True)


def pytest_sessionstart(session) -> None:
    """Drop test databases left behind by runs that are no longer alive."""
    cluster = _cluster()
    for name in cluster.database_names("gridmap_test"):
        match = _RUN_SUFFIX.search(name)
        if match is None or not _alive(int(match.group(1))):
            cluster.drop_database(name)


def pytest_sessionfinish(session, exitstatus) -> None:
    if _created:
        cluster = LocalCluster.from_settings(get_settings())
        for name in _created:
            cluster.drop_database(name)


def loaded_database(name: str) -> tuple[str, Engine]:
    """URL and engine of a new, migrated database of this run (see :func:`fresh_database`) with
    the sample county loaded: for test modules that write."""
    from gridmap.db.migrate import upgrade
    from gridmap.sample.load import load_sample

    url = fresh_database(name)
    upgrade(url)
    eng = create_engine(url)
    load_sample(eng, DATA_DIR)
    return url, eng


def engine_for_cli(url: str, monkeypatch: pytest.MonkeyPatch):
    """Generator for an ``engine`` fixture: an engine on ``url``, with GRIDMAP_DATABASE_URL set so
    the CLI commands a test runs use the same database."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", url)
    eng = create_engine(url)
    yield eng
    eng.dispose()


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


@pytest.fixture(scope="session")
def api_url(loaded_engine: Engine) -> str:
    """Base URL of a real uvicorn serving the API on the loaded sample county (reading is open).
    For read-only tests: tests that change data use their own database and server."""
    from api_server import serve

    with serve(loaded_engine) as base:
        yield base


@pytest.fixture()
def http(api_url: str):
    """An httpx client on :func:`api_url` (no token)."""
    from api_server import client

    with client(api_url) as c:
        yield c
