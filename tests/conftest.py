"""Shared fixtures: real PostGIS test databases with the sample county loaded.

Tests always run in databases of their own (``gridmap_test*``, recreated each session) in the
project-local cluster, never in ``GRIDMAP_DATABASE_URL``: a test run must not be able to wipe a
real county's data. Database names carry the pytest process id, so two test runs at once (a
developer and a helper, say) never drop each other's databases; a run drops its own at the end and
the databases of runs that died without cleaning up.

The code under test connects as the cluster's service role (``gridmap_app``: it owns the test
databases and their tables and is not a superuser), exactly as ``gridmap db up`` sets the service
up: the harness creates and drops databases through the cluster's superuser and hands the code only
the service role's URLs. :func:`admin_url` is for the few tests of what only an administrator does.

The cluster is started lazily, by the first test that asks for a database: tests of pure code
(files, geometry, formats) run without PostgreSQL. The sample county is migrated and loaded once
per run into a template database; each module that writes gets its own copy of it
(``CREATE DATABASE … TEMPLATE``, well under a second, where a migrate + load took about 7 s).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from planting import METRIC
from psycopg import sql
from sqlalchemy import Engine, create_engine, make_url

from gridmap.config import get_settings
from gridmap.devdb import LocalCluster

DATA_DIR = get_settings().data_dir
_RUN_SUFFIX = re.compile(r"_p(\d+)$")
_created: list[str] = []


_started: list[LocalCluster] = []


def _cluster() -> LocalCluster:
    """The project-local cluster, brought up on first use in this run."""
    if not _started:
        cluster = LocalCluster.from_settings(get_settings())
        cluster.up()
        _drop_dead_runs(cluster)
        _started.append(cluster)
    return _started[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fresh_database(name: str, *, template: str | None = None) -> str:
    """URL (the service role's) of a new PostGIS database for this test run: ``name`` plus
    ``_p<pid>``; empty, or a copy of ``template``."""
    cluster = _cluster()
    full = run_name(name)
    _created.append(full)
    return cluster.ensure_database(full, drop_first=True, template=template)


def run_name(name: str) -> str:
    """``name`` plus ``_p<pid>``: a database or role of this test run (dropped at its end)."""
    return f"{name}_p{os.getpid()}"


def admin_url(database: str = "postgres") -> str:
    """The cluster's superuser's URL: only for what an administrator does (a grant script, a
    database without PostGIS), never for the code under test."""
    return _cluster().admin_url(database)


def drop_role(name: str, cluster: LocalCluster | None = None) -> None:
    """DROP ROLE ``name`` if it exists (after the databases it owns are dropped)."""
    url = (cluster or _cluster()).admin_url()
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _drop_dead_runs(cluster: LocalCluster) -> None:
    """Drop test databases, then test roles, left behind by runs that are no longer alive."""
    for name in cluster.database_names("gridmap_test"):
        match = _RUN_SUFFIX.search(name)
        if match is None or not _alive(int(match.group(1))):
            cluster.drop_database(name)
    url = make_url(cluster.admin_url()).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url) as conn:
        roles = conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'gridmap_test')").fetchall()
    for (name,) in roles:
        match = _RUN_SUFFIX.search(name)
        if match is None or not _alive(int(match.group(1))):
            drop_role(name, cluster)


#: How many tests this session collected (before any -m / -k deselection).
COLLECTED = pytest.StashKey[int]()

#: The pyramid: each folder of tests/ is a marker (``pytest -m unit``, ``-m "not browser"``).
LAYERS = ("unit", "db", "api", "browser")


@pytest.hookimpl(tryfirst=True)  # before -m / -k deselect: the count is of every test
def pytest_collection_modifyitems(config, items) -> None:
    root = Path(__file__).resolve().parent
    config.stash[COLLECTED] = len(items)  # every test of the run (each xdist worker collects all)
    for item in items:
        layer = Path(str(item.path)).resolve().relative_to(root).parts[0]
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))


def pytest_sessionfinish(session, exitstatus) -> None:
    for name in _created if _started else ():
        _started[0].drop_database(name)


_template: list[str] = []


def sample_template() -> str:
    """Name of this run's template database: migrated, with the sample county loaded (made on first
    use). Nothing may write to it: tests get copies (:func:`loaded_database`)."""
    if not _template:
        from gridmap.db.migrate import upgrade
        from gridmap.sample.load import load_sample

        url = fresh_database("gridmap_test_template")
        upgrade(url)
        eng = create_engine(url)
        try:
            load_sample(eng, DATA_DIR)
        finally:
            eng.dispose()  # CREATE DATABASE … TEMPLATE needs it without sessions
        _template.append(make_url(url).database)
    return _template[0]


def loaded_database(name: str) -> tuple[str, Engine]:
    """URL and engine of a new database of this run (see :func:`fresh_database`): a copy of the
    migrated sample county (:func:`sample_template`), for test modules that write."""
    url = fresh_database(name, template=sample_template())
    return url, create_engine(url)


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
    """This run's shared test database: migrated, the sample county loaded (a copy of the
    template). Tests that write use a database of their own (:func:`loaded_database`)."""
    return fresh_database("gridmap_test", template=sample_template())


@pytest.fixture(scope="session")
def engine(db_url: str) -> Engine:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def loaded_engine(engine: Engine) -> Engine:
    """The shared test database, with the sample county (areas and cameras) loaded."""
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


@pytest.fixture(scope="module")
def township(data_dir) -> gpd.GeoDataFrame:
    """Levels 1–4 of the sample's first township, canonical columns, EPSG:4526 (metres)."""
    from gridmap.io.boundaries import read_areas
    from gridmap.sample.files import GPKG

    areas = pd.concat(
        [read_areas(data_dir / GPKG, layer=lv) for lv in ("township", "village", "grid", "microgrid")],
        ignore_index=True,
    )
    first = sorted(areas.loc[areas["level"] == 1, "code"])[0]
    sub = areas[areas["code"].str.startswith(first)].reset_index(drop=True)
    return gpd.GeoDataFrame(sub, geometry="geometry", crs=4490).to_crs(METRIC)


# ------------------------------------------------------------------ the page tests (tests/browser)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium for a module of page tests (tests/support/browser.py); fails (never
    skips) with how to install it when it is missing."""
    from browser import playwright_browser

    with playwright_browser() as b:
        yield b


@pytest.fixture(autouse=True)
def no_external_requests(request):
    """After each test that used :func:`browser`: no request left this machine, no page script
    failed, no request failed."""
    yield
    if "browser" in request.fixturenames:
        b = request.getfixturevalue("browser")
        external, errors, failed = list(b.external), list(b.errors), list(b.failed)
        b.external.clear(), b.errors.clear(), b.failed.clear()
        assert external == [], f"pages requested external URLs: {external[:10]}"
        assert errors == [], f"page errors: {errors[:10]}"
        assert failed == [], f"{len(failed)} requests failed: {failed[:10]}"
