"""Code checks: format, level, prefix, duplicates and orphans; and each feature's level and parent.

Codes follow the county's level scheme (``gridmap.levels.Scheme``; by default 6 → 9 → 12 → 15 → 18
digits): a child's code starts with its parent's, the parent being the level above it in the scheme.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from shapely import union_all

from gridmap.geometry.report import Finding
from gridmap.levels import LEVELS, STANDARD, Scheme, level_number


@dataclass
class Hierarchy:
    """Per feature: its cleaned code, its level (-1 when unknown) and the code of its parent (None
    for a county or when unknown)."""

    codes: np.ndarray
    level: np.ndarray
    parent: np.ndarray


def _level_text(level: int) -> str:
    return f"（{LEVELS[level].name_zh}）" if 0 <= level < len(LEVELS) else ""


def _clean(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def check_codes(
    codes: np.ndarray,
    labels: np.ndarray,
    row_names: np.ndarray,
    geoms: np.ndarray,
    area_m2: np.ndarray,
    *,
    level_column: np.ndarray | None = None,
    parent_column: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    level: int | None = None,
    scheme: Scheme | None = None,
) -> tuple[Hierarchy, list[Finding]]:
    """Check each code's format, level and prefix, find duplicates, and work out the hierarchy.

    ``labels`` name each feature in messages (its code, else its row); ``row_names`` name its row in
    the file (e.g. "microgrid 第 12 行"); ``geoms`` (EPSG:4490) and
    ``area_m2`` (m²) are attached to findings. ``candidates`` holds, for a feature the reader
    left without a code because it found several (a CAD polygon with two code texts), those codes
    joined by "、". ``level`` (the CLI's ``--level``) overrides a level column. ``scheme``: the
    county's level scheme (default :data:`gridmap.levels.STANDARD`); a level it lacks is a
    ``bad_code`` (``reason: level_not_in_scheme``). Returns the codes cleaned (stripped, None when empty) in ``Hierarchy.codes``.
    """
    n = len(codes)
    scheme = scheme or STANDARD
    lengths = scheme.lengths_text()
    codes = np.array([_clean(c) for c in codes], dtype=object)
    given_parent = (
        np.array([_clean(c) for c in parent_column], dtype=object)
        if parent_column is not None
        else np.full(n, None, dtype=object)
    )
    findings: list[Finding] = []

    def finding(kind: str, rows: list[int], codes_: list[str], message: str, **detail: Any) -> None:
        geom = union_all([g for g in geoms[rows] if g is not None]) if rows else None
        findings.append(
            Finding(
                kind,
                codes_,
                float(area_m2[rows].sum()),
                geom,
                message,
                detail={"rows": [str(row_names[r]) for r in rows], **detail},
                rows=list(map(int, rows)),
            )
        )

    by_code = np.array([scheme.level_of_code(c) if c else None for c in codes], dtype=object)
    levels = np.full(n, -1, dtype=int)
    parents = np.full(n, None, dtype=object)
    for i in range(n):  # per feature, cheap string work; geometry is never touched here
        code, label = codes[i], row_names[i]
        stated = level if level is not None else (level_number(level_column[i]) if level_column is not None else None)
        several = _clean(candidates[i]) if candidates is not None else None
        if code is None and several:
            finding(
                "bad_code",
                [i],
                [],
                f"{label} 内有多个编码（{several}），无法确定是哪一个：每个面内只能写一个编码。",
                reason="several_codes",
                candidates=several.split("、"),
            )
        elif code is None:
            finding("bad_code", [i], [], f"{label} 没有编码，请填写 {lengths} 位数字编码。")
        elif by_code[i] is None:
            finding("bad_code", [i], [code], f"{label} 的编码 {code} 不符合编码规则：应为 {lengths} 位数字。")
        elif stated is not None and stated not in scheme.numbers:
            finding(
                "bad_code",
                [i],
                [code],
                f"{label} 的层级 {stated}{_level_text(stated)} 不在本县的编码方案中（{scheme.describe()}）。",
                reason="level_not_in_scheme",
            )
        elif stated is not None and stated != by_code[i]:
            want = scheme.code_length(stated) or "?"
            finding(
                "bad_code",
                [i],
                [code],
                f"{label} 的编码 {code} 为 {len(code)} 位，但层级为 {stated}（应为 {want} 位）。",
            )
        if stated is not None and stated in scheme.numbers:
            levels[i] = stated
        elif by_code[i] is not None:
            levels[i] = by_code[i]
        implied = scheme.parent_code_of(code) if code and by_code[i] is not None else None
        parent = given_parent[i] or implied
        if code and given_parent[i] and by_code[i] is not None and implied != given_parent[i]:
            finding(
                "bad_code",
                [i],
                [code, given_parent[i]],
                f"{label} 的编码 {code} 与上级编码 {given_parent[i]} 不符：下级编码应以上级编码开头（{scheme.describe()}）。",
            )
        parents[i] = parent if levels[i] != 0 else None

    present = pd.Series(codes).dropna()
    repeated = present[present.duplicated(keep=False)]  # group only the repeats: cheap at 1M rows
    for code, dup in repeated.groupby(repeated).groups.items():
        if len(dup) > 1:
            rows = list(dup)
            where = "、".join(str(row_names[r]) for r in rows)
            finding(
                "duplicate_code",
                rows,
                [code],
                f"编码 {code} 重复出现 {len(rows)} 次（{where}），每个网格的编码必须唯一。",
            )

    return Hierarchy(codes=codes, level=levels, parent=parents), findings


def check_orphans(
    codes: np.ndarray,
    labels: np.ndarray,
    geoms: np.ndarray,
    area_m2: np.ndarray,
    hierarchy: Hierarchy,
    *,
    parent_code: str | None = None,
    known_codes: Collection[str] | None = None,
) -> list[Finding]:
    """Features whose parent is neither in the upload nor in the database (``known_codes``; None
    when the database was not consulted), or not the ``--parent-code`` the upload was declared for."""
    in_upload = {c for c in codes if c}
    findings = []
    for i in range(len(codes)):
        parent = hierarchy.parent[i]
        if parent is None or parent in in_upload:
            continue
        code = codes[i] or ""
        if parent_code is not None and parent != parent_code:
            kind, message = "bad_code", f"{labels[i]} 的上级 {parent} 不是本次上传指定的上级 {parent_code}。"
        elif known_codes is not None and parent not in known_codes:
            kind, message = (
                "orphan",
                f"{labels[i]} 的上级编码 {parent} 在文件和数据库中都不存在，请先上传上级区域或更正编码。",
            )
        else:
            continue
        findings.append(
            Finding(
                kind,
                [code, parent],
                float(area_m2[i]),
                geoms[i],
                message,
                detail={"rows": [str(labels[i])]},
                rows=[int(i)],
            )
        )
    return findings
