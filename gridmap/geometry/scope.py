"""Which part of the hierarchy an upload speaks for (its root, top level and parent), and where
areas being written reach beyond a writer's own part (:func:`encroachments`).

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
import shapely

from gridmap.geometry.codes import Hierarchy
from gridmap.geometry.metric import metric_crs, to_metric
from gridmap.levels import STANDARD, Scheme


@dataclass(frozen=True)
class Scope:
    root: str | None  # code prefix the upload replaces (None: cannot tell, e.g. no valid codes)
    top_level: int | None
    levels: tuple[int, ...]
    parent: str | None = None  # the one parent all top features share (None for a county or several)
    scheme: Scheme = STANDARD  # the county's level scheme the codes follow

    @property
    def parent_level(self) -> int | None:
        """The level of the top features' parents, in the scheme (None for a county)."""
        return None if self.top_level in (None, 0) else self.scheme.parent_level(self.top_level)

    @property
    def includes_root(self) -> bool:
        """The root area itself is replaced (a single-area upload)."""
        return (
            self.root is not None
            and self.top_level is not None
            and len(self.root) == self.scheme.code_length(self.top_level)
        )


def upload_scope(hierarchy: Hierarchy, parent_code: str | None = None, scheme: Scheme = STANDARD) -> Scope:
    """The scope of an upload (see the module docstring); ``parent_code`` is ``--parent-code``;
    ``scheme`` the county's level scheme the hierarchy was read with."""
    known = hierarchy.level >= 0
    if not known.any():
        return Scope(parent_code, None, (), parent_code, scheme)
    levels = tuple(sorted(set(hierarchy.level[known].tolist())))
    top = levels[0]
    if parent_code is not None:
        return Scope(parent_code, top, levels, parent_code, scheme)
    top_rows = np.flatnonzero(hierarchy.level == top)
    codes = {hierarchy.codes[i] for i in top_rows if hierarchy.codes[i]}
    parents = sorted({hierarchy.parent[i] for i in top_rows if hierarchy.parent[i]})
    if len(codes) == 1:
        return Scope(codes.pop(), top, levels, parents[0] if len(parents) == 1 else None, scheme)
    if top == 0 or not parents:
        return Scope(None, top, levels, None, scheme)
    if len(parents) == 1:
        return Scope(parents[0], top, levels, parents[0], scheme)
    prefix = os.path.commonprefix(parents)
    fitting = [length for length in scheme.lengths if length <= len(prefix)]
    return Scope(prefix[: fitting[-1]] if fitting else None, top, levels, None, scheme)


def encroachments(
    new_geoms: np.ndarray,
    others: np.ndarray,
    other_codes: np.ndarray,
    inside: shapely.Geometry | None = None,
    min_area_m2: float = 1.0,
) -> dict[str | None, float]:
    """Where areas being written reach beyond what their writer may change.

    ``new_geoms``: the areas written (EPSG:4490); ``others``/``other_codes``: live areas outside
    the writer's scope (EPSG:4490); ``inside``: the writer's own area when it stays as it is (the
    written areas must lie within it). Returns {other code: overlap m²} and, under None, the
    area outside ``inside`` — each only when over ``min_area_m2`` (shared edges that do not match
    to the last digit make slivers, not encroachments). Measured in the data's Gauss-Krüger zone.
    """
    new_geoms = np.asarray([g for g in new_geoms if g is not None], dtype=object)
    if not len(new_geoms):
        return {}
    crs = metric_crs(new_geoms)
    written = shapely.union_all(to_metric(new_geoms, crs))
    found: dict[str | None, float] = {}
    if len(others):
        overlap = shapely.area(shapely.intersection(to_metric(np.asarray(others, dtype=object), crs), written))
        for code, m2 in zip(other_codes, overlap):
            if m2 > min_area_m2:
                found[str(code)] = found.get(str(code), 0.0) + float(m2)
    if inside is not None:
        outside = float(shapely.area(shapely.difference(written, to_metric(np.array([inside], dtype=object), crs)[0])))
        if outside > min_area_m2:
            found[None] = outside
    return found
