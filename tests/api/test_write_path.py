"""The write path under real conditions, against a real PostGIS and over real HTTP:

- stored figures and tile rows equal a recomputation from scratch after any sequence of imports,
  status reports, publishes and rollbacks (hypothesis draws the sequences);
- concurrent writers: overlapping status pushes all land (no deadlock, no lost report, no 5xx);
  overlapping publishes — one wins, the other gets 409 and the live data is exactly the winner's;
- scope on every write: an editor's publish or rollback, forced or not, cannot reach outside;
- freshness: a tile URL naming the new revision gets the new figures at once; the event stream
  announces each write; the status time-to-live moves the figures;
- ``load_sample`` restores exactly the sample.

Runs in a database of its own (the sample county loaded), with servers of its own.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time

import geopandas as gpd
import httpx
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely
from api_server import client, serve
from api_tokens import make_token
from boundary_files import write_gpkg
from conftest import DATA_DIR, loaded_database
from db_state import checksums, revision
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from planting import METRIC, plant_overlap
from sqlalchemy import text

from gridmap.coverage.table import differences
from gridmap.db.labels import label_differences
from gridmap.sample.files import CAMERAS_CSV
from gridmap.sample.load import load_sample
from gridmap.services.boundaries import PublishRefused, publish_file, rollback
from gridmap.services.cameras import apply_status_reports, expire_stale_statuses, import_cameras
from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m
from gridmap.tiles.store import tile_differences

SCOPE, NEIGHBOUR = "411628001", "411628002"
OPERATORS = ("中国移动", "中国电信", "中国联通")
_serial = itertools.count(700001)
#: Report times: one second apart, each newer than the last (reports older than the newest applied
#: are ignored as stale), starting well after the sample's.
_clock = itertools.count()
_T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def next_time() -> str:
    return (_T0 + dt.timedelta(seconds=next(_clock))).isoformat()


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_writes")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def base(engine):
    with serve(engine) as url:
        yield url


@pytest.fixture(scope="module")
def admin(engine, base):
    with client(base, make_token(engine, "admin")) as c:
        yield c


@pytest.fixture(scope="module")
def editor(engine, base):
    with client(base, make_token(engine, "editor", SCOPE)) as c:
        yield c


def consistent(engine) -> None:
    """The stored figures, tile rows and label rows equal a recomputation from scratch."""
    with engine.connect() as conn:
        assert differences(conn) == []
        assert tile_differences(conn) == []
        assert label_differences(conn) == []


def live_subtree(engine, root: str) -> gpd.GeoDataFrame:
    """The live areas under ``root`` (itself included), canonical columns, EPSG:4526 (metres)."""
    with engine.connect() as conn:
        gdf = gpd.read_postgis(
            text("""SELECT code, name, parent_code, level, kind, households, worker_name,
                                              worker_phone, geom FROM area
                                       WHERE code LIKE :root || '%' ORDER BY level, code"""),
            conn,
            geom_col="geom",
            params={"root": root},
        )
    return gdf.rename_geometry("geometry").to_crs(METRIC)


# ------------------------------------------------------------------------------ random writes


def _status(engine, rng: np.random.Generator, _tmp) -> None:
    with engine.connect() as conn:
        ids = (
            conn.execute(text("SELECT device_id FROM camera WHERE status = 'installed' ORDER BY device_id"))
            .scalars()
            .all()
        )
    picked = rng.choice(ids, size=int(rng.integers(1, 60)), replace=False)
    at = next_time()
    apply_status_reports(engine, [{"device_id": d, "online": bool(rng.integers(0, 2)), "at": at} for d in picked])


def _leaf_points(engine, n: int, rng: np.random.Generator) -> list[tuple[float, float, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT ST_X(p), ST_Y(p), code FROM (
                                       SELECT code, ST_PointOnSurface(geom) AS p FROM area a
                                       WHERE NOT EXISTS (SELECT 1 FROM area c WHERE c.parent_code = a.code)) x
                                    ORDER BY code""")
        ).all()
    return [rows[i] for i in rng.choice(len(rows), size=n, replace=False)]


def _import(engine, rng: np.random.Generator, tmp) -> None:
    register = pd.read_csv(DATA_DIR / CAMERAS_CSV, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    template = register.iloc[0]
    rows = []
    for lon, lat, code in _leaf_points(engine, int(rng.integers(1, 6)), rng):  # new cameras
        installed = bool(rng.integers(0, 2))
        rows.append(
            {
                **template,
                "设备编码": f"41162800011318{next(_serial):06d}",
                "设备名称": "随机新增",
                "经度": f"{lon:.7f}",
                "纬度": f"{lat:.7f}",
                "所属网格": code[:15],
                "安装状态": "已安装" if installed else "规划",
                "在线状态": "在线" if installed and rng.integers(0, 2) else "离线",
                "运营商": OPERATORS[int(rng.integers(0, 3))],
            }
        )
    with engine.connect() as conn:  # existing cameras: status, operator or place changed
        existing = conn.execute(
            text("""SELECT device_id, ST_X(geom), ST_Y(geom), status, operator, area_code FROM camera
                                        ORDER BY device_id""")
        ).all()
    moves = _leaf_points(engine, 5, rng)
    for k, i in enumerate(rng.choice(len(existing), size=int(rng.integers(1, 6)), replace=False)):
        device, lon, lat, status, operator, area = existing[i]
        change = int(rng.integers(0, 3))
        status = {0: "已拆除" if status == "installed" else "已安装"}.get(
            change, {"installed": "已安装", "planned": "规划", "removed": "已拆除"}[status]
        )
        if change == 2:
            lon, lat, area = moves[k]
        rows.append(
            {
                **template,
                "设备编码": device,
                "经度": f"{lon:.7f}",
                "纬度": f"{lat:.7f}",
                "所属网格": (area or "")[:15],
                "安装状态": status,
                "在线状态": "在线" if status == "已安装" and rng.integers(0, 2) else "离线",
                "运营商": OPERATORS[int(rng.integers(0, 3))] if change == 1 else (operator or ""),
            }
        )
    path = tmp / f"cams{next(_serial)}.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    import_cameras(engine, path)


#: The townships the random publishes and rollbacks work on: a few (rollbacks then find earlier
#: versions), none the other tests here use (they may be left with forced defects).
RANDOM_TOWNSHIPS = ("411628004", "411628101", "411628102", "411628201")


def _township(engine, rng: np.random.Generator) -> str:
    return RANDOM_TOWNSHIPS[int(rng.integers(0, len(RANDOM_TOWNSHIPS)))]


def _publish(engine, rng: np.random.Generator, tmp) -> None:
    root = _township(engine, rng)
    gdf = live_subtree(engine, root)
    leaf = gdf.index[gdf["level"] == 4]
    gdf.loc[leaf[:5], "households"] = rng.integers(15, 60, size=5)
    force = bool(rng.integers(0, 2))
    if force:  # a forced overlap between two sibling micro-grids: cameras may change micro-grid
        plant_overlap(gdf, set(), radius=float(rng.uniform(20, 80)))
    try:
        publish_file(
            engine,
            write_gpkg(gdf, tmp / f"{root}-{next(_serial)}.gpkg"),
            by="随机测试",
            force=force,
            reason="测试：强制发布" if force else None,
        )
    except PublishRefused as refused:  # the live township carries an earlier forced defect: nothing changes
        assert not force and refused.code == "validation_failed", refused.message


def _rollback(engine, rng: np.random.Generator, _tmp) -> None:
    with engine.connect() as conn:
        versions = (
            conn.execute(
                text("""SELECT id FROM boundary_version WHERE published_at IS NOT NULL
                                        AND root_code = ANY(:roots) ORDER BY id"""),
                {"roots": list(RANDOM_TOWNSHIPS)},
            )
            .scalars()
            .all()
        )
    if not versions:
        return
    try:
        rollback(
            engine, int(versions[int(rng.integers(0, len(versions)))]), by="随机测试", force=True, reason="测试：回滚"
        )
    except PublishRefused as refused:  # e.g. a version that would drop deeper levels: nothing changes
        assert refused.code in {"would_remove_descendants", "unusable_geometry"}, refused.message


WRITES = {"status": _status, "import": _import, "publish": _publish, "rollback": _rollback}


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each step is a real write (~1 s)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(sorted(WRITES)), st.integers(0, 2**32 - 1)), min_size=2, max_size=6))
def test_stored_figures_equal_a_recomputation_after_any_sequence_of_writes(engine, tmp_path_factory, writes):
    tmp = tmp_path_factory.mktemp("writes")
    for name, seed in writes:
        WRITES[name](engine, np.random.default_rng(seed), tmp)
        consistent(engine)


# ------------------------------------------------------------------------------ concurrent writers


def _installed(engine, n: int, under: str = "411628") -> list[str]:
    with engine.connect() as conn:
        return (
            conn.execute(
                text("""SELECT device_id FROM camera WHERE status = 'installed'
                                    AND area_code LIKE :under || '%' ORDER BY device_id LIMIT :n"""),
                {"n": n, "under": under},
            )
            .scalars()
            .all()
        )


def at_once(calls) -> list:
    """Run the callables in threads released together; their results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_twenty_overlapping_status_pushes_all_land(engine, base, admin):
    cameras = _installed(engine, 30)
    rng = np.random.default_rng(7)
    first = _clock.__next__()
    batches = []
    for i in range(20):  # each push: 15 of the 30 cameras, its own time
        at = (_T0 + dt.timedelta(seconds=first + 1 + i)).isoformat()
        batches.append(
            [
                {"device_id": d, "online": bool(rng.integers(0, 2)), "at": at}
                for d in rng.choice(cameras, size=15, replace=False)
            ]
        )
    for _ in range(21):
        next(_clock)
    token = admin.headers["authorization"]

    def push(batch):
        with httpx.Client(base_url=base, headers={"Authorization": token}, timeout=60) as c:
            started = time.perf_counter()
            r = c.post("/api/v1/cameras/status", json=batch)
            return r.status_code, r.json(), time.perf_counter() - started

    results = at_once([lambda b=b: push(b) for b in batches])
    assert [status for status, _, _ in results] == [200] * 20, [body for _, body, _ in results]
    # None lost: every report was applied or, older than one already applied, counted stale.
    assert sum(body["applied"] + body["stale"] for _, body, _ in results) == 20 * 15
    assert all(body["rejected_count"] == 0 for _, body, _ in results)
    newest = {}
    for batch in batches:  # later pushes carry later times: the last report of each camera wins
        for report in batch:
            newest[report["device_id"]] = report["online"]
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                text("SELECT device_id, online FROM camera WHERE device_id = ANY(:ids)"), {"ids": list(newest)}
            ).all()
        )
    assert stored == newest
    consistent(engine)


def _upload(http, path, **form):
    with open(path, "rb") as f:
        r = http.post("/api/v1/uploads/boundaries", files={"file": (path.name, f)}, data=form)
    assert r.status_code == 201, r.text
    assert r.json()["ok"], r.json()["report"]["issues"][:3]
    return r.json()["upload_id"]


def _live_matches_version(engine, root: str, version: int) -> bool:
    with engine.connect() as conn:
        live = conn.execute(
            text("""SELECT code, households, encode(ST_AsEWKB(geom), 'hex') FROM area
                                    WHERE code LIKE :root || '%' AND level >= 2 ORDER BY code"""),
            {"root": root},
        ).all()
        kept = conn.execute(
            text("""SELECT code, households, encode(ST_AsEWKB(geom), 'hex') FROM area_version
                                    WHERE version_id = :v ORDER BY code"""),
            {"v": version},
        ).all()
    return live == kept


def test_two_overlapping_publishes_at_once_one_wins_one_conflicts(engine, admin, tmp_path):
    gdf = live_subtree(engine, SCOPE)
    villages = gdf[gdf["level"] >= 2].copy()
    uploads = []
    for households in (11, 22):  # the same subtree (all children of the township), told apart by households
        villages.loc[villages["level"] == 4, "households"] = households
        uploads.append(_upload(admin, write_gpkg(villages, tmp_path / f"v{households}.gpkg"), parent_code=SCOPE))
    results = at_once([lambda u=u: admin.post(f"/api/v1/uploads/{u}/publish") for u in uploads])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [r.text for r in results]
    winner = next(r.json() for r in results if r.status_code == 200)
    loser = next(r.json() for r in results if r.status_code == 409)
    assert loser["code"] == "publish_conflict" and SCOPE in loser["message"]
    assert _live_matches_version(engine, SCOPE, winner["version"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM area WHERE level >= 0")).scalar_one() == 12195  # nothing doubled
    consistent(engine)

    # An ancestor and a descendant at once (the township with its subtree, one of its villages): the
    # same, whichever starts first.
    township = live_subtree(engine, SCOPE)
    village = sorted(township.loc[township["level"] == 2, "code"])[0]
    one = _upload(admin, write_gpkg(township, tmp_path / "township.gpkg"))
    two = _upload(admin, write_gpkg(township[township["code"].str.startswith(village)], tmp_path / "village.gpkg"))
    results = at_once([lambda u=u: admin.post(f"/api/v1/uploads/{u}/publish") for u in (one, two)])
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    assert next(r for r in results if r.status_code == 409).json()["code"] == "publish_conflict"
    consistent(engine)


# ------------------------------------------------------------------------------ scope


def _border_bulge(engine, gdf: gpd.GeoDataFrame, into: str, radius: float = 60.0) -> str:
    """Grow one micro-grid of ``gdf`` (EPSG:4526) across its township's border into area ``into``;
    returns its code."""
    neighbour = live_subtree(engine, into)
    other = neighbour.loc[neighbour["code"] == into].geometry.iloc[0]
    for i in np.flatnonzero((gdf["level"] == 4).to_numpy()):
        geom = gdf.geometry.iloc[i]
        border = shapely.intersection(geom.boundary, other.boundary)
        if border.length > 3 * radius:
            disk = shapely.line_interpolate_point(border, 0.5, normalized=True).buffer(radius)
            gdf.loc[gdf.index[i], "geometry"] = geom.union(disk)
            return gdf["code"].iloc[i]
    raise LookupError("no micro-grid on that border")


def test_an_editor_cannot_reach_outside_its_scope_even_forced(engine, editor, admin, tmp_path):
    before = checksums(engine)
    clean = write_gpkg(live_subtree(engine, SCOPE), tmp_path / "clean.gpkg")

    def publish(http, path, **body):
        r = http.post("/api/v1/uploads/boundaries", files={"file": (path.name, path.read_bytes())})
        assert r.status_code == 201, r.text
        return http.post(f"/api/v1/uploads/{r.json()['upload_id']}/publish", json=body)

    # 1. A micro-grid grown across the township border into the neighbour (cameras there or not).
    grown = live_subtree(engine, SCOPE)
    _border_bulge(engine, grown, NEIGHBOUR)
    grown_path = write_gpkg(grown, tmp_path / "grown.gpkg")
    r = publish(editor, grown_path, force=True, reason="测试越界")
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["code"] == "out_of_scope" and body["detail"]["codes"]
    assert all(c.startswith(NEIGHBOUR) for c in body["detail"]["codes"]) and body["detail"]["overlap_m2"]
    assert checksums(engine) == before

    # 2. A code carrying the neighbour's prefix under the editor's own township.
    renamed = live_subtree(engine, SCOPE)
    leaf = renamed.index[renamed["level"] == 4][0]
    renamed.loc[leaf, "code"] = NEIGHBOUR + renamed.loc[leaf, "code"][9:]
    r = publish(editor, write_gpkg(renamed, tmp_path / "renamed.gpkg"), force=True, reason="测试改码")
    assert (r.status_code, r.json()["code"]) == (403, "out_of_scope"), r.text
    assert r.json()["detail"]["codes"] == [renamed.loc[leaf, "code"]]
    assert checksums(engine) == before

    # 3. The admin may force the same reach; the editor may not roll back to that version later.
    forced = publish(admin, grown_path, force=True, reason="管理员强制")
    assert forced.status_code == 200, forced.text
    consistent(engine)
    assert publish(admin, clean).status_code == 200
    after = checksums(engine)
    r = editor.post(
        f"/api/v1/versions/{forced.json()['version']}/rollback", json={"force": True, "reason": "回到越界版本"}
    )
    assert (r.status_code, r.json()["code"]) == (403, "out_of_scope"), r.text
    assert checksums(engine) == after
    consistent(engine)


# ------------------------------------------------------------------------------ freshness


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    x, y = lonlat_to_3857(lon, lat)
    size = tile_size_m(z)
    return int((x + HALF_WORLD) // size), int((HALF_WORLD - y) // size)


def test_a_tile_url_naming_the_new_revision_has_the_new_figures_at_once(engine, base, admin):
    with engine.connect() as conn:
        cameras = conn.execute(
            text("""SELECT c.device_id, ST_X(c.geom), ST_Y(c.geom), c.area_code, c.online FROM camera c
                                       WHERE c.status = 'installed' AND c.area_code LIKE :s || '%'
                                       ORDER BY c.device_id LIMIT 10"""),
            {"s": SCOPE},
        ).all()
    with client(base) as http:
        for device, lon, lat, _area, _online in cameras:
            x, y = _tile_of(lon, lat, 11)
            url = f"/tiles/township/11/{x}/{y}.mvt"
            for _ in range(2):  # cached
                old = http.get(url, params={"v": revision(engine)})
            assert old.headers["x-tile-cache"] == "hit"
            county_before = http.get("/api/v1/coverage", params={"code": SCOPE}).json()["rows"][0]
            with engine.connect() as conn:
                online = conn.execute(
                    text("SELECT online FROM camera WHERE device_id = :d"), {"d": device}
                ).scalar_one()
            r = admin.post(
                "/api/v1/cameras/status", json=[{"device_id": device, "online": not online, "at": next_time()}]
            )
            assert r.status_code == 200 and r.json()["applied"] == 1, r.text
            new = revision(engine)  # the push is acknowledged: its revision is committed
            tile = http.get(url, params={"v": new})
            assert int(tile.headers["x-tile-revision"]) >= new and tile.headers["etag"] != old.headers["etag"]
            features = mapbox_vector_tile.decode(tile.content, default_options={"y_coord_down": True})["township"][
                "features"
            ]
            mine = next(f["properties"] for f in features if f["properties"]["code"] == SCOPE)
            assert mine["online"] == county_before["online"] + (1 if not online else -1)
    consistent(engine)


def test_the_event_stream_announces_each_write(engine, base, admin):
    (device,) = _installed(engine, 1, NEIGHBOUR)
    with httpx.Client(base_url=base, timeout=10) as http, http.stream("GET", "/events/revision") as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        events = _events(stream.iter_lines())
        assert next(events) == revision(engine)
        for online in (False, True):
            acknowledged = time.perf_counter()
            r = admin.post("/api/v1/cameras/status", json=[{"device_id": device, "online": online, "at": next_time()}])
            assert r.status_code == 200 and r.json()["applied"] == 1
            announced = next(events)
            # Announced at once (the bound is loose for loaded machines; the polling it replaces is minutes).
            assert announced == revision(engine) and time.perf_counter() - acknowledged < 20


def _events(lines):
    """The revisions a revision stream announces, in order."""
    kind = None
    for line in lines:
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and kind == "revision":
            yield json.loads(line.split(":", 1)[1])["revision"]


def test_the_status_time_to_live_turns_cameras_offline_and_moves_the_figures(engine):
    with engine.connect() as conn:  # cameras no report has reached yet
        cameras = (
            conn.execute(
                text("""SELECT device_id FROM camera WHERE status = 'installed' AND status_at IS NULL
                                       AND area_code LIKE :c || '%' ORDER BY device_id LIMIT 3"""),
                {"c": NEIGHBOUR},
            )
            .scalars()
            .all()
        )
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert (
        apply_status_reports(engine, [{"device_id": d, "online": True, "at": long_ago} for d in cameras]).applied == 3
    )
    consistent(engine)
    with engine.connect() as conn:
        online_before = conn.execute(
            text("SELECT online FROM area_stats WHERE code = :c"), {"c": NEIGHBOUR}
        ).scalar_one()
    assert expire_stale_statuses(engine, 180) >= 3
    with engine.connect() as conn:
        assert not any(
            conn.execute(text("SELECT online FROM camera WHERE device_id = ANY(:ids)"), {"ids": cameras}).scalars()
        )
        assert (
            conn.execute(text("SELECT online FROM area_stats WHERE code = :c"), {"c": NEIGHBOUR}).scalar_one()
            <= online_before - 3
        )
    consistent(engine)
    # A report older than the moment the status expired is stale; a newer one brings it back.
    assert apply_status_reports(engine, [{"device_id": cameras[0], "online": True, "at": long_ago}]).applied == 0

    # A server with the time-to-live set does it by itself.
    with serve(engine, status_ttl_s=2.0):
        seen = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)).isoformat()
        assert apply_status_reports(engine, [{"device_id": cameras[1], "online": True, "at": seen}]).applied == 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if not conn.execute(
                    text("SELECT online FROM camera WHERE device_id = :d"), {"d": cameras[1]}
                ).scalar_one():
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the server did not expire the camera's status")
    consistent(engine)


def test_verify_finds_stored_figures_that_drifted_and_repairs_them(engine, monkeypatch):
    from typer.testing import CliRunner

    from gridmap.cli import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    assert runner.invoke(app, ["coverage", "verify"]).exit_code == 0
    with engine.begin() as conn:  # what no write path does: figures and a tile row edited by hand
        conn.execute(text("UPDATE area_stats SET online = online + 1 WHERE code = :c"), {"c": SCOPE})
        conn.execute(text("DELETE FROM tile_camera WHERE device_id = (SELECT min(device_id) FROM tile_camera)"))
    found = runner.invoke(app, ["coverage", "verify"])
    assert found.exit_code == 1 and f"{SCOPE}: counts stored" in found.output and "camera " in found.output
    repaired = runner.invoke(app, ["coverage", "verify", "--repair"])
    assert repaired.exit_code == 1 and "已从头重建" in repaired.output
    assert runner.invoke(app, ["coverage", "verify"]).exit_code == 0
    consistent(engine)
    assert runner.invoke(app, ["cameras", "expire"]).exit_code == 2  # no TTL given or configured


def test_loading_the_sample_restores_exactly_the_sample(engine):
    load_sample(engine, DATA_DIR)
    register = pd.read_csv(DATA_DIR / CAMERAS_CSV, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    with engine.connect() as conn:
        ids = set(conn.execute(text("SELECT device_id FROM camera")).scalars())
        assert ids == set(register["设备编码"])
        assert (
            conn.execute(
                text("SELECT count(*) FROM camera WHERE status_at IS NOT NULL OR last_seen IS NOT NULL")
            ).scalar_one()
            == 0
        )
        online = set(conn.execute(text("SELECT device_id FROM camera WHERE online")).scalars())
        assert online == set(register.loc[register["在线状态"] == "在线", "设备编码"])
        county = conn.execute(text("SELECT planned, installed, online FROM area_stats WHERE code = '411628'")).one()
    assert tuple(county) == (10520, 10048, 9896)
    consistent(engine)
