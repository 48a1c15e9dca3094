"""Whole-database summary: areas per level and the county's camera figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from gridmap.coverage.rates import Counts


@dataclass(frozen=True)
class Summary(Counts):
    areas_per_level: dict[int, int] = field(default_factory=dict)
    cameras_unplaced: int = 0  # cameras inside no leaf area


def summarize(conn: Connection) -> Summary:
    levels: dict[int, int] = dict(
        conn.execute(text("SELECT level, count(*) FROM area GROUP BY level ORDER BY level")).all()
    )
    # A removed camera is no longer part of the plan; a planned one counts until it is installed.
    row = conn.execute(
        text("""
        SELECT count(*) FILTER (WHERE status <> 'removed'),
               count(*) FILTER (WHERE status = 'installed'),
               count(*) FILTER (WHERE status = 'installed' AND online),
               count(*) FILTER (WHERE status <> 'removed' AND area_code IS NULL)
        FROM camera
    """)
    ).one()
    planned, installed, online, unplaced = map(int, row)
    return Summary(
        planned,
        installed,
        online,
        areas_per_level={int(k): int(v) for k, v in levels.items()},
        cameras_unplaced=unplaced,
    )
