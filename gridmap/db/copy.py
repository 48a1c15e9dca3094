"""Bulk writes through PostgreSQL COPY (tens of thousands of rows in well under a second)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import shapely
from psycopg import sql
from sqlalchemy import Connection

from gridmap.config import STORAGE_SRID


def ewkb_hex(geoms: np.ndarray, srid: int = STORAGE_SRID) -> list[str]:
    """Hex EWKB with the SRID embedded: PostGIS parses it as geometry input in COPY text format."""
    return shapely.to_wkb(shapely.set_srid(geoms, srid), hex=True, include_srid=True).tolist()


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """COPY ``rows`` into ``table`` on the connection's current transaction."""
    raw = conn.connection.driver_connection  # psycopg.Connection underneath SQLAlchemy
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def plain(value: object) -> object:
    """numpy scalars and pandas NA/NaT as plain Python values, which COPY can write."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value
