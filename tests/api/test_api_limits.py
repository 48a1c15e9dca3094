"""Uploads that would have cost the server minutes and gigabytes, seen from outside: a real uvicorn
on a database of its own. A sheet reaching column XFD, a register or a status body over the row
limit are 413 at once; a corrupt shapefile DBF is 422 ``unreadable``; an import with many rejected
rows answers (and stores) a bounded report while ``--rejected`` still exports every row. Each
refusal leaves the live data, the data revision and the list of uploads as they were."""

from __future__ import annotations

import csv
import io
import json
import time

import openpyxl
import pytest
from api_server import client, serve
from api_tokens import make_token
from conftest import loaded_database
from db_state import checksums, revision
from dbf_files import CORRUPTIONS, corrupt_copy, write_grids_shapefile, zipped
from sheets import register_rows
from typer.testing import CliRunner

from gridmap.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db():
    url, eng = loaded_database("gridmap_test_limits")
    yield url, eng
    eng.dispose()


@pytest.fixture(scope="module")
def engine(db):
    return db[1]


@pytest.fixture(scope="module")
def admin(engine):
    with serve(engine) as base, client(base, make_token(engine, "admin", name="县网格中心")) as http:
        yield http


def _state(engine, admin) -> tuple:
    """The live data, the revision and how many uploads are kept."""
    return checksums(engine), revision(engine), len(admin.get("/api/v1/uploads", params={"limit": 1000}).json())


def _refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "detail"} and body["code"] == code
    assert body["message"] and not body["message"].isascii()
    return body


def _bad_rows_csv(n: int) -> bytes:
    """A register of ``n`` rows every one of which is rejected (ids that are not GB/T 28181 ids)."""
    lines = ["设备编码,经度,纬度,安装状态"] + [f"bad{k},115.5,33.9,{'已安装' if k % 2 else '不知道'}" for k in range(n)]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def test_a_register_reaching_column_xfd_is_413_at_once_and_changes_nothing(engine, admin, tmp_path):
    book = openpyxl.Workbook()
    for values in register_rows(6000):
        book.active.append(values)
    book.active.cell(row=1, column=16_384, value="x")  # one stray cell: the dimension reaches XFD
    path = tmp_path / "摄像头台账.xlsx"
    book.save(path)
    before = _state(engine, admin)
    start = time.perf_counter()
    r = admin.post("/api/v1/uploads/cameras", files={"file": (path.name, path.read_bytes())})
    seconds = time.perf_counter() - start
    body = _refused(r, 413, "too_many_columns")
    assert body["detail"]["columns"] == 16_384 and body["detail"]["max_columns"] == 256
    assert "XFD" in body["message"] and "256" in body["message"]
    assert seconds < 5  # it took 13 s and +816 MB of the server's memory
    assert _state(engine, admin) == before


def test_a_register_over_the_row_limit_is_413_and_changes_nothing(engine, admin, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "1000")
    before = _state(engine, admin)
    r = admin.post("/api/v1/uploads/cameras", files={"file": ("摄像头台账.csv", _bad_rows_csv(5000))})
    body = _refused(r, 413, "too_many_rows")
    assert body["detail"]["max_rows"] == 1000 and "拆分" in body["message"]
    assert _state(engine, admin) == before


def test_an_import_rejecting_many_rows_answers_a_bounded_report_and_the_cli_exports_them_all(
    db, engine, admin, tmp_path, monkeypatch
):
    monkeypatch.setenv("GRIDMAP_MAX_REPORT_REJECTED", "10")
    path = tmp_path / "摄像头台账.csv"
    path.write_bytes(_bad_rows_csv(400))
    cameras = checksums(engine)[1]
    r = admin.post("/api/v1/uploads/cameras", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["ok"], got["rows"], got["imported"], got["rejected_count"]) == (False, 400, 0, 400)
    assert len(got["rejected"]) == 10 and got["rejected_truncated"] is True
    assert [p["row"] for p in got["rejected"]] == list(range(2, 12))
    assert got["rejected_by_code"] == {"device_id_format": 400}
    assert any("只列出前 10 行" in note for note in got["notes"])
    # Stored as answered (the answer also names its upload, for the upload page).
    assert admin.get(r.headers["location"]).json()["report"] == {k: v for k, v in got.items() if k != "upload_id"}
    # The page's extras (its upload, the imported points for its map) are not the CLI's.
    got = {k: v for k, v in got.items() if k not in ("upload_id", "points", "points_truncated")}
    assert checksums(engine)[1] == cameras

    # The CLI prints the same report; --rejected writes every rejected row.
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", db[0])
    out = tmp_path / "被拒绝的行.csv"
    result = runner.invoke(app, ["cameras", "import", str(path), "--format", "json", "--rejected", str(out)])
    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    assert {**printed, "import_id": None} == {**got, "import_id": None}
    with open(out, encoding="utf-8-sig", newline="") as f:
        exported = list(csv.reader(f))
    assert exported[0] == ["行号", "设备编码", "代码", "原因", "字段", "值"]
    assert [int(row[0]) for row in exported[1:]] == list(range(2, 402))
    assert {row[2] for row in exported[1:]} == {"device_id_format"}
    text = runner.invoke(app, ["cameras", "import", str(path)])
    assert "另有 200 行：用 --rejected" in text.stdout


def test_status_bodies_over_the_row_limit_are_413_and_change_nothing(engine, admin, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "50")
    reports = [{"device_id": f"41162800011318{k:06d}", "online": "ON"} for k in range(1, 52)]
    before = _state(engine, admin)
    for body, ctype in [
        (json.dumps(reports).encode(), "application/json"),
        (json.dumps({"reports": reports}).encode(), "application/json"),
        (("设备编码,在线状态\n" + "".join(f"{r['device_id']},在线\n" for r in reports)).encode(), "text/csv"),
    ]:
        r = admin.post("/api/v1/cameras/status", content=body, headers={"content-type": ctype})
        assert _refused(r, 413, "too_many_rows")["detail"]["max_rows"] == 50
    assert _state(engine, admin) == before


def test_a_status_answer_lists_the_first_rejected_reports(engine, admin, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_REPORT_REJECTED", "5")
    unknown = [{"device_id": f"41162800011318{k:06d}", "online": "OFF"} for k in range(990_001, 990_031)]
    before = _state(engine, admin)
    r = admin.post("/api/v1/cameras/status", json=unknown)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["applied"], body["rejected_count"], len(body["rejected"])) == (30, 0, 30, 5)
    assert body["rejected_truncated"] is True and body["rejected_by_code"] == {"device_unknown": 30}
    assert _state(engine, admin) == before


@pytest.mark.parametrize(
    "name", ["header_length_beyond_the_file", "record_count_huge", "terminator_missing", "truncated"]
)
def test_a_shapefile_with_a_corrupt_dbf_header_is_422_unreadable(engine, admin, tmp_path, name):
    shp = write_grids_shapefile(tmp_path / "exported")
    corruption, word = CORRUPTIONS[name]
    archive = zipped(corrupt_copy(shp, tmp_path / name, corruption), tmp_path / "网格.zip")
    before = _state(engine, admin)
    start = time.perf_counter()
    r = admin.post("/api/v1/uploads/boundaries", files={"file": (archive.name, archive.read_bytes())})
    body = _refused(r, 422, "unreadable")
    assert time.perf_counter() - start < 5
    assert "网格.dbf" in body["message"] and word in body["message"]
    assert body["detail"]["file"] == "网格.dbf"
    assert _state(engine, admin) == before


def test_the_uncorrupted_shapefile_uploads(admin, tmp_path):
    """The same file unchanged is read (and kept, validated against the live grids)."""
    archive = zipped(write_grids_shapefile(tmp_path / "exported"), tmp_path / "网格.zip")
    r = admin.post("/api/v1/uploads/boundaries", files={"file": (archive.name, io.BytesIO(archive.read_bytes()))})
    assert r.status_code == 201, r.text


def test_a_register_in_gcj02_is_refused_as_crs_mismatch_until_forced(engine, admin, data_dir):
    """A 高德 (GCJ-02) register uploaded as the default CGCS2000: every point ~500 m off. Refused
    before anything is written, naming gcj02; with force=true it is written (with the warning)."""
    import pandas as pd
    import prcoords

    sample = pd.read_csv(data_dir / "luyi_cameras.csv", dtype=str).sample(400, random_state=7)
    shifted = [
        prcoords.wgs_gcj(prcoords.Coords(float(la), float(lo))) for lo, la in zip(sample["经度"], sample["纬度"])
    ]
    sample["经度"] = [f"{c.lon:.7f}" for c in shifted]
    sample["纬度"] = [f"{c.lat:.7f}" for c in shifted]
    content = sample.to_csv(index=False).encode("utf-8-sig")
    before = _state(engine, admin)
    body = _refused(
        admin.post("/api/v1/uploads/cameras", files={"file": ("高德点位.csv", content)}), 422, "crs_mismatch"
    )
    assert body["detail"]["crs_suggestion"]["suggested"] == "gcj02" and "gcj02" in body["message"]
    assert _state(engine, admin) == before
    forced = admin.post("/api/v1/uploads/cameras", files={"file": ("高德点位.csv", content)}, data={"force": "true"})
    assert forced.status_code == 201, forced.text
    assert forced.json()["crs_suggestion"]["suggested"] == "gcj02" and forced.json()["warnings"]
    right = admin.post("/api/v1/uploads/cameras", files={"file": ("高德点位.csv", content)}, data={"crs": "gcj02"})
    assert right.status_code == 201 and right.json()["crs_suggestion"] is None
