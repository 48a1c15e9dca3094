"""What a command-centre screen (``/embed``) shows for one area, in one read: the area and its
bounding box, its figures, how many areas of the coloured level lie under it and how many of them
have no installed camera, its direct children's figures (the ranking), its daily snapshots of the
last days (the trend) and its latest offline cameras.

Figures are the stored ones (:func:`gridmap.coverage.table.coverage_rows`), the trend the stored
snapshots (:func:`gridmap.coverage.snapshots.trend`), the offline list sorted and cut in
PostgreSQL (:func:`gridmap.db.cameras.offline_cameras`). Days are days in China.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, text

from gridmap.coverage.snapshots import today_in_china, trend
from gridmap.coverage.table import coverage_rows
from gridmap.db.areas import area_box, screen_root
from gridmap.db.cameras import offline_cameras
from gridmap.db.figures import count_level_below

#: The figures of a coverage row a screen shows.
FIGURES = ("planned", "installed", "online", "rollout_rate", "online_rate", "households")


def default_area(conn: Connection) -> str | None:
    """The area a screen shows without ``area``: the county (see :func:`gridmap.db.areas.screen_root`)."""
    return screen_root(conn)


def latest_snapshot(conn: Connection) -> dt.date | None:
    """The date of the newest stored snapshot (what else, beside the data revision and the day, a
    screen's trend depends on: the daily snapshot does not move the revision)."""
    return conn.execute(text("SELECT max(snapshot_date) FROM coverage_snapshot")).scalar_one()


def screen(
    conn: Connection, code: str, *, level: int, days: int, offline: int, today: dt.date | None = None
) -> dict[str, Any] | None:
    """The screen of area ``code`` (None when there is no such live area):

    - ``area``: code, name, level, bbox ([minlon, minlat, maxlon, maxlat], EPSG:4490 degrees);
    - ``figures``: the area's planned / installed / online cameras, rates (fractions, null when
      undefined) and households;
    - ``level``, ``areas``, ``blind``: how many areas of ``level`` lie at or under it, and of those
      how many have no installed camera;
    - ``children``: the coverage rows of its direct children, by code;
    - ``trend``: ``from``, ``to`` (``today`` — default today in China — and the ``days`` − 1 days
      before it) and its snapshots in between, oldest first;
    - ``offline``: ``total`` installed cameras not online under it, and the first ``offline`` of
      them (the most recently seen first).
    """
    area = area_box(conn, code)
    if area is None:
        return None
    rows = coverage_rows(conn, code=code)  # the area (the lowest level, first) and its direct children
    own = next(r for r in rows if r.code == code).to_dict()
    areas, blind = count_level_below(conn, level=level, code=code)
    end = today or today_in_china()
    start = end - dt.timedelta(days=days - 1)
    total, cameras = offline_cameras(conn, code, offline)
    for c in cameras:
        c["last_seen"] = c["last_seen"].isoformat() if c["last_seen"] is not None else None
    return {
        "area": area,
        "figures": {k: own[k] for k in FIGURES},
        "level": level,
        "areas": areas,
        "blind": blind,
        "children": [r.to_dict() for r in rows if r.code != code],
        "trend": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "points": [p.to_dict() for p in trend(conn, code, start, end)],
        },
        "offline": {"total": total, "cameras": cameras},
    }
