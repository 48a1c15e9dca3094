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

Partitioned by county (``county_leaf_counts``): for a province or the country, where the register
already says which county each camera belongs to. No machine then holds more than one county's
leaves, the client included:

- leaves: one GeoParquet file per county, ``<leaves_dir>/<county code>.parquet`` (columns code,
  geometry; EPSG:4490; every code starts with the county code) — ``write_county_leaves``;
- cameras: a Parquet dataset partitioned by county, ``<cameras_dir>/county=<code>/*.parquet``
  (columns lon, lat in EPSG:4490 degrees, status, online; others ignored) — ``write_county_cameras``.

One task per county opens only those files (on the worker, by path), builds a ``LeafIndex`` of
the county's leaves, counts its cameras per leaf in row batches, and returns the county's per-leaf
counts; the client concatenates them (a few dozen bytes per leaf) and ``areas_from_codes`` gives
every area above the leaves from the code prefixes, so ``roll_up`` needs no geometry either. Both
directories may be any path or URI ``pyarrow.fs`` opens (a shared NFS mount, ``s3://…``) as long as
every worker reads the same thing under the same name.
"""

from __future__ import annotations

import resource
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridmap.coverage.assign import LeafIndex
from gridmap.coverage.batch import BatchCounts, camera_flags, counts_from_labels, with_regions
from gridmap.levels import LEVELS

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


# ------------------------------------------------------------------------------------------------
# Partitioned by county

CAMERA_COLUMNS = ("lon", "lat", "status", "online")
#: Cameras assigned per batch inside a county's task (bounds the task's temporaries: ~100 bytes a row).
BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class CountyCounts:
    """Result of ``county_leaf_counts``.

    ``counts``: per-leaf counts of all the counties (leaves ascending by code, zeros included) and
    their cameras outside every leaf of their county. ``outside`` and ``cameras``: per county code,
    the cameras counted as outside and the camera rows read (removed ones included). ``reads``: per
    county code, the files its task opened (paths as the workers saw them).
    """

    counts: BatchCounts
    outside: pd.Series
    cameras: pd.Series
    reads: dict[str, tuple[str, ...]]

    def of(self, counties: Iterable[str]) -> BatchCounts:
        """The ``BatchCounts`` of some of the counties only (their leaves and their outside)."""
        wanted = sorted(set(counties))
        leaf = self.counts.leaf
        keep = leaf.index.astype(str).str[:6].isin(wanted)
        return BatchCounts(leaf[keep], int(self.outside.reindex(wanted, fill_value=0).sum()))


def county_leaf_counts(
    client, leaves_dir: str, cameras_dir: str, counties: Sequence[str] | None = None, *, batch_rows: int = BATCH_ROWS
) -> CountyCounts:
    """Per-leaf camera counts of whole counties on ``client``'s cluster, one task per county.

    ``leaves_dir``: ``<county code>.parquet`` GeoParquet files (code, geometry, EPSG:4490);
    ``cameras_dir``: ``county=<code>/*.parquet`` (lon, lat in EPSG:4490 degrees, status
    "planned"/"installed"/"removed", online); both paths/URIs as every worker sees them.
    ``counties``: the county codes to count (default: every leaves file). A county without a
    camera directory has no cameras.

    A camera belongs to the county whose directory holds it (the register says so); it is assigned
    only to that county's leaves (boundary-inclusive, smallest code wins, as ``LeafIndex``), and one
    that none of them covers counts as **outside** — even if it lies in a neighbouring county's
    leaf. Where no camera strays across a county border the result equals ``batch.leaf_counts``
    with one index over all the leaves, exactly.
    """
    from distributed import as_completed

    if counties is None:
        counties = list_counties(leaves_dir)
    counties = sorted(set(counties))
    futures = client.map(
        count_county,
        counties,
        leaves_dir=leaves_dir,
        cameras_dir=cameras_dir,
        batch_rows=batch_rows,
        pure=False,
    )
    frames: list[pd.DataFrame] = []
    outside: dict[str, int] = {}
    cameras: dict[str, int] = {}
    reads: dict[str, tuple[str, ...]] = {}
    for future, (county, leaf, out, rows, opened) in as_completed(futures, with_results=True):
        frames.append(leaf)
        outside[county], cameras[county], reads[county] = out, rows, opened
        future.release()
    leaf = (
        pd.concat(frames).sort_index()
        if frames
        else pd.DataFrame(columns=["planned", "installed", "online"], dtype=np.int64)
    )
    leaf.index.name = "code"
    by_county = pd.Index(counties, name="county")
    return CountyCounts(
        BatchCounts(leaf, sum(outside.values())),
        pd.Series(outside, dtype=np.int64).reindex(by_county),
        pd.Series(cameras, dtype=np.int64).reindex(by_county),
        reads,
    )


def count_county(
    county: str, *, leaves_dir: str, cameras_dir: str, batch_rows: int = BATCH_ROWS
) -> tuple[str, pd.DataFrame, int, int, tuple[str, ...]]:
    """One county's task: (county, per-leaf counts of all its leaves, cameras outside them, camera
    rows read, files opened). Reads ``<leaves_dir>/<county>.parquet`` and
    ``<cameras_dir>/county=<county>/*.parquet`` only."""
    import pyarrow.parquet as pq

    fs, leaves_root = _filesystem(leaves_dir)
    leaves_path = f"{leaves_root}/{county}.parquet"
    table = pq.read_table(leaves_path, columns=["code", "geometry"], filesystem=fs)
    codes = np.asarray(table.column("code").to_pylist(), dtype=object)
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    del table
    strays = [c for c in codes if not str(c).startswith(county)]
    if strays:
        raise ValueError(f"{leaves_path}: codes outside county {county}: {strays[:5]}")
    index = LeafIndex.build(codes, geoms)
    del codes, geoms
    opened = [leaves_path]
    none = np.zeros(0, dtype=bool)
    leaf = counts_from_labels(index.codes, np.zeros(0, np.int32), none, none).leaf  # zeros, one row a code
    outside = rows = 0
    cam_fs, cam_root = _filesystem(cameras_dir)
    for path in _camera_files(cam_fs, f"{cam_root}/county={county}"):
        opened.append(path)
        with cam_fs.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=list(CAMERA_COLUMNS)):
                part = batch.to_pandas()
                rows += len(part)
                counted, installed, online = camera_flags(part["status"], part["online"])
                keep = np.flatnonzero(counted)
                labels = index.assign(part["lon"].to_numpy(np.float64)[keep], part["lat"].to_numpy(np.float64)[keep])
                got = counts_from_labels(index.codes, labels, installed[keep], online[keep])
                leaf = leaf + got.leaf
                outside += got.outside
    return county, leaf, int(outside), int(rows), tuple(opened)


def list_counties(leaves_dir: str) -> list[str]:
    """County codes of the ``<code>.parquet`` files in ``leaves_dir``, ascending."""
    from pyarrow import fs as pafs

    fs, root = _filesystem(leaves_dir)
    infos = fs.get_file_info(pafs.FileSelector(root))
    names = [i.base_name[: -len(".parquet")] for i in infos if i.is_file and i.base_name.endswith(".parquet")]
    return sorted(n for n in names if n.isdigit() and len(n) == LEVELS[0].code_length)


def write_county_leaves(leaves_dir: str, county: str, leaves) -> str:
    """Write ``leaves`` (GeoDataFrame: code, geometry, EPSG:4490) as ``<leaves_dir>/<county>.parquet``
    (GeoParquet); returns the path. Codes must start with ``county``."""
    from pathlib import Path

    codes = leaves["code"].astype(str)
    if not codes.str.startswith(county).all():
        raise ValueError(f"codes outside county {county}: {codes[~codes.str.startswith(county)].head().tolist()}")
    if leaves.crs is None or leaves.crs.to_epsg() != 4490:
        raise ValueError(f"leaves must be in EPSG:4490, not {leaves.crs}")
    Path(leaves_dir).mkdir(parents=True, exist_ok=True)
    path = f"{leaves_dir}/{county}.parquet"
    leaves[["code", "geometry"]].to_parquet(path, index=False)
    return path


def write_county_cameras(cameras_dir: str, county: str, chunks: Iterable[pd.DataFrame], *, part: int = 0) -> str:
    """Write a county's cameras as ``<cameras_dir>/county=<county>/part-<part>.parquet``, one row
    group per chunk (DataFrames with lon, lat in EPSG:4490 degrees, status, online [, others]) so
    a register is streamed, never held whole; returns the path."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(cameras_dir) / f"county={county}"
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / f"part-{part:05d}.parquet")
    writer = None
    try:
        for chunk in chunks:
            missing = [c for c in CAMERA_COLUMNS if c not in chunk.columns]
            if missing:
                raise ValueError(f"camera columns missing: {missing}")
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


def areas_from_codes(codes: Iterable[str]) -> pd.DataFrame:
    """Areas (code, level, parent_code) of leaf ``codes`` and of every area above them, from the
    prefix scheme of ``gridmap.levels`` (county 6 digits, +3 a level), with the city and province
    rows (``batch.with_regions``): what ``roll_up`` needs, without any geometry."""
    leaves = pd.Index(pd.unique(np.asarray(list(codes), dtype=object))).astype(str)
    lengths = {lv.code_length: lv.number for lv in LEVELS}
    bad = leaves[~(leaves.str.fullmatch(r"\d+") & leaves.str.len().isin(list(lengths)))]
    if len(bad):
        raise ValueError(f"codes outside the level scheme: {bad[:5].tolist()}")
    frames = []
    for lv in LEVELS:
        have = leaves[leaves.str.len() >= lv.code_length].str[: lv.code_length].unique()
        parent = have.str[: LEVELS[lv.number - 1].code_length] if lv.number > 0 else [None] * len(have)
        frames.append(pd.DataFrame({"code": have, "level": lv.number, "parent_code": parent}))
    return with_regions(pd.concat(frames, ignore_index=True).astype({"code": object, "parent_code": object}))


def peak_rss_mib() -> float:
    """This process's peak resident memory (ru_maxrss), MiB — e.g. ``client.run(peak_rss_mib)``."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _filesystem(uri: str):
    """(pyarrow filesystem, path within it) of a local path or a URI (s3://, gs://, hdfs://…)."""
    from pyarrow import fs as pafs

    if "://" not in uri:
        import os

        return pafs.LocalFileSystem(), os.path.abspath(uri).rstrip("/")
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path.rstrip("/")


def _camera_files(fs, folder: str) -> list[str]:
    from pyarrow import fs as pafs

    info = fs.get_file_info(folder)
    if info.type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(folder))
    return sorted(i.path for i in infos if i.is_file and i.base_name.endswith(".parquet"))
