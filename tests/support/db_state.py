"""Fingerprints of the live data, for tests that check a refused or failed write changed nothing."""

from __future__ import annotations

from sqlalchemy import text


def checksums(engine) -> tuple[str, str]:
    """Fingerprints of every live area (with its version) and every camera row."""
    with engine.connect() as conn:
        areas = conn.execute(
            text("""SELECT md5(string_agg(code || ':' || coalesce(name, '') || ':'
                                     || coalesce(households::text, '') || ':' || encode(ST_AsEWKB(geom), 'hex')
                                     || ':' || coalesce(version_id::text, ''), ',' ORDER BY code)) FROM area""")
        ).scalar_one()
        cameras = conn.execute(
            text("SELECT md5(string_agg(c::text, ',' ORDER BY device_id)) FROM camera c")
        ).scalar_one()
    return areas, cameras


def revision(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT revision FROM data_revision")).scalar_one()
