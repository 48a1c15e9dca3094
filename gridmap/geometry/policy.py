"""County policy checks: households per area within the range the county set for each level."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from gridmap.geometry.report import Finding
from gridmap.levels import LEVELS

#: Default households range per level: a micro-grid covers 15–60 households.
DEFAULT_HOUSEHOLDS: dict[int, tuple[int, int]] = {4: (15, 60)}


def check_households(
    households: np.ndarray | None,
    levels: np.ndarray,
    labels: np.ndarray,
    codes: np.ndarray,
    geoms: np.ndarray,
    area_m2: np.ndarray,
    ranges: Mapping[int, tuple[int, int]],
) -> list[Finding]:
    """A warning for each area whose households fall outside ``ranges[level]`` (inclusive)."""
    if households is None:
        return []
    values = pd.to_numeric(pd.Series(households), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    findings = []
    for level, (low, high) in ranges.items():
        out = np.flatnonzero((levels == level) & ~np.isnan(values) & ((values < low) | (values > high)))
        for i in out:
            n = int(values[i])
            findings.append(
                Finding(
                    "policy",
                    [codes[i] or ""],
                    float(area_m2[i]),
                    geoms[i],
                    f"{labels[i]} 有 {n} 户，超出{LEVELS[level].name_zh}的规范范围 {low}–{high} 户，请考虑调整划分。",
                    detail={"households": n, "range": [low, high], "level": level},
                    rows=[int(i)],
                )
            )
    return findings
