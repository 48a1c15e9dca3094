"""The vertex-noise test of ``gridmap.geometry.partition`` decides exactly as GEOS's discrete
Hausdorff distance would (it replaced ``shapely.hausdorff_distance`` there for speed)."""

from __future__ import annotations

import numpy as np
import shapely

from gridmap.geometry.partition import _within_vertex_noise

SLACK, LIMIT = 0.00025, 0.0005  # metres, as the partition check uses them


def _cases() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    a, b = [], []
    for i in range(300):
        n = int(rng.integers(4, 40))
        angle = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(50, 500)
        ring = np.column_stack([600_000 + i * 1000 + radius * np.cos(angle), 3_700_000 + radius * np.sin(angle)])
        ring = np.vstack([ring, ring[:1]])
        other = ring.copy()
        kind = i % 6
        if kind == 1:  # vertex noise inside, or just outside, the limit
            other += rng.uniform(-1, 1, other.shape) * rng.choice([0.0001, 0.0002, 0.0003, 0.001])
            other[-1] = other[0]
        elif kind == 2:  # another start vertex and direction
            other = np.vstack([ring[3:-1], ring[:4]])[::-1]
        elif kind == 3:  # an extra vertex near (or far from) the middle of an edge
            mid = (ring[1] + ring[2]) / 2 + rng.choice([0.0, 0.0001, 0.0004, 0.01])
            other = np.vstack([ring[:2], mid, ring[2:]])
        elif kind == 4:  # a vertex moved far
            other[2] += 0.05
        geom_a = shapely.LineString(ring)
        geom_b = shapely.LineString(other)
        if kind == 5:  # two parts, split differently but with equal vertex totals
            geom_a = shapely.MultiLineString([ring[:5], ring[5:]]) if n > 8 else geom_a
            geom_b = shapely.MultiLineString([ring[:6], ring[6:]]) if n > 8 else geom_b
        a.append(geom_a)
        b.append(geom_b)
    a.append(shapely.LineString())
    b.append(shapely.LineString([(0, 0), (1, 0)]))
    return np.array(a, dtype=object), np.array(b, dtype=object)


def test_same_decision_as_hausdorff_distance() -> None:
    a, b = _cases()
    expected = shapely.hausdorff_distance(a, b) + SLACK <= LIMIT
    got = _within_vertex_noise(a, b, SLACK, LIMIT)
    assert np.array_equal(got, expected)
    assert 30 < expected.sum() < len(a) - 30  # both answers occur
    assert np.array_equal(_within_vertex_noise(b, a, SLACK, LIMIT), expected)


def test_reprojection_on_threads_gives_the_same_numbers(monkeypatch) -> None:
    import pyproj

    from gridmap.geometry import metric

    rng = np.random.default_rng(5)
    lines = np.array(
        [
            shapely.LineString(np.column_stack([rng.uniform(115, 115.5, 50), rng.uniform(33.5, 34, 50)]))
            for _ in range(40)
        ]
        + [None],
        dtype=object,
    )
    crs = metric.metric_crs(lines)
    one = metric.to_metric(lines, crs)
    monkeypatch.setattr(metric, "_CHUNK", 100)  # 2,000 vertices: several threads where there are CPUs
    several = metric.to_metric(lines, crs)
    direct = pyproj.Transformer.from_crs(4490, crs, always_xy=True).transform(*shapely.get_coordinates(lines).T)
    assert np.array_equal(shapely.get_coordinates(several), shapely.get_coordinates(one))
    assert np.array_equal(shapely.get_coordinates(several), np.column_stack(direct))
    assert several[-1] is None
