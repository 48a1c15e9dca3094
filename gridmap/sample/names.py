"""Plausible Chinese names for the sample county (synthetic; deterministic given the RNG).

Township names follow the pattern of 鹿邑县's towns; village, grid and worker names are generated.
"""

from __future__ import annotations

import numpy as np

# (name, kind) — 4 urban sub-districts (街道) around the county seat, 16 towns (镇), 4 townships (乡).
# The kind drives the code block (街道 001–, 镇 101–, 乡 201–) as in GB/T 2260-style statistical codes.
TOWNSHIPS: tuple[tuple[str, str], ...] = (
    ("真源街道", "街道"),
    ("卫真街道", "街道"),
    ("紫气街道", "街道"),
    ("涡北街道", "街道"),
    ("玄武镇", "镇"),
    ("宋河镇", "镇"),
    ("太清宫镇", "镇"),
    ("观堂镇", "镇"),
    ("马铺镇", "镇"),
    ("试量镇", "镇"),
    ("辛集镇", "镇"),
    ("贾滩镇", "镇"),
    ("杨湖口镇", "镇"),
    ("张店镇", "镇"),
    ("王皮溜镇", "镇"),
    ("穆店镇", "镇"),
    ("唐集镇", "镇"),
    ("赵村镇", "镇"),
    ("邱集镇", "镇"),
    ("生铁冢镇", "镇"),
    ("郑家集乡", "乡"),
    ("任集乡", "乡"),
    ("高集乡", "乡"),
    ("老君台乡", "乡"),
)

SURNAMES = tuple(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_VILLAGE_SUFFIXES = tuple("庄楼寨集营桥店湾岗洼园屯口堂台铺阁坡村庙寺滩湖河沟岭")
_VILLAGE_PREFIX_EXTRA = ("大", "小", "前", "后", "东", "西", "南", "北", "新", "老")
_COMMUNITY_WORDS = (
    "建设",
    "人民",
    "老子",
    "紫气",
    "鸣鹿",
    "真源",
    "卫真",
    "涡北",
    "文化",
    "解放",
    "胜利",
    "和平",
    "团结",
    "育新",
    "东关",
    "西关",
    "南关",
    "北关",
    "滨河",
    "明道",
    "谷阳",
    "涡河",
    "永安",
    "兴华",
    "朝阳",
    "光明",
    "青年",
    "振兴",
    "幸福",
    "金华",
    "阳光",
    "清风",
    "长青",
    "安康",
    "新华",
    "丰泽",
)
_GIVEN_CHARS = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建国志文辉鹏飞宇浩然欣怡子涵俊峰海燕春梅晓东"
)
_PHONE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "180",
    "181",
    "182",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "199",
)
_CHINESE_NUMERALS = "零一二三四五六七八九十"


def chinese_ordinal(n: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (enough for grid numbering within a village)."""
    if n <= 10:
        return _CHINESE_NUMERALS[n]
    tens, ones = divmod(n, 10)
    head = ("" if tens == 1 else _CHINESE_NUMERALS[tens]) + "十"
    return head + (_CHINESE_NUMERALS[ones] if ones else "")


def village_names(rng: np.random.Generator, count: int, urban: bool, taken: set[str]) -> list[str]:
    """``count`` unique village (村) or community (社区) names, none of them in ``taken``."""
    names: list[str] = []
    while len(names) < count:
        if urban:
            name = str(rng.choice(_COMMUNITY_WORDS))
            if name + "社区" in taken:
                name = str(rng.choice(_VILLAGE_PREFIX_EXTRA[:8])) + name
            name += "社区"
        else:
            name = str(rng.choice(SURNAMES)) + str(rng.choice(_VILLAGE_SUFFIXES))
            if rng.random() < 0.25:
                name = str(rng.choice(_VILLAGE_PREFIX_EXTRA)) + name
            name += "村"
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def person_name(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(_GIVEN_CHARS, size=int(rng.integers(1, 3))))
    return str(rng.choice(SURNAMES)) + given


def phone_number(rng: np.random.Generator) -> str:
    return str(rng.choice(_PHONE_PREFIXES)) + f"{int(rng.integers(0, 10**8)):08d}"


#: 郸城县 (411625), the sample city's county south of 鹿邑: 3 街道, 6 towns, 3 townships.
DANCHENG_TOWNSHIPS: tuple[tuple[str, str], ...] = (
    ("洺北街道", "街道"),
    ("东风街道", "街道"),
    ("洺南街道", "街道"),
    ("宁平镇", "镇"),
    ("宜路镇", "镇"),
    ("钱店镇", "镇"),
    ("汲冢镇", "镇"),
    ("石槽镇", "镇"),
    ("吴台镇", "镇"),
    ("李楼乡", "乡"),
    ("胡集乡", "乡"),
    ("巴集乡", "乡"),
)

#: 太康县 (411627), the sample city's county north-west of 鹿邑: 2 街道, 5 towns, 3 townships.
TAIKANG_TOWNSHIPS: tuple[tuple[str, str], ...] = (
    ("城关街道", "街道"),
    ("城北街道", "街道"),
    ("常营镇", "镇"),
    ("逊母口镇", "镇"),
    ("老冢镇", "镇"),
    ("朱口镇", "镇"),
    ("马头镇", "镇"),
    ("张集乡", "乡"),
    ("清集乡", "乡"),
    ("转楼乡", "乡"),
)
