"""Camera import, coverage, status reports and snapshots through the real CLI against real PostGIS.

The module's database holds the sample county's boundaries; cameras are imported by the tests.
Tests reading the full sample import come first (they share one import); tests after them empty
the camera tables and import what they need.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import prcoords
import pytest
import shapely
from conftest import DATA_DIR, engine_for_cli, fresh_database
from openpyxl import load_workbook
from pyproj import Geod
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.coverage.assign import LeafIndex
from gridmap.db.cameras import leaf_areas
from gridmap.sample.files import CAMERAS_CSV, CAMERAS_XLSX
from gridmap.sample.load import load_sample

runner = CliRunner()
SAMPLE = pd.read_csv(DATA_DIR / CAMERAS_CSV, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def url() -> str:
    from gridmap.db.migrate import upgrade

    url = fresh_database("gridmap_test_coverage")
    upgrade(url)
    engine = create_engine(url)
    load_sample(engine, DATA_DIR, cameras=False, history_days=0)
    engine.dispose()
    return url


@pytest.fixture
def engine(url, monkeypatch):
    yield from engine_for_cli(url, monkeypatch)


def gridmap(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def gridmap_json(*args: str, exit_code: int = 0):
    result = gridmap(*args, "--format", "json")
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def empty_cameras(engine) -> None:
    """No cameras (a direct delete, as no workflow deletes cameras): the stored figures are then
    rebuilt, as `gridmap coverage verify --repair` would."""
    from gridmap.services.changes import record_change

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE camera, camera_import, coverage_snapshot"))
        record_change(conn, "repair", everything=True)


def write_csv(path, rows: pd.DataFrame | list[dict], encoding: str = "utf-8-sig"):
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def coverage_rows(*args: str) -> dict[str, dict]:
    return {r["code"]: r for r in gridmap_json("coverage", *args)}


# --------------------------------------------------------------------------- the full sample import


@pytest.fixture(scope="module")
def full_import(url):
    eng = create_engine(url)
    empty_cameras(eng)
    eng.dispose()
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_DATABASE_URL", url)
    first = gridmap_json("cameras", "import", str(DATA_DIR / CAMERAS_CSV))
    again = gridmap_json("cameras", "import", str(DATA_DIR / CAMERAS_CSV))
    mp.undo()
    return first, again


def test_csv_import_gives_the_county_figures_and_reimporting_changes_nothing(engine, full_import):
    first, again = full_import
    assert (first["rows"], first["inserted"], first["rejected_count"], first["outside_count"]) == (10520, 10520, 0, 0)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 10520)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT device_id) FROM camera")).one() == (10520, 10520)
        assert conn.execute(text("SELECT count(*) FROM camera_import")).scalar_one() == 2
    [county] = gridmap_json("coverage", "--level", "0")
    assert (county["code"], county["planned"], county["installed"], county["online"]) == ("411628", 10520, 10048, 9896)
    assert round(county["rollout_rate"] * 100, 2) == 95.51 and round(county["online_rate"] * 100, 2) == 98.49
    text_out = gridmap("coverage", "--level", "0").output
    assert "10,520" in text_out and "95.51%" in text_out and "98.49%" in text_out


def test_every_level_adds_up_to_the_register(engine, full_import):
    # Truth from the file itself: its 所属网格 column, grouped by code prefix.
    installed = SAMPLE["安装状态"] == "已安装"
    online = installed & (SAMPLE["在线状态"] == "在线")
    for level, length in ((1, 9), (2, 12), (3, 15)):
        rows = coverage_rows("--level", str(level))
        key = SAMPLE["所属网格"].str[:length]
        expected = (
            pd.DataFrame(
                {
                    "planned": key.value_counts(),
                    "installed": key[installed].value_counts(),
                    "online": key[online].value_counts(),
                }
            )
            .fillna(0)
            .astype(int)
        )
        got = pd.DataFrame.from_dict(rows, orient="index")[["planned", "installed", "online"]]
        got = got[got["planned"] > 0]
        assert got.sort_index().equals(expected.sort_index()), f"level {level}"


def test_blind_grids_are_those_without_an_installed_camera(engine, full_import):
    installed_grids = set(SAMPLE.loc[SAMPLE["安装状态"] == "已安装", "所属网格"])
    with engine.connect() as conn:
        grids = set(conn.execute(text("SELECT code FROM area WHERE level = 3")).scalars())
    blind = gridmap_json("coverage", "blind")
    assert {r["code"] for r in blind} == grids - installed_grids
    assert all(r["installed"] == 0 and r["level"] == 3 for r in blind)
    assert {r["code"] for r in gridmap_json("coverage", "blind", "--level", "1")} == set()
    assert "无已安装摄像头的区域" in gridmap("coverage", "blind").output


def test_coverage_selection_and_formats(engine, full_import, tmp_path):
    town = "411628002"
    rows = gridmap_json("coverage", "--code", town)
    with engine.connect() as conn:
        children = set(conn.execute(text("SELECT code FROM area WHERE parent_code = :c"), {"c": town}).scalars())
    assert rows[0]["code"] == town and {r["code"] for r in rows[1:]} == children
    assert rows[0]["no_camera_children"] == sum(1 for r in rows[1:] if r["installed"] == 0)
    grids = gridmap_json("coverage", "--code", town, "--level", "3")
    assert grids and all(r["level"] == 3 and r["code"].startswith(town) for r in grids)
    assert sum(r["planned"] for r in grids) == rows[0]["planned"]

    out = tmp_path / "cov.csv"
    assert gridmap("coverage", "--level", "1", "--format", "csv", "--out", str(out)).exit_code == 0
    with out.open(encoding="utf-8-sig") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 24
    first = next(r for r in table if r["code"] == town)
    assert first["rollout_rate"] == f"{rows[0]['rollout_rate'] * 100:.2f}%"

    xlsx = tmp_path / "cov.xlsx"
    assert gridmap("coverage", "--level", "0", "--format", "xlsx", "--out", str(xlsx)).exit_code == 0
    sheet = load_workbook(xlsx)["覆盖统计"]
    header = [c.value for c in sheet[1]]
    rate_cell = sheet.cell(row=2, column=header.index("安装率") + 1)
    assert rate_cell.number_format == "0.00%" and abs(rate_cell.value - 10048 / 10520) < 1e-12
    assert gridmap("coverage", "--format", "xlsx").exit_code == 2  # needs --out
    assert gridmap("coverage", "--code", "999").exit_code == 2


def test_cameras_per_km2_and_households_per_camera(engine, full_import):
    [county] = gridmap_json("coverage", "--level", "0")
    with engine.connect() as conn:
        km2 = conn.execute(text("SELECT ST_Area(geom::geography) / 1e6 FROM area WHERE level = 0")).scalar_one()
        households = conn.execute(text("SELECT households FROM area WHERE level = 0")).scalar_one()
    # Stored area is measured in the Gauss-Krüger zone; the ellipsoidal area agrees within 0.1 %.
    assert county["cameras_per_km2"] == pytest.approx(10048 / km2, rel=1e-3)
    assert county["households_per_camera"] == pytest.approx(households / 10048, abs=0.01)
    assert sum(op["installed"] for op in county["operators"].values()) == 10048


# --------------------------------------------------------------------------- each test imports its own


def test_a_first_register_into_an_emptied_table_refreshes_the_planners_statistics(engine):
    """The planner believed the camera table empty (analysed while empty); the import that fills
    it analyses it again in its own transaction, so the assignment is planned for 10,520 rows, not
    for none (a nested loop around the leaf search: minutes)."""
    empty_cameras(engine)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE camera"))
        assert conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'camera'::regclass")).scalar_one() <= 0
    report = gridmap_json("cameras", "import", str(DATA_DIR / CAMERAS_CSV))
    assert report["inserted"] == 10520
    with engine.connect() as conn:
        believed = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'camera'::regclass")).scalar_one()
    assert believed >= 10520 * 0.9


def test_xlsx_import_gives_the_same_figures(engine):
    empty_cameras(engine)
    report = gridmap_json("cameras", "import", str(DATA_DIR / CAMERAS_XLSX))
    assert (report["imported"], report["rejected_count"]) == (10520, 0)
    [county] = gridmap_json("coverage", "--level", "0")
    assert (county["planned"], county["installed"], county["online"]) == (10520, 10048, 9896)


def test_bad_rows_are_rejected_with_their_row_number_and_good_rows_imported(engine, tmp_path):
    empty_cameras(engine)
    good = SAMPLE.head(6).copy()
    bad = SAMPLE.iloc[6:14].copy().reset_index(drop=True)
    bad.loc[0, "设备编码"] = bad.loc[0, "设备编码"][:19]  # row 8: 19 digits
    bad.loc[1, "设备编码"] = "411627" + bad.loc[1, "设备编码"][6:]  # row 9: another county
    bad.loc[2, "设备编码"] = bad.loc[2, "设备编码"][:10] + "111" + bad.loc[2, "设备编码"][13:]  # row 10: a DVR
    bad.loc[3, "设备编码"] = good.iloc[0]["设备编码"]  # row 11: duplicate of row 2
    bad.loc[4, "经度"] = "东经"  # row 12: not a number
    bad.loc[5, "经度"] = "113.0"  # row 13: outside the county
    bad.loc[6, "安装状态"] = "坏了"  # row 14: unknown status
    bad.loc[7, ["安装状态", "在线状态"]] = ["未安装", "在线"]  # row 15: online yet not installed
    path = write_csv(tmp_path / "mixed.csv", pd.concat([good, bad], ignore_index=True))
    report = gridmap_json("cameras", "import", str(path), exit_code=1)
    got = {p["row"]: p["code"] for p in report["rejected"]}
    assert got == {
        8: "device_id_format",
        9: "device_id_county",
        10: "device_id_type",
        11: "device_id_duplicate",
        12: "coord_not_number",
        13: "coord_outside_county",
        14: "status_unknown",
        15: "online_not_installed",
    }
    assert all(p["message"] for p in report["rejected"])
    assert report["imported"] == 6
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT device_id FROM camera")).scalars())
    assert stored == set(good["设备编码"])
    text_out = gridmap("cameras", "import", str(path)).output
    assert "第 8 行" in text_out and "第 15 行" in text_out


def test_an_unreadable_file_exits_2_and_writes_nothing(engine, tmp_path):
    empty_cameras(engine)
    garbage = tmp_path / "cameras.xlsx"  # a text file renamed .xlsx
    garbage.write_text("设备编码,经度,纬度\n41162800001310000001,115.4,33.9\n", encoding="utf-8")
    no_columns = write_csv(tmp_path / "nothing.csv", [{"甲": 1, "乙": 2}])
    codes = {garbage: "unreadable", no_columns: "missing_columns", tmp_path / "missing.csv": "file_not_found"}
    for path, code in codes.items():
        result = gridmap("cameras", "import", str(path))
        assert result.exit_code == 2, result.output
        line = result.stderr.strip()
        assert line.startswith("gridmap: ") and line.endswith(f"（{code}）") and "\n" not in line, line
    line = gridmap("cameras", "import", str(garbage)).stderr
    assert "不是有效的 Excel 工作簿" in line and "zip" not in line.lower()  # not openpyxl's "File is not a zip file"
    refused = json.loads(gridmap("cameras", "import", str(garbage), "--format", "json").stdout)
    assert refused["error"] == "unreadable" and "zip" not in refused["message"].lower()
    assert json.loads(gridmap("cameras", "import", str(no_columns), "--format", "json").stdout)["error"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM camera")).scalar_one() == 0


def test_xls_register_imports_text_ids_exactly_and_rejects_number_ids(engine, tmp_path):
    import xlwt

    empty_cameras(engine)
    rows = SAMPLE.head(40)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("摄像头台账", cell_overwrite_ok=True)
    sheet.write(0, 0, "鹿邑县视频监控点位登记表")  # a title row above the header
    for c, name in enumerate(rows.columns):
        sheet.write(1, c, name)
    for r, values in enumerate(rows.itertuples(index=False), start=2):
        for c, value in enumerate(values):
            sheet.write(r, c, value)
    sheet.write(41, 0, int(rows.iloc[39]["设备编码"]))  # row 42: the id typed as a number (a float in .xls)
    path = tmp_path / "台账.xls"
    book.save(str(path))

    report = gridmap_json("cameras", "import", str(path), exit_code=1)
    assert report["imported"] == 39
    assert [(p["row"], p["code"]) for p in report["rejected"]] == [(42, "device_id_format")]
    assert "科学计数法" in report["rejected"][0]["message"]
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT device_id FROM camera")).scalars())
    assert stored == set(rows["设备编码"].head(39))

    broken = tmp_path / "坏的.xls"
    broken.write_bytes(path.read_bytes()[:3000])  # cut short
    result = gridmap("cameras", "import", str(broken))
    assert result.exit_code == 2 and result.stderr.strip().endswith("（unreadable）"), result.output


def test_gcj02_input_lands_within_2m_of_the_truth_and_a_wrong_crs_is_flagged(engine, tmp_path):
    empty_cameras(engine)
    rows = SAMPLE.sample(300, random_state=4).copy()
    truth = rows[["经度", "纬度"]].astype(float).to_numpy()
    shifted = [prcoords.wgs_gcj(prcoords.Coords(lat, lon)) for lon, lat in truth]
    rows["经度"] = [f"{c.lon:.7f}" for c in shifted]
    rows["纬度"] = [f"{c.lat:.7f}" for c in shifted]
    path = write_csv(tmp_path / "amap.csv", rows)

    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM camera")).scalar_one()

    # read as the default CGCS2000 most points leave their grids: refused before anything is written
    declared_wrong = gridmap_json("cameras", "import", str(path), exit_code=1)
    assert declared_wrong["error"] == "crs_mismatch" and not declared_wrong["ok"]
    assert declared_wrong["crs_suggestion"]["suggested"] == "gcj02"
    assert (
        declared_wrong["crs_suggestion"]["suggested_share"] >= 0.9 > declared_wrong["crs_suggestion"]["declared_share"]
    )
    assert "--crs gcj02" in declared_wrong["message"] and "未导入任何数据" in declared_wrong["message"]
    assert count() == 0
    text_out = gridmap("cameras", "import", str(path))
    assert text_out.exit_code == 1 and "（crs_mismatch）" in text_out.stderr and count() == 0
    # the file's true positions, declared as GCJ-02 by mistake: refused, naming WGS84
    honest = SAMPLE.loc[rows.index]
    honest_path = write_csv(tmp_path / "gps.csv", honest)
    wrong = gridmap_json("cameras", "import", str(honest_path), "--crs", "gcj02", exit_code=1)
    assert wrong["error"] == "crs_mismatch" and wrong["crs_suggestion"]["suggested"] in ("wgs84", "cgcs2000")
    assert count() == 0
    # --force writes anyway, with the suggestion as a warning
    forced = gridmap_json("cameras", "import", str(path), "--force")
    assert forced["crs_suggestion"]["suggested"] == "gcj02" and any("--crs gcj02" in w for w in forced["warnings"])
    assert count() == len(rows)

    gridmap_json("cameras", "import", str(path), "--crs", "gcj02")
    with engine.connect() as conn:
        stored = pd.DataFrame(
            conn.execute(
                text("SELECT device_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, area_code, raw_crs FROM camera")
            ).all()
        )
    stored = stored.set_index("device_id").loc[rows["设备编码"]]
    _, _, dist = Geod(ellps="GRS80").inv(truth[:, 0], truth[:, 1], stored["lon"].to_numpy(), stored["lat"].to_numpy())
    assert dist.max() < 2.0
    assert (stored["raw_crs"] == "gcj02").all()
    assert all(a.startswith(g) for a, g in zip(stored["area_code"], rows["所属网格"]))


def test_points_on_shared_boundaries_are_assigned_once_to_the_smallest_code(engine, tmp_path):
    empty_cameras(engine)
    with engine.connect() as conn:
        codes, geoms = leaf_areas(conn)
    # Vertices shared by three or more micro-grids, and midpoints of edges two micro-grids share.
    coords, owner = shapely.get_coordinates(geoms[:400], return_index=True)
    xy = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "owner": owner}).drop_duplicates()
    shared = xy.groupby(["x", "y"])["owner"].nunique()
    corners = shared[shared >= 3].index.to_list()[:40]
    assert len(corners) >= 10
    edges = []
    for i in range(60):
        ring = np.asarray(geoms[i].geoms[0].exterior.coords)
        edges.append(((ring[0, 0] + ring[1, 0]) / 2, (ring[0, 1] + ring[1, 1]) / 2))
    points = corners + edges
    template = SAMPLE.iloc[0]
    cams = [
        {**template.to_dict(), "设备编码": f"41162800001328{i:06d}", "经度": repr(float(x)), "纬度": repr(float(y))}
        for i, (x, y) in enumerate(points)
    ]
    gridmap_json("cameras", "import", str(write_csv(tmp_path / "edges.csv", cams)))
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT device_id, area_code FROM camera")).all())
        rule = dict(
            conn.execute(
                text("""
            SELECT c.device_id, (SELECT a.code FROM area a
                                 WHERE ST_Covers(a.geom, c.geom)
                                   AND NOT EXISTS (SELECT 1 FROM area ch WHERE ch.parent_code = a.code)
                                 ORDER BY a.code LIMIT 1)
            FROM camera c""")
            ).all()
        )
        covering = dict(
            conn.execute(
                text("""
            SELECT c.device_id, count(*) FROM camera c JOIN area a ON a.level = 4 AND ST_Covers(a.geom, c.geom)
            GROUP BY 1""")
            ).all()
        )
    assert got == rule and all(got[c["设备编码"]] is not None for c in cams[: len(corners)])
    assert sum(1 for n in covering.values() if n >= 2) >= len(corners)  # they really are on boundaries
    x = np.array([float(c["经度"]) for c in cams])
    y = np.array([float(c["纬度"]) for c in cams])
    in_memory = LeafIndex.build(codes, geoms).assign_codes(x, y)
    assert list(in_memory) == [got[c["设备编码"]] for c in cams]
    [county] = gridmap_json("coverage", "--level", "0")
    assert county["planned"] == sum(1 for v in got.values() if v is not None)  # each counted once


def test_rates_are_null_when_the_denominator_is_zero(engine, tmp_path):
    empty_cameras(engine)
    grid_rows = SAMPLE[SAMPLE["所属网格"] == SAMPLE["所属网格"].iloc[0]].copy()
    grid_rows["安装状态"], grid_rows["在线状态"] = "未安装", ""
    gridmap_json("cameras", "import", str(write_csv(tmp_path / "planned.csv", grid_rows)))
    grid = grid_rows["所属网格"].iloc[0]
    rows = coverage_rows("--code", grid[:12], "--level", "3")
    assert rows[grid]["planned"] == len(grid_rows) and rows[grid]["rollout_rate"] == 0
    assert rows[grid]["online_rate"] is None and rows[grid]["cameras_per_km2"] == 0
    town = coverage_rows("--code", "411628101")["411628101"]  # a township with no camera at all
    assert town["planned"] == 0 and town["rollout_rate"] is None and town["online_rate"] is None
    assert town["households_per_camera"] is None
    csv_text = gridmap("coverage", "--code", "411628101", "--format", "csv").stdout
    assert next(csv.DictReader(csv_text.splitlines()))["rollout_rate"] == ""
    assert "—" in gridmap("coverage", "--code", "411628101").stdout


def test_status_reports_change_the_online_rate(engine, tmp_path):
    empty_cameras(engine)
    town = "411628001"
    rows = SAMPLE[SAMPLE["所属网格"].str.startswith(town)]
    gridmap_json("cameras", "import", str(write_csv(tmp_path / "town.csv", rows)))
    before = coverage_rows("--code", town)[town]
    online_ids = rows.loc[rows["在线状态"] == "在线", "设备编码"].tolist()[:3]
    planned_id = rows.loc[rows["安装状态"] == "未安装", "设备编码"].iloc[0]
    reports = [{"device_id": d, "online": False, "at": "2026-11-20T08:00:00+08:00"} for d in online_ids]
    reports.append({"device_id": online_ids[0], "online": True, "at": "2026-11-20T07:00:00+08:00"})  # older: loses
    reports.append({"device_id": "41162800001328999999", "online": True, "at": "2026-11-20T08:00:00+08:00"})
    reports.append({"device_id": planned_id, "online": True, "at": "2026-11-20T08:00:00+08:00"})
    result = gridmap("cameras", "status", "-", "--format", "json", input=json.dumps(reports))
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["applied"] == 3
    assert {p["code"] for p in report["rejected"]} == {"device_unknown", "online_not_installed"}
    after = coverage_rows("--code", town)[town]
    assert after["online"] == before["online"] - 3 and after["installed"] == before["installed"]
    assert after["online_rate"] == pytest.approx((before["online"] - 3) / before["installed"])

    # A stale report (older than the one applied) changes nothing; a newer one does.
    stale = [{"device_id": online_ids[0], "online": True, "at": "2026-11-19T08:00:00+08:00"}]
    assert (
        json.loads(gridmap("cameras", "status", "-", "--format", "json", input=json.dumps(stale)).stdout)["stale"] == 1
    )
    assert coverage_rows("--code", town)[town]["online"] == after["online"]
    status_csv = write_csv(
        tmp_path / "status.csv", [{"设备编码": online_ids[0], "在线状态": "在线", "上报时间": "2026-11-21 09:00:00"}]
    )
    assert gridmap("cameras", "status", str(status_csv)).exit_code == 0
    assert coverage_rows("--code", town)[town]["online"] == after["online"] + 1
    with engine.connect() as conn:
        seen = conn.execute(
            text("SELECT last_seen FROM camera WHERE device_id = :d"), {"d": online_ids[0]}
        ).scalar_one()
    assert seen.isoformat().startswith("2026-11-21T01:00:00")  # 09:00 China time, stored as UTC


def test_snapshots_and_trend(engine, tmp_path):
    empty_cameras(engine)
    town = "411628003"
    rows = SAMPLE[SAMPLE["所属网格"].str.startswith(town)]
    gridmap_json("cameras", "import", str(write_csv(tmp_path / "town.csv", rows)))
    assert gridmap("coverage", "snapshot", "--date", "2026-11-01").exit_code == 0
    ids = rows.loc[rows["在线状态"] == "在线", "设备编码"].tolist()[:5]
    gridmap(
        "cameras",
        "status",
        "-",
        input=json.dumps([{"device_id": d, "online": "OFF", "at": "2026-11-01T20:00:00+08:00"} for d in ids]),
    )
    assert gridmap("coverage", "snapshot", "--date", "2026-11-02").exit_code == 0
    assert gridmap("coverage", "snapshot", "--date", "2026-11-02").exit_code == 0  # re-run replaces
    points = gridmap_json("coverage", "trend", town)
    assert [p["date"] for p in points] == ["2026-11-01", "2026-11-02"]
    assert points[0]["online"] - points[1]["online"] == 5
    assert points[0]["planned"] == points[1]["planned"] == len(rows)
    assert points[1]["online_rate"] == pytest.approx(points[1]["online"] / points[1]["installed"])
    assert gridmap_json("coverage", "trend", town, "--from", "2026-11-02")[0]["date"] == "2026-11-02"
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM coverage_snapshot WHERE snapshot_date = '2026-11-02'")).scalar_one()
        areas = conn.execute(text("SELECT count(*) FROM area")).scalar_one()
    assert n == areas
    assert gridmap("coverage", "snapshot", "--date", "2026-13-01").exit_code == 2
