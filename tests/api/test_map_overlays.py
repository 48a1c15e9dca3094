"""What the pages draw over the tiles (issue 15): where each area's name goes
(/api/v1/map/labels, ``area_label``) and the camera clusters at low zoom
(/api/v1/map/camera-clusters), on the real API over the sample county."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pyproj
import pytest
import shapely
from api_server import client, serve
from api_tokens import make_token
from conftest import loaded_database
from sqlalchemy import text

from gridmap.tiles.clusters import cell_m
from gridmap.tiles.grid import HALF_WORLD

COUNTY_BOX = "114.9,33.5,116.1,34.3"  # holds the whole sample county


def labels(http, **params):
    r = http.get("/api/v1/map/labels", params={"bbox": COUNTY_BOX, "limit": 5000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_every_area_has_a_label_point_inside_it(http, loaded_engine):
    with loaded_engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT level, count(*) FROM area GROUP BY level")).all())
        outside = conn.execute(
            text("""SELECT count(*) FROM area_label l JOIN area a ON a.id = l.area_id
                    WHERE NOT ST_Contains(a.geom, l.geom)""")
        ).scalar_one()
    assert outside == 0  # the pole of inaccessibility lies inside even a concave or holed area
    for level in (1, 2, 3):
        body = labels(http, level=level)
        assert body["level"] == level and not body["truncated"]
        assert len(body["labels"]) == counts[level]
        radii = [lab["radius_m"] for lab in body["labels"]]
        assert radii == sorted(radii, reverse=True) and radii[-1] > 0


def test_the_radius_is_the_largest_inscribed_circle_in_metres(http, loaded_engine):
    """Checked against shapely's own maximum inscribed circle, computed in the county's GK zone
    (CGCS2000 / 3-degree GK CM 114E, EPSG:4546 for the sample at 115.5°E)."""
    body = labels(http, level=2)
    picked = body["labels"][:: max(1, len(body["labels"]) // 12)]
    to_gk = pyproj.Transformer.from_crs(4490, 4546, always_xy=True)
    with loaded_engine.connect() as conn:
        for lab in picked:
            wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM area WHERE code = :c"), {"c": lab["code"]}).scalar()
            area = shapely.transform(shapely.from_wkb(bytes(wkb)), lambda xy: np.column_stack(to_gk.transform(*xy.T)))
            expected = shapely.length(shapely.maximum_inscribed_circle(area, tolerance=0.5))
            assert lab["radius_m"] == pytest.approx(expected, rel=0.02, abs=2.0), lab["code"]
            # and the point is the circle's centre: that far from the boundary
            x, y = to_gk.transform(lab["lon"], lab["lat"])
            assert shapely.distance(shapely.Point(x, y), area.boundary) == pytest.approx(lab["radius_m"], abs=2.0)


def test_short_names_drop_the_parents_name(http, loaded_engine):
    with loaded_engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT a.code, a.name, p.name FROM area a JOIN area p ON p.code = a.parent_code
                    JOIN area_label l ON l.area_id = a.id
                    WHERE a.level = 4 ORDER BY l.radius_m DESC LIMIT 5""")
        ).all()
    body = labels(http, level=4)
    by_code = {lab["code"]: lab for lab in body["labels"]}
    for code, name, parent in rows:
        lab = by_code[code]
        assert lab["name"] == name
        assert name.startswith(parent) and lab["short_name"] == name[len(parent) :] and lab["short_name"]
    townships = labels(http, level=1)["labels"]
    assert all(t["short_name"] == t["name"] for t in townships)  # "鹿邑县" is no prefix of theirs


def test_box_radius_and_limit_filter_the_labels(http):
    everything = labels(http, level=3)["labels"]
    box = (115.40, 33.80, 115.55, 33.95)
    inside = labels(http, level=3, bbox=",".join(map(str, box)))["labels"]
    expected = [lab["code"] for lab in everything if box[0] <= lab["lon"] <= box[2] and box[1] <= lab["lat"] <= box[3]]
    assert [lab["code"] for lab in inside] == expected and 0 < len(inside) < len(everything)
    roomy = labels(http, level=3, min_radius_m=500)["labels"]
    assert roomy == [lab for lab in everything if lab["radius_m"] >= 500] and 0 < len(roomy) < len(everything)
    first = labels(http, level=3, limit=10)
    assert first["truncated"] and first["labels"] == everything[:10]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"level": 9, "bbox": COUNTY_BOX}, 400, "invalid_level"),
        ({"level": 1, "bbox": "1,2,3"}, 400, "invalid_bbox"),
        ({"level": 1, "bbox": "116,34,115,33"}, 400, "invalid_bbox"),
        ({"level": 1, "bbox": COUNTY_BOX, "min_radius_m": -1}, 422, "invalid_request"),
        ({"level": 1, "bbox": COUNTY_BOX, "limit": 0}, 422, "invalid_request"),
        ({"bbox": COUNTY_BOX}, 422, "invalid_request"),
        ({"level": 1}, 422, "invalid_request"),
    ],
)
def test_bad_label_requests_get_a_stable_code(http, params, status, code):
    r = http.get("/api/v1/map/labels", params=params)
    assert r.status_code == status and r.json()["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["message"])


def test_answers_revalidate_by_data_revision(http):
    first = http.get("/api/v1/map/labels", params={"level": 1, "bbox": COUNTY_BOX})
    again = http.get(
        "/api/v1/map/labels", params={"level": 1, "bbox": COUNTY_BOX}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    clusters = http.get("/api/v1/map/camera-clusters", params={"z": 10, "bbox": COUNTY_BOX})
    assert (
        http.get(
            "/api/v1/map/camera-clusters",
            params={"z": 10, "bbox": COUNTY_BOX},
            headers={"If-None-Match": clusters.headers["etag"]},
        ).status_code
        == 304
    )


# ------------------------------------------------------------------------------------ clusters


def drawn_cameras(engine):
    with engine.connect() as conn:
        return conn.execute(
            text("""SELECT ST_X(geom), ST_Y(geom), status, online FROM camera
                    WHERE status <> 'removed' AND geom IS NOT NULL""")
        ).all()


@pytest.mark.parametrize("z", [8, 10, 11])
def test_clusters_are_the_cameras_grouped_by_a_pixel_grid(http, loaded_engine, z):
    """Recomputed here: project every drawn camera to Web Mercator, group by the grid of 80-pixel
    cells anchored at the world's corner, count."""
    cams = drawn_cameras(loaded_engine)
    to_3857 = pyproj.Transformer.from_crs(4490, 3857, always_xy=True)
    xs, ys = to_3857.transform([c[0] for c in cams], [c[1] for c in cams])
    cell = cell_m(z, 80)
    groups: Counter = Counter()
    online: Counter = Counter()
    for x, y, cam in zip(xs, ys, cams, strict=True):
        key = (math.floor((x + HALF_WORLD) / cell), math.floor((y + HALF_WORLD) / cell))
        groups[key] += 1
        online[key] += cam[2] == "installed" and bool(cam[3])
    r = http.get("/api/v1/map/camera-clusters", params={"z": z, "bbox": COUNTY_BOX, "cell_px": 80})
    assert r.status_code == 200
    body = r.json()
    assert not body["truncated"] and body["z"] == z and body["cell_px"] == 80
    got = body["clusters"]
    assert sorted(c["planned"] for c in got) == sorted(groups.values())
    assert sorted(c["online"] for c in got) == sorted(online.values())
    assert sum(c["planned"] for c in got) == len(cams)
    assert sum(c["installed"] for c in got) == sum(1 for c in cams if c[2] == "installed")
    assert [c["planned"] for c in got] == sorted((c["planned"] for c in got), reverse=True)
    # each cluster sits at its cameras' mean position, inside its own cell
    for c in got:
        x, y = to_3857.transform(c["lon"], c["lat"])
        key = (math.floor((x + HALF_WORLD) / cell), math.floor((y + HALF_WORLD) / cell))
        assert groups[key] == c["planned"]


def test_clusters_hold_only_the_cameras_in_the_box(http, loaded_engine):
    box = (115.40, 33.80, 115.55, 33.95)
    cams = drawn_cameras(loaded_engine)
    inside = sum(1 for c in cams if box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3])
    r = http.get("/api/v1/map/camera-clusters", params={"z": 11, "bbox": ",".join(map(str, box))})
    assert sum(c["planned"] for c in r.json()["clusters"]) == inside > 0
    bad = http.get("/api/v1/map/camera-clusters", params={"z": 40, "bbox": COUNTY_BOX})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    polar = http.get("/api/v1/map/camera-clusters", params={"z": 3, "bbox": "-180,86,180,90"})
    assert polar.status_code == 200 and polar.json()["clusters"] == []


def test_embed_tokens_read_names_and_clusters_but_not_the_api():
    """Screens get what the tiles give them: an embed token (in the URL or header) reads both;
    without a token a token-only service refuses."""
    _url, engine = loaded_database("gridmap_test_overlays_tokens")
    try:
        embed = make_token(engine, "embed")
        with serve(engine, read_access="token") as base, client(base) as anon:
            params = {"level": 1, "bbox": COUNTY_BOX}
            assert anon.get("/api/v1/map/labels", params=params).json()["code"] == "token_required"
            assert len(anon.get("/api/v1/map/labels", params={**params, "token": embed}).json()["labels"]) == 24
            with client(base, embed) as screen:
                assert screen.get("/api/v1/map/camera-clusters", params={"z": 9, "bbox": COUNTY_BOX}).status_code == 200
                assert screen.get("/api/v1/areas", params={"level": 1}).status_code == 403
    finally:
        engine.dispose()
