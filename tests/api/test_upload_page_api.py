"""The API behind the upload page's new actions: ``GET /api/v1/token`` (check a token before a page
keeps it), ``GET /api/v1/uploads/{id}/fixed`` (the repaired file, as ``gridmap validate --fix``) and
``GET /api/v1/uploads/{id}/rejected.xlsx`` (the rejected camera rows). Real server, real PostGIS."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from api_server import client, serve
from browser import defective_boundary_file
from conftest import loaded_database
from openpyxl import load_workbook
from upload_files import camera_file, make_token

from gridmap.services.uploads import REPAIR_NOTES_NAME, REPAIR_README_NAME


@pytest.fixture(scope="module")
def server():
    _url, engine = loaded_database("gridmap_test_upload_page_api")
    with serve(engine) as base:
        yield engine, base
    engine.dispose()


def test_token_is_checked_without_changing_anything(server):
    engine, base = server
    with client(base) as http:
        assert http.get("/api/v1/token").json()["code"] == "token_required"
        r = http.get("/api/v1/token", headers={"Authorization": "Bearer gm_not_a_token"})
        assert r.status_code == 401 and r.json()["code"] in ("token_invalid", "token_unknown") and r.json()["message"]
        assert http.get("/api/v1/token", headers={"Authorization": "Basic x"}).json()["code"] == "token_malformed"
    editor = make_token(engine, "editor", "411628001", "乡镇编辑")
    with client(base, editor) as http:
        me = http.get("/api/v1/token").json()
    assert me == {
        "name": "乡镇编辑",
        "role": "editor",
        "scope": "411628001",
        "scope_name": me["scope_name"],
        "writes": True,
    }
    assert me["scope_name"]  # the live township's name
    with client(base, make_token(engine, "viewer")) as http:
        assert http.get("/api/v1/token").json()["writes"] is False


def test_fixed_download_repairs_small_defects_and_validates_clean(server, tmp_path):
    engine, base = server
    path, village, moved = defective_boundary_file(engine, tmp_path, shift_m=0.6)
    admin = make_token(engine, "admin", name="up-admin")
    with client(base, admin) as http:
        with open(path, "rb") as f:
            r = http.post("/api/v1/uploads/boundaries", files={"file": (path.name, f)})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["ok"] is False and created["repairable"] > 0
        names = created["area_names"]
        assert names[moved]  # the name in the file
        # the default (100 m²) leaves a 122 m² gap; the clerk may raise the limit
        r = http.get(f"/api/v1/uploads/{created['upload_id']}/fixed?max_area_m2=500", timeout=120)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert "filename*=UTF-8''" in r.headers["content-disposition"]
        assert int(r.headers["x-repaired-areas"]) >= 1 and r.headers["x-errors-after"] == "0"
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        fixed_name = f"{path.stem}_已修复.geojson"
        assert set(archive.namelist()) == {fixed_name, REPAIR_NOTES_NAME, REPAIR_README_NAME}
        notes = list(csv.reader(io.StringIO(archive.read(REPAIR_NOTES_NAME).decode("utf-8-sig"))))
        assert notes[0][:3] == ["序号", "编码", "名称"] and any(row[1] == moved for row in notes[1:])
        assert "0 个错误" in archive.read(REPAIR_README_NAME).decode("utf-8")
        # The repaired file, uploaded again: no errors.
        again = http.post("/api/v1/uploads/boundaries", files={"file": (fixed_name, archive.read(fixed_name))})
        assert again.status_code == 201 and again.json()["ok"] is True, again.json()["report"]["summary"]

        # Nothing to repair: 409 with a code; unknown upload: 404; a camera import: 409.
        (tmp_path / "exact").mkdir()
        exact, _, _ = defective_boundary_file(engine, tmp_path / "exact", shift_m=0)
        clean = http.post("/api/v1/uploads/boundaries", files={"file": (exact.name, exact.read_bytes())}).json()
        assert clean["repairable"] == 0
        clean = clean["upload_id"]
        r = http.get(f"/api/v1/uploads/{clean}/fixed")
        assert r.status_code == 409 and r.json()["code"] == "nothing_to_repair" and r.json()["message"]
        assert http.get("/api/v1/uploads/999999/fixed").json()["code"] == "upload_not_found"
        assert http.get("/api/v1/uploads/0/fixed").status_code == 422
        assert http.get(f"/api/v1/uploads/{clean}/fixed?max_area_m2=-1").status_code == 422
        assert http.get(f"/api/v1/uploads/{clean}/rejected.xlsx").json()["code"] == "not_a_camera_upload"
    with client(base) as http:
        assert http.get(f"/api/v1/uploads/{clean}/fixed").status_code == 401
    with client(base, make_token(engine, "viewer")) as http:
        assert http.get(f"/api/v1/uploads/{clean}/fixed").status_code == 403
    with client(base, make_token(engine, "editor", "411628999")) as http:
        r = http.get(f"/api/v1/uploads/{created['upload_id']}/fixed")
        assert r.status_code == 403 and r.json()["code"] == "out_of_scope"


def test_rejected_rows_download_as_xlsx_with_chinese_reasons(server, tmp_path):
    engine, base = server
    _path, village, _ = defective_boundary_file(engine, tmp_path, shift_m=0)
    path = camera_file(tmp_path, village, bad=2)
    with client(base, make_token(engine, "admin", name="up-admin-cam")) as http:
        with open(path, "rb") as f:
            r = http.post("/api/v1/uploads/cameras", files={"file": (path.name, f)})
        assert r.status_code == 201, r.text
        report = r.json()
        assert report["imported"] == 2 and report["rejected_count"] == 2
        assert len(report["points"]) == 2 and all(len(p) == 4 for p in report["points"])
        assert {p["code"] for p in report["rejected"]} == {"coord_outside_county"}
        assert all(p["lon"] == pytest.approx(120.5, abs=0.01) for p in report["rejected"])
        assert not any("coord_outside_county" in n for n in report["notes"])  # the note uses the Chinese label
        x = http.get(f"/api/v1/uploads/{report['upload_id']}/rejected.xlsx")
        assert x.status_code == 200 and "spreadsheetml" in x.headers["content-type"]
    book = load_workbook(io.BytesIO(x.content))
    rows = list(book["被拒绝的行"].iter_rows(values_only=True))
    assert rows[0][:4] == ("行号", "设备编码", "原因", "说明")
    assert [r[2] for r in rows[1:]] == ["坐标不在本县范围内"] * 2
    assert all(r[0] in (4, 5) for r in rows[1:])
    assert "说明" in book.sheetnames


def test_xls_register_uploads_and_a_corrupt_xls_is_a_clear_4xx(server, tmp_path):
    import xlwt

    engine, base = server
    _path, village, _ = defective_boundary_file(engine, tmp_path, shift_m=0)
    with open(camera_file(tmp_path, village, bad=1), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("台账")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    with client(base, make_token(engine, "admin", name="up-admin-xls")) as http:
        r = http.post("/api/v1/uploads/cameras", files={"file": ("台账.xls", buffer.getvalue())})
        assert r.status_code == 201, r.text
        report = r.json()
        assert report["imported"] == 2 and report["rejected_count"] == 1
        assert sorted(p[0] for p in report["points"]) == sorted(row[0] for row in rows[1:3])
        for content in (buffer.getvalue()[:2000], bytes(range(256)) * 8):
            bad = http.post("/api/v1/uploads/cameras", files={"file": ("坏的.xls", content)})
            assert bad.status_code == 422 and bad.json()["code"] == "unreadable", bad.text
            assert ".xls" in bad.json()["message"]
