"""Least privilege for the database: the role the service connects as, and the script a DBA runs
to make it on a PostgreSQL of their own (``gridmap db grant-sql``).

The service needs a role that **owns** its database's schema and tables (it runs the migrations,
which create and alter tables) and nothing more: not a superuser, no CREATEDB, CREATEROLE,
BYPASSRLS or REPLICATION. The one step that needs a superuser, ``CREATE EXTENSION postgis``, is in
the script, done once by the DBA; the migrations then only check that the extension is there
(:func:`gridmap.db.migrate.ensure_postgis`). The project-local cluster sets itself up the same way
(:mod:`gridmap.devdb.cluster`: the role ``gridmap_app``, with the same attributes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gridmap.devdb import APP_ROLE_ATTRIBUTES, OWNED_OBJECTS
from gridmap.errors import GridmapError

#: The names the script uses unless told otherwise.
DEFAULT_ROLE = "gridmap"
DEFAULT_DATABASE = "gridmap"
#: A role or database name the script can use unquoted: lower case, digits, underscores.
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class GrantNameError(GridmapError):
    """A role or database name the grant script cannot use."""


def check_name(value: str, what: str) -> str:
    """``value`` when it is a plain PostgreSQL name (lower case letters, digits, ``_``, at most 63,
    not starting with a digit); :class:`GrantNameError` (``invalid_option``) otherwise."""
    if not NAME.fullmatch(value) or value.startswith("pg_"):
        raise GrantNameError(
            "invalid_option",
            f"选项 {what} 的值无效：应为小写字母、数字和下划线组成的名称（不以数字或 pg_ 开头，最多 63 个字符），"
            f"而不是“{value}”",
        )
    return value


def grant_script(role: str = DEFAULT_ROLE, database: str = DEFAULT_DATABASE) -> str:
    """The psql script a superuser runs: the service's role (its password from the psql variable
    ``password``), the database it owns, PostGIS in it, and everything already in it handed to the
    role. Runs again without harm, and on a database an older set-up filled as a superuser."""
    role, database = check_name(role, "--role"), check_name(database, "--database")
    return f"""\
-- gridmap: the database and the role the service connects as, with least privilege.
-- Made by `gridmap db grant-sql --role {role} --database {database}`.
--
-- Run it with psql, as a PostgreSQL superuser (e.g. postgres), giving the role's password
-- (hex: nothing to escape in the URL below):
--
--   PASSWORD=$(openssl rand -hex 24)
--   psql -h DB-HOST -U postgres -d postgres -v password="$PASSWORD" -f grant.sql
--
-- then point gridmap at the database as that role and create the tables (as the role):
--
--   export GRIDMAP_DATABASE_URL="postgresql+psycopg://{role}:$PASSWORD@DB-HOST:5432/{database}"
--   gridmap db migrate
--
-- The role owns the database, its schema public and every table in it; it is not a superuser and
-- cannot create databases or roles, bypass row-level security or replicate. CREATE EXTENSION
-- postgis needs a superuser: it is done here. The script may be run again (it sets the password
-- and the attributes again), also on a database that gridmap used before as another role, e.g. a
-- superuser: its tables and their data are handed to {role}, nothing is dropped.

\\set ON_ERROR_STOP on
\\if :{{?password}}
\\else
DO $$ BEGIN RAISE EXCEPTION 'gridmap: give the role''s password: psql -v password=... -f this file'; END $$;
\\endif

SELECT 'CREATE ROLE {role}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') \\gexec
ALTER ROLE {role} {APP_ROLE_ATTRIBUTES} PASSWORD :'password';
SELECT 'CREATE DATABASE {database} OWNER {role} ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}') \\gexec
ALTER DATABASE {database} OWNER TO {role};
-- Only its owner (and superusers) may connect; grant CONNECT to a reporting role if you add one.
REVOKE ALL ON DATABASE {database} FROM PUBLIC;

\\connect {database}
CREATE EXTENSION IF NOT EXISTS postgis;
-- PostgreSQL 15 gives the schema to the database's owner already; older versions let everyone
-- create objects in it.
ALTER SCHEMA public OWNER TO {role};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- What is already in the database (tables a superuser migrated, their sequences, views, functions,
-- types) becomes the role's; PostGIS's own objects stay with the superuser that created them.
DO $$
DECLARE
  item record;
BEGIN
  FOR item IN SELECT type, identity FROM ({OWNED_OBJECTS.strip()}) objects WHERE owner <> '{role}'
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {role}', upper(replace(item.type, 'composite type', 'type')), item.identity);
  END LOOP;
END $$;
"""


@dataclass(frozen=True)
class RoleRights:
    """What the connected role may do beyond owning its tables (all False for the service's role)."""

    name: str
    superuser: bool
    createdb: bool
    createrole: bool
    bypassrls: bool

    @property
    def more_than_needed(self) -> list[str]:
        """The attributes it should not have (``SUPERUSER``, ``CREATEDB``, …), in that order."""
        flags = (
            ("SUPERUSER", self.superuser),
            ("CREATEDB", self.createdb),
            ("CREATEROLE", self.createrole),
            ("BYPASSRLS", self.bypassrls),
        )
        return [name for name, on in flags if on]


def role_rights(conn: Connection) -> RoleRights:
    """The connected role's attributes, from ``pg_roles``."""
    row = conn.execute(
        text(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user"
        )
    ).one()
    return RoleRights(*row)
