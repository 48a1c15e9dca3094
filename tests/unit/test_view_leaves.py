"""What the views see of each leaf (gridmap.coverage.view.leaf_view, roll_up): shapely in metres,
checked against hand-made squares."""

import numpy as np
import shapely

from gridmap.coverage.view import Residences, leaf_view, roll_up
from gridmap.geometry.view import sectors

# Two 100 m squares side by side (metres, any projected CRS): A = [0,100]², B = [100,200]×[0,100].
LEAVES = np.array([shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], dtype=object)
CODES = np.array(["411628001001001001", "411628001001001002"], dtype=object)
AREAS = [
    ("411628", "县", 0, None),
    ("411628001", "乡", 1, "411628"),
    ("411628001001", "村", 2, "411628001"),
    ("411628001001001", "网格", 3, "411628001001"),
    ("411628001001001001", "A", 4, "411628001001001"),
    ("411628001001001002", "B", 4, "411628001001001"),
]


def test_a_camera_pointing_away_from_a_grid_sees_none_of_it():
    # On A's west edge, looking west (270°): an 80° sector of 50 m lies wholly outside A and B.
    views = sectors(np.array([0.0]), np.array([50.0]), np.array([270.0]), np.array([80.0]), np.array([50.0]))
    lv = leaf_view(CODES, LEAVES, views, np.array([40.0, 60.0]))
    assert lv.seen_m2.tolist() == [0.0, 0.0]
    assert lv.households_seen.tolist() == [0.0, 0.0]
    assert shapely.equals(lv.unseen[0], LEAVES[0])


def test_a_dome_at_a_grid_centre_with_range_beyond_it_sees_all_of_it():
    views = sectors(np.array([50.0]), np.array([50.0]), np.array([0.0]), np.array([360.0]), np.array([80.0]))
    lv = leaf_view(CODES, LEAVES, views, np.array([40.0, 60.0]))
    assert lv.seen_m2[0] == 10_000.0  # m²: all of A
    assert lv.households_seen[0] == 40.0
    assert lv.unseen[0].is_empty
    # B: the part of the circle (r ≈ 80 m, 64-gon) east of x = 100, within B
    exact = shapely.intersection(views[0], LEAVES[1]).area
    assert abs(lv.seen_m2[1] - exact) < 1e-6 and 0 < lv.seen_m2[1] < 10_000
    assert abs(lv.households_seen[1] - 60.0 * exact / 10_000) < 1e-9


def test_overlapping_views_count_once_and_equal_the_union():
    rng = np.random.default_rng(7)  # fixed seed: the same cameras every run
    n = 300
    x, y = rng.uniform(-20, 220, n), rng.uniform(-20, 120, n)
    views = sectors(x, y, rng.uniform(0, 360, n), np.full(n, 80.0), np.full(n, 30.0))
    lv = leaf_view(CODES, LEAVES, views)
    brute = [shapely.intersection(shapely.union_all(views), leaf).area for leaf in LEAVES]
    assert np.allclose(lv.seen_m2, brute, rtol=1e-9, atol=1e-6)
    # seen + unseen = the leaf, in m²
    assert np.allclose(lv.seen_m2 + shapely.area(lv.unseen), shapely.area(LEAVES), atol=1e-6)


def test_parents_add_up_their_children_and_count_cameras():
    views = sectors(np.array([50.0]), np.array([50.0]), np.array([0.0]), np.array([360.0]), np.array([80.0]))
    lv = leaf_view(CODES, LEAVES, views, np.array([40.0, np.nan]))  # B's households unknown
    rows = roll_up(lv, AREAS, ["411628001001001001"])
    for code in ("411628", "411628001", "411628001001", "411628001001001"):
        assert rows[code].area_m2 == 20_000.0
        assert rows[code].seen_m2 == lv.seen_m2.sum()
        assert rows[code].households == 40.0 and rows[code].households_seen == 40.0
        assert rows[code].cameras == 1
    assert rows["411628001001001002"].households is None and rows["411628001001001002"].cameras == 0
    assert rows["411628"].seen_rate == lv.seen_m2.sum() / 20_000.0


def test_households_at_residence_points_count_where_they_stand():
    views = sectors(np.array([50.0]), np.array([50.0]), np.array([0.0]), np.array([360.0]), np.array([30.0]))
    points = shapely.points([[50, 50], [5, 5], [150, 50], [50, 60]])
    lv = leaf_view(CODES, LEAVES, views, residences=Residences(points, np.array([10.0, 7.0, 3.0, np.nan])))
    assert lv.households.tolist() == [17.0, 3.0]  # a count that is not a number counts 0
    assert lv.households_seen.tolist() == [10.0, 0.0]  # (5, 5) is outside the 30 m circle
