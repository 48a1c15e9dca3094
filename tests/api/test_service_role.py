"""The service writes as its own role (issue 13): a real uvicorn on a copy of the sample county
(migrated and loaded by the harness through the same role), whose every database connection logs in
as the cluster's service role, which is not a superuser. A publish, a camera import and status
reports land through the API as that role."""

from __future__ import annotations

import datetime as dt

import pytest
from api_server import client, serve
from api_tokens import SCOPE, make_token, register
from boundary_files import write_gpkg
from conftest import loaded_database
from db_state import revision
from sqlalchemy import text

from gridmap.devdb import APP_ROLE

CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def engine():
    _, eng = loaded_database("gridmap_test_service_role")
    yield eng
    eng.dispose()


def test_publish_camera_import_and_status_reports_as_the_service_role(engine, township, tmp_path):
    with engine.connect() as conn:
        rights = conn.execute(
            text(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
                " WHERE rolname = current_user"
            )
        ).one()
        assert tuple(rights) == (APP_ROLE, False, False, False, False)
    token = make_token(engine, "admin", name="县网格中心")
    before = revision(engine)
    reg = register()
    mine = reg[reg["所属网格"].str.startswith(SCOPE)]
    offline = mine[(mine["安装状态"] == "已安装") & (mine["在线状态"] == "离线")].iloc[:2]
    new = mine.iloc[:2].copy()
    new["设备编码"] = ["41162800011318900001", "41162800011318900002"]
    new["经度"] = [f"{float(x) + 0.0001:.6f}" for x in new["经度"]]
    cameras = tmp_path / "新增摄像头.csv"
    new.to_csv(cameras, index=False, encoding="utf-8-sig")
    grid = sorted(township.loc[township["level"] == 3, "code"])[0]
    gdf = township[township["parent_code"] == grid].copy()  # one grid's micro-grids
    leaf = gdf.index[:2]
    gdf.loc[leaf, "name"] = ["改名一", "改名二"]
    boundaries = write_gpkg(gdf, tmp_path / "微网格.gpkg")

    with serve(engine) as base, client(base, token) as http:
        with open(boundaries, "rb") as f:
            r = http.post(
                "/api/v1/uploads/boundaries", files={"file": (boundaries.name, f)}, data={"parent_code": grid}
            )
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/uploads/{r.json()['upload_id']}/publish")
        assert r.status_code == 200 and r.json()["published"] is True, r.text

        with open(cameras, "rb") as f:
            r = http.post("/api/v1/uploads/cameras", files={"file": (cameras.name, f, "text/csv")})
        assert r.status_code == 201 and r.json()["inserted"] == 2, r.text

        now = dt.datetime.now(CHINA).isoformat(timespec="seconds")
        reports = [{"device_id": d, "online": True, "at": now} for d in offline["设备编码"]]
        r = http.post("/api/v1/cameras/status", json={"reports": reports})
        assert r.status_code == 200 and r.json()["applied"] == 2, r.text

        with engine.connect() as conn:
            # Every session on this database (the server's pool, its tile and event connections,
            # this one) is the service role's.
            users = conn.execute(
                text("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()")
            ).scalars()
            assert set(users) == {APP_ROLE}

    assert revision(engine) == before + 3
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM area WHERE code = ANY(:c)"), {"c": list(gdf.loc[leaf, "code"])})
        assert sorted(names.scalars()) == ["改名一", "改名二"]
        online = conn.execute(
            text("SELECT count(*) FROM camera WHERE device_id = ANY(:d) AND online"), {"d": list(offline["设备编码"])}
        )
        assert online.scalar_one() == 2
