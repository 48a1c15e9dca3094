"""POST /api/v1/plan over a real uvicorn and PostGIS: editors and admins only, an editor only for
its own county, bounded budgets, JSON or GeoJSON answers (coarse settings keep it quick)."""

from __future__ import annotations

import pytest
from api_server import client, serve
from api_tokens import make_token
from conftest import loaded_database

COARSE = {"plan_site_spacing_m": 1000.0, "plan_demand_spacing_m": 25.0, "plan_max_budget": 500}


@pytest.fixture(scope="module")
def plan_server():
    _url, eng = loaded_database("gridmap_test_plan")
    tokens = {
        "viewer": make_token(eng, "viewer"),
        "editor": make_token(eng, "editor", "411628"),
        "other": make_token(eng, "editor", "411627"),
        "admin": make_token(eng, "admin"),
    }
    with serve(eng, **COARSE) as base:
        yield base, tokens
    eng.dispose()


def test_viewer_and_other_county_editor_are_refused(plan_server):
    base, tokens = plan_server
    with client(base) as c:
        r = c.post("/api/v1/plan", json={"budget": 5})
        assert r.status_code == 401
    with client(base, tokens["viewer"]) as c:
        r = c.post("/api/v1/plan", json={"budget": 5})
        assert r.status_code == 403 and r.json()["code"] == "role_cannot_write"
    with client(base, tokens["other"]) as c:
        r = c.post("/api/v1/plan", json={"budget": 5, "code": "411628"})
        assert r.status_code == 403 and r.json()["code"] == "out_of_scope"


def test_editor_plans_its_county(plan_server):
    base, tokens = plan_server
    with client(base, tokens["editor"]) as c:
        r = c.post("/api/v1/plan", json={"budget": 10, "code": "411628", "objective": "households"})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert len(answer["sites"]) == 10 and answer["code"] == "411628"
        assert {"lon", "lat", "grid_code", "direction", "households_newly_seen"} <= set(answer["sites"][0])
        assert 0 <= answer["optimality_gap"] <= 1 and answer["cameras_for_every_grid"] == 61
        g = c.post("/api/v1/plan", json={"budget": 3}, headers={"Accept": "application/geo+json"})
        assert g.status_code == 200 and g.headers["content-type"].startswith("application/geo+json")
        assert [f["geometry"]["type"] for f in g.json()["features"]] == ["Point"] * 3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"budget": 501}, 422, "invalid_budget"),
        ({"budget": 0}, 422, None),
        ({"budget": 5, "code": "999999"}, 404, "unknown_county"),
        ({"budget": 5, "must_cover_each_grid": True}, 422, "budget_below_grid_count"),
        ({"budget": 5, "objective": "degrees"}, 422, None),
    ],
)
def test_bad_requests_get_stable_codes(plan_server, body, status, code):
    base, tokens = plan_server
    with client(base, tokens["admin"]) as c:
        r = c.post("/api/v1/plan", json=body)
        assert r.status_code == status, r.text
        assert r.json()["message"]
        if code:
            assert r.json()["code"] == code
