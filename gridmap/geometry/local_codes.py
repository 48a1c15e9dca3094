"""Counties that number their grids with codes of their own (``WG-012``, ``第3网格``, ``07``):
standard codes made from the parent's.

Everything in gridmap follows the hierarchical code scheme (``gridmap.levels``): a child's code
is its parent's plus 3 digits, so subtrees, token scopes, tiles and figures all work by prefix. A
county whose offices keep local numbers for its grids or micro-grids still states each one's
parent (a 上级编码 column): :func:`localize` gives each such area a standard code — its parent's
standard code plus a 3-digit number — and keeps the county's own code in the column
:data:`LOCAL_CODE_COLUMN`, which is stored with the area (its ``attrs``).

The numbers are stable: an area whose (parent, local code) is already live keeps the code it has
(``known``); a new one takes the smallest number not used under its parent, by the file or by the
live areas (``taken``), in the order of the local codes. A local code's parent may itself be a
local code of the same file (micro-grids under locally numbered grids): parents are resolved
first. Rows whose code is standard are left as they are; rows without a parent, or whose parent
cannot be resolved, keep their code (the validator reports it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridmap.levels import LEVELS, STANDARD, Scheme

#: Where an area's own (local) code is kept once it has a standard one.
LOCAL_CODE_COLUMN = "本地编码"
#: Numbers under one parent in the standard scheme (3 digits; a scheme with longer codes allows more).
MAX_CHILDREN = 999
_NUMBERS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple:
    """Sort key putting WG2 before WG10."""
    return tuple(int(part) if part.isdigit() else part for part in _NUMBERS.split(text))


@dataclass
class KnownCodes:
    """What the live data says: (parent code, local code) → the standard code given before, and
    each parent's codes in use (so a new number never takes a live area's)."""

    codes: dict[tuple[str, str], str] = field(default_factory=dict)
    taken: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Localized:
    codes: np.ndarray  # standard codes (or the input where none could be made)
    parents: np.ndarray  # the parents' standard codes
    local: np.ndarray  # the local code where one was replaced, else None
    notes: list[str]


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def is_local(code: str | None, scheme: Scheme = STANDARD) -> bool:
    """Whether ``code`` does not fit ``scheme`` (so it needs one made from its parent's)."""
    return code is not None and scheme.level_of_code(code) is None


def local_counties(codes: np.ndarray, parents: np.ndarray, scheme: Scheme = STANDARD) -> list[str]:
    """The counties (6-digit codes) of the standard parents of rows with a local code: where the
    live codes given before are looked up."""
    out = set()
    for code, parent in zip(codes, parents):
        code, parent = _text(code), _text(parent)
        if is_local(code, scheme) and parent is not None and not is_local(parent, scheme):
            out.add(parent[: LEVELS[0].code_length])
    return sorted(out)


def localize(
    codes: np.ndarray, parents: np.ndarray, known: KnownCodes | None = None, scheme: Scheme = STANDARD
) -> Localized:
    """Standard codes for the rows whose code is local (see the module docstring); ``codes`` and
    ``parents`` as read (the file's code and 上级编码 columns). ``scheme``: the county's level
    scheme: a child's number has as many digits as its level's code is longer than its parent's
    (3 in the standard scheme)."""
    known = known or KnownCodes()
    n = len(codes)
    code_in = [_text(c) for c in codes]
    parent_in = [_text(p) for p in parents]
    out_codes: list[str | None] = list(code_in)
    out_parents: list[str | None] = list(parent_in)
    local: list[str | None] = [None] * n
    todo = [i for i in range(n) if is_local(code_in[i], scheme) and parent_in[i] is not None]
    if not todo:
        return Localized(np.array(out_codes, dtype=object), np.array(out_parents, dtype=object), np.array(local), [])
    used: dict[str, set[str]] = {p: set(c) for p, c in known.taken.items()}
    for c in code_in:  # standard codes of the file, under their prefix parent
        if c is not None and (above := scheme.parent_code_of(c)) is not None:
            used.setdefault(above, set()).add(c)
    for (parent, _), c in known.codes.items():
        used.setdefault(parent, set()).add(c)
    by_local = {code_in[i]: i for i in todo}  # a local code naming a parent in the same file
    resolved: dict[int, str] = {}
    notes: list[str] = []
    full: list[str] = []
    pending = sorted(todo, key=lambda i: (_natural(str(code_in[i])), i))
    while pending:
        progressed, left = False, []
        for i in pending:
            parent = str(parent_in[i])  # todo holds rows with a parent only
            if is_local(parent, scheme):
                j = by_local.get(parent)
                if j is None or j not in resolved:
                    left.append(i)
                    continue
                parent = resolved[j]
            level = scheme.level_of_code(parent)
            if level is None or level == scheme.leaf_level:
                continue  # a parent at the deepest level, or not a code: left for the validator
            child_level = scheme.numbers[scheme.numbers.index(level) + 1]
            width = (scheme.code_length(child_level) or 0) - len(parent)
            key = (parent, str(code_in[i]))
            code = known.codes.get(key)
            if code is None:
                taken = used.setdefault(parent, set())
                most = 10**width - 1 if width > 0 else 0
                number = next((k for k in range(1, most + 1) if f"{parent}{k:0{width}d}" not in taken), None)
                if number is None:
                    full.append(parent)
                    continue
                code = f"{parent}{number:0{width}d}"
                taken.add(code)
            resolved[i] = code
            out_codes[i], out_parents[i], local[i] = code, parent, code_in[i]
            progressed = True
        if not progressed:
            break
        pending = left
    if resolved:
        example = next(iter(resolved))
        notes.append(
            f"本地编码：{len(resolved):,} 个区域的编码不是国标层级编码（如“{code_in[example]}”），"
            f"已按上级编码生成标准编码（如 {resolved[example]}：上级编码加序号），本地编码保存在“{LOCAL_CODE_COLUMN}”列；"
            "再次上传时，同一上级下的同一本地编码得到同一标准编码。"
        )
    if full:
        notes.append(
            f"上级 {'、'.join(sorted(set(full))[:5])} 下的区域超过编码位数能容纳的数量（标准方案每级 {MAX_CHILDREN} 个），部分本地编码未能生成标准编码。"
        )
    for i in range(n):  # children of a locally numbered parent that itself kept a standard code
        p = out_parents[i]
        if p is not None and is_local(p) and p in by_local and by_local[p] in resolved:
            out_parents[i] = resolved[by_local[p]]
    return Localized(np.array(out_codes, dtype=object), np.array(out_parents, dtype=object), np.array(local), notes)


def known_from_rows(rows: Mapping[str, list[tuple[str, str | None]]]) -> KnownCodes:
    """A :class:`KnownCodes` from live rows: parent code → [(code, local code or None)]."""
    known = KnownCodes()
    for parent, children in rows.items():
        known.taken[parent] = {c for c, _ in children}
        for code, local_code in children:
            if local_code:
                known.codes[(parent, local_code)] = code
    return known
