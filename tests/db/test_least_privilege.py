"""Least privilege (issue 13): the service connects as a role that owns its tables and nothing more.

Against the real project-local cluster: the URL the application derives from the settings, and the
harness's databases, log in as ``gridmap_app``, which is not a superuser and cannot create
databases or roles; the grant script for a PostgreSQL of one's own makes such a role; a database
without PostGIS is a clear refusal naming who must create it; a superuser URL is warned about.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import admin_url, drop_role, fresh_database, run_name
from sqlalchemy import create_engine, inspect, make_url
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.config import get_settings
from gridmap.db import migrate
from gridmap.db.session import database_url
from gridmap.db.tokens import create_token
from gridmap.devdb import APP_ROLE, LocalCluster

runner = CliRunner()

#: What the brief asks of the role, and the two attributes PostgreSQL adds to the same effect.
RIGHTS = (
    "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication"
    " FROM pg_roles WHERE rolname = current_user"
)
#: Tables and views of ``public`` (PostGIS's own left out) with their owners.
OWNERS = """
SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
"""


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_the_service_connects_as_a_role_that_owns_its_tables_and_nothing_more(db_url, monkeypatch):
    monkeypatch.delenv("GRIDMAP_DATABASE_URL", raising=False)
    app_url = database_url()  # what the application, the CLI and `gridmap db up` use by default
    assert make_url(app_url).username == make_url(db_url).username == APP_ROLE
    for url in (app_url, db_url):
        with psycopg.connect(_libpq(url)) as conn:
            assert conn.execute(RIGHTS).fetchone() == (APP_ROLE, False, False, False, False, False)

    with psycopg.connect(_libpq(db_url), autocommit=True) as conn:
        owners = dict(conn.execute(OWNERS).fetchall())
        # Made by the migrations and filled by the sample load, as this role: it owns every one.
        assert {"area", "camera", "api_token", "alembic_version", "tile_area"} <= set(owners)
        assert set(owners.values()) == {APP_ROLE}
        database_owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        assert conn.execute(database_owner).fetchone() == (APP_ROLE,)
        assert conn.execute("SELECT count(*) FROM area").fetchone()[0] > 12_000
        # What only a superuser (or a role granted it) may do is refused.
        for statement in (
            "CREATE DATABASE gridmap_never",
            "CREATE ROLE gridmap_never",
            "ALTER SYSTEM SET work_mem = '1GB'",
            "COPY (SELECT 1) TO PROGRAM 'true'",
            "SELECT pg_read_file('postgresql.conf')",
            "SET session_replication_role = replica",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def _psql(script: str, *args: str) -> subprocess.CompletedProcess:
    """``script`` run by psql as the cluster's superuser, as a DBA would run the grant script."""
    psql = Path(LocalCluster.from_settings(get_settings()).status()["bin_dir"]) / "psql"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    command = [str(psql), "-X", "-q", "-d", _libpq(admin_url()), *args, "-f", "-"]
    return subprocess.run(command, input=script, capture_output=True, text=True, env=env, timeout=120)


def _grant_sql(role: str, database: str) -> str:
    result = runner.invoke(app, ["db", "grant-sql", "--role", role, "--database", database])
    assert result.exit_code == 0, result.output
    return result.stdout


def _as(role: str, password: str, database: str) -> str:
    return make_url(admin_url(database)).set(username=role, password=password).render_as_string(False)


def _owners(url: str) -> dict[str, str]:
    with psycopg.connect(_libpq(url)) as conn:
        return dict(conn.execute(OWNERS).fetchall())


def test_the_grant_script_makes_a_least_privilege_role_that_migrates_its_database():
    role, database = run_name("gridmap_test_grant_role"), run_name("gridmap_test_grant")
    script = _grant_sql(role, database)
    assert f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS" in script

    refused = _psql(script)  # no password given: stops before doing anything
    assert refused.returncode != 0 and "give the role's password" in refused.stderr
    with psycopg.connect(_libpq(admin_url())) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (0,)

    password = secrets.token_urlsafe(16)
    try:
        done = _psql(script, "-v", f"password={password}")
        assert done.returncode == 0, done.stderr
        url = _as(role, password, database)
        with psycopg.connect(_libpq(url)) as conn:
            assert conn.execute(RIGHTS).fetchone() == (role, False, False, False, False, False)
            assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'postgis'").fetchone() == ("postgis",)
        migrate.upgrade(url)  # as the role: PostGIS is there, the tables are its own
        assert migrate.current_revision(url) == migrate.head_revision()
        owners = _owners(url)
        assert {"area", "camera", "alembic_version"} <= set(owners) and set(owners.values()) == {role}
        # Nobody else may even connect (here: the local cluster's service role).
        service = make_url(LocalCluster.from_settings(get_settings()).url())
        other = make_url(url).set(username=APP_ROLE, password=service.password)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(_libpq(other.render_as_string(False))).close()
        # Run again (a new password, say): no error, nothing lost.
        again = _psql(script, "-v", "password=another-password")
        assert again.returncode == 0, again.stderr
        assert migrate.current_revision(_as(role, "another-password", database)) == migrate.head_revision()
    finally:
        LocalCluster.from_settings(get_settings()).drop_database(database)
        drop_role(role)


def test_a_database_without_postgis_or_migrated_as_a_superuser_is_refused_until_the_grant_script(monkeypatch):
    """The two ways a database of one's own can fall short of the service's role, each a clear
    refusal naming the fix: no PostGIS (only a superuser may create it), and tables made by a
    superuser (as before the service had a role of its own). The grant script mends the second."""
    url = fresh_database("gridmap_test_nopostgis")
    database = make_url(url).database
    with psycopg.connect(_libpq(admin_url(database)), autocommit=True) as conn:
        conn.execute("DROP EXTENSION postgis")
    with pytest.raises(migrate.PostgisMissing) as refused:
        migrate.upgrade(url)
    assert refused.value.code == "postgis_missing" and refused.value.detail["role"] == APP_ROLE
    assert "CREATE EXTENSION postgis" in refused.value.message and "gridmap db grant-sql" in refused.value.message
    engine = create_engine(url)
    assert inspect(engine).get_table_names() == []  # nothing was migrated
    engine.dispose()
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", url)
    result = runner.invoke(app, ["db", "migrate"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("gridmap: 数据库 ") and result.stderr.endswith("（postgis_missing）\n")

    # A superuser's URL (as an older gridmap printed it): `db up` creates PostGIS, migrates, and
    # says that the role may do more than the service needs.
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", admin_url(database))
    result = runner.invoke(app, ["db", "up"])
    assert result.exit_code == 0, result.output
    warning = result.stderr.strip().splitlines()[-1]
    assert warning.startswith("gridmap: 注意：数据库角色 ") and "SUPERUSER、CREATEDB、CREATEROLE、BYPASSRLS" in warning
    assert warning.endswith("gridmap db grant-sql（excess_privileges）")
    engine = create_engine(admin_url(database))
    with engine.begin() as conn:
        create_token(conn, name="旧令牌", role="admin")
    engine.dispose()

    # Those tables are the superuser's: a role of its own cannot migrate them, and is told why.
    role, password = run_name("gridmap_test_handover_role"), secrets.token_urlsafe(16)
    try:
        done = _psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'; GRANT CONNECT ON DATABASE {database} TO {role};")
        assert done.returncode == 0, done.stderr
        monkeypatch.setenv("GRIDMAP_DATABASE_URL", _as(role, password, database))
        result = runner.invoke(app, ["db", "up"])
        assert result.exit_code == 1 and result.stderr.endswith("（tables_not_owned）\n"), result.output
        assert "gridmap db grant-sql" in result.stderr

        # The grant script hands them over, data and all; then the role migrates, without a warning.
        done = _psql(_grant_sql(role, database), "-v", f"password={password}")
        assert done.returncode == 0, done.stderr
        result = runner.invoke(app, ["db", "up"])
        assert (result.exit_code, result.stderr) == (0, ""), result.output
        owners = _owners(_as(role, password, database))
        assert {"area", "api_token", "alembic_version"} <= set(owners) and set(owners.values()) == {role}
        with psycopg.connect(_libpq(_as(role, password, database))) as conn:
            assert conn.execute("SELECT name FROM api_token").fetchall() == [("旧令牌",)]
    finally:
        LocalCluster.from_settings(get_settings()).drop_database(database)
        drop_role(role)


def test_grant_sql_refuses_names_it_would_have_to_quote():
    result = runner.invoke(app, ["db", "grant-sql", "--database", "Grid Map"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("gridmap: 选项 --database 的值无效") and result.stderr.endswith(
        "（invalid_option）\n"
    )
