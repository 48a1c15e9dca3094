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
