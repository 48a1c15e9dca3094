"""The grid hierarchy: levels, their names and the hierarchical code scheme.

Default scheme (GB/T 2260 county code, then +3 digits per level):

=====  ==============  ===========  ======
level  name            code length  example
=====  ==============  ===========  ======
0      county 县        6            411628
1      township 乡镇/街道 9          411628001
2      village 村/社区   12           411628001001
3      grid 网格         15           411628001001001
4      micro-grid 微网格 18           411628001001001001
=====  ==============  ===========  ======
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    number: int
    key: str  # stable English identifier, used for layer and file names
    name_zh: str
    code_length: int


LEVELS: tuple[Level, ...] = (
    Level(0, "county", "县", 6),
    Level(1, "township", "乡镇/街道", 9),
    Level(2, "village", "村/社区", 12),
    Level(3, "grid", "网格", 15),
    Level(4, "microgrid", "微网格", 18),
)
LEAF_LEVEL = LEVELS[-1].number
LEVEL_BY_KEY = {lv.key: lv for lv in LEVELS}

_CODE_RE = re.compile(r"^\d+$")


def level_number(value: object) -> int | None:
    """A level cell (int, float, numeric text) as an int; None for null/NaN or anything else."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number


def level_of_code(code: str) -> int | None:
    """Level implied by a code's length, or None when the code does not fit the scheme."""
    if not _CODE_RE.match(code):
        return None
    for lv in LEVELS:
        if len(code) == lv.code_length:
            return lv.number
    return None


def parent_code_of(code: str) -> str | None:
    """The parent's code under the prefix scheme (None for a county code or an unknown length)."""
    level = level_of_code(code)
    if not level:
        return None
    return code[: LEVELS[level - 1].code_length]
