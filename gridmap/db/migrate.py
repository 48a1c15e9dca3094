"""Schema migrations (Alembic), driven from code so they work from an installed package.

They run as the service's own role, which owns the schema and is not a superuser (see
``gridmap db grant-sql``, :mod:`gridmap.db.grants`). The one thing that needs a superuser,
``CREATE EXTENSION postgis``, is done by whoever creates the database (the local cluster's
superuser, or the DBA running the grant script); :func:`upgrade` only creates the extension when it
is missing and the role may, and otherwise says who must (:class:`PostgisMissing`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError

from gridmap.db.models import Base
from gridmap.errors import GridmapError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return cfg


class PostgisMissing(GridmapError):
    """The database has no PostGIS and the role cannot create it (or the server lacks it)."""

    status = 503
    exit_code = 1


def ensure_postgis(conn: Connection) -> None:
    """Nothing when the database has the ``postgis`` extension (the usual case: the service's role
    never needs to create it); otherwise ``CREATE EXTENSION postgis``, which only a superuser (or a
    role the DBA allowed) may run. Raises :class:`PostgisMissing` saying what to do when it cannot."""
    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first():
        return
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        database, role = conn.execute(text("SELECT current_database(), current_user")).one()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        if sqlstate == "42501":  # insufficient_privilege: not a superuser, as it should be
            raise PostgisMissing(
                "postgis_missing",
                f"数据库 {database} 没有 PostGIS 扩展，角色 {role} 也无权创建它：请数据库管理员以超级用户身份"
                f"在该数据库中执行 CREATE EXTENSION postgis;（完整的授权脚本见 gridmap db grant-sql），然后重试",
                {"database": database, "role": role, "reason": reason},
            ) from None
        if sqlstate == "58P01":  # undefined_file: the server has no PostGIS installed
            raise PostgisMissing(
                "postgis_missing",
                f"数据库服务器没有安装 PostGIS，无法在数据库 {database} 中启用它：请先在服务器上安装 PostGIS 3"
                "（Debian：postgresql-15-postgis-3 等），再由超级用户执行 CREATE EXTENSION postgis;",
                {"database": database, "role": role, "reason": reason},
            ) from None
        raise


class TablesNotOwned(GridmapError):
    """Tables of gridmap belong to another role, so this one cannot migrate them."""

    status = 503
    exit_code = 1


def ensure_owner(conn: Connection) -> None:
    """Nothing when the connected role owns every gridmap table that exists (or is a superuser);
    otherwise :class:`TablesNotOwned`: the migrations alter tables, which only their owner may (the
    usual cause: the tables were made as a superuser before the service had a role of its own)."""
    ours = [*Base.metadata.tables, "alembic_version"]
    others = conn.execute(
        text(
            """SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY(:ours)
                  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
                  AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                ORDER BY 1"""
        ),
        {"ours": ours},
    ).all()
    if not others:
        return
    database, role = conn.execute(text("SELECT current_database(), current_user")).one()
    owners = sorted({owner for _, owner in others})
    raise TablesNotOwned(
        "tables_not_owned",
        f"数据库 {database} 中的 {len(others)} 张表（{others[0][0]} 等）属于角色 {'、'.join(owners)}，"
        f"不属于当前角色 {role}，无法迁移：请数据库管理员以超级用户身份运行 gridmap db grant-sql 打印的脚本"
        "（它把已有的表连同数据交给该角色），然后重试",
        {"database": database, "role": role, "owners": owners, "tables": [name for name, _ in others]},
    )


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``; PostGIS must be there first
    (:func:`ensure_postgis`) and the role must own the tables that exist (:func:`ensure_owner`)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            ensure_postgis(conn)
            ensure_owner(conn)
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None  # gridmap ships its migrations
    return head
