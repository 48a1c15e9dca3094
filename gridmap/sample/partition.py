"""Nested, irregular partition of a county on a raster, turned into an exact polygon coverage.

Why a raster: every level is split *inside its parent's pixels*, so children nest in their parent
by construction, and the micro-grid polygons are vectorised once from one label image, so
neighbouring polygons share their edges exactly. Parents are built as the coverage union of their
children, so every shared edge is the same line at every level.

Each split is a marker-controlled watershed over "distance to the nearest marker + smooth noise":
the distance term keeps regions compact (Voronoi-like), the noise makes boundaries wander the way
roads and field edges do, and the watershed guarantees every region is one 4-connected piece.
All coordinates here are projected metres (the caller's CRS); pixel size is ``frame.pixel`` metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree
from skimage.segmentation import watershed


@dataclass(frozen=True)
class Frame:
    """A north-up raster covering the county: ``shape`` (rows, cols), pixel size in metres."""

    x0: float  # west edge, metres
    y0: float  # north edge, metres
    pixel: float
    shape: tuple[int, int]

    @property
    def transform(self) -> Affine:
        return Affine(self.pixel, 0.0, self.x0, 0.0, -self.pixel, self.y0)

    def pixel_centres(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(n, 2) array of x, y (metres) of pixel centres."""
        x = self.x0 + (cols + 0.5) * self.pixel
        y = self.y0 - (rows + 0.5) * self.pixel
        return np.column_stack([x, y])

    def to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """(n, 2) float row, col of points given in metres."""
        return np.column_stack([(self.y0 - xy[:, 1]) / self.pixel, (xy[:, 0] - self.x0) / self.pixel])


def county_outline(
    rng: np.random.Generator, centre: tuple[float, float], area_m2: float, n_vertices: int = 1440
) -> shapely.Polygon:
    """An irregular star-shaped outline of exactly ``area_m2`` around ``centre`` (metres).

    The radius is exp(sum of random harmonics): low harmonics give the overall lobes, high ones
    the ragged edge real county borders have where they follow rivers and field boundaries.
    """
    theta = np.linspace(0.0, 2 * np.pi, n_vertices, endpoint=False)
    log_r = np.zeros_like(theta)
    for k in range(2, 48):
        amplitude = 0.16 / k**1.15
        log_r += amplitude * rng.normal() * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = np.exp(log_r)
    xy = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    unit = shapely.Polygon(xy)
    scale = np.sqrt(area_m2 / unit.area)
    return shapely.Polygon(xy * scale + np.asarray(centre))


def frame_for(outline: shapely.Polygon, pixel: float, margin: float = 500.0) -> Frame:
    minx, miny, maxx, maxy = outline.bounds
    x0 = np.floor((minx - margin) / pixel) * pixel
    y0 = np.ceil((maxy + margin) / pixel) * pixel
    cols = int(np.ceil((maxx + margin - x0) / pixel))
    rows = int(np.ceil((y0 - (miny - margin)) / pixel))
    return Frame(float(x0), float(y0), pixel, (rows, cols))


def rasterize_mask(outline: shapely.Geometry, frame: Frame, *, largest: bool = True) -> np.ndarray:
    """Boolean mask of the outline (pixels whose centre is inside), reduced to its largest
    4-connected piece (one county, no islands) unless ``largest`` is False."""
    mask = features.rasterize(
        [(outline, 1)], out_shape=frame.shape, transform=frame.transform, fill=0, dtype="uint8"
    ).astype(bool)
    return largest_piece(mask) if largest else mask


def largest_piece(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected piece of ``mask``."""
    pieces, n = ndimage.label(mask)  # default structure: 4-connectivity
    if n > 1:
        sizes = ndimage.sum_labels(mask, pieces, index=np.arange(1, n + 1))
        mask = pieces == (1 + int(np.argmax(sizes)))
    return mask


def grow_labels(labels: np.ndarray, into: np.ndarray, steps: int) -> np.ndarray:
    """``labels`` grown ``steps`` pixels into the unlabelled pixels of ``into``, one 4-neighbour
    ring at a time (a new pixel takes the label of its first labelled neighbour: north, west,
    south, east), so every label stays one 4-connected piece."""
    out = labels.copy()
    for _ in range(steps):
        free = into & (out == 0)
        grown = np.zeros_like(out)
        for axis, shift in ((0, 1), (1, 1), (0, -1), (1, -1)):  # neighbour to the north, west, south, east
            neighbour = np.roll(out, shift, axis=axis)
            if shift == 1:
                (neighbour[0, :] if axis == 0 else neighbour[:, 0])[...] = 0
            else:
                (neighbour[-1, :] if axis == 0 else neighbour[:, -1])[...] = 0
            take = free & (grown == 0) & (neighbour > 0)
            grown[take] = neighbour[take]
        out[grown > 0] = grown[grown > 0]
    return out


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigmas_px: tuple[float, ...]) -> np.ndarray:
    """Multi-octave smooth noise with unit standard deviation (float32)."""
    total = np.zeros(shape, dtype=np.float32)
    for i, sigma in enumerate(sigmas_px):
        layer = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
        layer /= layer.std() or 1.0
        total += layer / (i + 1)
    total /= total.std() or 1.0
    return total


def place_markers(rng: np.random.Generator, mask: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct marker pixels (rows, cols) inside ``mask``, spread like a weighted
    centroidal Voronoi tessellation: dense where ``weight`` is high, evenly spaced otherwise."""
    rows, cols = np.nonzero(mask)
    if k > rows.size:
        raise ValueError(f"cannot place {k} markers in {rows.size} pixels")
    if k == rows.size:
        return np.column_stack([rows, cols])
    w = weight[rows, cols].astype(np.float64)
    n_sample = min(rows.size, max(40 * k, 400))
    pick = rng.choice(rows.size, size=n_sample, replace=False, p=w / w.sum())
    pts = np.column_stack([rows[pick], cols[pick]]).astype(np.float64)
    if k == 1:
        centres = pts.mean(axis=0, keepdims=True)
    else:
        centres, _ = kmeans2(pts, k, minit="++", iter=25, seed=rng)
    # Snap each centre to a distinct sampled mask pixel (k-means centres can fall outside a concave
    # parent or coincide).
    tree = cKDTree(pts)
    _, nearest = tree.query(centres, k=min(pts.shape[0], 16))
    nearest = np.atleast_2d(nearest)
    used: set[int] = set()
    chosen = []
    for row in nearest:
        for cand in row:
            if int(cand) not in used:
                used.add(int(cand))
                chosen.append(int(cand))
                break
        else:  # all 16 nearest taken: fall back to any unused sample
            cand = next(i for i in range(pts.shape[0]) if i not in used)
            used.add(cand)
            chosen.append(cand)
    return pts[chosen].astype(np.int64)


@dataclass(frozen=True)
class Warp:
    """A smooth displacement field (pixels) plus fine roughness, for one level of the hierarchy."""

    dr: np.ndarray  # row displacement, unit std
    dc: np.ndarray  # column displacement, unit std
    rough: np.ndarray  # small-scale noise, unit std

    @classmethod
    def random(
        cls, rng: np.random.Generator, shape: tuple[int, int], sigmas_px: tuple[float, ...], rough_sigma_px: float
    ) -> Warp:
        return cls(
            smooth_noise(rng, shape, sigmas_px),
            smooth_noise(rng, shape, sigmas_px),
            smooth_noise(rng, shape, (rough_sigma_px,)),
        )

    def window(self, rows: slice, cols: slice) -> Warp:
        return Warp(self.dr[rows, cols], self.dc[rows, cols], self.rough[rows, cols])


def split_region(mask: np.ndarray, markers_rc: np.ndarray, warp: Warp, warp_px: float, rough_px: float) -> np.ndarray:
    """Split ``mask`` into ``len(markers_rc)`` 4-connected regions labelled 1..k (0 outside).

    Elevation is the distance to the nearest marker measured in warped coordinates, so region
    boundaries are Voronoi edges bent by the smooth displacement field (``warp_px`` pixels), plus a
    little roughness. Every marker stays at distance 0 in its own basin, and the watershed keeps
    each region in one piece.
    """
    rows, cols = np.nonzero(mask)
    warped = np.column_stack([rows + warp_px * warp.dr[rows, cols], cols + warp_px * warp.dc[rows, cols]])
    mr, mc = markers_rc[:, 0], markers_rc[:, 1]
    warped_markers = np.column_stack([mr + warp_px * warp.dr[mr, mc], mc + warp_px * warp.dc[mr, mc]])
    distance, _ = cKDTree(warped_markers).query(warped, k=1)
    elevation = np.zeros(mask.shape, dtype=np.float32)
    elevation[rows, cols] = distance + rough_px * warp.rough[rows, cols]
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[mr, mc] = np.arange(1, len(markers_rc) + 1, dtype=np.int32)
    return watershed(elevation, markers=markers, mask=mask, connectivity=1).astype(np.int32)


def vectorize_labels(labels: np.ndarray, frame: Frame) -> dict[int, shapely.Polygon]:
    """One polygon per positive label (metres). Raises if a label is not a single piece."""
    polygons: dict[int, shapely.Polygon] = {}
    for geojson, value in features.shapes(labels, mask=labels > 0, connectivity=4, transform=frame.transform):
        label = int(value)
        if label in polygons:
            raise ValueError(f"label {label} is not one 4-connected piece")
        polygon = shapely.geometry.shape(geojson)
        if not polygon.is_valid:  # a ring touching itself at a pixel corner
            polygon = shapely.make_valid(polygon)
        polygons[label] = polygon
    # GDAL drops collinear pixel corners, so a polygon's long straight edge can miss the vertex where
    # its neighbour has a node (a T-junction): not a valid coverage. Putting a vertex back on every
    # pixel corner (integers in metres, so exact) makes neighbours share every vertex.
    labels_sorted = sorted(polygons)
    noded = shapely.segmentize(np.array([polygons[k] for k in labels_sorted], dtype=object), frame.pixel)
    return dict(zip(labels_sorted, noded))
