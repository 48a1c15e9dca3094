"""The ``gridmap`` command, run as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from gridmap.devdb import APP_ROLE

GRIDMAP = [sys.executable, "-m", "gridmap.cli"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_demo_no_serve_prints_the_county_figures(db_url):
    """The whole sample load, twice, as the service's role (the harness's URLs are that role's)."""
    with psycopg.connect(db_url.replace("+psycopg", "")) as conn:
        role = conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert role.fetchone() == (APP_ROLE, False, False, False)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    for _ in range(2):  # a second demo reloads instead of doubling anything
        result = run("demo", "--no-serve", env=env)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "95.51%" in out and "98.49%" in out
        for figure in ("10,520", "10,048", "9,896", "10,311", "1,294", "565"):
            assert figure in out
        assert "***" in out and make_url(db_url).password not in out  # password not printed
        assert "excess_privileges" not in result.stderr


@pytest.fixture
def throwaway_home():
    """A GRIDMAP_HOME of its own (under /tmp so the postgres user can reach it when we are root)."""
    home = Path(tempfile.mkdtemp(prefix="gridmap-cli-", dir="/tmp"))
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"GRIDMAP_DATABASE_URL", "GRIDMAP_PG_PORT"}}
    env["GRIDMAP_HOME"] = str(home)
    yield env
    run("db", "down", env=env)
    shutil.rmtree(home, ignore_errors=True)


def test_db_up_is_idempotent_and_down_stops_it(throwaway_home):
    env = throwaway_home
    first = run("db", "up", "--show-password", env=env)
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql+psycopg://gridmap_app:") and "127.0.0.1" in url
    masked = run("db", "up", env=env)  # the default, as `make test` prints it into CI logs
    assert masked.returncode == 0 and make_url(url).password not in masked.stdout
    assert masked.stdout.strip().splitlines()[-1] == make_url(url).render_as_string(hide_password=True)
    second = run("db", "up", "--show-password", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == url

    migrated = run("db", "migrate", env=env)
    from gridmap.db.migrate import head_revision

    assert migrated.returncode == 0 and f"schema at revision {head_revision()}" in migrated.stdout

    status = run("db", "status", env=env)
    assert "running: True" in status.stdout and make_url(url).password not in status.stdout

    stopped = run("db", "down", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    again = run("db", "down", env=env)
    assert again.returncode == 0 and "was not running" in again.stdout
    assert "running: False" in run("db", "status", env=env).stdout


def test_db_commands_with_an_external_database_url(db_url):
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    up = run("db", "up", "--show-password", env=env)
    assert up.returncode == 0 and up.stdout.strip() == db_url
    down = run("db", "down", env=env)
    assert down.returncode == 0 and "not managed by gridmap" in down.stdout


def test_unreachable_database_gives_a_clear_error():
    env = {**os.environ, "GRIDMAP_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:9/none"}
    result = run("summary", env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    first, *details = result.stderr.splitlines()
    assert first.startswith("gridmap: 无法连接数据库") and first.endswith("（database_unavailable）")
    assert result.returncode == 1 and details and all(line.startswith("  ") for line in details)
    assert "cannot reach the database" in result.stderr  # the English hint for administrators stays


def test_the_console_command_prints_usage_errors_as_one_chinese_line():
    """The console script (not only CliRunner) prints click's usage errors in gridmap's one style."""
    result = run("coverage", "--level", "9")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "gridmap: 选项 --level 的值无效：应为 0 到 4 之间的整数，而不是“9”（invalid_option）\n"
    result = run("rollback")
    assert result.returncode == 2
    assert result.stderr == "gridmap: 缺少参数 VERSION，请用 gridmap rollback --help 查看用法（missing_argument）\n"
    assert run("rollback", "--help").stdout.startswith("Usage: gridmap rollback [OPTIONS] VERSION")


def test_runtime_does_not_need_the_generator_dependencies():
    """`gridmap demo` must work with only the base dependencies: block the `sample` extra's imports
    (scipy is also a base dependency: the camera assignment labels raster components with it)."""
    code = (
        "import sys\n"
        "for name in ('skimage', 'rasterio'):\n"
        "    sys.modules[name] = None\n"
        "import gridmap.cli, gridmap.sample.load, gridmap.devdb, gridmap.db.migrate\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
