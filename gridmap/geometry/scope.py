"""Which part of the hierarchy an upload speaks for: its root area and its top level.

Publishing replaces every live area under ``root`` (code prefix) at ``top_level`` and below; the
parents one level above the top must then be covered completely by the upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gridmap.geometry.codes import Hierarchy
from gridmap.levels import LEVELS


@dataclass(frozen=True)
class Scope:
    root: str | None      # code prefix the upload replaces (None: cannot tell, e.g. no valid codes)
    top_level: int | None
    levels: tuple[int, ...]

    @property
    def parent_level(self) -> int | None:
        return None if self.top_level in (None, 0) else self.top_level - 1


def upload_scope(hierarchy: Hierarchy, parent_code: str | None = None) -> Scope:
    """The scope of an upload: ``parent_code`` when given; else the single top area itself when
    the top level has one feature with no parent (a county), else the parent all top features
    share, else the longest level code that prefixes all of their parents."""
    known = hierarchy.level >= 0
    if not known.any():
        return Scope(parent_code, None, ())
    levels = tuple(sorted(set(hierarchy.level[known].tolist())))
    top = levels[0]
    if parent_code is not None:
        return Scope(parent_code, top, levels)
    top_rows = np.flatnonzero(hierarchy.level == top)
    if top == 0:
        codes = {hierarchy.codes[i] for i in top_rows if hierarchy.codes[i]}
        return Scope(codes.pop() if len(codes) == 1 else None, top, levels)
    parents = sorted({hierarchy.parent[i] for i in top_rows if hierarchy.parent[i]})
    if not parents:
        return Scope(None, top, levels)
    prefix = os.path.commonprefix(parents)
    fitting = [lv.code_length for lv in LEVELS if lv.code_length <= len(prefix)]
    return Scope(prefix[:fitting[-1]] if fitting else None, top, levels)
