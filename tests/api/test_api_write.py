"""The write API over real HTTP against a real PostGIS: boundary uploads (validate → publish →
versions → rollback), camera imports and online/offline reports.

Runs in a database of its own (the sample county loaded) with its own server: every test here
changes data. A refused or failed write must leave the live areas and cameras exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pandas as pd
import pyogrio
import pytest
from api_server import client, serve
from api_tokens import OTHER, SCOPE, make_token, register
from boundary_files import CHINESE, surveyed_drawing, zip_shapefile
from conftest import loaded_database
from db_state import checksums, revision
from planting import plant_overlap
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.services.changes import record_change

runner = CliRunner()
CHINA = dt.timezone(dt.timedelta(hours=8))  # naive report times are Beijing time


# ------------------------------------------------------------------------------------ helpers


def write_boundaries(gdf, path, driver=None):
    """``gdf`` (canonical columns, any CRS) with Chinese field names, EPSG:4490, one layer."""
    out = gdf.to_crs(4490).rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]]
    pyogrio.write_dataframe(out, path, layer="网格", driver=driver)
    return path


def upload(http, path, **form):
    with open(path, "rb") as f:
        return http.post(
            "/api/v1/uploads/boundaries",
            files={"file": (path.name, f)},
            data={k: v for k, v in form.items() if v is not None},
        )


def cli(engine_url: str, monkeypatch, *args: str):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", engine_url)
    return runner.invoke(app, list(args))


def camera_csv(rows: pd.DataFrame, path) -> object:
    rows.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def new_cameras(like: pd.DataFrame, first_serial: int) -> pd.DataFrame:
    """Cameras next to ``like`` (same grid, ~10 m away) with fresh device ids."""
    rows = like.copy()
    rows["设备编码"] = [f"41162800011318{first_serial + i:06d}" for i in range(len(rows))]
    rows["设备名称"] = [f"新增点位{i}" for i in range(len(rows))]
    rows["经度"] = [f"{float(x) + 0.0001:.6f}" for x in rows["经度"]]
    return rows


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def db():
    url, eng = loaded_database("gridmap_test_write")
    yield url, eng
    eng.dispose()


@pytest.fixture(scope="module")
def engine(db):
    return db[1]


@pytest.fixture(scope="module")
def base(engine):
    with serve(engine) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(engine) -> dict[str, str]:
    return {
        "admin": make_token(engine, "admin", name="县网格中心"),
        "editor": make_token(engine, "editor", SCOPE, name="真源街道网格办"),
        "other": make_token(engine, "editor", OTHER, name="另一街道网格办"),
    }


@pytest.fixture(scope="module")
def admin(base, tokens):
    with client(base, tokens["admin"]) as c:
        yield c


@pytest.fixture(scope="module")
def editor(base, tokens):
    with client(base, tokens["editor"]) as c:
        yield c


@pytest.fixture(scope="module")
def other(base, tokens):
    with client(base, tokens["other"]) as c:
        yield c


# ------------------------------------------------------------------------------------ boundaries


def test_upload_publish_version_rollback_round_trip(
    db,
    engine,
    editor,
    admin,
    township,
    tmp_path,
    monkeypatch,
):
    url = db[0]
    original_areas, original_cameras = checksums(engine)
    with engine.connect() as conn:
        first_version = conn.execute(text("SELECT min(id) FROM boundary_version")).scalar_one()
    gdf = township.copy()
    leaf = gdf.index[gdf["level"] == 4]
    gdf.loc[leaf[:3], "name"] = ["新一", "新二", "新三"]
    path = write_boundaries(gdf, tmp_path / "真源街道.gpkg")

    r = upload(editor, path)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["ok"], body["root_code"]) == ("validated", True, SCOPE)
    assert body["defects"] == {"type": "FeatureCollection", "features": []}
    assert r.headers["location"] == f"/api/v1/uploads/{body['upload_id']}"
    # The report is exactly `gridmap validate --format json` on the same file and database.
    out = cli(url, monkeypatch, "validate", str(path), "--format", "json")
    assert out.exit_code == 0, out.output
    assert body["report"] == json.loads(out.stdout)
    assert checksums(engine) == (original_areas, original_cameras)  # uploading changes nothing live

    stored = editor.get(f"/api/v1/uploads/{body['upload_id']}").json()
    assert stored["report"] == body["report"] and stored["status"] == "validated"
    assert stored["created_by"] == "真源街道网格办" and stored["file_name"] == "真源街道.gpkg"
    listed = editor.get("/api/v1/uploads", params={"kind": "boundary"}).json()
    assert body["upload_id"] in [u["upload_id"] for u in listed] and "report" not in listed[0]

    rev = revision(engine)
    r = editor.post(f"/api/v1/uploads/{body['upload_id']}/publish", json={"force": False, "reason": None})
    assert r.status_code == 200, r.text
    pub = r.json()
    assert set(pub) == {"published", "version", "root", "top_level", "removed", "added", "cameras_assigned", "summary"}
    assert (pub["published"], pub["root"], pub["top_level"], pub["added"], pub["removed"]) == (
        True,
        SCOPE,
        1,
        len(gdf),
        len(gdf),
    )
    assert pub["summary"]["errors"] == 0
    assert revision(engine) == rev + 1  # tiles and caches see the change
    with engine.connect() as conn:
        names = (
            conn.execute(text("SELECT name FROM area WHERE code = ANY(:c)"), {"c": list(gdf.loc[leaf[:3], "code"])})
            .scalars()
            .all()
        )
    assert sorted(names) == ["新一", "新三", "新二"]
    stored = editor.get(f"/api/v1/uploads/{body['upload_id']}").json()
    assert (stored["status"], stored["version_id"]) == ("published", pub["version"])

    r = editor.post(f"/api/v1/uploads/{body['upload_id']}/publish")
    assert (r.status_code, r.json()["code"]) == (409, "already_published")
    assert r.json()["detail"] == {"version_id": pub["version"]}

    versions = editor.get("/api/v1/versions", params={"code": SCOPE}).json()
    assert versions[0]["id"] == pub["version"] and versions[0]["created_by"] == "真源街道网格办"
    out = cli(url, monkeypatch, "versions", "--code", SCOPE, "--format", "json")
    assert versions == json.loads(out.stdout)  # the CLI's JSON
    assert editor.get("/api/v1/versions").json() == json.loads(
        cli(url, monkeypatch, "versions", "--format", "json").stdout
    )

    # The county-wide first version is outside the editor's scope; the admin may restore it.
    before = checksums(engine)
    r = editor.post(f"/api/v1/versions/{first_version}/rollback", json={"reason": "撤销"})
    assert (r.status_code, r.json()["code"]) == (403, "out_of_scope")
    assert checksums(engine) == before
    rev = revision(engine)
    r = admin.post(f"/api/v1/versions/{first_version}/rollback", json={"reason": "恢复初始版本"})
    assert r.status_code == 200, r.text
    back = r.json()
    assert (back["root"], back["top_level"]) == ("411628", 0)
    assert revision(engine) == rev + 1
    with engine.connect() as conn:
        names = (
            conn.execute(text("SELECT name FROM area WHERE code = ANY(:c)"), {"c": list(gdf.loc[leaf[:3], "code"])})
            .scalars()
            .all()
        )
        restored = conn.execute(
            text("SELECT restored_from, reason, created_by FROM boundary_version WHERE id = :v"), {"v": back["version"]}
        ).one()
    assert "新一" not in names and tuple(restored) == (first_version, "恢复初始版本", "县网格中心")
    assert checksums(engine)[1] == original_cameras

    r = admin.post("/api/v1/versions/999999/rollback")
    assert (r.status_code, r.json()["code"]) == (404, "version_not_found")


def test_an_editor_rolls_back_its_own_township(engine, editor, township, tmp_path):
    gdf = township.copy()
    published = []
    for i, hh in enumerate((31, 32)):
        gdf["households"] = hh
        r = upload(editor, write_boundaries(gdf, tmp_path / f"v{i}.gpkg"))
        assert r.json()["ok"], r.text
        r = editor.post(f"/api/v1/uploads/{r.json()['upload_id']}/publish")
        assert r.status_code == 200, r.text
        published.append(r.json()["version"])
    r = editor.post(f"/api/v1/versions/{published[0]}/rollback", json={"force": False, "reason": "户数填错"})
    assert r.status_code == 200, r.text
    with engine.connect() as conn:
        hh = (
            conn.execute(
                text("SELECT DISTINCT households FROM area WHERE code LIKE :p AND level = 4"), {"p": SCOPE + "%"}
            )
            .scalars()
            .all()
        )
    assert hh == [31] and r.json()["root"] == SCOPE


def test_a_defective_upload_is_rejected_with_its_defects_and_cannot_be_published(
    engine,
    editor,
    township,
    tmp_path,
):
    gdf = township.copy()
    expected = plant_overlap(gdf, set())
    r = upload(editor, write_boundaries(gdf, tmp_path / "重叠.geojson", driver="GeoJSON"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["ok"], body["root_code"]) == ("rejected", False, SCOPE)
    assert body["report"]["format"] == "geojson" and body["report"]["summary"]["errors"] == 1
    features = [f for f in body["defects"]["features"] if not f["properties"]["locator"]]
    assert len(features) == 1
    props = features[0]["properties"]
    assert (props["kind"], props["severity"], set(props["codes"])) == ("overlap", "error", expected.codes)
    assert (
        props["kind_label"] == "重叠"
        and props["message"]
        and features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    )
    assert body["report"]["issues"][props["issue"]]["kind"] == "overlap"
    assert abs(props["area_m2"] - expected.area_m2) < 0.01 * expected.area_m2

    before, rev = checksums(engine), revision(engine)
    r = editor.post(f"/api/v1/uploads/{body['upload_id']}/publish", json={})
    assert (r.status_code, r.json()["code"]) == (409, "validation_failed")
    assert r.json()["detail"]["ok"] is False and r.json()["detail"]["summary"]["by_kind"] == {"overlap": 1}
    r = editor.post(f"/api/v1/uploads/{body['upload_id']}/publish", json={"force": True})
    assert (r.status_code, r.json()["code"]) == (409, "reason_required")
    assert checksums(engine) == before and revision(engine) == rev
    assert editor.get(f"/api/v1/uploads/{body['upload_id']}").json()["status"] == "rejected"


def test_a_zipped_shapefile_of_one_grid_with_its_parent_code(engine, editor, township, tmp_path):
    grid = sorted(township.loc[township["level"] == 3, "code"])[1]
    part = township[township["parent_code"] == grid].copy()
    part["households"] = 44
    archive = zip_shapefile(part.to_crs(4490), tmp_path / "shp", tmp_path / "微网格.zip")
    r = upload(editor, archive, parent_code=grid, fields="code=编码\nparent_code=上级编码")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["root_code"]) == ("validated", grid)
    assert body["report"]["format"] == "shapefile" and body["report"]["encoding"].upper() in ("GBK", "CP936")
    r = editor.post(f"/api/v1/uploads/{body['upload_id']}/publish")
    assert r.status_code == 200, r.text
    assert (r.json()["root"], r.json()["top_level"], r.json()["added"]) == (grid, 4, len(part))
    with engine.connect() as conn:
        hh = (
            conn.execute(text("SELECT DISTINCT households FROM area WHERE parent_code = :g"), {"g": grid})
            .scalars()
            .all()
        )
    assert hh == [44]


def test_publishing_one_upload_twice_at_once_publishes_it_once(engine, editor, township, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    grid = sorted(township.loc[township["level"] == 3, "code"])[3]
    part = township[township["parent_code"] == grid]
    r = upload(editor, write_boundaries(part, tmp_path / "grid.gpkg"), parent_code=grid)
    upload_id = r.json()["upload_id"]
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT count(*) FROM boundary_version")).scalar_one()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: editor.post(f"/api/v1/uploads/{upload_id}/publish"), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert next(a for a in answers if a.status_code == 409).json()["code"] in (
        "publish_in_progress",
        "already_published",
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM boundary_version")).scalar_one() == versions + 1


def test_publishing_upper_levels_only_is_refused_and_changes_nothing(engine, editor, township, tmp_path):
    r = upload(editor, write_boundaries(township[township["level"] <= 2], tmp_path / "upper.gpkg"))
    assert r.json()["status"] == "validated", r.text
    before = checksums(engine)
    r = editor.post(f"/api/v1/uploads/{r.json()['upload_id']}/publish")
    assert (r.status_code, r.json()["code"]) == (409, "would_remove_descendants")
    assert r.json()["detail"]["ok"] is True
    assert checksums(engine) == before


def test_uploads_outside_the_scope_are_refused_and_not_kept(engine, other, admin, township, tmp_path):
    count = len(admin.get("/api/v1/uploads").json())
    r = upload(other, write_boundaries(township, tmp_path / "t.gpkg"))
    assert (r.status_code, r.json()["code"]) == (403, "out_of_scope")
    assert r.json()["detail"] == {"scope": OTHER, "codes": [SCOPE]}
    assert len(admin.get("/api/v1/uploads").json()) == count


def test_an_editor_cannot_publish_or_see_another_scopes_upload(engine, editor, other, township, tmp_path):
    r = upload(editor, write_boundaries(township, tmp_path / "t.gpkg"))
    upload_id = r.json()["upload_id"]
    before = checksums(engine)
    for resp in (other.post(f"/api/v1/uploads/{upload_id}/publish"), other.get(f"/api/v1/uploads/{upload_id}")):
        assert (resp.status_code, resp.json()["code"]) == (403, "out_of_scope")
    assert upload_id not in [u["upload_id"] for u in other.get("/api/v1/uploads").json()]
    assert checksums(engine) == before


def test_a_cad_drawing_with_its_boundary_layer_and_code_layer_chosen(engine, editor, township, tmp_path):
    grid = sorted(township.loc[township["level"] == 3, "code"])[2]
    part = township[township["parent_code"] == grid].explode(index_parts=False)
    drawn = part.rename(columns={"code": "编码", "name": "名称"}).to_crs(4526)
    path = surveyed_drawing(drawn, tmp_path / "微网格.dxf", codes="layer")
    before = checksums(engine)
    r = upload(editor, path, parent_code=grid, layer="JJX", fields="code=编码注记")
    assert (r.status_code, r.json()["code"]) == (422, "cad_source_not_found"), r.text
    assert "WGBM注记" in r.json()["message"]
    r = upload(editor, path, parent_code=grid, layer="JJX", fields="code=WGBM注记\nname=WGMC注记")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["report"]["format"]) == ("validated", "dxf")
    assert body["report"]["ok"] and body["report"]["summary"]["features"] == len(part), body["report"]["issues"][:2]
    assert checksums(engine) == before  # validated, not published


@pytest.mark.parametrize(
    "name, content, form, code",
    [
        ("garbage.gpkg", b"not a geopackage at all", {}, None),
        ("网格.txt", b"code,name\n1,a\n", {}, "unsupported_format"),
        ("empty.gpkg", b"", {}, "empty_file"),
        ("x.gpkg", b"x", {"fields": "code"}, "invalid_fields"),
        ("x.gpkg", b"x", {"level": "7"}, "invalid_request"),
    ],
)
def test_unusable_boundary_uploads_answer_422(editor, admin, name, content, form, code):
    count = len(admin.get("/api/v1/uploads").json())
    r = editor.post("/api/v1/uploads/boundaries", files={"file": (name, content)}, data=form)
    assert r.status_code == 422, r.text
    if code:
        assert r.json()["code"] == code
    else:
        assert r.json()["code"] and r.json()["message"]
    assert len(admin.get("/api/v1/uploads").json()) == count


def test_upload_size_limit_and_missing_things(engine, tokens):
    with serve(engine, max_upload_mb=0.01) as small, client(small, tokens["editor"]) as http:
        big = b"x" * 20_000
        r = http.post("/api/v1/uploads/boundaries", files={"file": ("big.gpkg", big)})
        assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
        r = http.post("/api/v1/uploads/cameras", files={"file": ("big.csv", big)})
        assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
        r = http.post("/api/v1/cameras/status", content=big, headers={"content-type": "text/csv"})
        assert (r.status_code, r.json()["code"]) == (413, "file_too_large")
        for resp in (http.get("/api/v1/uploads/999999"), http.post("/api/v1/uploads/999999/publish")):
            assert (resp.status_code, resp.json()["code"]) == (404, "upload_not_found")


# ------------------------------------------------------------------------------------ cameras


def test_camera_import_report_equals_the_cli_json(db, engine, editor, tmp_path, monkeypatch):
    url = db[0]
    reg = register()
    mine = reg[reg["所属网格"].str.startswith(SCOPE)]
    rows = new_cameras(mine.iloc[:3], 900001)
    changed = mine.iloc[[10]].copy()
    changed["设备名称"] = "改名后的点位"
    bad = mine.iloc[[11]].copy()
    bad["经度"] = "abc"
    path = camera_csv(pd.concat([rows, changed, bad]), tmp_path / "新增摄像头.csv")
    original_name = mine.iloc[10]["设备名称"]

    out = cli(url, monkeypatch, "cameras", "import", str(path), "--format", "json")
    assert out.exit_code == 1, out.output  # one row rejected
    expected = json.loads(out.stdout)
    assert (expected["inserted"], expected["updated"], expected["rejected_count"]) == (3, 1, 1)
    with engine.begin() as conn:  # undo the CLI import (directly: then rebuild the stored figures)
        conn.execute(text("DELETE FROM camera WHERE device_id = ANY(:ids)"), {"ids": list(rows["设备编码"])})
        conn.execute(
            text("UPDATE camera SET name = :n WHERE device_id = :d"),
            {"n": original_name, "d": changed.iloc[0]["设备编码"]},
        )
        record_change(conn, "repair", everything=True)

    rev = revision(engine)
    with open(path, "rb") as f:
        r = editor.post("/api/v1/uploads/cameras", files={"file": (path.name, f, "text/csv")})
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["import_id"] != expected["import_id"]
    page_extras = {"upload_id", "points", "points_truncated"}  # for the upload page, beside the CLI's report
    assert len(got.pop("points")) == expected["imported"] and got.pop("upload_id") and not got.pop("points_truncated")
    assert page_extras.isdisjoint(expected)
    assert {**got, "import_id": None} == {**expected, "import_id": None}
    assert revision(engine) == rev + 1
    stored = editor.get(r.headers["location"]).json()
    assert (stored["kind"], stored["status"], stored["ok"], stored["defects"]) == ("camera", "published", False, None)
    kept = {k: v for k, v in stored["report"].items() if k not in page_extras}
    assert kept == got and stored["summary"]["inserted"] == 3
    r = editor.post(r.headers["location"] + "/publish")
    assert (r.status_code, r.json()["code"]) == (409, "not_a_boundary_upload")


def _other_township_camera(reg: pd.DataFrame, k: int) -> pd.DataFrame:
    return reg[reg["所属网格"].str.startswith(OTHER)].iloc[[k]].copy()


def _moved_into_scope(reg: pd.DataFrame) -> pd.DataFrame:
    row = _other_township_camera(reg, 1)
    target = reg[reg["所属网格"].str.startswith(SCOPE)].iloc[0]
    row[["经度", "纬度", "所属网格"]] = target[["经度", "纬度", "所属网格"]].to_numpy()
    return row


def _renamed(reg: pd.DataFrame) -> pd.DataFrame:
    row = _other_township_camera(reg, 0)
    row["设备名称"] = "越权改名"
    return row


@pytest.mark.parametrize("case", ["new_outside", "renamed_outside", "moved_into_scope"])
def test_camera_import_touching_cameras_outside_the_scope_is_rolled_back(engine, editor, tmp_path, case):
    reg = register()
    mine = new_cameras(reg[reg["所属网格"].str.startswith(SCOPE)].iloc[20:22], 910001)
    offending = {
        "new_outside": lambda: new_cameras(_other_township_camera(reg, 2), 920001),
        "renamed_outside": lambda: _renamed(reg),
        "moved_into_scope": lambda: _moved_into_scope(reg),
    }[case]()
    path = camera_csv(pd.concat([mine, offending]), tmp_path / "cams.csv")
    before, rev = checksums(engine), revision(engine)
    with open(path, "rb") as f:
        r = editor.post("/api/v1/uploads/cameras", files={"file": (path.name, f)})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "out_of_scope"
    assert r.json()["detail"]["device_ids"] == list(offending["设备编码"])
    assert all(c.startswith(OTHER) for c in r.json()["detail"]["codes"])
    assert checksums(engine) == before and revision(engine) == rev


def test_camera_import_may_carry_unchanged_cameras_of_other_townships(engine, editor, tmp_path):
    reg = register()
    unchanged = reg[reg["所属网格"].str.startswith("411628003")].iloc[:5]
    mine = new_cameras(reg[reg["所属网格"].str.startswith(SCOPE)].iloc[30:32], 930001)
    path = camera_csv(pd.concat([unchanged, mine]), tmp_path / "cams.csv")
    with open(path, "rb") as f:
        r = editor.post("/api/v1/uploads/cameras", files={"file": (path.name, f)})
    assert r.status_code == 201, r.text
    assert (r.json()["inserted"], r.json()["unchanged"], r.json()["updated"]) == (2, 5, 0)


@pytest.mark.parametrize(
    "name, content, form, code",
    [
        ("cams.csv", "编号,名字\n1,a\n".encode(), {}, "missing_columns"),
        ("cams.pdf", b"%PDF", {}, "unsupported_format"),
        ("cams.csv", None, {"county": "999999"}, "county_unknown"),
        ("cams.csv", None, {"crs": "no-such-crs"}, "crs_unknown"),
    ],
)
def test_unusable_camera_imports_answer_422_and_change_nothing(engine, admin, name, content, form, code):
    if content is None:
        content = register().iloc[:3].to_csv(index=False).encode("utf-8-sig")
    before = checksums(engine)
    r = admin.post("/api/v1/uploads/cameras", files={"file": (name, content)}, data=form)
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert checksums(engine) == before


def _online_in(engine, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT online FROM area_stats WHERE code = :c"), {"c": code}).scalar_one()


def test_status_reports_update_online_counts_within_the_scope(engine, editor, admin):
    reg = register()
    offline = reg[(reg["安装状态"] == "已安装") & (reg["在线状态"] == "离线")]
    mine = offline[offline["所属网格"].str.startswith(SCOPE)].iloc[:2]
    theirs = offline[offline["所属网格"].str.startswith(OTHER)].iloc[:1]
    assert len(mine) == 2 and len(theirs) == 1
    now = dt.datetime.now(CHINA).isoformat(timespec="seconds")
    township_before, other_before = _online_in(engine, SCOPE), _online_in(engine, OTHER)
    rev = revision(engine)
    reports = [{"device_id": d, "online": True, "at": now} for d in [*mine["设备编码"], *theirs["设备编码"]]]
    reports.append({"device_id": "41162800011318999999", "online": True, "at": now})
    r = editor.post("/api/v1/cameras/status", json={"reports": reports})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["ok"], body["rows"], body["applied"], body["rejected_count"]) == (False, 4, 2, 2)
    assert [(p["row"], p["code"], p["device_id"]) for p in body["rejected"]] == [
        (3, "out_of_scope", theirs.iloc[0]["设备编码"]),
        (4, "device_unknown", "41162800011318999999"),
    ]
    assert _online_in(engine, SCOPE) == township_before + 2 and _online_in(engine, OTHER) == other_before
    assert _online_in(engine, mine.iloc[0]["所属网格"]) >= 1 and revision(engine) == rev + 1

    # Only out-of-scope reports: nothing changes at all.
    before = checksums(engine)
    r = editor.post("/api/v1/cameras/status", json=[{"device_id": theirs.iloc[0]["设备编码"], "online": "在线"}])
    assert r.json()["applied"] == 0 and r.json()["rejected"][0]["code"] == "out_of_scope"
    assert checksums(engine) == before and revision(engine) == rev + 1

    # A CSV body from the platform (the admin may report any camera); then a form upload.
    later = (dt.datetime.now(CHINA) + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    csv = "设备编码,在线状态,时间\n" + "".join(f"{d},离线,{later}\n" for d in [*mine["设备编码"], *theirs["设备编码"]])
    r = admin.post("/api/v1/cameras/status", content=csv.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert (r.json()["ok"], r.json()["applied"]) == (True, 3)
    assert _online_in(engine, SCOPE) == township_before and _online_in(engine, OTHER) == other_before
    even_later = (dt.datetime.now(CHINA) + dt.timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
    sheet = io.BytesIO(f"设备编码,在线状态,时间\n{mine.iloc[0]['设备编码']},在线,{even_later}\n".encode("utf-8-sig"))
    r = editor.post("/api/v1/cameras/status", files={"file": ("status.csv", sheet, "text/csv")})
    assert (r.status_code, r.json()["applied"]) == (200, 1), r.text
    assert _online_in(engine, SCOPE) == township_before + 1


@pytest.mark.parametrize(
    "content, ctype, code",
    [
        (b"[1, 2", "application/json", "unreadable"),
        (b"", "application/json", "empty"),
        (b'{"reports": []}', "application/json", "empty"),
        ("名字,值\na,1\n".encode(), "text/csv", "missing_columns"),
    ],
)
def test_unusable_status_bodies_answer_422(engine, editor, content, ctype, code):
    before = checksums(engine)
    r = editor.post("/api/v1/cameras/status", content=content, headers={"content-type": ctype})
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert checksums(engine) == before
