"""Validation of an upload, end to end: geometry → codes → scope → parents → partition → policy.

``validate_areas`` is what the CLI and the API call; ``analyse`` also returns the intermediate
arrays that repair needs. The database is reached only through ``parent_lookup`` (injected by the
caller), so this module is pure geometry and can run with no database at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.geometry.codes import Hierarchy, check_codes, check_orphans
from gridmap.geometry.metric import metric_crs, to_metric, to_storage
from gridmap.geometry.partition import Tolerances, check_partition
from gridmap.geometry.policy import DEFAULT_HOUSEHOLDS, check_households
from gridmap.geometry.report import KINDS, Finding, ValidationReport
from gridmap.geometry.scope import Scope, upload_scope
from gridmap.geometry.validity import Validity, check_validity
from gridmap.io.cad import CANDIDATES_COLUMN
from gridmap.levels import STANDARD, Scheme

#: Database parents densified along straight edges (at least half their vertices within this
#: distance, degrees in EPSG:4490, ~10 µm, of the line through their neighbours) lose those vertices
#: before they are projected: far fewer vertices to project and to compare. Other parents stay as
#: stored (their few collinear vertices, where children meet their edge, let the exact-match fast
#: path prove them covered).
_COLLINEAR_DEG = 1e-10


def _without_collinear(geoms: np.ndarray) -> np.ndarray:
    """``geoms`` (EPSG:4490), the densified ones (see ``_COLLINEAR_DEG``) without the vertices that
    lie within ``_COLLINEAR_DEG`` of the line through the vertices kept (Douglas–Peucker); a
    boundary moves by at most that."""
    simple = shapely.simplify(geoms, _COLLINEAR_DEG, preserve_topology=False)
    dense = 2 * shapely.get_num_coordinates(simple) < shapely.get_num_coordinates(geoms)
    return np.where(dense & ~shapely.is_empty(simple), simple, geoms)


#: ``parent_lookup(scope, codes)`` returns the database areas (columns code, level, parent_code,
#: geometry in EPSG:4490) that are ``codes``, sit at ``scope.parent_level`` under ``scope.root``, or,
#: for a single-area upload, are that area's live siblings (see ``gridmap.db.areas.parent_areas``).
ParentLookup = Callable[[Scope, set[str]], gpd.GeoDataFrame]


@dataclass(frozen=True)
class ValidationOptions:
    """What counts as a defect. Tolerances in metres / m²; households ranges per level."""

    tolerances: Tolerances = field(default_factory=Tolerances)
    households: Mapping[int, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_HOUSEHOLDS))


@dataclass
class Analysis:
    """A validation with its workings: per-row arrays aligned with the input rows."""

    report: ValidationReport
    scope: Scope
    crs: pyproj.CRS  # the metric CRS
    geoms_m: np.ndarray  # usable geometry per row in ``crs`` (None if unusable)
    validity: Validity
    hierarchy: Hierarchy
    labels: np.ndarray
    parent_geoms_m: dict[str, shapely.Geometry]
    findings_m: list[Finding]  # the findings with geometry still in ``crs``


def validate_areas(areas: gpd.GeoDataFrame, **kwargs) -> ValidationReport:
    """Validate ``areas`` (EPSG:4490, canonical columns); see ``analyse`` for the options."""
    return analyse(areas, **kwargs).report


def analyse(
    areas: gpd.GeoDataFrame,
    *,
    level: int | None = None,
    parent_code: str | None = None,
    parent_lookup: ParentLookup | None = None,
    options: ValidationOptions | None = None,
    source: dict | None = None,
    scheme: Scheme | None = None,
) -> Analysis:
    """Run every registered check (:data:`CHECKS`) on ``areas``.

    ``areas``: EPSG:4490 with a ``code`` column and optionally ``parent_code``, ``level``,
    ``households``, ``layer``/``source_row`` (used to name features in messages). ``level``
    (``--level``) overrides the level column; ``parent_code`` (``--parent-code``) declares the area
    the upload belongs to. ``scheme``: the county's level scheme (default: the five standard
    levels), which the codes, the scope and the parents follow. ``parent_lookup`` reaches the database for parents outside the upload
    (None: validate the file on its own; parents outside it are then not checked).
    """
    if areas.crs is None or areas.crs.to_epsg() != 4490:
        raise ValueError("validate_areas expects EPSG:4490 input (use gridmap.io to read files)")
    ctx = CheckContext(
        areas,
        level=level,
        parent_code=parent_code,
        parent_lookup=parent_lookup,
        options=options or ValidationOptions(),
        scheme=scheme or STANDARD,
    )
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check.run(ctx)

    order = list(KINDS)
    findings.sort(key=lambda f: (f.severity != "error", order.index(f.kind), f.codes))
    hierarchy, scope = ctx.hierarchy, ctx.scope
    known = hierarchy.level >= 0
    levels = pd.Series(hierarchy.level[known]).value_counts().sort_index()
    report = ValidationReport(
        findings,
        feature_count=ctx.n,
        levels={int(k): int(v) for k, v in levels.items()},
        metric_crs=f"EPSG:{ctx.crs.to_epsg()}",
        source=dict(source or {}),
    )
    report.source.setdefault("scope", {"root": scope.root, "top_level": scope.top_level, "levels": list(scope.levels)})
    return Analysis(
        report,
        scope,
        ctx.crs,
        ctx.geoms_m,
        ctx.validity,
        hierarchy,
        ctx.labels,
        ctx.parents.geoms_m,
        ctx.partition_m,
    )


# ---------------------------------------------------------------------------------------------
# What the checks read
# ---------------------------------------------------------------------------------------------


@dataclass
class Parents:
    """The areas the upload's features must lie in and fill: the upload's own features first, then
    the database's (``parent_lookup``). ``geoms_m``: code → geometry in the metric CRS;
    ``expected``: level → the parent codes whose children must cover them; ``known_codes``: the
    database codes looked up (None without a database); ``sibling_*``: live siblings that stay
    (a single-area upload), checked together with the upload."""

    geoms_m: dict[str, shapely.Geometry]
    expected: dict[int, list[str]]
    known_codes: set[str] | None
    sibling_geoms: np.ndarray
    sibling_codes: np.ndarray


class CheckContext:
    """One upload as every check sees it. Cheap facts are computed at once; the rest (the code
    hierarchy, the scope, the parents, the partition) on first use and shared by the checks that
    read them. Geometry: ``geoms_m`` in ``crs`` (the data's Gauss-Krüger zone, metres); areas in m²."""

    def __init__(
        self,
        areas: gpd.GeoDataFrame,
        *,
        level: int | None,
        parent_code: str | None,
        parent_lookup: ParentLookup | None,
        options: ValidationOptions,
        scheme: Scheme = STANDARD,
    ):
        self.areas, self.level, self.parent_code, self.scheme = areas, level, parent_code, scheme
        self.parent_lookup, self.options = parent_lookup, options
        self.n = len(areas)
        self.labels, self.row_names = _labels(areas)
        self.validity = check_validity(areas.geometry.to_numpy())
        self.crs = metric_crs(self.validity.usable)
        self.geoms_m = to_metric(self.validity.usable, self.crs)
        self.area_m2 = np.where(shapely.is_missing(self.geoms_m), 0.0, shapely.area(self.geoms_m))

    def column(self, name: str) -> np.ndarray | None:
        """A column of the upload as an object array, None when the file has no such column."""
        return self.areas[name].to_numpy(dtype=object) if name in self.areas else None

    @cached_property
    def _codes(self) -> tuple[Hierarchy, list[Finding]]:
        codes_in = self.column("code")
        return check_codes(
            codes_in if codes_in is not None else np.full(self.n, None, dtype=object),
            self.labels,
            self.row_names,
            self.validity.usable,
            self.area_m2,
            level_column=self.column("level"),
            parent_column=self.column("parent_code"),
            candidates=self.column(CANDIDATES_COLUMN),
            level=self.level,
            scheme=self.scheme,
        )

    @property
    def hierarchy(self) -> Hierarchy:
        return self._codes[0]

    @property
    def codes(self) -> np.ndarray:
        return self.hierarchy.codes

    @cached_property
    def scope(self) -> Scope:
        return upload_scope(self.hierarchy, self.parent_code, self.scheme)

    @cached_property
    def parents(self) -> Parents:
        codes, hierarchy, scope = self.codes, self.hierarchy, self.scope
        first_row: dict[str, int] = {}
        for i in np.flatnonzero(~shapely.is_missing(self.geoms_m)):
            if codes[i]:
                first_row.setdefault(codes[i], int(i))
        geoms_m: dict[str, shapely.Geometry] = {c: self.geoms_m[i] for c, i in first_row.items()}
        expected: dict[int, list[str]] = {}
        for lv in scope.levels:
            above = self.scheme.parent_level(lv)
            if above is not None and above in scope.levels:
                expected[lv] = [codes[i] for i in first_row.values() if hierarchy.level[i] == above]
        parents = Parents(geoms_m, expected, None, np.empty(0, dtype=object), np.empty(0, dtype=object))
        if self.parent_lookup is None:
            return parents
        wanted = {p for p in hierarchy.parent if p and p not in first_row}
        if self.parent_code:
            wanted.add(self.parent_code)
        db = self.parent_lookup(scope, wanted)
        parents.known_codes = set(db["code"]) if len(db) else set()
        db_geoms = (
            to_metric(_without_collinear(db.geometry.to_numpy()), self.crs) if len(db) else np.empty(0, dtype=object)
        )
        sibling = np.zeros(len(db), dtype=bool)
        if len(db) and scope.includes_root and scope.parent:
            sibling = (
                (db["level"] == scope.top_level)
                & (db["parent_code"] == scope.parent)
                & ~db["code"].str.startswith(scope.root)
            ).to_numpy()
        parents.sibling_geoms, parents.sibling_codes = db_geoms[sibling], db["code"].to_numpy(dtype=object)[sibling]
        for code, geom in zip(db["code"][~sibling], db_geoms[~sibling]):
            geoms_m.setdefault(code, geom)
        if scope.top_level and scope.root:
            expected[scope.top_level] = [
                c for c, lv in zip(db["code"], db["level"]) if lv == scope.parent_level and c.startswith(scope.root)
            ]
            if scope.includes_root and scope.parent in geoms_m:
                expected[scope.top_level].append(scope.parent)
        return parents

    @cached_property
    def partition_m(self) -> list[Finding]:
        """The partition's findings with geometry in ``crs`` (repair works on them)."""
        parents, scope, hierarchy = self.parents, self.scope, self.hierarchy
        k = len(parents.sibling_codes)
        partition = check_partition(
            np.concatenate([self.geoms_m, parents.sibling_geoms]),
            np.concatenate([self.codes, parents.sibling_codes]),
            np.concatenate([hierarchy.level, np.full(k, scope.top_level if k else -1, dtype=int)]),
            np.concatenate([hierarchy.parent, np.full(k, scope.parent, dtype=object)]),
            parents.geoms_m,
            parents.expected,
            self.options.tolerances,
        )
        # Defects among the live siblings alone were there before this upload: not its findings.
        return [f for f in partition if not f.rows or min(f.rows) < self.n]


# ---------------------------------------------------------------------------------------------
# The checks: each declares the kinds of finding it makes (their label, severity and colour are
# in ``gridmap.geometry.report.KINDS``) and reads what it needs from the context.
# A new check is a class here, its kinds in KINDS, and an entry in CHECKS.
# ---------------------------------------------------------------------------------------------


class BoundaryCheck(Protocol):
    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of finding the check makes (keys of ``KINDS``)."""
        ...

    def run(self, ctx: CheckContext) -> list[Finding]: ...


class GeometryValidity:
    """Each feature's geometry: empty, not polygonal, self-intersecting, … (repairable or not)."""

    kinds: tuple[str, ...] = ("invalid_geometry",)

    def run(self, ctx: CheckContext) -> list[Finding]:
        validity, codes, found = ctx.validity, ctx.codes, []
        for i in np.flatnonzero(validity.problem != None):  # noqa: E711 (elementwise)
            where = validity.location[i]
            at = f"（位置 {where.x:.6f}, {where.y:.6f}）" if where is not None else ""
            fix = "，可用 --fix 自动修复" if validity.usable[i] is not None else "，请重新绘制"
            found.append(
                Finding(
                    "invalid_geometry",
                    [codes[i]] if codes[i] else [],
                    float(ctx.area_m2[i]),
                    where if where is not None else validity.usable[i],
                    f"{ctx.labels[i]} 的几何无效：{validity.problem[i]}{at}{fix}。",
                    detail={"reason": validity.problem[i], "rows": [str(ctx.row_names[i])]},
                    rows=[int(i)],
                )
            )
        return found


class Codes:
    """Codes: present, digits of the right length for their level, unique, consistent with the
    level and parent columns."""

    kinds: tuple[str, ...] = ("duplicate_code", "bad_code")

    def run(self, ctx: CheckContext) -> list[Finding]:
        return list(ctx._codes[1])


class Orphans:
    """Every feature's parent exists: in the upload, or (with a database) among the live areas."""

    kinds: tuple[str, ...] = ("orphan",)

    def run(self, ctx: CheckContext) -> list[Finding]:
        return check_orphans(
            ctx.codes,
            ctx.labels,
            ctx.validity.usable,
            ctx.area_m2,
            ctx.hierarchy,
            parent_code=ctx.parent_code,
            known_codes=ctx.parents.known_codes,
        )


class Partition:
    """横向到边、纵向到底: children cover their parent with no gap, no overlap, nothing outside."""

    kinds: tuple[str, ...] = ("overlap", "gap", "outside_parent", "sliver")

    def run(self, ctx: CheckContext) -> list[Finding]:
        found = ctx.partition_m
        storage = to_storage(np.array([f.geometry for f in found], dtype=object), ctx.crs)
        return [replace(f, geometry=g) for f, g in zip(found, storage)]


class Households:
    """Households per feature within the configured range of its level (a policy warning)."""

    kinds: tuple[str, ...] = ("policy",)

    def run(self, ctx: CheckContext) -> list[Finding]:
        return check_households(
            ctx.column("households"),
            ctx.hierarchy.level,
            ctx.labels,
            ctx.codes,
            ctx.validity.usable,
            ctx.area_m2,
            ctx.options.households,
        )


class SchemeLevels:
    """A file holding a county declared with a level scheme has every level of the scheme below
    its top (a warning: the levels missing stay empty, their parents are the leaves)."""

    kinds: tuple[str, ...] = ("scheme_level_missing",)

    def run(self, ctx: CheckContext) -> list[Finding]:
        scheme, scope = ctx.scheme, ctx.scope
        if scheme.is_standard or scope.top_level != 0:
            return []
        missing = [lv for lv in scheme.levels if lv.number > 0 and lv.number not in scope.levels]
        if not missing:
            return []
        names = "、".join(f"{lv.name_zh}（{lv.code_length} 位）" for lv in missing)
        return [
            Finding(
                "scheme_level_missing",
                [scope.root] if scope.root else [],
                0.0,
                None,
                f"本县的编码方案（{scheme.describe()}）有{names}，文件中却没有这一层级的区域："
                "发布后该层级为空，摄像机落在其上一级区域中。",
                detail={"levels": [lv.number for lv in missing], "scheme": scheme.spec()},
            )
        ]


#: Every check, in the order they run (the report sorts its findings by severity and kind).
CHECKS: tuple[BoundaryCheck, ...] = (
    Codes(),
    Orphans(),
    Partition(),
    GeometryValidity(),
    Households(),
    SchemeLevels(),
)


def _labels(areas: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """How messages name each feature (its code, else its row) and its row ("<layer> 第 N 行")."""
    n = len(areas)
    codes = areas["code"] if "code" in areas else pd.Series([None] * n, index=areas.index)
    layer = areas["layer"].astype(str) + " " if "layer" in areas else pd.Series([""] * n, index=areas.index)
    row = (
        areas["source_row"].astype(int) + 1 if "source_row" in areas else pd.Series(range(1, n + 1), index=areas.index)
    )
    fallback = layer + "第 " + row.astype(str) + " 行"
    text = codes.map(lambda c: None if c is None or (not isinstance(c, str) and pd.isna(c)) else str(c).strip() or None)
    return np.where(text.isna(), fallback, text).astype(object), fallback.to_numpy(dtype=object)
