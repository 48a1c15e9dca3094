"""Whole-database summary: areas per level and the county's camera figures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from gridmap.coverage.rates import rate


@dataclass(frozen=True)
class Summary:
    areas_per_level: dict[int, int]
    planned: int
    installed: int
    online: int
    cameras_unplaced: int  # cameras inside no leaf area

    @property
    def rollout_rate(self) -> float | None:
        return rate(self.installed, self.planned)

    @property
    def online_rate(self) -> float | None:
        return rate(self.online, self.installed)


def summarize(conn: Connection) -> Summary:
    levels = dict(conn.execute(text("SELECT level, count(*) FROM area GROUP BY level ORDER BY level")).all())
    # A removed camera is no longer part of the plan; a planned one counts until it is installed.
    row = conn.execute(text("""
        SELECT count(*) FILTER (WHERE status <> 'removed'),
               count(*) FILTER (WHERE status = 'installed'),
               count(*) FILTER (WHERE status = 'installed' AND online),
               count(*) FILTER (WHERE status <> 'removed' AND area_code IS NULL)
        FROM camera
    """)).one()
    return Summary({int(k): int(v) for k, v in levels.items()}, *map(int, row))
