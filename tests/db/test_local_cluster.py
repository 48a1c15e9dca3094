"""The project-local PostgreSQL/PostGIS cluster, against a real server (no mocks).

The cluster lives in a throw-away GRIDMAP_HOME under /tmp (not pytest's tmp_path: as root that is
inside /tmp/pytest-of-root, mode 0700, which the ``postgres`` server user cannot traverse and would
push the cluster to /var/lib/gridmap). It is always stopped and deleted at the end.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from gridmap.config import get_settings
from gridmap.devdb import RELOCATED_ROOT, LocalCluster

pytestmark = pytest.mark.slow


def _isolated_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    mp.setenv("GRIDMAP_HOME", str(home))
    mp.delenv("GRIDMAP_DATABASE_URL", raising=False)
    mp.delenv("GRIDMAP_PG_PORT", raising=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    root = Path(tempfile.mkdtemp(prefix="gridmap-test-", dir="/tmp"))
    root.chmod(0o755)  # mkdtemp makes it 0700; the root-run server user must get in
    with pytest.MonkeyPatch.context() as mp:
        _isolated_env(mp, root / "home")
        c = LocalCluster.from_settings(get_settings())
        try:
            yield c
        finally:
            c.down()
            shutil.rmtree(root, ignore_errors=True)


def _postmaster_pid(data_dir: str) -> int:
    return int((Path(data_dir) / "postmaster.pid").read_text().splitlines()[0])


def test_lifecycle(cluster: LocalCluster) -> None:
    assert cluster.status()["initialised"] is False

    url = cluster.up()
    assert url.startswith("postgresql+psycopg://gridmap:") and url.endswith("/gridmap")
    status = cluster.status()
    assert status["running"] and status["initialised"] and status["installed"]
    assert status["url"] == url and f":{status['port']}/" in url
    data_dir = Path(status["data_dir"])
    assert data_dir.parent == cluster.cluster_dir  # /tmp is reachable: no relocation
    assert (cluster.state_file.stat().st_mode & 0o777) == 0o600
    pg_version_inode = (data_dir / "PG_VERSION").stat().st_ino
    pid = _postmaster_pid(str(data_dir))

    # Second call: same URL, no initdb, no restart, fast.
    t0 = time.monotonic()
    assert cluster.up() == url
    assert time.monotonic() - t0 < 5
    assert (data_dir / "PG_VERSION").stat().st_ino == pg_version_inode
    assert _postmaster_pid(str(data_dir)) == pid
    assert cluster.url() == url

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            assert "POSTGIS=" in conn.execute(sa.text("SELECT postgis_full_version()")).scalar_one()
            conn.execute(sa.text("CREATE TABLE survivor (id int PRIMARY KEY, g geometry(Point, 4490))"))
            conn.execute(sa.text("INSERT INTO survivor VALUES (1, ST_SetSRID(ST_MakePoint(114.5, 38.0), 4490))"))
    finally:
        engine.dispose()

    # Another database with PostGIS; drop_first recreates it empty.
    other = cluster.ensure_database("gridmap_x")
    assert other == url.rsplit("/", 1)[0] + "/gridmap_x"
    with psycopg.connect(other.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT ST_AsText(ST_MakePoint(1, 2))").fetchone() == ("POINT(1 2)",)
        conn.execute("CREATE TABLE scratch (id int)")
    assert cluster.ensure_database("gridmap_x") == other
    with psycopg.connect(other.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT to_regclass('scratch') IS NOT NULL").fetchone() == (True,)
    cluster.ensure_database("gridmap_x", drop_first=True)
    with psycopg.connect(other.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT to_regclass('scratch') IS NULL").fetchone() == (True,)
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'postgis'").fetchone() == ("postgis",)

    assert cluster.down() is True
    assert cluster.down() is False
    status = cluster.status()
    assert status["running"] is False and status["initialised"] is True and status["url"] == url

    # Restart: same URL, data survived.
    assert cluster.up() == url
    assert cluster.status()["running"] is True
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT id, ST_SRID(g) FROM survivor").fetchone()
    assert row == (1, 4490)


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    """A directory under /tmp that other users can traverse (unlike pytest's tmp_path as root)."""
    root = Path(tempfile.mkdtemp(prefix="gridmap-test-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_unreachable_home_is_relocated(tmp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("relocation to /var/lib/gridmap only happens when gridmap runs as root")
    private = tmp_root / "private"
    private.mkdir()
    private.chmod(0o700)  # like a checkout under /root
    home = private / "home"
    _isolated_env(monkeypatch, home)
    c = LocalCluster.from_settings(get_settings())
    c.ensure_installed()  # the Debian packages create the `postgres` user
    user = c.server_user()
    assert user != "root"
    expected = RELOCATED_ROOT / hashlib.sha1(str(home.resolve()).encode()).hexdigest()[:12]
    assert c.runtime_dir(user) == expected
    assert (private.stat().st_mode & 0o777) == 0o700  # the home's permissions were left alone
    # Reachability is what decides: the same home made traversable keeps the cluster in place.
    private.chmod(0o755)
    assert c.runtime_dir(user) == c.cluster_dir
