"""Coverage per area at every level: planned, installed and online cameras, rates, density, the
operators, and which children have no camera.

Counts come from each camera's leaf area (``camera.area_code``, see ``gridmap.db.cameras``) and
are rolled up the ``parent_code`` chain, so a township's figures are exactly the sum of its
villages', whatever the code scheme. A removed camera counts nowhere; a planned one counts as
planned only; an installed one as planned and installed; an online one in all three.

Two ways to the same rows:

- :func:`coverage_rows` / :func:`blind_rows` read the stored figures (``area_stats``, moved by
  deltas on every write, see :mod:`gridmap.db.figures`): what the API, the CLI, maps and the
  notebook show. A few milliseconds for the default rows, whatever the number of cameras.
- :func:`compute_coverage` recomputes every area from the camera table, in Python, independently
  of the stored figures: ``gridmap coverage verify`` compares the two (:func:`differences`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from gridmap.coverage.rates import Counts
from gridmap.db.figures import FigureRow, count_areas, select_figures

#: Default level of `gridmap coverage blind`: 网格 (grids), the level "覆盖到每个网格" speaks of.
BLIND_DEFAULT_LEVEL = 3

_COUNTS_SQL = text("""
    WITH RECURSIVE leaf_counts AS (
        SELECT area_code AS code, coalesce(operator, '') AS operator,
               count(*) AS planned,
               count(*) FILTER (WHERE status = 'installed') AS installed,
               count(*) FILTER (WHERE status = 'installed' AND online) AS online
        FROM camera WHERE area_code IS NOT NULL AND status <> 'removed'
        GROUP BY 1, 2
    ), chain(leaf, code) AS (
        SELECT DISTINCT code, code FROM leaf_counts
        UNION ALL
        SELECT chain.leaf, a.parent_code FROM chain JOIN area a ON a.code = chain.code
        WHERE a.parent_code IS NOT NULL
    )
    SELECT chain.code, lc.operator, sum(lc.planned)::int, sum(lc.installed)::int, sum(lc.online)::int
    FROM chain JOIN leaf_counts lc ON lc.code = chain.leaf
    GROUP BY 1, 2
""")
_AREAS_SQL = text("SELECT code, name, level, parent_code, households, area_m2 FROM area ORDER BY level, code")


@dataclass(frozen=True)
class CoverageRow:
    """One area's coverage. Rates are fractions (0.9551), None where the denominator is zero."""

    code: str
    name: str | None
    level: int
    parent_code: str | None
    counts: Counts
    #: Area in km² (measured in the data's Gauss-Krüger zone when the boundaries were written).
    area_km2: float | None
    households: int | None
    children: int
    #: Direct children with no installed camera (0 for a leaf: it has no children).
    no_camera_children: int
    operators: dict[str, Counts] = field(default_factory=dict)

    planned = property(lambda self: self.counts.planned)
    installed = property(lambda self: self.counts.installed)
    online = property(lambda self: self.counts.online)
    rollout_rate = property(lambda self: self.counts.rollout_rate)
    online_rate = property(lambda self: self.counts.online_rate)

    @property
    def cameras_per_km2(self) -> float | None:
        """Installed cameras per km²; None when the area's size is unknown or zero."""
        return self.installed / self.area_km2 if self.area_km2 else None

    @property
    def households_per_camera(self) -> float | None:
        """Households per installed camera; None when nothing is installed or households unknown."""
        return self.households / self.installed if self.households is not None and self.installed else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON row of `gridmap coverage --format json` and the API."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "parent_code": self.parent_code,
            "planned": self.planned,
            "installed": self.installed,
            "online": self.online,
            "rollout_rate": self.rollout_rate,
            "online_rate": self.online_rate,
            "cameras_per_km2": _round(self.cameras_per_km2, 4),
            "households": self.households,
            "households_per_camera": _round(self.households_per_camera, 2),
            "area_km2": _round(self.area_km2, 4),
            "children": self.children,
            "no_camera_children": self.no_camera_children,
            "operators": {
                op or "未知": {**asdict(c), "rollout_rate": c.rollout_rate, "online_rate": c.online_rate}
                for op, c in sorted(self.operators.items())
            },
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Coverage:
    """Coverage of every live area, by code, as :func:`compute_coverage` computes it."""

    rows: dict[str, CoverageRow]
    children: dict[str | None, list[str]]


def coverage_rows(conn: Connection, *, level: int | None = None, code: str | None = None) -> list[CoverageRow]:
    """The rows `gridmap coverage` prints, from the stored figures, sorted by level then code:

    - neither: the provinces and cities (levels -2, -1), the counties and the townships (0, 1);
    - ``level``: every area of that level (under ``code`` when given);
    - ``code`` alone: that area and its direct children.
    Raises KeyError for an unknown code.
    """
    rows = select_figures(conn, level=level, code=code)
    if rows is None:
        raise KeyError(code)
    return [_stored_row(r) for r in rows]


#: How blind rows may be ordered: by code (the CLI's order), or most households first.
BLIND_SORTS = ("code", "households")


def blind_rows(
    conn: Connection, *, level: int = BLIND_DEFAULT_LEVEL, code: str | None = None, sort: str = "code"
) -> tuple[list[CoverageRow], int]:
    """(areas of ``level`` under ``code`` with no installed camera, by code, or with ``sort``
    "households" most households first (unknown last, ties by code); how many areas of that level
    there are there). Raises KeyError for an unknown code."""
    rows = select_figures(conn, level=level, code=code, only_blind=True)
    if rows is None:
        raise KeyError(code)
    out = [_stored_row(r) for r in rows]
    if sort == "households":
        out.sort(key=lambda r: (r.households is None, -(r.households or 0), r.code))
    return out, count_areas(conn, level=level, code=code)


def _stored_row(r: FigureRow) -> CoverageRow:
    return CoverageRow(
        code=r.code,
        name=r.name,
        level=int(r.level),
        parent_code=r.parent_code,
        counts=Counts(r.planned, r.installed, r.online),
        area_km2=r.area_m2 / 1e6 if r.area_m2 is not None else None,
        households=r.households,
        children=r.children,
        no_camera_children=r.no_camera_children,
        operators={op: Counts(p, i, o) for op, p, i, o in r.operators},
    )


def differences(conn: Connection, limit: int = 20) -> list[str]:
    """How the stored figures differ from a recomputation from scratch (empty: they agree
    exactly), at most ``limit`` lines, each naming the area and the figure."""
    computed = compute_coverage(conn).rows
    figures = {f.code: f for f in select_figures(conn, every_area=True) or []}
    stored_codes = set(conn.execute(text("SELECT code FROM area_stats")).scalars())
    found: list[str] = []
    for code in sorted(computed.keys() | stored_codes):
        want, row = computed.get(code), figures.get(code)
        if want is None:
            found.append(f"{code}: stored figures of an area that is gone")
        elif code not in stored_codes:
            found.append(f"{code}: no stored figures")
        else:
            assert row is not None  # a live area (computed has it), so select_figures listed it
            have = _stored_row(row)
            for name in ("counts", "households", "children", "no_camera_children", "operators"):
                if getattr(want, name) != getattr(have, name):
                    found.append(f"{code}: {name} stored {getattr(have, name)!r}, computed {getattr(want, name)!r}")
            if (row.rollout_rate, row.online_rate) != (want.rollout_rate, want.online_rate):
                found.append(
                    f"{code}: rates stored {(row.rollout_rate, row.online_rate)!r}, "
                    f"computed {(want.rollout_rate, want.online_rate)!r}"
                )
        if len(found) >= limit:
            break
    return found


def compute_coverage(conn: Connection) -> Coverage:
    """Counts, rates and roll-ups for every live area, from scratch (one query for the counts, one
    for areas)."""
    per_operator: dict[str, dict[str, Counts]] = defaultdict(dict)
    for code, operator, planned, installed, online in conn.execute(_COUNTS_SQL):
        per_operator[code][operator] = Counts(planned, installed, online)
    areas = conn.execute(_AREAS_SQL).all()
    children: dict[str | None, list[str]] = defaultdict(list)
    for code, _name, _level, parent, _hh, _m2 in areas:
        children[parent].append(code)
    totals = {code: sum(ops.values(), Counts()) for code, ops in per_operator.items()}
    households = _households(areas, children)
    rows = {}
    for code, name, level, parent, _hh, area_m2 in areas:
        kids = children.get(code, [])
        rows[code] = CoverageRow(
            code=code,
            name=name,
            level=int(level),
            parent_code=parent,
            counts=totals.get(code, Counts()),
            area_km2=area_m2 / 1e6 if area_m2 is not None else None,
            households=households.get(code),
            children=len(kids),
            no_camera_children=sum(1 for k in kids if totals.get(k, Counts()).installed == 0),
            operators=per_operator.get(code, {}),
        )
    return Coverage(rows, dict(children))


def _households(areas: Iterable[tuple], children: dict[str | None, list[str]]) -> dict[str, int | None]:
    """Each area's households: its own figure, or the sum of its children's when it has none."""
    own = {code: hh for code, _n, _l, _p, hh, _m in areas}
    out: dict[str, int | None] = {}
    for code, _n, _level, _p, _hh, _m in sorted(areas, key=lambda a: -a[2]):  # deepest first
        if own[code] is not None:
            out[code] = int(own[code])
        else:
            kids = [kid_hh for k in children.get(code, []) if (kid_hh := out.get(k)) is not None]
            out[code] = sum(kids) if kids else None
    return out


def cameras_outside(conn: Connection) -> list[dict[str, object]]:
    """Cameras (not removed) that no leaf area covers, by device id: where they are and what they are."""
    rows = (
        conn.execute(
            text("""
        SELECT device_id, name, status, online, operator, ST_X(geom) AS lon, ST_Y(geom) AS lat, raw_crs
        FROM camera WHERE area_code IS NULL AND status <> 'removed' ORDER BY device_id
    """)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]
