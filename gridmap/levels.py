"""The grid hierarchy: levels, their names and the hierarchical code scheme.

Boundary files hold a county and what lies below it (``LEVELS``). Above the county the database
keeps the regions its counties add up to (``REGION_LEVELS``: the province, 2 digits, and the city,
4, both prefixes of the GB/T 2260 county code), derived from the live counties by
``gridmap.db.regions``: level -2 and -1, so that every county's and deeper area's level stays what
it was. :data:`LEVEL_BY_NUMBER`, :func:`level_name` and :func:`level_key` look a level up by its
number (``LEVELS[n]`` only for 0–4).

Default scheme (GB/T 2260 county code, then +3 digits per level):

=====  ==============  ===========  ======
level  name            code length  example
=====  ==============  ===========  ======
-2     province 省      2            41 (derived)
-1     city 市          4            4116 (derived)
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
#: Above the county, derived from the live counties (never read from boundary files).
PROVINCE, CITY = Level(-2, "province", "省", 2), Level(-1, "city", "市", 4)
REGION_LEVELS: tuple[Level, ...] = (PROVINCE, CITY)
#: Every level the database holds, from the province down.
ALL_LEVELS: tuple[Level, ...] = REGION_LEVELS + LEVELS
LEVEL_BY_NUMBER = {lv.number: lv for lv in ALL_LEVELS}


def level_key(number: int) -> str:
    """The English key of level ``number`` ("city", "county" …), or ``level<number>`` when unknown."""
    level = LEVEL_BY_NUMBER.get(number)
    return level.key if level else f"level{number}"


def level_name(number: int) -> str:
    """The Chinese name of level ``number`` ("县", "市" …), or the number itself when unknown."""
    level = LEVEL_BY_NUMBER.get(number)
    return level.name_zh if level else str(number)


#: Names of the regions above the county by GB/T 2260 code: every province-level unit, and the
#: cities of 河南省 and its neighbours' cities bordering the sample (others keep no name until one is
#: added here; the pages then show the code).
REGION_NAMES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省",
    "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省",
    "35": "福建省", "36": "江西省", "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省",
    "44": "广东省", "45": "广西壮族自治区", "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省",
    "53": "云南省", "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省",
    "64": "宁夏回族自治区", "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区",
    "82": "澳门特别行政区",
    "4101": "郑州市", "4102": "开封市", "4103": "洛阳市", "4104": "平顶山市", "4105": "安阳市",
    "4106": "鹤壁市", "4107": "新乡市", "4108": "焦作市", "4109": "濮阳市", "4110": "许昌市",
    "4111": "漯河市", "4112": "三门峡市", "4113": "南阳市", "4114": "商丘市", "4115": "信阳市",
    "4116": "周口市", "4117": "驻马店市", "4190": "河南省直辖县级行政区划",
    "3412": "阜阳市", "3416": "亳州市",
}  # fmt: skip


def region_codes_of(county_code: str) -> tuple[str, str]:
    """The province and city codes a county code (6 digits, GB/T 2260) lies in."""
    return county_code[: PROVINCE.code_length], county_code[: CITY.code_length]


_CODE_RE = re.compile(r"^\d+$")


def level_number(value: object) -> int | None:
    """A level cell (int, float, numeric text) as an int; None for null/NaN or anything else."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number


class SchemeError(ValueError):
    """A level scheme that cannot be read (:meth:`Scheme.parse`); the message is Chinese."""


#: Names a scheme may use for each level below the county (English key, Chinese names, number).
_LEVEL_WORDS: dict[str, int] = {
    **{lv.key: lv.number for lv in LEVELS},
    **{str(lv.number): lv.number for lv in LEVELS},
    "县": 0, "区": 0, "县区": 0, "乡镇/街道": 1, "乡镇": 1, "乡": 1, "镇": 1, "街道": 1,
    "村/社区": 2, "村": 2, "社区": 2, "村社区": 2, "网格": 3, "微网格": 4, "micro-grid": 4,
}  # fmt: skip
_SCHEME_SPLIT = re.compile(r"[,，、;；\s]+")
_STANDARD_WORDS = {"standard", "default", "标准", "国标"}


@dataclass(frozen=True)
class Scheme:
    """Which levels a county has below it and how long their codes are (its level scheme).

    ``lengths[i]`` is the code length (digits) of level ``numbers[i]``; the county (level 0, 6
    digits) is always first, the levels keep their numbers (a county without villages has levels
    0, 1, 3, 4: its grids' parents are townships) and every code starts with its parent's, the
    level above it *in the scheme*. :data:`STANDARD` is the five levels, 3 digits each below the
    county. A scheme is written as :meth:`spec` text, e.g. ``township:9,village:12,grid:15`` (no
    micro-grids) or ``乡镇:9,社区:12,网格:16`` (4-digit grid numbers); a length left out is the
    level above plus 3.
    """

    numbers: tuple[int, ...]
    lengths: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Scheme:
        """The scheme written in ``text`` (see the class docstring); ``standard``/``标准`` is
        :data:`STANDARD`. Raises :class:`SchemeError` with a Chinese message."""
        words = [w for w in _SCHEME_SPLIT.split((text or "").strip()) if w]
        if not words:
            raise SchemeError("编码方案为空：请写出县以下的层级，如 township:9,village:12,grid:15。")
        if len(words) == 1 and words[0].lower() in _STANDARD_WORDS:
            return STANDARD
        numbers, lengths = [0], [LEVELS[0].code_length]
        for word in words:
            name, sep, size = word.replace("=", ":").replace("：", ":").partition(":")
            number = _LEVEL_WORDS.get(name.strip().lower(), _LEVEL_WORDS.get(name.strip()))
            if number is None:
                raise SchemeError(
                    f"编码方案中的层级“{name}”无法识别：可用 township/village/grid/microgrid 或 乡镇/社区/网格/微网格。"
                )
            try:
                length = int(size) if sep else lengths[-1] + 3
            except ValueError:
                raise SchemeError(f"编码方案中“{word}”的编码位数不是整数。") from None
            if number == 0:
                if length != LEVELS[0].code_length:
                    raise SchemeError(f"县级编码固定为 {LEVELS[0].code_length} 位（GB/T 2260），不能是 {length} 位。")
                continue
            if number <= numbers[-1]:
                raise SchemeError(f"编码方案中的层级“{name}”重复或顺序颠倒：层级须自上而下排列。")
            if not lengths[-1] < length <= MAX_CODE_LENGTH:
                raise SchemeError(
                    f"编码方案中“{name}”的编码位数 {length} 无效：须长于上一级的 {lengths[-1]} 位，且不超过 {MAX_CODE_LENGTH} 位。"
                )
            numbers.append(number)
            lengths.append(length)
        if len(numbers) == 1:
            raise SchemeError("编码方案中没有县以下的层级。")
        return cls(tuple(numbers), tuple(lengths))

    def spec(self) -> str:
        """The scheme as text :meth:`parse` reads back (``township:9,village:12,…``)."""
        return ",".join(f"{LEVELS[n].key}:{k}" for n, k in zip(self.numbers[1:], self.lengths[1:]))

    @property
    def is_standard(self) -> bool:
        return self == STANDARD

    @property
    def leaf_level(self) -> int:
        return self.numbers[-1]

    @property
    def levels(self) -> tuple[Level, ...]:
        """The scheme's levels, county first, with the scheme's code lengths."""
        return tuple(Level(n, LEVELS[n].key, LEVELS[n].name_zh, k) for n, k in zip(self.numbers, self.lengths))

    def code_length(self, level: int) -> int | None:
        """The code length (digits) of ``level``, None when the scheme has no such level."""
        return dict(zip(self.numbers, self.lengths)).get(level)

    def parent_level(self, level: int) -> int | None:
        """The level above ``level`` in the scheme (None for the county or a level not in it)."""
        if level not in self.numbers or level == 0:
            return None
        return self.numbers[self.numbers.index(level) - 1]

    def level_of_code(self, code: str) -> int | None:
        """The level a code's length gives, or None when the code does not fit the scheme."""
        if not _CODE_RE.match(code):
            return None
        return dict(zip(self.lengths, self.numbers)).get(len(code))

    def parent_code_of(self, code: str) -> str | None:
        """The parent's code (a prefix; None for a county code or an unknown length)."""
        level = self.level_of_code(code)
        parent = self.parent_level(level) if level else None
        return None if parent is None else code[: self.lengths[self.numbers.index(parent)]]

    def lengths_text(self) -> str:
        """The code lengths for messages: "6、9、12、15、18"."""
        return "、".join(map(str, self.lengths))

    def describe(self) -> str:
        """The scheme in Chinese: "县(6)→乡镇/街道(9)→…"."""
        return "→".join(f"{lv.name_zh}({lv.code_length}位)" for lv in self.levels)


#: The attribute (``area.attrs`` of the county row) a declared scheme is kept in, as :meth:`Scheme.spec`.
SCHEME_ATTR = "编码方案"
#: Longest code a scheme may declare (digits).
MAX_CODE_LENGTH = 24
#: The five levels, 3 digits each below the 6-digit county (GB/T 2260 + the grid standard).
STANDARD = Scheme(tuple(lv.number for lv in LEVELS), tuple(lv.code_length for lv in LEVELS))


def level_of_code(code: str, scheme: Scheme | None = None) -> int | None:
    """Level implied by a code's length in ``scheme`` (default :data:`STANDARD`), or None when the
    code does not fit it."""
    return (scheme or STANDARD).level_of_code(code)


def parent_code_of(code: str, scheme: Scheme | None = None) -> str | None:
    """The parent's code under the prefix scheme (None for a county code or an unknown length)."""
    return (scheme or STANDARD).parent_code_of(code)
