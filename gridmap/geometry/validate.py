"""Validation of an upload, end to end: geometry → codes → scope → parents → partition → policy.

``validate_areas`` is what the CLI and the API call; ``analyse`` also returns the intermediate
arrays that repair needs. The database is reached only through ``parent_lookup`` (injected by the
caller), so this module is pure geometry and can run with no database at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

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
) -> Analysis:
    """Run every check on ``areas``.

    ``areas``: EPSG:4490 with a ``code`` column and optionally ``parent_code``, ``level``,
    ``households``, ``layer``/``source_row`` (used to name features in messages). ``level``
    (``--level``) overrides the level column; ``parent_code`` (``--parent-code``) declares the area
    the upload belongs to. ``parent_lookup`` reaches the database for parents outside the upload
    (None: validate the file on its own; parents outside it are then not checked).
    """
    options = options or ValidationOptions()
    if areas.crs is None or areas.crs.to_epsg() != 4490:
        raise ValueError("validate_areas expects EPSG:4490 input (use gridmap.io to read files)")
    n = len(areas)
    labels, row_names = _labels(areas)
    validity = check_validity(areas.geometry.to_numpy())
    crs = metric_crs(validity.usable)
    geoms_m = to_metric(validity.usable, crs)
    area_m2 = np.where(shapely.is_missing(geoms_m), 0.0, shapely.area(geoms_m))

    codes_in = areas["code"].to_numpy(dtype=object) if "code" in areas else np.full(n, None, dtype=object)
    hierarchy, findings = check_codes(
        codes_in,
        labels,
        row_names,
        validity.usable,
        area_m2,
        level_column=areas["level"].to_numpy(dtype=object) if "level" in areas else None,
        parent_column=areas["parent_code"].to_numpy(dtype=object) if "parent_code" in areas else None,
        level=level,
    )
    codes = hierarchy.codes
    scope = upload_scope(hierarchy, parent_code)

    # Parents: the upload's own features first, then the database.
    first_row: dict[str, int] = {}
    for i in np.flatnonzero(~shapely.is_missing(geoms_m)):
        if codes[i]:
            first_row.setdefault(codes[i], int(i))
    parent_geoms_m: dict[str, shapely.Geometry] = {c: geoms_m[i] for c, i in first_row.items()}
    expected: dict[int, list[str]] = {}
    for lv in scope.levels:
        if lv - 1 in scope.levels:
            expected[lv] = [codes[i] for i in first_row.values() if hierarchy.level[i] == lv - 1]
    known_codes = None
    # Live siblings that stay (a single-area upload): checked together with the upload.
    context = {"geoms": np.empty(0, dtype=object), "codes": np.empty(0, dtype=object)}
    if parent_lookup is not None:
        wanted = {p for p in hierarchy.parent if p and p not in first_row}
        if parent_code:
            wanted.add(parent_code)
        db = parent_lookup(scope, wanted)
        known_codes = set(db["code"]) if len(db) else set()
        db_geoms = to_metric(db.geometry.to_numpy(), crs) if len(db) else np.empty(0, dtype=object)
        sibling = np.zeros(len(db), dtype=bool)
        if len(db) and scope.includes_root and scope.parent:
            sibling = (
                (db["level"] == scope.top_level)
                & (db["parent_code"] == scope.parent)
                & ~db["code"].str.startswith(scope.root)
            ).to_numpy()
        context = {"geoms": db_geoms[sibling], "codes": db["code"].to_numpy(dtype=object)[sibling]}
        for code, geom in zip(db["code"][~sibling], db_geoms[~sibling]):
            parent_geoms_m.setdefault(code, geom)
        if scope.top_level and scope.root:
            expected[scope.top_level] = [
                c for c, lv in zip(db["code"], db["level"]) if lv == scope.top_level - 1 and c.startswith(scope.root)
            ]
            if scope.includes_root and scope.parent in parent_geoms_m:
                expected[scope.top_level].append(scope.parent)
    findings += check_orphans(
        codes, labels, validity.usable, area_m2, hierarchy, parent_code=parent_code, known_codes=known_codes
    )

    k = len(context["codes"])
    partition = check_partition(
        np.concatenate([geoms_m, context["geoms"]]),
        np.concatenate([codes, context["codes"]]),
        np.concatenate([hierarchy.level, np.full(k, scope.top_level if k else -1, dtype=int)]),
        np.concatenate([hierarchy.parent, np.full(k, scope.parent, dtype=object)]),
        parent_geoms_m,
        expected,
        options.tolerances,
    )
    # Defects among the live siblings alone were there before this upload: not its findings.
    partition = [f for f in partition if not f.rows or min(f.rows) < n]
    storage = to_storage(np.array([f.geometry for f in partition], dtype=object), crs)
    findings += [replace(f, geometry=g) for f, g in zip(partition, storage)]

    for i in np.flatnonzero(validity.problem != None):  # noqa: E711 (elementwise)
        where = validity.location[i]
        at = f"（位置 {where.x:.6f}, {where.y:.6f}）" if where is not None else ""
        fix = "，可用 --fix 自动修复" if validity.usable[i] is not None else "，请重新绘制"
        findings.append(
            Finding(
                "invalid_geometry",
                [codes[i]] if codes[i] else [],
                float(area_m2[i]),
                where if where is not None else validity.usable[i],
                f"{labels[i]} 的几何无效：{validity.problem[i]}{at}{fix}。",
                detail={"reason": validity.problem[i], "rows": [str(row_names[i])]},
                rows=[int(i)],
            )
        )
    findings += check_households(
        areas["households"].to_numpy(dtype=object) if "households" in areas else None,
        hierarchy.level,
        labels,
        codes,
        validity.usable,
        area_m2,
        options.households,
    )

    order = list(KINDS)
    findings.sort(key=lambda f: (f.severity != "error", order.index(f.kind), f.codes))
    known = hierarchy.level >= 0
    levels = pd.Series(hierarchy.level[known]).value_counts().sort_index()
    report = ValidationReport(
        findings,
        feature_count=n,
        levels={int(k): int(v) for k, v in levels.items()},
        metric_crs=f"EPSG:{crs.to_epsg()}",
        source=dict(source or {}),
    )
    report.source.setdefault("scope", {"root": scope.root, "top_level": scope.top_level, "levels": list(scope.levels)})
    return Analysis(report, scope, crs, geoms_m, validity, hierarchy, labels, parent_geoms_m, partition)


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
