"""The field of view of one camera (gridmap.geometry.view): directions, kinds and sectors in metres."""

import math

import numpy as np
import pytest
import shapely

from gridmap.config import parse_view_kinds
from gridmap.geometry.view import BULLET, DOME, HALF_DOME, camera_kind, parse_direction, sectors, view_specs


@pytest.mark.parametrize(
    ("text", "bearing"),
    [
        ("北", 0.0),
        ("南", 180.0),
        ("西南", 225.0),
        ("正东", 90.0),
        ("朝南方向", 180.0),
        ("东偏南", 112.5),
        ("NE", 45.0),
        ("135°", 135.0),
        ("450度", 90.0),
        (-90, 270.0),
    ],
)
def test_directions_as_registers_write_them(text, bearing):
    assert parse_direction(text) == bearing


@pytest.mark.parametrize("text", [None, "", "全向", "多方向", "东南西北", float("nan"), math.inf])
def test_no_usable_direction_is_nan(text):
    assert math.isnan(parse_direction(text))


def test_kinds_from_a_kind_column_or_the_name():
    assert camera_kind("十字路口高速球") == DOME
    assert camera_kind("村委会半球2号") == HALF_DOME
    assert camera_kind("坑塘1号") == BULLET
    assert camera_kind("坑塘1号", "球机") == DOME
    assert camera_kind("路口球机", "dome") == DOME


def test_view_kinds_setting_overrides_the_defaults():
    specs = view_specs('{"bullet": {"range": 30}}')
    assert specs[BULLET].range_m == 30 and specs[BULLET].angle_deg == 80 and specs[DOME].angle_deg == 360
    for bad in ('{"tripod": {}}', '{"bullet": {"angle": 0}}', '{"dome": {"range": 5000}}', "[1]", "{"):
        with pytest.raises(ValueError):
            parse_view_kinds(bad)


def test_a_sector_points_where_the_camera_looks():
    [north, east] = sectors(np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([0.0, 90.0]), 80.0, 50.0)
    assert shapely.is_valid(north) and shapely.is_valid(east)
    assert north.contains(shapely.Point(0, 40)) and not north.intersects(shapely.Point(0, -1))
    assert east.contains(shapely.Point(40, 0)) and not east.contains(shapely.Point(0, 40))
    # Area in m²: the exact sector's, less what the inscribed arc cuts off (< 0.2 %).
    exact = 80 / 360 * math.pi * 50**2
    assert exact * 0.998 < north.area <= exact
    assert north.bounds[3] == pytest.approx(50.0)


def test_domes_and_unknown_directions_are_circles():
    dome, unknown = sectors(
        np.array([100.0, 0.0]), np.array([0.0, 0.0]), np.array([45.0, np.nan]), [360.0, 80.0], [80.0, 50.0]
    )
    assert dome.area == pytest.approx(math.pi * 80**2, rel=0.002)
    assert shapely.centroid(dome).distance(shapely.Point(100, 0)) < 1e-6
    # No direction: the circle with the sector's area, centred on the camera.
    assert unknown.area == pytest.approx(80 / 360 * math.pi * 50**2, rel=0.002)
    assert shapely.centroid(unknown).distance(shapely.Point(0, 0)) < 1e-6


def test_cameras_without_a_position_or_range_have_no_view():
    out = sectors(np.array([np.nan, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]), 0.0, 80.0, np.array([50.0, 0.0, 50.0]))
    assert out[0] is None and out[1] is None and out[2] is not None


def test_compass_words_are_the_inverse_of_reading_them():
    from gridmap.geometry.view import compass_word

    for k in range(16):
        assert parse_direction(compass_word(k * 22.5)) == k * 22.5
    assert compass_word(350.0) == "北" and compass_word(100.0) == "东" and compass_word(math.nan) == "全向"
