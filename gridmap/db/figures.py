"""The stored figures: ``area_stats`` (one row per live area) and ``area_operator_stats`` (per
area and operator, '' for cameras without one), moved by deltas.

An area's figures count the cameras (not removed) whose leaf area (``camera.area_code``) is the
area or lies below it along ``parent_code``: planned (status planned or installed), installed, and
online (installed and online). A write therefore moves figures by deltas — for each camera it
changed, minus its old contribution along the chain of its old leaf, plus its new one along the
chain of its new leaf. :func:`apply_deltas` does that for a batch, summed per (leaf, operator)
first, so its cost is O(changed cameras + distinct leaves × depth), whatever the size of the data.

The structure columns (``children``, ``no_camera_children`` — children with nothing installed —
and ``households``: the area's own, else its children's sum) change only when areas are replaced
or an installed count moves; :func:`refresh_structure` recomputes them for the areas given.

:func:`rebuild` recomputes everything from scratch (the sample load, repairs). The same figures
are computed independently, in Python, by :func:`gridmap.coverage.table.compute_coverage`, and
``gridmap coverage verify`` checks the two agree exactly.

Rates are stored as float8 quotients of the integer counts (PostgreSQL and Python divide two
integers to the same double): 安装率 = installed / planned, 上云率 = online / installed, NULL when the
denominator is zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from gridmap.db.areas import SUBTREE_CTE


def contribution(status: str, online: str, sign: int = 1) -> str:
    """SQL: what a camera with these ``status`` and ``online`` (SQL expressions) adds to its leaf's
    planned, installed and online (× ``sign``); nothing for a NULL status (no such camera)."""
    s = "-" if sign < 0 else ""
    return (
        f"{s}CASE WHEN {status} <> 'removed' THEN 1 ELSE 0 END, "
        f"{s}CASE WHEN {status} = 'installed' THEN 1 ELSE 0 END, "
        f"{s}CASE WHEN {status} = 'installed' AND {online} THEN 1 ELSE 0 END"
    )


_RATES = """rollout_rate = CASE WHEN {p} > 0 THEN CAST({i} AS float8) / {p} END,
            online_rate = CASE WHEN {i} > 0 THEN CAST({o} AS float8) / {i} END"""

#: Moves the figures by the deltas of ``{source}``: rows (leaf, operator, planned, installed,
#: online) of signed per-camera contributions. Returns each area whose figures moved, with its
#: level and whether its installed count moved, then each operator row left with nothing planned
#: (to delete). An area whose total did not move (one camera changing operator) is not returned.
_APPLY = """
    WITH RECURSIVE d AS (
        SELECT leaf, operator, sum(planned)::int AS planned, sum(installed)::int AS installed,
               sum(online)::int AS online
        FROM ({source}) AS s(leaf, operator, planned, installed, online)
        WHERE leaf IS NOT NULL
        GROUP BY 1, 2
        HAVING sum(planned) <> 0 OR sum(installed) <> 0 OR sum(online) <> 0
    ), chain(leaf, code, depth) AS (
        SELECT DISTINCT leaf, leaf, 0 FROM d
        UNION ALL
        SELECT chain.leaf, a.parent_code, chain.depth + 1 FROM chain JOIN area a ON a.code = chain.code
        WHERE a.parent_code IS NOT NULL AND chain.depth < 32
    ), per_operator AS (
        SELECT chain.code, d.operator, sum(d.planned)::int AS planned, sum(d.installed)::int AS installed,
               sum(d.online)::int AS online
        FROM chain JOIN d USING (leaf)
        GROUP BY 1, 2
    ), operators AS (
        INSERT INTO area_operator_stats AS t (code, operator, planned, installed, online)
        SELECT p.code, p.operator, p.planned, p.installed, p.online FROM per_operator p
        WHERE EXISTS (SELECT 1 FROM area_stats s WHERE s.code = p.code)
        ON CONFLICT (code, operator) DO UPDATE SET planned = t.planned + excluded.planned,
                                                   installed = t.installed + excluded.installed,
                                                   online = t.online + excluded.online
        RETURNING t.code, t.operator, t.planned
    ), per_area AS (
        SELECT code, sum(planned)::int AS planned, sum(installed)::int AS installed, sum(online)::int AS online
        FROM per_operator GROUP BY code
    ), totals AS (
        UPDATE area_stats s SET planned = s.planned + x.planned, installed = s.installed + x.installed,
                                online = s.online + x.online,
                                {rates}
        FROM per_area x
        WHERE s.code = x.code AND (x.planned <> 0 OR x.installed <> 0 OR x.online <> 0)
        RETURNING s.code, s.level, x.installed <> 0 AS installed_moved
    )
    SELECT code, level, installed_moved, NULL FROM totals
    UNION ALL
    SELECT code, NULL, NULL, operator FROM operators WHERE planned = 0
""".replace(
    "{rates}", _RATES.format(p="(s.planned + x.planned)", i="(s.installed + x.installed)", o="(s.online + x.online)")
)

#: Every camera's contribution (for :func:`rebuild`).
ALL_CAMERAS = f"""SELECT area_code, coalesce(operator, ''), {contribution("c.status", "c.online")}
                  FROM camera c WHERE area_code IS NOT NULL AND status <> 'removed'"""

#: Children, children without an installed camera, and households (own, else the sum of the
#: children's), for the areas of one level (deepest first, so children are final).
_STRUCTURE = """
    UPDATE area_stats s SET children = x.children, no_camera_children = x.blind,
                            households = coalesce(x.own, x.households)
    FROM (SELECT p.code, p.households AS own, count(c.code)::int AS children,
                 (count(c.code) FILTER (WHERE coalesce(cs.installed, 0) = 0))::int AS blind,
                 sum(cs.households)::int AS households
          FROM area p LEFT JOIN area c ON c.parent_code = p.code LEFT JOIN area_stats cs ON cs.code = c.code
          WHERE p.level = :level AND (CAST(:codes AS text[]) IS NULL OR p.code = ANY(CAST(:codes AS text[])))
          GROUP BY p.code, p.households) x
    WHERE s.code = x.code
"""


@dataclass(frozen=True)
class Moved:
    """What :func:`apply_deltas` moved: the areas whose figures changed (by level), and those whose
    installed count changed (their parents' ``no_camera_children`` may change)."""

    codes: list[str]
    installed_codes: list[str]


def apply_deltas(conn: Connection, source_sql: str, params: dict[str, Any] | None = None) -> Moved:
    """Move the stored figures by the signed per-camera contributions ``source_sql`` yields as
    (leaf, operator, planned, installed, online); on the caller's transaction. Areas not in
    ``area_stats`` (a leaf code no longer live) are skipped. Operator rows that drop to nothing
    planned are deleted."""
    rows = [tuple(r) for r in conn.execute(text(_APPLY.format(source=source_sql)), params or {}).all()]
    totals = sorted((r for r in rows if r[3] is None), key=lambda r: (r[1], r[0]))
    emptied = [(r[0], r[3]) for r in rows if r[3] is not None]
    if emptied:
        conn.execute(
            text("""DELETE FROM area_operator_stats o
                             USING unnest(CAST(:codes AS text[]), CAST(:operators AS text[])) AS e(code, operator)
                             WHERE o.code = e.code AND o.operator = e.operator AND o.planned = 0"""),
            {"codes": [c for c, _ in emptied], "operators": [o for _, o in emptied]},
        )
    return Moved([r[0] for r in totals], [r[0] for r in totals if r[2]])


def reset_areas(conn: Connection, removed: Iterable[str], added: Iterable[str]) -> None:
    """Areas replaced by a publish: drop the rows of ``removed`` and give each of ``added`` (live
    now) a row with no cameras yet; :func:`apply_deltas` and :func:`refresh_structure` fill them."""
    removed, added = sorted(set(removed)), sorted(set(added))
    both = sorted(set(removed) | set(added))
    conn.execute(text("DELETE FROM area_operator_stats WHERE code = ANY(:codes)"), {"codes": both})
    conn.execute(text("DELETE FROM area_stats WHERE code = ANY(:codes)"), {"codes": both})
    conn.execute(
        text("""INSERT INTO area_stats (code, level, planned, installed, online, households)
                         SELECT code, level, 0, 0, 0, households FROM area WHERE code = ANY(:codes)"""),
        {"codes": added},
    )


def refresh_structure(conn: Connection, codes: Sequence[str] | None) -> None:
    """Recompute children, no_camera_children and households of ``codes`` (None: every area),
    deepest level first; an area's children must be current already (or among ``codes``)."""
    params: dict[str, Any] = {"codes": None if codes is None else sorted(set(codes))}
    if codes is not None and not params["codes"]:
        return
    levels = (
        conn.execute(
            text("""SELECT DISTINCT level FROM area
                                  WHERE CAST(:codes AS text[]) IS NULL OR code = ANY(CAST(:codes AS text[]))
                                  ORDER BY level DESC"""),
            params,
        )
        .scalars()
        .all()
    )
    for level in levels:
        conn.execute(text(_STRUCTURE), {**params, "level": level})


def parents_of(conn: Connection, codes: Sequence[str]) -> list[str]:
    """The parent codes of ``codes`` (live areas), without duplicates."""
    if not codes:
        return []
    return list(
        conn.execute(
            text("""SELECT DISTINCT parent_code FROM area
                                     WHERE code = ANY(:codes) AND parent_code IS NOT NULL"""),
            {"codes": list(codes)},
        ).scalars()
    )


def chain_of(conn: Connection, code: str | None) -> list[str]:
    """``code`` and every area above it, along parent_code (empty for None)."""
    if code is None:
        return []
    return list(
        conn.execute(
            text("""
        WITH RECURSIVE up(code, depth) AS (
            SELECT code, 0 FROM area WHERE code = :code
            UNION ALL
            SELECT a.parent_code, up.depth + 1 FROM up JOIN area a ON a.code = up.code
            WHERE a.parent_code IS NOT NULL AND up.depth < 32
        ) SELECT code FROM up"""),
            {"code": code},
        ).scalars()
    )


def rebuild(conn: Connection) -> int:
    """Every area's figures from scratch (on the caller's transaction); returns the areas."""
    conn.execute(text("DELETE FROM area_operator_stats"))
    conn.execute(text("DELETE FROM area_stats"))
    n = conn.execute(
        text("""INSERT INTO area_stats (code, level, planned, installed, online, households)
                             SELECT code, level, 0, 0, 0, households FROM area""")
    ).rowcount
    apply_deltas(conn, ALL_CAMERAS)
    refresh_structure(conn, None)
    return int(n)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

_ROW_COLUMNS = """a.code, a.name, a.level, a.parent_code, a.area_m2,
    coalesce(s.planned, 0), coalesce(s.installed, 0), coalesce(s.online, 0), s.rollout_rate, s.online_rate,
    s.households, coalesce(s.children, 0), coalesce(s.no_camera_children, 0),
    (SELECT coalesce(json_agg(json_build_array(o.operator, o.planned, o.installed, o.online)
                              ORDER BY o.operator COLLATE "C"), '[]'::json)
     FROM area_operator_stats o WHERE o.code = a.code)"""


@dataclass(frozen=True)
class FigureRow:
    code: str
    name: str | None
    level: int
    parent_code: str | None
    area_m2: float | None
    planned: int
    installed: int
    online: int
    rollout_rate: float | None
    online_rate: float | None
    households: int | None
    children: int
    no_camera_children: int
    #: (operator, planned, installed, online), operator '' for none.
    operators: list[tuple[str, int, int, int]]


def select_figures(
    conn: Connection,
    *,
    level: int | None = None,
    code: str | None = None,
    only_blind: bool = False,
    every_area: bool = False,
) -> list[FigureRow] | None:
    """The stored rows of ``gridmap coverage``, by level then code (None when ``code`` is not a
    live area):

    - neither: the provinces and cities (levels -2, -1), the counties and the townships (0, 1);
    - ``level``: every area of that level (with ``code``: those at or below ``code``);
    - ``code`` alone: that area and its direct children;
    - ``every_area``: every live area.

    ``only_blind``: only areas with no installed camera.
    """
    params: dict[str, Any] = {"level": level, "root": code}
    if (
        code is not None
        and not conn.execute(text("SELECT EXISTS (SELECT 1 FROM area WHERE code = :root)"), params).scalar_one()
    ):
        return None
    ctes = ""
    if every_area:
        where = "true"
    elif level is None and code is None:
        where = "a.level <= 1"  # the provinces and cities above the counties too
    elif level is None:
        where = "(a.code = :root OR a.parent_code = :root)"
    elif code is None:
        where = "a.level = :level"
    else:
        ctes, where = f"WITH RECURSIVE {SUBTREE_CTE} ", "a.level = :level AND a.code IN (SELECT code FROM sub)"
    if only_blind:
        where += " AND coalesce(s.installed, 0) = 0"
    rows = conn.execute(
        text(f"""{ctes}SELECT {_ROW_COLUMNS}
                                FROM area a LEFT JOIN area_stats s ON s.code = a.code
                                WHERE {where} ORDER BY a.level, a.code COLLATE "C" """),
        params,
    ).all()
    # mypy cannot count the columns in r[:13] (a tuple of unknown length)
    return [FigureRow(*r[:13], [tuple(o) for o in r[13]]) for r in rows]  # type: ignore[call-arg]


def planned_in(conn: Connection, code: str) -> int | None:
    """The stored number of cameras (not removed) in area ``code`` and below; None for no such area."""
    value = conn.execute(text("SELECT planned FROM area_stats WHERE code = :code"), {"code": code}).scalar_one_or_none()
    return None if value is None else int(value)


def count_areas(conn: Connection, *, level: int, code: str | None = None) -> int:
    """How many areas of ``level`` there are (at or below ``code``)."""
    if code is None:
        return int(conn.execute(text("SELECT count(*) FROM area WHERE level = :level"), {"level": level}).scalar_one())
    return count_level_below(conn, level=level, code=code)[0]


def count_level_below(conn: Connection, *, level: int, code: str) -> tuple[int, int]:
    """(how many areas of ``level`` there are at or below ``code``, how many of them have no
    installed camera)."""
    total, blind = conn.execute(
        text(f"""WITH RECURSIVE {SUBTREE_CTE}
                 SELECT count(*), count(*) FILTER (WHERE coalesce(s.installed, 0) = 0)
                 FROM area a LEFT JOIN area_stats s ON s.code = a.code
                 WHERE a.level = :level AND a.code IN (SELECT code FROM sub)"""),
        {"level": level, "root": code},
    ).one()
    return int(total), int(blind)
