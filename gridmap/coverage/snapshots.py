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
from gridmap.levels import CITY, LEVELS, PROVINCE

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


#: The advisory lock key of the daily snapshot (one process takes it; the others skip that round).
_DAILY_LOCK = 0x67_6D_73_6E  # "gmsn"


def take_daily_snapshot(conn: Connection, day: dt.date | None = None) -> int | None:
    """Today's snapshot (``day``, default today in China) unless one exists: the server's daily
    task (``GRIDMAP_SNAPSHOT_CHECK``). Idempotent per day (the rows' key is (date, area code); a
    day that has any snapshot row is left as it is, so a snapshot taken by hand or by the sample
    load is never replaced), and one process at a time (a transaction-scoped advisory lock: a
    second server finding it taken skips this round). Returns the number of areas written, 0 when
    the day already had its snapshot, None when another process holds the lock."""
    day = day or today_in_china()
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _DAILY_LOCK}).scalar():
        return None
    exists = conn.execute(text("SELECT EXISTS (SELECT 1 FROM coverage_snapshot WHERE snapshot_date = :d)"), {"d": day})
    if exists.scalar():
        return 0
    return take_snapshot(conn, day)


def write_history(conn: Connection, root: str, end: dt.date, days: int = 30) -> int:
    """A deterministic made-up history for the demo: ``days`` daily snapshots of the areas under
    ``root`` (codes starting with it) ending at ``end``, whose last day is the stored figures
    exactly and whose earlier days ramp up to them (installed from about 72 % of today's 30 days
    before, the online share wobbling up to 2.4 points below today's). Replaces the snapshots of
    those areas on those days; returns the rows written. Counts only, no units; dates are days
    in China."""
    start = end - dt.timedelta(days=days - 1)
    conn.execute(
        text("""DELETE FROM coverage_snapshot
                WHERE snapshot_date BETWEEN :start AND :end AND area_code LIKE :root || '%'"""),
        {"start": start, "end": end, "root": root},
    )
    # k days before the end: installed × (1 − 0.28·(k/(days−1))^0.8), online × the same × a wobble of
    # 0–2.4 % (0.012·(1 − cos 1.3k), zero at k = 0); floors keep installed ≤ planned, online ≤ installed.
    written = int(
        conn.execute(
            text("""
        INSERT INTO coverage_snapshot (snapshot_date, area_code, level, planned, installed, online)
        SELECT CAST(:end AS date) - k, s.code, a.level, s.planned,
               floor(s.installed * r.f)::int,
               floor(s.online * r.f * (1 - 0.012 * (1 - cos(1.3 * k))))::int
        FROM generate_series(0, :days - 1) AS k
        CROSS JOIN LATERAL (SELECT 1 - 0.28 * power(k::float / greatest(:days - 1, 1), 0.8) AS f) r
        CROSS JOIN area_stats s JOIN area a ON a.code = s.code
        WHERE s.code LIKE :root || '%' AND a.level >= 0"""),
            {"end": end, "days": days, "root": root},
        ).rowcount
    )
    if len(root) > LEVELS[0].code_length:  # below a county: its county's (and so the regions') history is untouched
        return written
    return written + sum_region_snapshots(conn, start, end)


def sum_region_snapshots(conn: Connection, start: dt.date, end: dt.date) -> int:
    """The snapshots of the cities and provinces (``gridmap.db.regions``) from ``start`` to ``end``
    as the sums of their children's snapshots on each day (cities first, then provinces), so a
    region's trend is its counties' added up; returns the rows written."""
    written = 0
    for level in (CITY.number, PROVINCE.number):
        conn.execute(
            text("""DELETE FROM coverage_snapshot WHERE snapshot_date BETWEEN :start AND :end AND level = :level"""),
            {"start": start, "end": end, "level": level},
        )
        written += conn.execute(
            text("""
            INSERT INTO coverage_snapshot (snapshot_date, area_code, level, planned, installed, online)
            SELECT s.snapshot_date, r.code, r.level, sum(s.planned)::int, sum(s.installed)::int, sum(s.online)::int
            FROM area r JOIN area c ON c.parent_code = r.code
            JOIN coverage_snapshot s ON s.area_code = c.code AND s.snapshot_date BETWEEN :start AND :end
            WHERE r.level = :level
            GROUP BY s.snapshot_date, r.code, r.level"""),
            {"start": start, "end": end, "level": level},
        ).rowcount
    return written
