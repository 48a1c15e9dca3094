"""Bulk writes through PostgreSQL COPY (tens of thousands of rows in well under a second)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
from psycopg import sql
from sqlalchemy import Connection

from gridmap.config import STORAGE_SRID


def ewkb_hex(geoms: np.ndarray, srid: int = STORAGE_SRID) -> list[str]:
    """Hex EWKB with the SRID embedded: PostGIS parses it as geometry input in COPY text format."""
    return shapely.to_wkb(shapely.set_srid(geoms, srid), hex=True, include_srid=True).tolist()


def copy_columns(conn: Connection, table: str, columns: Mapping[str, Sequence[object]]) -> None:
    """COPY equal-length column lists (column name → values) into ``table`` on the connection's
    current transaction; numpy scalars and pandas NA/NaT are written as plain values / NULL."""
    raw = conn.connection.driver_connection  # psycopg.Connection underneath SQLAlchemy
    assert raw is not None  # set while the connection is open
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in zip(*columns.values(), strict=True):
            copy.write_row([_plain(v) for v in row])


def _plain(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value
