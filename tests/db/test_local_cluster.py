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
from gridmap.devdb import LEGACY_ADMIN_ROLE, RELOCATED_ROOT, LocalCluster, LocalClusterError

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


def _plain(url: str) -> str:
    return url.replace("+psycopg", "")


def _rights(url: str) -> tuple:
    """(role, superuser, createdb, createrole, bypassrls, replication) of the role ``url`` logs in as."""
    with psycopg.connect(_plain(url)) as conn:
        return conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()


def _postmaster_pid(data_dir: str) -> int:
    return int((Path(data_dir) / "postmaster.pid").read_text().splitlines()[0])


def test_lifecycle(cluster: LocalCluster) -> None:
    assert cluster.status()["initialised"] is False

    url = cluster.up()
    assert url.startswith("postgresql+psycopg://gridmap_app:") and url.endswith("/gridmap")
    # The service's role owns the database and is nothing more; the superuser only administers.
    assert _rights(url) == ("gridmap_app", False, False, False, False, False)
    assert _rights(cluster.admin_url("gridmap"))[:2] == ("gridmap_admin", True)
    with psycopg.connect(_plain(url)) as conn:
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'gridmap'").fetchone() == (
            "gridmap_app",
        )
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


def test_db_up_upgrades_a_cluster_made_by_an_older_gridmap(tmp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an older gridmap left in ``.gridmap``: a cluster whose one role is initdb's superuser
    ``gridmap``, a version-1 state.json without the service's role, and the ``gridmap`` database
    created, migrated and filled by that superuser (tables, and what a user may have added: a view,
    a function, a type). ``gridmap db up`` upgrades it in place: nothing lost, the service's role
    owns it all and is not a superuser, and the migrations run as that role."""
    from typer.testing import CliRunner

    from gridmap.cli import app
    from gridmap.db import migrate
    from gridmap.db.tokens import create_token

    _isolated_env(monkeypatch, tmp_root / "home")
    c = LocalCluster.from_settings(get_settings())
    bin_dir = c.ensure_installed()
    try:
        # The older gridmap's cluster: initdb's superuser `gridmap`, and the state file it wrote.
        state = c._initdb(bin_dir, superuser=LEGACY_ADMIN_ROLE)
        for key in ("app_role", "app_password"):
            del state[key]
        state["version"] = 1
        c._save_state(state)
        c._start(bin_dir, state)
        with pytest.raises(LocalClusterError, match="older gridmap"):
            c.url()  # commands other than `db up` say what to run
        refused = CliRunner().invoke(app, ["summary"])
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        first, *explanation = refused.stderr.splitlines()
        assert first.endswith("（local_database_failed）") and "Run `gridmap db up` once" in " ".join(explanation)
        old_url = c.admin_url("gridmap")
        with psycopg.connect(_plain(c.admin_url()), autocommit=True) as conn:
            conn.execute("CREATE DATABASE gridmap")
        with psycopg.connect(_plain(old_url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        migrate.upgrade(old_url)
        engine = sa.create_engine(old_url)
        with engine.begin() as conn:
            create_token(conn, name="旧令牌", role="admin")
            conn.execute(sa.text("CREATE TYPE mood AS ENUM ('ok', 'bad')"))
            conn.execute(sa.text("CREATE VIEW token_names AS SELECT name, 'ok'::mood AS mood FROM api_token"))
            conn.execute(
                sa.text("CREATE FUNCTION token_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM api_token'")
            )
        engine.dispose()
        assert _rights(old_url)[:2] == ("gridmap", True)

        result = CliRunner().invoke(app, ["db", "up", "--show-password"])
        assert result.exit_code == 0, result.output
        url = result.stdout.strip().splitlines()[-1]
        assert url == c.url() and url.startswith("postgresql+psycopg://gridmap_app:") and url.endswith("/gridmap")
        assert _rights(url) == ("gridmap_app", False, False, False, False, False)
        assert _rights(old_url)[:2] == ("gridmap", True)  # still the cluster's superuser, for administration
        state = c._load_state()
        assert (state["version"], state["superuser"], state["app_role"]) == (2, "gridmap", "gridmap_app")
        assert (c.state_file.stat().st_mode & 0o777) == 0o600
        status = c.status()
        assert (status["app_role"], status["admin_role"], status["url"]) == ("gridmap_app", "gridmap", url)

        with psycopg.connect(_plain(url)) as conn:
            owners = dict(
                conn.execute(
                    "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
                    " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'S')"
                    " AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"
                ).fetchall()
            )
            postgis = conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'spatial_ref_sys'")
            assert postgis.fetchone() == ("gridmap",)  # PostGIS's own, made by CREATE EXTENSION, stay
            assert set(owners.values()) == {"gridmap_app"} and {"area", "api_token", "token_names"} <= set(owners)
            assert conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            ).fetchone() == ("gridmap_app",)
            # The data survived and the role can use all of it.
            assert conn.execute("SELECT name, mood::text FROM token_names").fetchall() == [("旧令牌", "ok")]
            assert conn.execute("SELECT token_count()").fetchone() == (1,)
            conn.execute("ALTER TYPE mood ADD VALUE 'fine'")  # owner-only
        # Migrations run as the service's role on the tables the superuser made.
        migrate.downgrade(url, "0005")
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            create_token(conn, name="新令牌", role="viewer")
            assert conn.execute(sa.text("SELECT count(*) FROM api_token")).scalar_one() == 2
        engine.dispose()

        # Up again: nothing left to hand over, the same URL.
        assert c.up() == url
    finally:
        c.down()
