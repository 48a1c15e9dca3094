"""Daily coverage snapshots: the server's once-a-day task (idempotent per day, one process at a
time) and the sample load's made-up history (a ramp ending at the loaded figures exactly).
Dates are relative to the one the sample load wrote, never to the machine's clock."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from api_server import serve
from conftest import loaded_database
from sqlalchemy import text

from gridmap.coverage.snapshots import take_daily_snapshot, trend, write_history
from gridmap.sample.load import HISTORY_DAYS, SAMPLE_COUNTY_CODE

COUNTY = SAMPLE_COUNTY_CODE


@pytest.fixture(scope="module")
def own_engine():
    _, engine = loaded_database("gridmap_test_snapshots")
    yield engine
    engine.dispose()


def county_now(conn) -> tuple[int, int, int]:
    row = conn.execute(text("SELECT planned, installed, online FROM area_stats WHERE code = :c"), {"c": COUNTY}).one()
    return tuple(row)


def rows_on(conn, day: dt.date) -> int:
    return conn.execute(text("SELECT count(*) FROM coverage_snapshot WHERE snapshot_date = :d"), {"d": day}).scalar()


def test_the_sample_load_writes_a_ramp_ending_at_the_exact_figures(own_engine):
    with own_engine.connect() as conn:
        points = trend(conn, COUNTY)
        now = county_now(conn)
        areas = conn.execute(text("SELECT count(*) FROM area")).scalar()
        last = points[-1].day
        assert rows_on(conn, last) == areas  # every area, each day
    assert len(points) == HISTORY_DAYS
    assert [p.day for p in points] == [last - dt.timedelta(days=HISTORY_DAYS - 1 - i) for i in range(HISTORY_DAYS)]
    assert (points[-1].planned, points[-1].installed, points[-1].online) == now == (10520, 10048, 9896)
    installed = [p.installed for p in points]
    assert installed == sorted(installed) and installed[0] < 0.8 * installed[-1]  # a rollout ramp
    assert all(p.planned == 10520 and p.online <= p.installed for p in points)
    assert len({round(p.online_rate, 4) for p in points}) > 3  # the online rate moves too


def test_the_daily_snapshot_is_taken_once_a_day(own_engine):
    with own_engine.begin() as conn:
        last = trend(conn, COUNTY)[-1].day
        day = last + dt.timedelta(days=1)  # a day without a snapshot
        assert take_daily_snapshot(conn, last) == 0  # the sample's history already has that day
        areas = take_daily_snapshot(conn, day)
        assert areas == rows_on(conn, day) > 12000
        assert take_daily_snapshot(conn, day) == 0  # again the same day: nothing written
        assert rows_on(conn, day) == areas
        conn.execute(text("DELETE FROM coverage_snapshot WHERE snapshot_date = :d"), {"d": day})


def test_one_process_at_a_time(own_engine):
    with own_engine.begin() as first, own_engine.begin() as second:
        day = trend(first, COUNTY)[-1].day + dt.timedelta(days=2)
        assert take_daily_snapshot(first, day) > 0
        assert take_daily_snapshot(second, day) is None  # the first holds the lock until it commits
        first.execute(text("DELETE FROM coverage_snapshot WHERE snapshot_date = :d"), {"d": day})


def test_write_history_replaces_only_its_days_and_areas(own_engine):
    with own_engine.begin() as conn:
        end = trend(conn, COUNTY)[-1].day
        before = conn.execute(text("SELECT count(*) FROM coverage_snapshot")).scalar()
        town = conn.execute(text("SELECT min(code) FROM area WHERE level = 1")).scalar()
        written = write_history(conn, town, end, 5)
        assert (
            written
            == 5 * conn.execute(text("SELECT count(*) FROM area WHERE code LIKE :t || '%'"), {"t": town}).scalar()
        )
        assert conn.execute(text("SELECT count(*) FROM coverage_snapshot")).scalar() == before
        conn.rollback()


def test_the_server_takes_todays_snapshot_when_it_is_missing(own_engine):
    """The lifespan task (GRIDMAP_SNAPSHOT_CHECK): today (China time, as the server sees it) loses
    its snapshot, a server starts, and the snapshot is back."""
    from gridmap.coverage.snapshots import today_in_china

    with own_engine.begin() as conn:
        conn.execute(text("DELETE FROM coverage_snapshot WHERE snapshot_date >= :d"), {"d": today_in_china()})
    with serve(own_engine, snapshot_check_s=0.2):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with own_engine.connect() as conn:
                if rows_on(conn, today_in_china()):
                    break
            time.sleep(0.2)
    with own_engine.connect() as conn:
        assert rows_on(conn, today_in_china()) == conn.execute(text("SELECT count(*) FROM area")).scalar()
