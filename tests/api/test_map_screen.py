"""/api/v1/map/screen (issue 15): everything a command-centre screen shows for one area in one
read, checked against the API's own answers (/coverage, /coverage/trend) and a recount from the
camera and area tables, on a token-only server read with an embed token (in the header and as
``?token=``), as screens run.

The module's database is a copy of the sample county where a few offline cameras were last seen
at different times (the sample's offline cameras were never seen), so the order of the offline
list is exercised.
"""

from __future__ import annotations

import datetime as dt

import pytest
from api_server import client, serve
from api_tokens import make_token
from conftest import loaded_database
from sqlalchemy import text

TOWNSHIP = "411628001"  # 真源街道
SEEN = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def server():
    """(base URL, embed token, viewer token, engine) of a token-only server."""
    _url, engine = loaded_database("gridmap_test_map_screen")
    with engine.begin() as conn:
        offline = conn.execute(
            text("""SELECT device_id FROM camera WHERE status = 'installed' AND NOT online
                    ORDER BY device_id DESC LIMIT 12""")
        ).scalars()
        # distinct times for most, one tie (two cameras seen at the same moment), the rest never seen
        for i, device in enumerate(list(offline)[:9]):
            conn.execute(
                text("UPDATE camera SET last_seen = :t WHERE device_id = :d"),
                {"t": SEEN + dt.timedelta(hours=min(i, 7) * 5), "d": device},
            )
    embed, viewer = make_token(engine, "embed"), make_token(engine, "viewer")
    with serve(engine, read_access="token") as base:
        yield base, embed, viewer, engine
    engine.dispose()


@pytest.fixture(scope="module")
def viewer(server):
    base, _embed, token, _engine = server
    with client(base, token) as c:
        yield c


@pytest.fixture(scope="module")
def screen(server):
    base, embed, _viewer, _engine = server
    with client(base, embed) as c:
        yield c


def _get(c, **params) -> dict:
    r = c.get("/api/v1/map/screen", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _recount(engine, root: str) -> list[tuple[str, str, dt.datetime | None]]:
    """(device id, child of root it lies in, last seen) of the installed, not online cameras under
    ``root`` along parent_code, the most recently seen first, never seen last, then by device id."""
    with engine.connect() as conn:
        parents = dict(conn.execute(text("SELECT code, parent_code FROM area")).all())
        cams = conn.execute(
            text("SELECT device_id, area_code, last_seen FROM camera WHERE status = 'installed' AND NOT online")
        ).all()

    def child_of_root(code):
        chain = [code]
        while chain[-1] is not None and chain[-1] != root:
            chain.append(parents.get(chain[-1]))
        if chain[-1] is None:
            return None
        return chain[-2] if len(chain) > 1 else root

    found = [(d, child, seen) for d, leaf, seen in cams if leaf and (child := child_of_root(leaf))]
    return sorted(found, key=lambda c: (c[2] is None, -(c[2].timestamp() if c[2] else 0), c[0]))


def test_the_county_screen_equals_the_coverage_rows_and_the_trend(screen, viewer):
    body = _get(screen)
    rows = viewer.get("/api/v1/coverage").json()["rows"]
    county = next(r for r in rows if r["level"] == 0)
    assert body["area"]["code"] == county["code"] and body["area"]["name"] == "鹿邑县" and body["area"]["level"] == 0
    minlon, minlat, maxlon, maxlat = body["area"]["bbox"]
    assert 115 < minlon < maxlon < 116 and 33.5 < minlat < maxlat < 34.2
    assert body["figures"] == {k: county[k] for k in body["figures"]}
    assert set(body["figures"]) == {"planned", "installed", "online", "rollout_rate", "online_rate", "households"}
    assert body["children"] == [r for r in rows if r["level"] == 1] and len(body["children"]) == 24
    blind = viewer.get("/api/v1/coverage/blind", params={"level": 3}).json()
    assert (body["level"], body["areas"], body["blind"]) == (3, 1294, len(blind["rows"])) and blind["total"] == 1294
    trend = body["trend"]
    first, last = dt.date.fromisoformat(trend["from"]), dt.date.fromisoformat(trend["to"])
    assert (last - first).days == 29
    expected = viewer.get(
        f"/api/v1/coverage/trend/{county['code']}", params={"from": trend["from"], "to": trend["to"]}
    ).json()
    assert trend["points"] == expected["points"] and len(trend["points"]) >= 2  # the sample's 30 days of history
    short = _get(screen, days=1)["trend"]
    assert short["from"] == short["to"] == trend["to"]
    assert short["points"] == [p for p in trend["points"] if p["date"] == trend["to"]]


def test_the_offline_list_is_sorted_and_cut_in_sql(server, screen):
    _base, _embed, _viewer, engine = server
    expected = _recount(engine, "411628")
    body = _get(screen, offline=100)["offline"]
    assert body["total"] == len(expected) > 100
    assert [c["device_id"] for c in body["cameras"]] == [d for d, _, _ in expected[:100]]
    seen = [c["last_seen"] for c in body["cameras"][:9]]
    assert all(seen) and seen == sorted(seen, reverse=True)  # the ones seen come first, newest first
    assert dt.datetime.fromisoformat(seen[0]) == SEEN + dt.timedelta(hours=35)
    children = {r["code"]: r["name"] for r in _get(screen)["children"]}
    for cam, (_, child, _) in zip(body["cameras"], expected):
        assert cam["child_code"] == child and cam["area_name"] == children[child]
        assert set(cam) == {"device_id", "name", "area_code", "child_code", "area_name", "last_seen"}
    assert _get(screen, offline=0)["offline"] == {"total": len(expected), "cameras": []}
    assert [c["device_id"] for c in _get(screen)["offline"]["cameras"]] == [d for d, _, _ in expected[:10]]


def test_a_township_screen(server, screen, viewer):
    _base, _embed, _viewer, engine = server
    body = _get(screen, area=TOWNSHIP, level="microgrid", offline=5)
    rows = viewer.get("/api/v1/coverage", params={"code": TOWNSHIP}).json()["rows"]
    assert body["area"]["code"] == TOWNSHIP and body["area"]["name"] == "真源街道" and body["area"]["level"] == 1
    assert body["figures"] == {k: rows[0][k] for k in body["figures"]}
    assert body["children"] == rows[1:] and {r["level"] for r in body["children"]} == {2}
    micro = viewer.get("/api/v1/coverage/blind", params={"level": 4, "code": TOWNSHIP}).json()
    assert (body["level"], body["areas"], body["blind"]) == (4, micro["total"], len(micro["rows"]))
    expected = _recount(engine, TOWNSHIP)
    assert body["offline"]["total"] == len(expected) > 0
    assert [(c["device_id"], c["child_code"]) for c in body["offline"]["cameras"]] == [
        (d, child) for d, child, _ in expected[:5]
    ]
    villages = {r["code"]: r["name"] for r in rows[1:]}
    assert all(c["area_name"] == villages[c["child_code"]] for c in body["offline"]["cameras"])
    # a township's box lies inside the county's
    county = _get(screen)["area"]["bbox"]
    box = body["area"]["bbox"]
    assert county[0] <= box[0] < box[2] <= county[2] and county[1] <= box[1] < box[3] <= county[3]
    # a leaf area: no children, its own cameras named by itself
    leaf = _get(screen, area=rows[1]["code"] + "001001")
    assert leaf["area"]["level"] == 4 and leaf["children"] == []
    assert all(c["child_code"] == leaf["area"]["code"] for c in leaf["offline"]["cameras"])


def test_tokens_errors_and_revalidation(server, screen):
    base, embed, _viewer, _engine = server
    with client(base) as anon:
        r = anon.get("/api/v1/map/screen")
        assert r.status_code == 401 and r.json()["code"] == "token_required"
        r = anon.get("/api/v1/map/screen", params={"token": embed, "area": TOWNSHIP})
        assert r.status_code == 200 and r.json()["area"]["code"] == TOWNSHIP
        assert anon.get("/api/v1/coverage", params={"token": embed}).status_code in (401, 403)  # still tiles-only
        r = anon.get("/api/v1/map/screen", params={"token": "gm_not_a_token"})
        assert r.status_code in (401, 403) and r.json()["code"]
    r = screen.get("/api/v1/map/screen", params={"area": "999999"})
    assert r.status_code == 404 and r.json()["code"] == "area_not_found" and "999999" in r.json()["message"]
    for params, status, code in [
        ({"days": 0}, 422, "invalid_request"),
        ({"days": 367}, 422, "invalid_request"),
        ({"offline": 101}, 422, "invalid_request"),
        ({"offline": -1}, 422, "invalid_request"),
        ({"level": "street"}, 400, "invalid_level"),
        ({"area": "4" * 65}, 422, "invalid_request"),
    ]:
        r = screen.get("/api/v1/map/screen", params=params)
        assert (r.status_code, r.json()["code"]) == (status, code), params
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["message"]), r.text  # a Chinese message
    first = screen.get("/api/v1/map/screen", params={"area": TOWNSHIP})
    again = screen.get(
        "/api/v1/map/screen", params={"area": TOWNSHIP}, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]
    assert "private" in first.headers["Cache-Control"]
