"""Tokens and the sample's camera register for the API tests."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from conftest import DATA_DIR
from sqlalchemy import text

from gridmap.db.tokens import create_token, revoke_token
from gridmap.sample.files import CAMERAS_CSV

#: An editor's scope (the sample's first township) and its neighbour.
SCOPE, OTHER = "411628001", "411628002"


def make_token(engine, role: str, scope: str | None = None, state: str = "active", name: str | None = None) -> str:
    """A token's secret; ``state`` expired or revoked gives a dead one."""
    with engine.begin() as conn:
        secret, row = create_token(
            conn,
            name=name or f"{role}-{scope or 'all'}-{state}",
            role=role,
            scope=scope,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
        if state == "expired":
            conn.execute(
                text("UPDATE api_token SET expires_at = now() - interval '1 minute' WHERE id = :id"), {"id": row.id}
            )
        elif state == "revoked":
            revoke_token(conn, row.id)
    return secret


def register() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / CAMERAS_CSV, dtype=str, encoding="utf-8-sig", keep_default_na=False)
