"""Normalising area attribute values as counties type them: codes as text, counts and levels as
nullable integers (Chinese level names understood). Each function appends Chinese notes about
what it had to change or could not read."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from gridmap.errors import GridmapError
from gridmap.levels import LEVELS

#: Largest integer a float64 holds exactly; an 18-digit code is larger.
FLOAT_EXACT_LIMIT = 2**53
#: Level names (``gridmap.levels.LEVELS`` keys and Chinese names, and common variants) → level number.
LEVEL_WORDS: dict[str, int] = {
    **{word: lv.number for lv in LEVELS for word in (lv.key, lv.name_zh, *lv.name_zh.split("/"))},
    "区": 0,
    "县区": 0,
    "县/区": 0,
    "县级": 0,
    "乡": 1,
    "镇": 1,
    "乡镇街道": 1,
    "行政村": 2,
    "村居": 2,
}


class InexactCodeError(GridmapError, ValueError):
    """A code column stored as floats holds values too large to be exact; ``message`` is Chinese."""

    def __init__(self, message: str):
        super().__init__("inexact_code", message)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def code_strings(values: pd.Series, label: str, notes: list[str], exact: bool = True) -> np.ndarray:
    """Codes as text (object array): spaces stripped, integers and integral floats without ".0"
    (also "411628001.0" typed as text), empty → None.

    A float above 2**53 cannot hold an 18-digit code exactly: raises ``InexactCodeError`` when
    ``exact`` (codes), converts it anyway otherwise (phone numbers never get that large).
    ``label`` names the column in messages, e.g. "图层“grid”的编码列“编码”".
    """
    out = np.empty(len(values), dtype=object)
    trimmed = 0
    for i, value in enumerate(values.tolist()):
        if _missing(value):
            out[i] = None
        elif isinstance(value, (bool, np.bool_)):
            out[i] = str(value)
        elif isinstance(value, (int, np.integer)):
            out[i] = str(int(value))
        elif isinstance(value, (float, np.floating)):
            if exact and (value > FLOAT_EXACT_LIMIT or value < -FLOAT_EXACT_LIMIT):
                raise InexactCodeError(
                    f"{label}是浮点数（小数）类型，其中有超过 2^53 的数值（如 {value:.0f}）：18 位编码存成浮点数后"
                    "末几位已不准确，无法可靠还原。请在源文件中把该列改成文本类型后重新导出。"
                )
            out[i] = str(int(value)) if float(value).is_integer() else repr(float(value))
        else:
            text = str(value).strip()
            if re.fullmatch(r"\d+\.0+", text):
                text, trimmed = text.split(".")[0], trimmed + 1
            out[i] = text or None
    if trimmed:
        notes.append(f"{label}有 {trimmed:,} 个值带“.0”尾巴（表格软件导出所致），已去掉。")
    return out


def integers(values: pd.Series, label: str, notes: list[str], words: Mapping[str, int] | None = None) -> pd.Series:
    """Nullable Int64: integers, integral floats, numbers typed as text and ``words`` (e.g.
    ``LEVEL_WORDS``) converted; empty → NA; anything else → NA with a note giving examples."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64").reset_index(drop=True)
    words = words or {}
    out = pd.array([pd.NA] * len(values), dtype="Int64")
    bad: list[str] = []
    for i, value in enumerate(values.tolist()):
        if _missing(value):
            continue
        if isinstance(value, str):
            text = value.strip()
            if not text:
                continue
            if text in words:
                out[i] = words[text]
                continue
            try:
                value = float(text)
            except ValueError:
                bad.append(text)
                continue
        number = float(value)
        if np.isfinite(number) and number.is_integer():
            out[i] = int(number)
        else:
            bad.append(str(value))
    if bad:
        examples = "、".join(f"“{b}”" for b in list(dict.fromkeys(bad))[:3])
        what = "整数或已知的层级名称" if words else "整数"
        notes.append(f"{label}有 {len(bad):,} 个值不是{what}（如 {examples}），已按空值处理。")
    return pd.Series(out)
