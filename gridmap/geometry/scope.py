"""Which part of the hierarchy an upload speaks for: its root, top level and parent.

Publishing replaces every live area whose code starts with ``root`` at ``top_level`` and below.
Three shapes of upload:

* one area and its subtree (e.g. one township re-surveyed): ``root`` is that area's code; its
  live siblings stay, so the upload is checked together with them inside their ``parent``;
* all children of one area (``--parent-code``, or top features sharing one parent): ``root`` is
  that parent, which must be covered completely;
* a whole level of the county (top features under different parents): ``root`` is the longest
  code prefixing all their parents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gridmap.geometry.codes import Hierarchy
from gridmap.levels import LEVELS


@dataclass(frozen=True)
class Scope:
    root: str | None        # code prefix the upload replaces (None: cannot tell, e.g. no valid codes)
    top_level: int | None
    levels: tuple[int, ...]
    parent: str | None = None   # the one parent all top features share (None for a county or several)

    @property
    def parent_level(self) -> int | None:
        return None if self.top_level in (None, 0) else self.top_level - 1

    @property
    def includes_root(self) -> bool:
        """The root area itself is replaced (a single-area upload)."""
        return (self.root is not None and self.top_level is not None
                and len(self.root) == LEVELS[self.top_level].code_length)


def upload_scope(hierarchy: Hierarchy, parent_code: str | None = None) -> Scope:
    """The scope of an upload (see the module docstring); ``parent_code`` is ``--parent-code``."""
    known = hierarchy.level >= 0
    if not known.any():
        return Scope(parent_code, None, (), parent_code)
    levels = tuple(sorted(set(hierarchy.level[known].tolist())))
    top = levels[0]
    if parent_code is not None:
        return Scope(parent_code, top, levels, parent_code)
    top_rows = np.flatnonzero(hierarchy.level == top)
    codes = {hierarchy.codes[i] for i in top_rows if hierarchy.codes[i]}
    parents = sorted({hierarchy.parent[i] for i in top_rows if hierarchy.parent[i]})
    if len(codes) == 1:
        return Scope(codes.pop(), top, levels, parents[0] if len(parents) == 1 else None)
    if top == 0 or not parents:
        return Scope(None, top, levels)
    if len(parents) == 1:
        return Scope(parents[0], top, levels, parents[0])
    prefix = os.path.commonprefix(parents)
    fitting = [lv.code_length for lv in LEVELS if lv.code_length <= len(prefix)]
    return Scope(prefix[:fitting[-1]] if fitting else None, top, levels)
