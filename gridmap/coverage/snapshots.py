"""Daily coverage snapshots and trends.

``take_snapshot`` stores every area's planned / installed / online counts for a date (today in
China by default); taking it again the same day replaces that day's figures, so a nightly job
can be re-run safely. ``trend`` reads one area's figures over time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from gridmap.coverage.rates import Counts

CHINA = ZoneInfo("Asia/Shanghai")


def today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()


def take_snapshot(conn: Connection, day: dt.date | None = None) -> int:
    """Store the coverage of every live area (the stored figures) for ``day``; returns the number
    of areas written."""
    day = day or today_in_china()
    conn.execute(text("DELETE FROM coverage_snapshot WHERE snapshot_date = :d"), {"d": day})
    return int(
        conn.execute(
            text("""
        INSERT INTO coverage_snapshot (snapshot_date, area_code, level, planned, installed, online)
        SELECT :d, s.code, a.level, s.planned, s.installed, s.online
        FROM area_stats s JOIN area a ON a.code = s.code"""),
            {"d": day},
        ).rowcount
    )


@dataclass(frozen=True)
class TrendPoint(Counts):
    day: dt.date = field(kw_only=True)

    def to_dict(self) -> dict[str, object]:
        return {
            "date": self.day.isoformat(),
            "planned": self.planned,
            "installed": self.installed,
            "online": self.online,
            "rollout_rate": self.rollout_rate,
            "online_rate": self.online_rate,
        }


def trend(conn: Connection, code: str, start: dt.date | None = None, end: dt.date | None = None) -> list[TrendPoint]:
    """The snapshots of area ``code`` between ``start`` and ``end`` (inclusive), oldest first."""
    rows = conn.execute(
        text("""
        SELECT snapshot_date, planned, installed, online FROM coverage_snapshot
        WHERE area_code = :code
          AND snapshot_date >= coalesce(CAST(:start AS date), '-infinity'::date)
          AND snapshot_date <= coalesce(CAST(:end AS date), 'infinity'::date)
        ORDER BY snapshot_date
    """),
        {"code": code, "start": start, "end": end},
    ).all()
    return [TrendPoint(planned, installed, online, day=day) for day, planned, installed, online in rows]


def snapshot_dates(conn: Connection) -> list[dt.date]:
    return list(conn.execute(text("SELECT DISTINCT snapshot_date FROM coverage_snapshot ORDER BY 1")).scalars())
