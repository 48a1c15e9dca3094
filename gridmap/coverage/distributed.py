"""The batch camera count of ``gridmap.coverage.batch`` on a dask.distributed cluster, for registers
that do not fit one machine (national scale: millions of leaf areas, 100M+ cameras).

How it works (``distributed_leaf_counts``):

1. The cameras (a dask DataFrame with columns lon, lat, status, online) lose their removed rows
   and become compact flags (lon, lat, installed, online), kept in cluster memory; cameras with a
   NaN coordinate are counted as outside right away.
2. The rest become points (dask-geopandas) and are **spatially partitioned**:
   ``spatial_shuffle(by="hilbert")`` sorts them along a Hilbert curve so each partition is a
   compact patch of the map; ``calculate_spatial_partitions()`` gives each partition's extent.
3. On the client, an STRtree over the leaf areas picks for each partition the leaves that
   intersect its extent (its bounding box, padded by ``PAD_DEGREES``: boundary-inclusive with a
   margin for rounding, so every leaf that can cover one of its points is among them). Each subset
   is scattered to the cluster; a partition is assigned against its own subset only: the task
   builds a ``LeafIndex`` of the subset and counts per leaf (``batch.counts_from_labels``).
4. The per-leaf counts of the partitions are summed on the client. Since every leaf covering a
   point is in that point's subset, the smallest covering code is the same as over all leaves:
   the result equals ``batch.leaf_counts`` on one machine, exactly.

Using a real cluster::

    from gridmap.coverage.batch import roll_up
    from gridmap.coverage.distributed import connect, distributed_leaf_counts
    import dask.dataframe as dd, geopandas as gpd

    client = connect("tcp://scheduler.example:8786")          # `dask scheduler` / `dask worker ...`
    cameras = dd.read_parquet("s3://bucket/cameras/",          # shared storage every worker can read
                              columns=["lon", "lat", "status", "online"], blocksize="256MiB")
    leaves = gpd.read_parquet("/shared/leaf_areas.parquet")    # GeoParquet (or read_areas(gpkg, layer=...)):
                                                               # code + geometry, EPSG:4490
    counts = distributed_leaf_counts(cameras, leaves[["code", "geometry"]], client, npartitions=200)
    per_area = roll_up(counts.leaf, areas[["code", "level", "parent_code"]])   # on the client

- Workers need the same environment as the client (``pip install 'gridmap[distributed]'``, same
  versions of gridmap, shapely, dask) and read access to the camera files.
- The leaves are read on the client (the STRtree and the subsets are built there): a few million
  polygons take a few GB on the client, not on every worker — a worker only receives the subsets
  of its partitions.
- Memory per worker: the cluster holds the compact camera frame (~30 bytes a camera) and the
  spatially shuffled points (~250 bytes a camera, mostly the shapely point: ~215 bytes) at the
  same time, spread over the workers, so 100M cameras need roughly 28 GB of worker memory in all;
  on top of that a task works on one partition (its LeafIndex of a few thousand leaves: tens of
  MB; assignment temporaries ~60 bytes a camera) — choose ``npartitions`` so partitions have
  0.5-2M cameras, and give each worker ≥ 4 GB.
- Tasks are plain picklable functions of this module, so ``processes=True`` workers (the default
  of ``dask worker``) are fine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap.coverage.assign import LeafIndex
from gridmap.coverage.batch import BatchCounts, camera_flags, counts_from_labels

#: Padding of a partition's bounding box when selecting its leaves, in degrees (~1 cm): a leaf that
#: covers a point on the box's edge then crosses the box by a margin, whatever the rounding.
PAD_DEGREES = 1e-7
_FLAGS_META = pd.DataFrame(
    {
        "lon": pd.Series(dtype="float64"),
        "lat": pd.Series(dtype="float64"),
        "installed": pd.Series(dtype="bool"),
        "online": pd.Series(dtype="bool"),
    }
)


def connect(address: str | None = None):
    """A ``distributed.Client``: to the scheduler at ``address`` (e.g. "tcp://10.0.0.5:8786"), or,
    when None, to a new local cluster of 2 single-threaded worker processes without dashboard
    (closed with the client)."""
    import logging

    from distributed import Client

    if address:
        return Client(address)
    return Client(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR)


def distributed_leaf_counts(cameras, leaves, client, *, npartitions: int | None = None) -> BatchCounts:
    """``batch.leaf_counts`` of ``cameras`` (dask DataFrame: lon, lat in EPSG:4490 degrees, status
    "planned"/"installed"/"removed", online) against ``leaves`` (GeoDataFrame: code, geometry in
    EPSG:4490), computed on ``client``'s cluster in ``npartitions`` spatial partitions (default:
    as many as ``cameras`` has). Same result as on one machine (see the module docstring)."""
    import dask
    import dask_geopandas

    codes, geoms = _leaf_arrays(leaves)
    all_codes = pd.Index(pd.unique(codes), name="code")  # ascending, like LeafIndex.codes
    with client.as_current():
        flags = cameras[["lon", "lat", "status", "online"]].map_partitions(_flags, meta=_FLAGS_META)
        flags = flags.persist()
        # Separate functions rather than one mask used twice: dask would see two graphs giving the
        # mask's key different tasks and warn about it.
        nonfinite = int(flags.map_partitions(_count_unlocated, meta=(None, "int64")).sum().compute())
        located = flags.map_partitions(_located, meta=_FLAGS_META)

        points = dask_geopandas.from_dask_dataframe(
            located, geometry=dask_geopandas.points_from_xy(located, "lon", "lat", crs=4490)
        )
        shuffled = points.spatial_shuffle(by="hilbert", npartitions=npartitions, calculate_partitions=False)
        shuffled = shuffled.persist()
        del flags, located, points  # the shuffled frame holds all that is needed now
        shuffled.calculate_spatial_partitions()
        extents = shuffled.spatial_partitions.to_numpy()

        subsets = leaf_subsets(codes, geoms, extents)
        parts = shuffled[["lon", "lat", "installed", "online"]].to_delayed()
        jobs = [
            (part, subset)
            for part, subset, extent in zip(parts, subsets, extents)
            if not (shapely.is_missing(extent) or shapely.is_empty(extent))
        ]
        scattered = client.scatter([subset for _, subset in jobs]) if jobs else []
        tasks = [dask.delayed(_count_partition)(part, subset) for (part, _), subset in zip(jobs, scattered)]
        results = client.gather(client.compute(tasks)) if tasks else []
        del shuffled

    outside = nonfinite + sum(out for _, out in results)
    frames = [leaf for leaf, _ in results if len(leaf)]
    summed = (
        pd.concat(frames).groupby(level=0).sum()
        if frames
        else pd.DataFrame(columns=["planned", "installed", "online"], dtype=np.int64)
    )
    leaf = summed.reindex(all_codes, fill_value=0).astype(np.int64)
    leaf.index.name = "code"
    return BatchCounts(leaf[["planned", "installed", "online"]], int(outside))


def leaf_subsets(codes: np.ndarray, geoms: np.ndarray, extents: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each partition extent (a geometry; empty or None for an empty partition), the (codes,
    geometries) of the leaves that intersect its bounding box padded by ``PAD_DEGREES``."""
    out: list[tuple[np.ndarray, np.ndarray]] = [(codes[:0], geoms[:0]) for _ in extents]
    extents = np.asarray(extents, dtype=object)
    present = np.flatnonzero(~(shapely.is_missing(extents) | shapely.is_empty(extents)))
    if present.size == 0 or len(geoms) == 0:
        return out
    b = shapely.bounds(extents[present])
    boxes = shapely.box(b[:, 0] - PAD_DEGREES, b[:, 1] - PAD_DEGREES, b[:, 2] + PAD_DEGREES, b[:, 3] + PAD_DEGREES)
    box_i, leaf_i = shapely.STRtree(geoms).query(boxes, predicate="intersects")
    order = np.lexsort((leaf_i, box_i))
    box_i, leaf_i = box_i[order], leaf_i[order]
    cuts = np.searchsorted(box_i, np.arange(present.size + 1))
    for j, p in enumerate(present):
        sel = leaf_i[cuts[j] : cuts[j + 1]]
        out[p] = (codes[sel], geoms[sel])
    return out


def _leaf_arrays(leaves) -> tuple[np.ndarray, np.ndarray]:
    """(codes, polygons) of the leaves with a geometry, ordered by code."""
    codes = np.asarray(leaves["code"], dtype=object)
    geoms = np.asarray(leaves.geometry.to_numpy() if hasattr(leaves, "geometry") else leaves["geometry"], dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    codes, geoms = codes[keep], geoms[keep]
    order = np.argsort(codes.astype(str), kind="stable")
    return codes[order], geoms[order]


def _flags(part: pd.DataFrame) -> pd.DataFrame:
    """One partition of cameras → its counted (not removed) cameras as lon, lat, installed, online."""
    counted, installed, online = camera_flags(part["status"], part["online"])
    lon = part["lon"].to_numpy(np.float64)[counted]
    lat = part["lat"].to_numpy(np.float64)[counted]
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    lon[bad] = np.nan  # ±inf → NaN: outside, like LeafIndex.assign, and kept out of the shuffle
    lat[bad] = np.nan
    return pd.DataFrame(
        {"lon": lon, "lat": lat, "installed": installed[counted], "online": online[counted]}, index=part.index[counted]
    )


def _count_unlocated(part: pd.DataFrame) -> pd.Series:
    return pd.Series([int((part["lon"].isna() | part["lat"].isna()).sum())], dtype="int64")


def _located(part: pd.DataFrame) -> pd.DataFrame:
    return part[part["lon"].notna() & part["lat"].notna()]


def _count_partition(part: pd.DataFrame, subset: tuple[np.ndarray, np.ndarray]) -> tuple[pd.DataFrame, int]:
    """Per-leaf counts of one spatial partition against its own leaves (rows with cameras only)
    and how many of its cameras no leaf covers."""
    codes, geoms = subset
    index = LeafIndex.build(codes, geoms)
    labels = index.assign(part["lon"].to_numpy(np.float64), part["lat"].to_numpy(np.float64))
    counts = counts_from_labels(index.codes, labels, part["installed"].to_numpy(bool), part["online"].to_numpy(bool))
    return counts.leaf[counts.leaf["planned"] > 0], counts.outside
