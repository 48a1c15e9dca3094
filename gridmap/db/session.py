"""Which database to talk to, and engines for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine

from gridmap.config import get_settings
from gridmap.devdb import LocalCluster


def database_url(*, start_local: bool = False) -> str:
    """``GRIDMAP_DATABASE_URL`` when set (production); otherwise the project-local cluster's URL (as
    its role ``gridmap_app``, not a superuser), bringing the cluster up first (and upgrading one made
    by an older gridmap) when ``start_local`` is true."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    cluster = LocalCluster.from_settings(settings)
    return cluster.up() if start_local else cluster.url()


def make_engine(url: str | None = None) -> Engine:
    return create_engine(url or database_url(), pool_pre_ping=True)


@contextmanager
def engine_scope(url: str | None = None) -> Iterator[Engine]:
    """An engine for one command, disposed (its connections closed) when the block ends."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


#: SQLSTATEs of values the database cannot take (data exceptions caused by what was sent, not by
#: our SQL): text too long, number out of range, bad date or text, a character the encoding lacks,
#: "\u0000" in JSON. psycopg itself refuses a NUL in text before sending (a DataError without one).
BAD_VALUE_STATES = frozenset({"22001", "22003", "22007", "22008", "22021", "22P02", "22P05"})


def is_bad_value(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, or SQLAlchemy's wrapper of one) is the database refusing a
    value a user brought — a NUL character, a number or a date out of range — rather than a fault
    of ours (a division by zero in a query stays one)."""
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, psycopg.DataError) and (orig.sqlstate is None or orig.sqlstate in BAD_VALUE_STATES)
