"""Recognising columns by the names counties give them (Chinese and English).

A column matches one of a field's aliases in three ways, tried in this order over all fields:

1. exactly, ignoring case, width (NFKC: "Ｘ" is "X", "（" is "("), spaces and underscores;
2. decorated: the same after dropping unit and punctuation decorations — a bracket of any kind
   holding a unit or axis ("经度（°）", "纬度(度)", "经度【E】", "X坐标(米)"), a slash and a unit
   ("经度/°"), degree signs, a trailing colon ("经度：");
3. truncated: a name of 8–10 bytes in GBK (a DBF field name is at most 10 bytes; a trailing
   half character shown as U+FFFD is dropped first) that begins an alias longer than 10 bytes
   ("所属村社区" for "所属村社区编码").

A decorated or truncated column that could be two fields, or a field two such columns could be,
is not guessed: it is left out and a note says why. ``match_fields`` gives the mapping and Chinese
notes on every column not matched exactly; ``detect_fields`` the mapping alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: Units and axes a column name may carry in brackets or after a slash (lower case, after NFKC).
UNIT_WORDS = (
    "°",
    "º",
    "˚",
    "度",
    "分",
    "秒",
    "米",
    "公里",
    "千米",
    "m",
    "km",
    "meter",
    "meters",
    "metre",
    "metres",
    "e",
    "n",
    "w",
    "s",
    "东",
    "北",
    "西",
    "南",
    "东经",
    "北纬",
    "西经",
    "南纬",
    "deg",
    "degree",
    "degrees",
    "dd",
    "dms",
    "十进制",
    "十进制度",
    "小数度",
    "户",
    "人",
)
#: Most bytes of a DBF field name; names this long may have been cut.
DBF_NAME_BYTES = 10
#: Shortest GBK name taken as possibly cut (10 bytes less a dropped half character or two).
_CUT_MIN_BYTES = 8

_UNIT = "|".join(re.escape(u) for u in sorted(UNIT_WORDS, key=len, reverse=True))
_UNITS = rf"(?:{_UNIT})(?:[,、/;·.\-]?(?:{_UNIT}))*"
_BRACKETED_UNITS = re.compile(rf"[(\[【〔](?:{_UNITS})?[)\]】〕]")
_SLASH_UNITS = re.compile(rf"/(?:{_UNITS})$")
_DEGREE_SIGNS = re.compile("[°º˚]")
_TRAILING_PUNCTUATION = re.compile(r"[:/]+$")


def _plain(name: str) -> str:
    """``name`` for exact matching: NFKC, case-folded, without spaces and underscores."""
    return "".join(unicodedata.normalize("NFKC", str(name)).split()).casefold().replace("_", "")


def _bare(name: str) -> str:
    """``name`` for decorated matching: ``_plain`` without bracketed units, "/unit", degree signs
    and trailing colons or slashes (repeated until nothing changes)."""
    text = _plain(name)
    while True:
        before = text
        text = _BRACKETED_UNITS.sub("", text)
        text = _SLASH_UNITS.sub("", text)
        text = _DEGREE_SIGNS.sub("", text)
        text = _TRAILING_PUNCTUATION.sub("", text)
        if text == before:
            return text


def _only_punctuation(column: str, alias: str) -> bool:
    """Whether ``column`` differs from ``alias`` only by trailing colons (no unit dropped)."""
    return _TRAILING_PUNCTUATION.sub("", _plain(column)) == _plain(alias)


def _gbk_bytes(text: str) -> int:
    return len(text.encode("gb18030"))


def _cut_name(column: str) -> str | None:
    """``column`` without a trailing U+FFFD when it is long enough in GBK to have been cut at
    the DBF limit (8–10 bytes); None otherwise."""
    name = str(column).rstrip("\ufffd")
    return name if name and _CUT_MIN_BYTES <= _gbk_bytes(name) <= DBF_NAME_BYTES else None


def _cut_aliases(name: str, aliases: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Canonical → first alias longer than the DBF limit that ``name`` (a cut name) begins."""
    key = _plain(name)
    found: dict[str, str] = {}
    for canonical, names in aliases.items():
        for alias in names:
            plain = _plain(alias)
            if _gbk_bytes(alias) > DBF_NAME_BYTES and len(plain) > len(key) and plain.startswith(key):
                found[canonical] = alias
                break
    return found


@dataclass
class FieldMatch:
    """How a file's columns were recognised: ``mapping`` (canonical → column); Chinese notes, one
    per column ``recognised`` by a decorated or cut name and per column left out as ``unsure``
    (it could be two fields, or a field could be two such columns)."""

    mapping: dict[str, str] = field(default_factory=dict)
    recognised: list[str] = field(default_factory=list)
    unsure: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """All the notes: the recognised columns', then the unsure ones'."""
        return self.recognised + self.unsure


def match_fields(
    columns: Iterable[str], aliases: Mapping[str, Sequence[str]], explicit: Mapping[str, str] | None = None
) -> FieldMatch:
    """Map canonical field names to the file's column names (see the module docstring).

    ``aliases`` lists, per canonical name, the column names it is known by, most specific first;
    ``explicit`` (canonical → column) wins over detection, and a column it names that is not in
    ``columns`` raises ``KeyError``. Each column is used at most once; exact matches are taken for
    every field before any decorated one, and decorated before cut ones.
    """
    columns = list(dict.fromkeys(columns))
    result = FieldMatch()
    mapping, used = result.mapping, set()
    for canonical, column in (explicit or {}).items():
        if column not in columns:
            raise KeyError(f"column {column!r} given for {canonical!r} is not in the file")
        mapping[canonical] = column
        used.add(column)
    for canonical, names in aliases.items():
        if canonical in mapping:
            continue
        for alias in names:
            found = next((c for c in columns if c not in used and _plain(c) == _plain(alias)), None)
            if found is not None:
                mapping[canonical] = found
                used.add(found)
                break

    # Decorated names: per column, the fields (still open) one of whose aliases it is once bare.
    bare_aliases = {canonical: {_bare(a): a for a in reversed(names)} for canonical, names in aliases.items()}
    decorated: dict[str, dict[str, str]] = {}
    for column in columns:
        if column in used:
            continue
        key = _bare(column)
        hits = {c: by_bare[key] for c, by_bare in bare_aliases.items() if c not in mapping and key in by_bare}
        if key and hits:
            decorated[column] = hits
    for column, (_, alias) in _take(decorated, aliases, mapping, used, result.unsure, "去掉单位和标点后").items():
        why = "忽略标点" if _only_punctuation(column, alias) else "忽略单位"
        result.recognised.append(f"列“{column}”按“{alias}”识别（{why}）")

    # Cut DBF names: per column, every field (open or not) with a longer alias it begins.
    cut: dict[str, dict[str, str]] = {}
    for column in columns:
        name = _cut_name(column) if column not in used else None
        hits = _cut_aliases(name, aliases) if name else {}
        if len(hits) > 1:
            options = "或".join(f"“{a}”" for a in hits.values())
            result.unsure.append(f"列“{column}”可能是被截断的 {options}，无法确定，未使用；请指定字段对应的列")
        elif hits and next(iter(hits)) not in mapping:
            cut[column] = hits
    for column, (_, alias) in _take(cut, aliases, mapping, used, result.unsure, "按被截断的字段名").items():
        result.recognised.append(f"列“{column}”按“{alias}”识别（字段名被 Shapefile 截断为 {DBF_NAME_BYTES} 字节）")
    return result


def _take(
    candidates: dict[str, dict[str, str]],
    aliases: Mapping[str, Sequence[str]],
    mapping: dict[str, str],
    used: set[str],
    notes: list[str],
    how: str,
) -> dict[str, tuple[str, str]]:
    """Assign each candidate column (column → {canonical: alias}) to its field when the column
    has one field and the field one column; note the rest. Returns column → (canonical, alias)."""
    taken: dict[str, tuple[str, str]] = {}
    for column, hits in candidates.items():
        if len(hits) > 1:
            options = "、".join(f"“{a}”" for a in hits.values())
            notes.append(f"列“{column}”{how}可以是 {options}，无法确定，未使用；请指定字段对应的列")
    single = {column: next(iter(hits.items())) for column, hits in candidates.items() if len(hits) == 1}
    for canonical in aliases:
        rivals = [column for column, (c, _) in single.items() if c == canonical]
        if len(rivals) == 1:
            column = rivals[0]
            mapping[canonical] = column
            used.add(column)
            taken[column] = single[column]
        elif rivals:
            listed = "、".join(f"“{c}”（像“{single[c][1]}”）" for c in rivals)
            notes.append(f"列 {listed} {how}对应同一字段，无法确定用哪一列，都未使用；请指定字段对应的列")
    return taken


def detect_fields(
    columns: Iterable[str], aliases: Mapping[str, Sequence[str]], explicit: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map canonical field names to the file's column names: ``match_fields(...).mapping``."""
    return match_fields(columns, aliases, explicit).mapping


def parse_field_items(items: Iterable[str]) -> dict[str, str]:
    """``NAME=COLUMN`` items (the CLI's ``--field``, the API's ``fields`` lines) as {NAME: COLUMN}.
    Blank items are skipped; a malformed one raises ``ValueError`` with that item."""
    fields = {}
    for item in items:
        if not item.strip():
            continue
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ValueError(item)
        fields[name.strip()] = column.strip()
    return fields
