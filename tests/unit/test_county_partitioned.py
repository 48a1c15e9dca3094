"""The county-partitioned camera count (``gridmap.coverage.distributed.county_leaf_counts``) on a
small generated province: three copies of the sample county's micro-grids under new county codes,
shifted apart, with 50k cameras in their registers — the same figures as ``batch.leaf_counts`` with
one index over every leaf, each task reading its own county's files only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap.coverage.assign import LeafIndex
from gridmap.coverage.batch import leaf_counts, roll_up, with_regions
from gridmap.coverage.distributed import (
    areas_from_codes,
    connect,
    county_leaf_counts,
    write_county_cameras,
    write_county_leaves,
)
from gridmap.io.boundaries import read_areas
from gridmap.levels import LEVELS
from gridmap.sample.files import GPKG

COUNTIES = ("410121", "410122", "410221")  # two cities of one province
DECOY = "410222"  # its files are not Parquet: a task that opened them would fail
CAMERAS_PER_COUNTY = 16_000


@pytest.fixture(scope="module")
def microgrids(data_dir):
    return read_areas(data_dir / GPKG, layer="microgrid")[["code", "geometry"]]


@pytest.fixture(scope="module")
def province(tmp_path_factory, microgrids):
    """(leaves_dir, cameras_dir, all leaves, all cameras with their county)."""
    root = tmp_path_factory.mktemp("province")
    leaves_dir, cameras_dir = str(root / "leaves"), str(root / "cameras")
    rng = np.random.default_rng(17)
    minx, miny, maxx, maxy = microgrids.total_bounds
    step = max(maxx - minx, maxy - miny) + 0.01
    leaves, cameras = [], []
    for k, county in enumerate(COUNTIES):
        shifted = microgrids.copy()
        shifted["code"] = county + shifted["code"].str[6:]
        shifted["geometry"] = shapely.transform(shifted.geometry.to_numpy(), lambda xy, k=k: xy + [k * step, 0.0])
        write_county_leaves(leaves_dir, county, shifted)
        leaves.append(shifted)
        n = CAMERAS_PER_COUNTY
        lon = rng.uniform(minx - 0.005, maxx + 0.005, n) + k * step  # some beyond every leaf
        lat = rng.uniform(miny - 0.005, maxy + 0.005, n)
        verts = shapely.get_coordinates(shifted.geometry.to_numpy())[:: 50 + k][:2000]  # shared edges
        lon[: len(verts)], lat[: len(verts)] = verts[:, 0], verts[:, 1]
        lon[rng.choice(n, 20, replace=False)] = np.nan
        frame = pd.DataFrame(
            {
                "device_id": np.arange(n) + k * n,
                "lon": lon,
                "lat": lat,
                "status": pd.Categorical(rng.choice(["planned", "installed", "removed"], n, p=[0.25, 0.7, 0.05])),
                "online": pd.array(rng.choice([True, False, None], n, p=[0.7, 0.2, 0.1]), dtype="boolean"),
            }
        )
        # The first county's register in two files, in row groups of 5,000.
        if k == 0:
            write_county_cameras(cameras_dir, county, [frame[:5000], frame[5000:10000]], part=0)
            write_county_cameras(cameras_dir, county, [frame[10000:]], part=1)
        else:
            write_county_cameras(cameras_dir, county, [frame])
        cameras.append(frame.assign(county=county))
    (root / "leaves" / f"{DECOY}.parquet").write_bytes(b"not parquet")
    (root / "cameras" / f"county={DECOY}").mkdir()
    (root / "cameras" / f"county={DECOY}" / "part-00000.parquet").write_bytes(b"not parquet")
    return leaves_dir, cameras_dir, pd.concat(leaves, ignore_index=True), pd.concat(cameras, ignore_index=True)


@pytest.fixture(scope="module")
def client():
    c = connect(None)  # 2 worker processes
    yield c
    c.close()


@pytest.fixture(scope="module")
def distributed_run(client, province):
    leaves_dir, cameras_dir, _, _ = province
    return county_leaf_counts(client, leaves_dir, cameras_dir, COUNTIES, batch_rows=3000)


def test_county_partitioned_counts_equal_one_machine(province, distributed_run):
    _, _, leaves, cameras = province
    index = LeafIndex.build(leaves["code"].to_numpy(), leaves.geometry.to_numpy())
    single = leaf_counts(index, cameras["lon"], cameras["lat"], cameras["status"], cameras["online"])
    got = distributed_run.counts
    assert got == single  # every leaf (zeros included), ascending, and the outside count
    assert len(got.leaf) == 3 * 10311
    assert got.leaf["planned"].sum() > 30_000 and got.outside > 1000  # the test has teeth
    # Per county: its own cameras and its own outside.
    for county in COUNTIES:
        mine = cameras[cameras["county"] == county]
        assert distributed_run.cameras[county] == len(mine)
        part = index_of(leaves, county)
        alone = leaf_counts(part, mine["lon"], mine["lat"], mine["status"], mine["online"])
        assert distributed_run.of([county]) == alone
        assert distributed_run.outside[county] == alone.outside


def index_of(leaves, county: str) -> LeafIndex:
    own = leaves[leaves["code"].str.startswith(county)]
    return LeafIndex.build(own["code"].to_numpy(), own.geometry.to_numpy())


def test_each_task_reads_its_own_county_only(client, province, distributed_run):
    leaves_dir, cameras_dir, _, _ = province
    reads = distributed_run.reads
    assert sorted(reads) == list(COUNTIES)
    for county, opened in reads.items():
        assert opened[0].endswith(f"/leaves/{county}.parquet")
        assert opened[1:] and all(f"/cameras/county={county}/part-" in path for path in opened[1:])
    assert len(reads[COUNTIES[0]]) == 3  # the leaves and both camera files
    assert not any(DECOY in path for opened in reads.values() for path in opened)
    with pytest.raises(Exception, match="Parquet|parquet|magic"):  # the decoy is not readable at all
        county_leaf_counts(client, leaves_dir, cameras_dir, [DECOY])


def test_roll_up_from_codes_alone(data_dir, province, distributed_run):
    """The areas above the leaves come from the code prefixes: on the sample county they are the
    stored areas, and the province row adds up every counted camera."""
    stored = pd.concat(
        [read_areas(data_dir / GPKG, layer=lv.key)[["code", "level", "parent_code"]] for lv in LEVELS],
        ignore_index=True,
    )
    derived = areas_from_codes(read_areas(data_dir / GPKG, layer="microgrid")["code"])
    expected = with_regions(stored)
    key = ["code", "level", "parent_code"]
    as_rows = lambda f: set(map(tuple, f[key].astype(object).where(f[key].notna(), None).to_numpy().tolist()))  # noqa: E731
    assert as_rows(derived) == as_rows(expected)

    counts = distributed_run.counts
    per_area = roll_up(counts.leaf, areas_from_codes(counts.leaf.index))
    total = counts.leaf.sum().tolist()
    assert per_area.loc["41"].tolist() == total
    assert per_area.loc["4101"].tolist() == (per_area.loc["410121"] + per_area.loc["410122"]).tolist()
    assert per_area.loc["4102"].tolist() == per_area.loc["410221"].tolist()
    with pytest.raises(ValueError, match="scheme"):
        areas_from_codes(["4101", "41012100100"])
