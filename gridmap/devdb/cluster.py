"""A project-local PostgreSQL + PostGIS cluster for development and tests.

``gridmap db up`` should give a working PostGIS with zero set-up, without touching any other
PostgreSQL on the machine.  So this module manages its *own* cluster:

- its own data directory, unix-socket directory, log file and TCP port on 127.0.0.1 (never
  ``/var/run/postgresql``, never Debian's ``main`` cluster, no ``pg_ctlcluster``);
- two roles, each with a random password (scram-sha-256), kept with the port and paths in
  ``<home>/postgres/state.json`` (mode 0600), so the URLs can be rebuilt at any time:

  - the **service's role** ``gridmap_app``, the one in the URL ``gridmap db up`` prints and the
    application uses: it owns the databases it works in and everything in them (so it runs the
    migrations), and is *not* a superuser (no CREATEDB, CREATEROLE, BYPASSRLS or REPLICATION either);
  - the **superuser** ``gridmap_admin`` (``gridmap`` in clusters made before the service had a
    role of its own), for the cluster's administration only: creating databases (owned by the
    service's role), ``CREATE EXTENSION postgis`` in them, creating the service's role;

- the Debian server and PostGIS packages, installed with apt-get when missing.

Clusters made by an older gridmap (state version 1: one superuser ``gridmap``, which owned the
``gridmap`` database and its tables) are upgraded by :meth:`LocalCluster.up` without losing data:
``gridmap`` stays the cluster's superuser (initdb's own role, which owns the system catalogs), the
service's role is created, and the ``gridmap`` database with all its tables is handed to it
(``ALTER … OWNER``, in one transaction). Other databases are handed over when
:meth:`LocalCluster.ensure_database` is next asked for them.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` OS user (or a
system user ``gridmap-pg`` created for the purpose) through ``runuser``; as a normal user the
binaries simply run as that user.

Production does not use any of this: it points ``GRIDMAP_DATABASE_URL`` at an existing PostGIS,
as a role set up the same way (``gridmap db grant-sql`` prints the script a DBA runs for it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors, sql

from gridmap.config import Settings

#: Where Debian puts each major version's server binaries and extension files.
PG_LIB_ROOT = Path("/usr/lib/postgresql")
PG_SHARE_ROOT = Path("/usr/share/postgresql")
#: Used instead of the project home when the server's OS user cannot reach the home (root only).
RELOCATED_ROOT = Path("/var/lib/gridmap")
#: The superuser of a new cluster (initdb's role): cluster administration only.
ADMIN_ROLE = "gridmap_admin"
#: The superuser of clusters made before the service had a role of its own (state version 1).
LEGACY_ADMIN_ROLE = "gridmap"
#: The role the service connects as: owns its databases and their tables, nothing more.
APP_ROLE = "gridmap_app"
#: What the service's role may do: log in. Everything else is spelled out as denied, so an
#: ``ALTER ROLE`` with these also repairs a role someone gave more.
APP_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"
DEFAULT_DATABASE = "gridmap"
#: OS user created to run the server as root when Debian's ``postgres`` user does not exist.
FALLBACK_SERVER_USER = "gridmap-pg"
#: Ports tried for a new cluster; away from 5432 so Debian's own cluster never collides.
PORT_RANGE = (54320, 54999)
STATE_VERSION = 2  # 2: the service's role (app_role, app_password); 1: one superuser


class LocalClusterError(RuntimeError):
    """Something about the local cluster cannot be done; the message says what to do instead."""


def _note(message: str) -> None:
    """Progress for humans: stderr, so stdout stays clean for a URL printed by the CLI."""
    print(f"gridmap: {message}", file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in kept) or "    (no output)"


def _run(cmd: Sequence[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capture stdout+stderr together, never raise on a non-zero exit.

    ``cwd="/"``: the server user may not be allowed into our current directory (e.g. /root), and
    initdb/pg_ctl fail oddly when they cannot resolve it.  ``PG*`` variables are dropped because
    the server and libpq honour some of them (``PGPORT``, ``PGDATA``...) and we pass everything
    explicitly.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        return subprocess.run(
            list(cmd),
            check=False,
            cwd="/",
            env=env,
            text=True,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode(errors="replace")
        raise LocalClusterError(f"`{shlex.join(cmd)}` did not finish within {timeout:.0f} s:\n{_tail(out)}") from exc


def _port_free(port: int) -> bool:
    """Whether PostgreSQL could listen on 127.0.0.1:port right now.

    SO_REUSEADDR like the postmaster, so a port with only TIME_WAIT leftovers counts as free while
    one with a listener (on 127.0.0.1 or the wildcard address) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _server_versions() -> list[int]:
    """Installed PostgreSQL server major versions (Debian layout), highest first."""
    if not PG_LIB_ROOT.is_dir():
        return []
    found = [int(p.name) for p in PG_LIB_ROOT.iterdir() if p.name.isdigit() and (p / "bin" / "postgres").exists()]
    return sorted(found, reverse=True)


def _has_postgis(version: int) -> bool:
    return (PG_SHARE_ROOT / str(version) / "extension" / "postgis.control").exists()


def _locale_args() -> list[str]:
    """``--locale=C.UTF-8`` when the system has it (glibc >= 2.35 always does), else ``--no-locale``.

    C.UTF-8 sorts by code point like C but keeps UTF-8 character classification, and unlike
    en_US.UTF-8 it never changes index order under a glibc upgrade.
    """
    if shutil.which("locale"):
        names = _run(["locale", "-a"], timeout=30).stdout.split()
        if any(n.lower().replace("-", "") == "c.utf8" for n in names):
            return ["--locale=C.UTF-8"]
    return ["--no-locale"]


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


#: The kinds of object whose owner a hand-over changes (``pg_identify_object``'s names); the ALTER
#: statement for each is its name in capitals (a composite type: ``ALTER TYPE``).
OWNED_KINDS = (
    "schema",
    "table",
    "view",
    "materialized view",
    "foreign table",
    "sequence",
    "composite type",
    "type",
    "domain",
    "function",
    "procedure",
    "aggregate",
)
#: The objects of the current database a hand-over may give to another role, with their owner
#: (columns ``type``, ``identity``: quoted, ready for ALTER, ``owner``): schemas, tables, views,
#: sequences not tied to a column (those follow their table), functions, types. Never what initdb
#: made (OIDs below FirstNormalObjectId, 16384: the catalogs, ``public``), system or temporary
#: schemas, or an extension's members (PostGIS's ``spatial_ref_sys``, its functions and types).
#: Used by the local cluster (:meth:`LocalCluster._hand_over`) and inside the grant script's
#: PL/pgSQL (:mod:`gridmap.db.grants`), so it holds no ``%`` and no ``$$``.
OWNED_OBJECTS = (
    """
SELECT o.type, o.identity, pg_get_userbyid(owned.owner) AS owner
  FROM (
    SELECT 'pg_class'::regclass AS classid, c.oid AS objid, c.relowner AS owner FROM pg_class c
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') AND c.relpersistence <> 't'
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = c.reltype
                       AND d.deptype = 'e')  -- a composite type is an extension's member through its type
    UNION ALL
    SELECT 'pg_proc'::regclass, p.oid, p.proowner FROM pg_proc p
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid, t.typowner FROM pg_type t WHERE t.typtype IN ('d', 'e', 'r')
    UNION ALL
    SELECT 'pg_namespace'::regclass, n.oid, n.nspowner FROM pg_namespace n
  ) owned CROSS JOIN LATERAL pg_identify_object(owned.classid, owned.objid, 0) o
 WHERE owned.objid >= 16384
   AND NOT starts_with(coalesce(o.schema, o.identity), 'pg_')
   AND coalesce(o.schema, o.identity) <> 'information_schema'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = owned.classid AND d.objid = owned.objid
                   AND d.deptype = 'e')
   AND o.type IN ("""
    + ", ".join(f"'{kind}'" for kind in OWNED_KINDS)
    + """)
"""
)


def alter_owner_keyword(kind: str) -> str:
    """``ALTER <this> … OWNER TO``: the keyword for a kind of :data:`OWNED_KINDS`."""
    return kind.replace("composite type", "type").upper()


@dataclass
class LocalCluster:
    """The project-local cluster rooted at ``cluster_dir`` (``<home>/postgres``).

    ``cluster_dir`` always holds ``state.json``; the data directory, socket directory and log live
    there too unless the cluster had to be relocated under ``/var/lib/gridmap`` (see
    :meth:`runtime_dir`).  All methods are safe to call repeatedly.
    """

    home: Path
    cluster_dir: Path
    port_override: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalCluster:
        return cls(home=settings.home, cluster_dir=settings.local_cluster_dir, port_override=settings.pg_port)

    # ------------------------------------------------------------------ public API

    def ensure_installed(self) -> Path:
        """The ``bin`` directory of a PostgreSQL server that has PostGIS, installing it if needed.

        An existing cluster pins its major version (a data directory only opens with the version
        that created it); otherwise the highest installed version with PostGIS wins.
        """
        state = self._load_state()
        pinned: int | None = state["pg_version"] if state else None
        bin_dir = self._find_bin_dir(pinned)
        if bin_dir:
            return bin_dir
        installed = _server_versions()
        if pinned is not None:
            packages = [f"postgresql-{pinned}-postgis-3"]
            if pinned not in installed:
                packages.insert(0, f"postgresql-{pinned}")
        elif installed:
            packages = [f"postgresql-{installed[0]}-postgis-3"]
        else:
            # The unversioned metapackages pull the distribution's default major version.
            packages = ["postgresql", "postgresql-postgis"]
        self._apt_install(packages)
        bin_dir = self._find_bin_dir(pinned)
        if bin_dir is None:
            raise LocalClusterError(
                f"Installed {' '.join(packages)} but still found no PostgreSQL server with PostGIS under "
                f"{PG_LIB_ROOT} / {PG_SHARE_ROOT}. Check `dpkg -l 'postgresql*'`, or set GRIDMAP_DATABASE_URL "
                "to an existing PostGIS database instead of using the local cluster."
            )
        return bin_dir

    def up(self) -> str:
        """Install, initialise and start the cluster as needed; return the ``gridmap`` database URL
        (the service's role, see the module docstring).

        Idempotent: when the cluster already runs this only checks the role and the database and
        returns the same URL (no initdb, no restart). A cluster made by an older gridmap is
        upgraded here (the service's role created, the ``gridmap`` database handed to it).
        """
        with self._lock():
            bin_dir = self.ensure_installed()
            state = self._load_state()
            if state is None or not (Path(state["data_dir"]) / "PG_VERSION").exists():
                state = self._initdb(bin_dir)
            self._check_version(state, bin_dir)
            running = self._is_running(bin_dir, state)
            if self.port_override and self.port_override != state["port"]:
                # GRIDMAP_PG_PORT changed: remember it, and restart if we run on the old port.
                _note(f"Moving the local cluster from port {state['port']} to {self.port_override} (GRIDMAP_PG_PORT).")
                if running:
                    self._pg_ctl(bin_dir, state, "stop", "-m", "fast")
                    running = False
                state["port"] = self.port_override
                self._save_state(state)
            if not running:
                self._start(bin_dir, state)
            self._ensure_app_role(state)
            self._create_database(state, DEFAULT_DATABASE, drop_first=False)
            return self.url()

    def down(self) -> bool:
        """Stop the cluster (fast shutdown: running sessions are rolled back); True if it was running."""
        with self._lock():
            state = self._load_state()
            if state is None or not (Path(state["data_dir"]) / "PG_VERSION").exists():
                return False
            bin_dir = self._find_bin_dir(state["pg_version"])
            if bin_dir is None or not self._is_running(bin_dir, state):
                return False
            self._pg_ctl(bin_dir, state, "stop", "-m", "fast")
            return True

    def status(self) -> dict[str, Any]:
        """What exists and runs; never installs, initialises or starts anything.

        ``url`` is the URL of the ``gridmap`` database whenever the cluster is initialised (it is
        only reachable when ``running`` is also true), else None; also None for a cluster made by an
        older gridmap that ``up`` has not upgraded yet (``app_role`` None).
        """
        state = self._load_state()
        bin_dir = self._find_bin_dir(state["pg_version"] if state else None)
        initialised = state is not None and (Path(state["data_dir"]) / "PG_VERSION").exists()
        running = bool(initialised and state and bin_dir and self._is_running(bin_dir, state))
        return {
            "installed": bin_dir is not None,
            "bin_dir": str(bin_dir) if bin_dir else None,
            "initialised": initialised,
            "running": running,
            "port": state["port"] if state else self.port_override,
            "data_dir": state["data_dir"] if state else str(self.cluster_dir / "data"),
            "log_file": state["log_file"] if state else str(self.cluster_dir / "postgres.log"),
            "os_user": state["os_user"] if state else None,
            "pg_version": state["pg_version"] if state else None,
            "app_role": state.get("app_role") if state else None,
            "admin_role": self._admin_role(state) if state else None,
            "url": self.url() if initialised and state and state.get("app_password") else None,
        }

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """SQLAlchemy URL of ``database`` in this cluster as the service's role (not a superuser),
        from the saved state (no server contact)."""
        state = self._load_state()
        if state is None:
            raise LocalClusterError(
                f"The local PostgreSQL cluster in {self.cluster_dir} has not been initialised yet. "
                "Run `gridmap db up` first, or set GRIDMAP_DATABASE_URL to an existing PostGIS database."
            )
        if not state.get("app_password"):
            raise LocalClusterError(
                f"The local PostgreSQL cluster in {self.cluster_dir} was made by an older gridmap, which "
                f"connected as a superuser. Run `gridmap db up` once: it creates the role {APP_ROLE} the "
                f"service now connects as and hands it the {DEFAULT_DATABASE} database, keeping its data."
            )
        return self._url(state, state["app_role"], state["app_password"], database)

    def admin_url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` as the cluster's superuser: for administering the cluster
        (creating databases and roles, extensions), never for the service."""
        state = self._load_state()
        if state is None:
            raise LocalClusterError(f"The local PostgreSQL cluster in {self.cluster_dir} has not been initialised yet.")
        return self._url(state, self._admin_role(state), state["password"], database)

    @staticmethod
    def _url(state: dict[str, Any], role: str, password: str, database: str) -> str:
        return (
            f"postgresql+psycopg://{quote(role, safe='')}:{quote(password, safe='')}"
            f"@127.0.0.1:{state['port']}/{quote(database, safe='')}"
        )

    def ensure_database(self, name: str, *, drop_first: bool = False, template: str | None = None) -> str:
        """Create database ``name`` (with PostGIS) in the running cluster unless it exists; return its
        URL (the service's role, which owns it).

        ``drop_first`` recreates it from scratch (other sessions on it are terminated); ``template``
        copies that database (file by file: a migrated, loaded database in well under a second),
        which must have no other session open. An existing database the superuser owns (made by an
        older gridmap) is handed to the service's role with everything in it.
        """
        with self._lock():
            state = self._load_state()
            bin_dir = self._find_bin_dir(state["pg_version"]) if state else None
            if state is None or bin_dir is None or not self._is_running(bin_dir, state):
                raise LocalClusterError(
                    f"Cannot create database {name!r}: the local PostgreSQL cluster in {self.cluster_dir} "
                    "is not running. Run `gridmap db up` first."
                )
            self._ensure_app_role(state)
            self._create_database(state, name, drop_first=drop_first, template=template)
            return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ``name`` if it exists (other sessions on it are terminated)."""
        with self._lock():
            state = self._load_state()
            if state is None:
                return
            with self._connect(state, "postgres") as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def database_names(self, prefix: str = "") -> list[str]:
        """Names of the cluster's databases starting with ``prefix``."""
        state = self._load_state()
        if state is None:
            return []
        with self._connect(state, "postgres") as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1", (prefix,)
            ).fetchall()
        return [r[0] for r in rows]

    def server_user(self) -> str:
        """The OS user that runs (or will run) the server.

        Recorded in the state once initialised.  As a normal user: yourself.  As root (PostgreSQL
        refuses to run as root): ``postgres`` from the Debian packages, else a ``gridmap-pg``
        system user created now.
        """
        state = self._load_state()
        if state:
            return str(state["os_user"])
        if os.geteuid() != 0:
            return _current_user()
        for name in ("postgres", FALLBACK_SERVER_USER):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                pass
        _note(
            f"Creating system user {FALLBACK_SERVER_USER!r} to run the local PostgreSQL server (it refuses to run as root)."
        )
        res = _run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_SERVER_USER],
            timeout=60,
        )
        if res.returncode != 0:
            raise LocalClusterError(
                f"PostgreSQL cannot run as root and there is no `postgres` OS user; creating the system user "
                f"{FALLBACK_SERVER_USER!r} with useradd failed:\n{_tail(res.stdout)}"
            )
        return FALLBACK_SERVER_USER

    def runtime_dir(self, server_user: str) -> Path:
        """Directory for the data dir, socket dir and log: ``cluster_dir`` when ``server_user`` can reach it.

        As root with a home the server user cannot traverse (say a checkout under /root, mode 0700)
        we must not loosen permissions on someone's home, so the runtime files go to
        ``/var/lib/gridmap/<sha1(home)[:12]>`` instead; ``state.json`` stays in ``cluster_dir``.
        """
        state = self._load_state()
        if state:
            return Path(state["data_dir"]).parent
        self._make_cluster_dir()
        if server_user == _current_user():
            return self.cluster_dir
        probe = _run(self._as_user(server_user, ["test", "-x", str(self.cluster_dir)]), timeout=30)
        if probe.returncode == 0:
            return self.cluster_dir
        return RELOCATED_ROOT / hashlib.sha1(str(self.home).encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ installation

    def _find_bin_dir(self, version: int | None) -> Path | None:
        candidates = [version] if version is not None else _server_versions()
        for ver in candidates:
            bin_dir = PG_LIB_ROOT / str(ver) / "bin"
            if (bin_dir / "postgres").exists() and (bin_dir / "initdb").exists() and _has_postgis(ver):
                return bin_dir
        return None

    def _apt_install(self, packages: list[str]) -> None:
        by_hand = f"sudo apt-get install -y {' '.join(packages)}"
        if shutil.which("apt-get") is None:
            raise LocalClusterError(
                "PostgreSQL with PostGIS 3 is not installed and this system has no apt-get, so gridmap cannot "
                "install it. Install a PostgreSQL server (13 or newer, Debian layout under /usr/lib/postgresql) "
                "and its PostGIS 3 extension with your package manager, or set GRIDMAP_DATABASE_URL to an "
                "existing PostGIS database."
            )
        if os.geteuid() == 0:
            prefix: list[str] = []
        else:
            if shutil.which("sudo") is None or _run(["sudo", "-n", "true"], timeout=30).returncode != 0:
                why = "sudo is not installed" if shutil.which("sudo") is None else "sudo needs a password"
                raise LocalClusterError(
                    f"PostgreSQL/PostGIS must be installed from Debian packages ({' '.join(packages)}), which "
                    f"needs root, and {why}. Run `{by_hand}` yourself (as root: without sudo) and then "
                    "`gridmap db up` again, or set GRIDMAP_DATABASE_URL to an existing PostGIS database."
                )
            prefix = ["sudo", "-n"]
        # `env` because sudo resets the environment; confold/confdef and the lock timeout keep apt
        # from ever stopping to ask a question or failing just because another apt is running.
        apt = [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-o", "DPkg::Lock::Timeout=300"]
        install = [
            *apt,
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
            "install",
            "-y",
            "--no-install-recommends",
            *packages,
        ]
        _note(f"Installing PostgreSQL/PostGIS from Debian packages: {' '.join(packages)} ...")
        res = _run(install)
        if res.returncode != 0:
            # Usually missing or stale package lists (fresh container, moved mirror): refresh once.
            _note("apt-get install failed; refreshing package lists (apt-get update) and retrying ...")
            upd = _run([*apt, "update"])
            res = _run(install) if upd.returncode == 0 else upd
        if res.returncode != 0:
            raise LocalClusterError(
                f"Installing {' '.join(packages)} with apt-get failed (exit {res.returncode}). Fix the problem "
                f"below and retry, run `{by_hand}` by hand, or set GRIDMAP_DATABASE_URL to an existing PostGIS "
                f"database.\n{_tail(res.stdout)}"
            )
        _note("PostgreSQL/PostGIS installed.")

    # ------------------------------------------------------------------ cluster lifecycle

    def _initdb(self, bin_dir: Path, *, superuser: str = ADMIN_ROLE) -> dict[str, Any]:
        """Create a fresh cluster: directories, port, passwords, initdb (its superuser named
        ``superuser``), config, state.json. The service's role is created once the server runs
        (:meth:`_ensure_app_role`)."""
        if self.state_file.exists():
            # State without a data directory: it was deleted; start over with fresh credentials.
            self.state_file.unlink()
        user = self.server_user()
        base = self.runtime_dir(user)
        data, run, log = base / "data", base / "run", base / "postgres.log"
        if (data / "PG_VERSION").exists():
            raise LocalClusterError(
                f"{data} holds a PostgreSQL cluster but {self.state_file} (its port and password) is missing. "
                f"Delete {data} to start a fresh local cluster (its data will be lost), or restore the state file."
            )
        if data.is_dir() and any(data.iterdir()):
            raise LocalClusterError(f"{data} is not empty and not a PostgreSQL data directory; move it away and retry.")
        if base != self.cluster_dir:
            _note(f"OS user {user!r} cannot reach {self.cluster_dir}; keeping the cluster's files in {base} instead.")
        for d in (base, data, run):
            d.mkdir(parents=True, exist_ok=True)
        log.touch()
        pwfile = base / ".initdb-pw"
        password = secrets.token_urlsafe(24)
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        data.chmod(0o700)  # initdb/postgres insist on 0700 (or 0750) for the data directory
        run.chmod(0o700)
        if os.geteuid() == 0:
            # The server user must own what it writes; cluster_dir itself stays ours (it holds
            # state.json), a relocated base is entirely the server user's.
            owned = [data, run, log, pwfile] + ([base] if base != self.cluster_dir else [])
            for p in owned:
                shutil.chown(p, user=user, group=pwd.getpwnam(user).pw_gid)
            if base != self.cluster_dir:
                base.chmod(0o700)
        version = int(bin_dir.parent.name)
        _note(f"Initialising a PostgreSQL {version} cluster in {data} ...")
        try:
            res = _run(
                self._as_user(
                    user,
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        superuser,
                        f"--pwfile={pwfile}",
                        "--auth=scram-sha-256",
                        "-E",
                        "UTF8",
                        *_locale_args(),
                    ],
                ),
                timeout=600,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise LocalClusterError(f"initdb failed for {data} (exit {res.returncode}):\n{_tail(res.stdout)}")
        # Appended (later lines win) rather than templated: initdb's defaults stay visible above.
        socket_dir = str(run).replace("'", "''")
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# ---- gridmap: project-local dev/test cluster (written by gridmap.devdb) ----\n"
                "# The port is passed by gridmap on the command line (see state.json).\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{socket_dir}'   # ours, so /var/run/postgresql is never needed\n"
                "shared_buffers = 256MB\n"
                "max_connections = 100\n"
                "synchronous_commit = off   # a crash may lose the last few commits, never corrupts\n"
                "logging_collector = off    # pg_ctl -l sends the server log to postgres.log\n"
                "log_line_prefix = '%m [%p] %q%u@%d '\n"
                "log_timezone = 'UTC'\n"
            )
        state = {
            "version": STATE_VERSION,
            "pg_version": version,
            "port": self._choose_port(),
            "password": password,
            "superuser": superuser,
            "app_role": APP_ROLE,
            "app_password": secrets.token_urlsafe(24),
            "os_user": user,
            "home": str(self.home),
            "data_dir": str(data),
            "socket_dir": str(run),
            "log_file": str(log),
        }
        self._save_state(state)
        return state

    def _choose_port(self) -> int:
        """GRIDMAP_PG_PORT, else the first free port from a per-home starting point (stable across runs)."""
        if self.port_override:
            return self.port_override
        lo, hi = PORT_RANGE
        span = hi - lo + 1
        start = int(hashlib.sha1(str(self.home).encode()).hexdigest(), 16) % span
        for i in range(span):
            port = lo + (start + i) % span
            if _port_free(port):
                return port
        raise LocalClusterError(f"No free TCP port in {lo}-{hi} on 127.0.0.1; set GRIDMAP_PG_PORT to a free port.")

    def _check_version(self, state: dict[str, Any], bin_dir: Path) -> None:
        on_disk = (Path(state["data_dir"]) / "PG_VERSION").read_text().strip()
        if on_disk != bin_dir.parent.name:
            raise LocalClusterError(
                f"The local cluster in {state['data_dir']} was created by PostgreSQL {on_disk} but the server "
                f"found is {bin_dir.parent.name}. Install postgresql-{on_disk}, or delete the data directory "
                "to start over (its data will be lost)."
            )

    def _start(self, bin_dir: Path, state: dict[str, Any]) -> None:
        port = int(state["port"])
        if not _port_free(port):
            raise LocalClusterError(
                f"Cannot start the local PostgreSQL cluster: port {port} on 127.0.0.1 is already in use by another "
                "program. Stop that program, or choose another port with GRIDMAP_PG_PORT=<free port> (it is "
                "remembered) and run `gridmap db up` again."
            )
        _note(f"Starting the local PostgreSQL cluster on 127.0.0.1:{port} (log: {state['log_file']}) ...")
        self._pg_ctl(bin_dir, state, "start", "-l", state["log_file"], "-t", "120", "-o", f"-p {port}")

    def _is_running(self, bin_dir: Path, state: dict[str, Any]) -> bool:
        # pg_ctl status: 0 = running, 3 = not running, 4 = no usable data directory.
        cmd = self._as_user(state["os_user"], [str(bin_dir / "pg_ctl"), "status", "-D", state["data_dir"]])
        return _run(cmd, timeout=60).returncode == 0

    def _pg_ctl(self, bin_dir: Path, state: dict[str, Any], action: str, *args: str) -> None:
        cmd = self._as_user(state["os_user"], [str(bin_dir / "pg_ctl"), action, "-D", state["data_dir"], "-w", *args])
        res = _run(cmd, timeout=300)
        if res.returncode != 0:
            log = Path(state["log_file"])
            log_tail = _tail(log.read_text(errors="replace")[-20000:]) if log.exists() else "    (no log file)"
            raise LocalClusterError(
                f"`pg_ctl {action}` failed for the local cluster in {state['data_dir']} (exit {res.returncode}):\n"
                f"{_tail(res.stdout)}\nLast lines of {log}:\n{log_tail}"
            )

    def _as_user(self, user: str, cmd: list[str]) -> list[str]:
        """``cmd`` run as OS user ``user``: directly if we are that user, via runuser/setpriv as root."""
        if user == _current_user():
            return cmd
        if os.geteuid() == 0:
            if shutil.which("runuser"):
                return ["runuser", "-u", user, "--", *cmd]
            if shutil.which("setpriv"):
                pw = pwd.getpwnam(user)
                return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--", *cmd]
            raise LocalClusterError(
                f"Running PostgreSQL as {user!r} needs runuser or setpriv (Debian package util-linux); install it."
            )
        raise LocalClusterError(
            f"The local PostgreSQL cluster in {self.cluster_dir} belongs to OS user {user!r}; run gridmap as "
            f"{user!r} or as root, or use a GRIDMAP_HOME of your own."
        )

    # ------------------------------------------------------------------ SQL

    @staticmethod
    def _admin_role(state: dict[str, Any]) -> str:
        return str(state.get("superuser") or LEGACY_ADMIN_ROLE)

    def _connect(self, state: dict[str, Any], dbname: str) -> psycopg.Connection[Any]:
        """An autocommit connection to ``dbname`` as the cluster's superuser."""
        return psycopg.connect(
            host="127.0.0.1",
            port=int(state["port"]),
            user=self._admin_role(state),
            password=state["password"],
            dbname=dbname,
            autocommit=True,
            connect_timeout=15,
        )

    def _ensure_app_role(self, state: dict[str, Any]) -> None:
        """The service's role exists with exactly :data:`APP_ROLE_ATTRIBUTES` and the password in the
        state; created (and its password saved first) when a cluster made by an older gridmap lacks it."""
        role = state.setdefault("app_role", APP_ROLE)
        new_password = not state.get("app_password")
        if new_password or state.get("version", 1) < STATE_VERSION:
            if new_password:
                state["app_password"] = secrets.token_urlsafe(24)
            state["version"] = STATE_VERSION
            self._save_state(state)  # before the role: a failure below is retried with the same password
        ident = sql.Identifier(role)
        with self._connect(state, "postgres") as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolbypassrls OR rolreplication OR NOT rolcanlogin"
                " FROM pg_roles WHERE rolname = %s",
                (role,),
            ).fetchone()
            password = sql.Literal(state["app_password"])
            if row is None:
                _note(
                    f"Creating the role {role!r} the service connects as (not a superuser); "
                    f"{self._admin_role(state)!r} stays the cluster's superuser, for administration only."
                )
                try:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} " + APP_ROLE_ATTRIBUTES + " PASSWORD {}").format(ident, password)
                    )
                    return
                except errors.DuplicateObject:
                    pass  # made meanwhile by another cluster user: set its attributes and password below
            elif not row[0] and not new_password:
                return
            conn.execute(sql.SQL("ALTER ROLE {} " + APP_ROLE_ATTRIBUTES + " PASSWORD {}").format(ident, password))

    def _create_database(
        self, state: dict[str, Any], name: str, *, drop_first: bool, template: str | None = None
    ) -> None:
        """CREATE DATABASE owned by the service's role (autocommit: it cannot run in a transaction),
        CREATE EXTENSION postgis as the superuser, and hand anything the superuser owns in it to
        the service's role (:meth:`_hand_over`)."""
        ident, owner = sql.Identifier(name), sql.Identifier(state["app_role"])
        create = sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, owner)
        if template is not None:
            create = sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(ident, owner, sql.Identifier(template))
        with self._connect(state, "postgres") as conn:
            if drop_first:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            exists = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                try:
                    conn.execute(create)
                except errors.DuplicateDatabase:
                    pass  # created concurrently by another process: fine
            elif exists[0] != state["app_role"]:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, owner))
        with self._connect(state, name) as conn:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except (errors.UniqueViolation, errors.DuplicateObject):
                pass  # concurrent CREATE EXTENSION in another session won the race
            self._hand_over(conn, state, name)

    def _hand_over(self, conn: psycopg.Connection[Any], state: dict[str, Any], name: str) -> None:
        """Make the service's role the owner of everything the superuser owns in this database
        except what an extension (PostGIS) or initdb made: what an older gridmap, which connected
        as the superuser, created (tables, their sequences, ``alembic_version``, any view, function,
        type or schema). One transaction: all of it or, when a table stays locked by another
        session for 30 s, nothing (and an error saying so)."""
        admin, app = self._admin_role(state), state["app_role"]
        owned = conn.execute(
            sql.SQL("SELECT type, identity FROM ({}) objects WHERE owner = %s ORDER BY type <> 'schema', 1, 2").format(
                sql.SQL(OWNED_OBJECTS)
            ),
            (admin,),
        ).fetchall()
        if not owned:
            return
        _note(
            f"Handing {len(owned)} objects of database {name!r} (its tables and their data) from {admin!r} to {app!r} ..."
        )
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '30s'")
                for kind, identity in owned:
                    conn.execute(
                        sql.SQL("ALTER {} {} OWNER TO {}").format(
                            sql.SQL(alter_owner_keyword(kind)), sql.SQL(identity), sql.Identifier(app)
                        )
                    )
        except errors.LockNotAvailable as exc:
            raise LocalClusterError(
                f"Could not hand database {name!r} to the role {app!r}: another session kept a table locked for 30 s "
                f"({exc}). Stop what uses the database (e.g. `gridmap serve`) and run `gridmap db up` again; "
                "nothing was changed."
            ) from exc

    # ------------------------------------------------------------------ state

    @property
    def state_file(self) -> Path:
        return self.cluster_dir / "state.json"

    def _load_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LocalClusterError(f"Cannot read {self.state_file}: {exc}. Fix or delete it.") from exc
        return state if isinstance(state, dict) else None

    def _save_state(self, state: dict[str, Any]) -> None:
        """Atomic write with mode 0600 from the start: the file holds the superuser password."""
        tmp = self.state_file.with_name(".state.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.state_file)

    def _make_cluster_dir(self) -> None:
        if not self.cluster_dir.is_dir():
            self.cluster_dir.mkdir(parents=True)
            # Our own directory: world-traversable (not readable) so a root-run server can reach the
            # data dir inside it; state.json itself is 0600.
            self.cluster_dir.chmod(0o711)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise up/down/ensure_database across processes (e.g. the CLI and a test run)."""
        self._make_cluster_dir()
        with open(self.cluster_dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
