"""Coverage counts for large camera batches on one machine, without the database.

The same figures as ``gridmap.coverage.table.compute_coverage`` (planned / installed / online per
area, rolled up the ``parent_code`` chain), for cameras given as arrays: each camera is assigned to
its leaf area with ``gridmap.coverage.assign.LeafIndex`` (boundary-inclusive cover, smallest code
wins — the rule of ``gridmap.db.cameras``), counted per leaf with ``numpy.bincount``, and the leaf
counts are summed into every ancestor one depth at a time, deepest first. No Python loop runs per
camera or per area.

    index = LeafIndex.build(codes, geoms)
    counts = leaf_counts(index, lon, lat, status, online)     # BatchCounts(leaf, outside)
    per_area = roll_up(counts.leaf, areas[["code", "level", "parent_code"]])

The counting rule (as in ``table.py``): a removed camera counts nowhere; a planned one counts as
planned; an installed one as planned and installed; an installed and online one in all three
(``online`` of a camera that is not installed is ignored).

For registers that do not fit one machine, ``gridmap.coverage.distributed`` computes the same
``BatchCounts`` on a dask.distributed cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridmap.coverage.assign import OUTSIDE, LeafIndex

COLUMNS = ("planned", "installed", "online")
STATUSES = ("planned", "installed", "removed")


@dataclass(frozen=True)
class BatchCounts:
    """Per-leaf camera counts of a batch.

    ``leaf``: indexed by leaf code (every leaf of the index, zeros included, ascending), int64
    columns planned, installed, online. ``outside``: cameras that are not removed but that no leaf
    covers (NaN coordinates included) — they count in no area.
    """

    leaf: pd.DataFrame
    outside: int

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BatchCounts)
            and self.outside == other.outside
            and self.leaf.index.equals(other.leaf.index)
            and self.leaf.equals(other.leaf)
        )


def camera_flags(status, online) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counted, installed, online) boolean arrays from camera statuses and online flags.

    ``status``: "planned" | "installed" | "removed" (anything else raises ValueError); ``online``:
    booleans, missing values (None/NaN/pd.NA) read as offline. ``online`` is only true for
    installed cameras.
    """
    status = pd.Series(np.asarray(status) if not isinstance(status, pd.Series | pd.Categorical) else status, copy=False)
    if isinstance(status.dtype, pd.CategoricalDtype):
        cats = status.cat.categories
        unknown = [c for c in cats[np.unique(status.cat.codes[status.cat.codes >= 0])] if c not in STATUSES]
        missing = bool((status.cat.codes < 0).any())
        codes = status.cat.codes.to_numpy()
        lookup = np.array([cats.get_loc(s) if s in cats else -2 for s in STATUSES])
        planned, installed, removed = (codes == c for c in lookup)
    else:
        planned = status.eq("planned").to_numpy(bool)
        installed = status.eq("installed").to_numpy(bool)
        removed = status.eq("removed").to_numpy(bool)
        bad = ~(planned | installed | removed)
        missing = False
        unknown = sorted(map(str, pd.unique(status[bad])))[:5] if bad.any() else []
    if unknown or missing:
        raise ValueError(f"camera status must be one of {STATUSES}; found {unknown or ['<missing>']}")
    online_flag = pd.Series(online, copy=False).astype("boolean").fillna(False).to_numpy(bool)
    if online_flag.shape != installed.shape:
        raise ValueError(f"status and online differ in length ({installed.size} vs {online_flag.size})")
    return planned | installed, installed, installed & online_flag


def leaf_counts(index: LeafIndex, lon, lat, status, online) -> BatchCounts:
    """Cameras (lon/lat degrees in EPSG:4490, status, online) counted per leaf area of ``index``.

    Only cameras that count somewhere (not removed) are assigned.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat differ in length ({lon.size} vs {lat.size})")
    counted, installed, online_flag = camera_flags(status, online)
    if counted.shape != lon.shape:
        raise ValueError(f"status and coordinates differ in length ({counted.size} vs {lon.size})")
    keep = np.flatnonzero(counted)
    labels = index.assign(lon[keep], lat[keep]) if keep.size else np.zeros(0, np.int32)
    return counts_from_labels(index.codes, labels, installed[keep], online_flag[keep])


def counts_from_labels(codes: np.ndarray, labels: np.ndarray, installed: np.ndarray, online: np.ndarray) -> BatchCounts:
    """``BatchCounts`` of counted (not removed) cameras whose leaf positions in ``codes`` are
    ``labels`` (``OUTSIDE`` = no leaf); ``installed``/``online`` are their flags."""
    n = len(codes)
    shifted = labels.astype(np.int64) - OUTSIDE  # OUTSIDE → bin 0, leaf k → bin k + 1
    planned_n = np.bincount(shifted, minlength=n + 1)
    installed_n = np.bincount(shifted[installed], minlength=n + 1)
    online_n = np.bincount(shifted[online], minlength=n + 1)
    leaf = pd.DataFrame(
        {"planned": planned_n[1:], "installed": installed_n[1:], "online": online_n[1:]},
        index=pd.Index(np.asarray(codes, dtype=object), name="code"),
        dtype=np.int64,
    )
    if not leaf.index.is_unique:  # duplicate codes (a data error elsewhere): one row per code
        leaf = leaf.groupby(level=0, sort=True).sum()
    return BatchCounts(leaf, int(planned_n[0]))


def with_regions(areas: pd.DataFrame) -> pd.DataFrame:
    """``areas`` (columns code, level, parent_code; counties at level 0) with the city and province
    rows above its counties, as the database derives them (``gridmap.db.regions``): each county's
    parent its city (4-digit code prefix, level -1), each city's its province (2 digits, level -2)."""
    counties = areas.loc[areas["level"] == 0, "code"].astype(str)
    cities = sorted({c[:4] for c in counties})
    provinces = sorted({c[:2] for c in cities})
    above = pd.DataFrame(
        {
            "code": provinces + cities,
            "level": [-2] * len(provinces) + [-1] * len(cities),
            "parent_code": [None] * len(provinces) + [c[:2] for c in cities],
        }
    )
    linked = areas.copy()
    is_county = linked["level"] == 0
    linked.loc[is_county, "parent_code"] = linked.loc[is_county, "code"].astype(str).str[:4]
    return pd.concat([above, linked[above.columns]], ignore_index=True)


def roll_up(leaf: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Counts of every area in ``areas`` (columns code, parent_code; level is not needed): the sum
    of the leaf counts of its subtree, following ``parent_code`` (as ``compute_coverage`` does,
    whatever the levels say). Indexed by code in the order of ``areas``, int64 columns planned,
    installed, online; zeros for areas without cameras.

    ``leaf`` is indexed by area code (e.g. ``BatchCounts.leaf``); every code in it must be in
    ``areas``, or its cameras would silently vanish from the totals (ValueError).
    """
    codes = pd.Index(areas["code"].astype(object), name="code")
    if not codes.is_unique:
        dup = codes[codes.duplicated()].unique()[:5].tolist()
        raise ValueError(f"duplicate area codes: {dup}")
    columns = [c for c in COLUMNS if c in leaf.columns]
    pos = codes.get_indexer(leaf.index)
    if (pos < 0).any():
        raise ValueError(f"leaf codes not among the areas: {leaf.index[pos < 0][:5].tolist()}")
    n = len(codes)
    totals = np.zeros((n, len(columns)), dtype=np.int64)
    np.add.at(totals, pos, leaf[columns].to_numpy(np.int64))

    parent = codes.get_indexer(pd.Index(areas["parent_code"].astype(object)))  # -1: no parent here
    depth = _depths(parent)
    # Deepest first: when depth d is added into d - 1, everything below d is already in d.
    for d in range(int(depth.max(initial=0)), 0, -1):
        child = np.flatnonzero(depth == d)
        np.add.at(totals, parent[child], totals[child])
    return pd.DataFrame(totals, index=codes, columns=columns)


def _depths(parent: np.ndarray) -> np.ndarray:
    """Number of ancestors of each area (``parent``: position of the parent, -1 for a root), all
    areas walking up one step per round; ValueError on a parent_code cycle."""
    n = parent.size
    depth = np.zeros(n, dtype=np.int64)
    up = parent.copy()
    for _ in range(n + 1):
        live = np.flatnonzero(up >= 0)
        if live.size == 0:
            return depth
        depth[live] += 1
        up[live] = parent[up[live]]
    raise ValueError("parent_code forms a cycle")
