"""Does a county file overlap the counties already live next to it?

"不交叉重叠" holds between counties too: a city's counties are published one by one, each by its
own office, and a county drawn over its neighbour's land would count that land (and its cameras)
twice in the city's figures. :func:`neighbour_findings` compares every county (level 0) of a
boundary file with the live counties of other codes whose boxes meet it, in metres (the
Gauss-Krüger zone of the file), and reports each overlap larger than :data:`MIN_OVERLAP_M2` as a
``county_overlap`` error: validation fails and a publish is refused. Smaller overlaps are the
slivers of a shared border digitised twice, not a reach into the neighbour.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, text

from gridmap.geometry.metric import metric_crs, to_metric, to_storage
from gridmap.geometry.report import Finding
from gridmap.io.boundary_formats import BoundaryFile
from gridmap.levels import level_of_code

#: Overlaps with a neighbouring county below this (m²) are edge slivers, not reported here.
MIN_OVERLAP_M2 = 1_000.0


def file_counties(src: BoundaryFile) -> gpd.GeoDataFrame:
    """The counties (level 0 by their level or code length) of a boundary file that have a
    geometry (EPSG:4490); an empty frame when there are none."""
    areas = src.areas
    if areas.empty or "code" not in areas:
        return areas.iloc[:0]
    codes = areas["code"].astype(str)
    is_county = np.array([level_of_code(c) == 0 for c in codes])
    if "level" in areas:
        is_county |= (areas["level"] == 0).fillna(False).to_numpy(dtype=bool)
    return areas[is_county & ~areas.geometry.isna().to_numpy()]


def neighbour_findings(conn: Connection, src: BoundaryFile) -> list[Finding]:
    """A ``county_overlap`` error per (file county, live neighbour) pair overlapping by more than
    :data:`MIN_OVERLAP_M2` m²; the geometry is the overlap (EPSG:4490)."""
    counties = file_counties(src)
    if counties.empty:
        return []
    box = shapely.box(*counties.total_bounds)
    rows = conn.execute(
        text("""SELECT code, name, ST_AsBinary(geom) FROM area
                WHERE level = 0 AND NOT code = ANY(CAST(:codes AS text[]))
                  AND geom && ST_GeomFromWKB(:box, 4490)"""),
        {"codes": counties["code"].astype(str).tolist(), "box": shapely.to_wkb(box)},
    ).all()
    if not rows:
        return []
    crs = metric_crs(counties.geometry.to_numpy())
    mine = shapely.make_valid(to_metric(counties.geometry.to_numpy(), crs))
    theirs = shapely.make_valid(to_metric(np.array([shapely.from_wkb(bytes(g)) for *_, g in rows]), crs))
    found: list[Finding] = []
    tree = shapely.STRtree(theirs)
    file_codes = counties["code"].astype(str).tolist()
    file_rows = counties.index.tolist()
    for i, j in zip(*tree.query(mine, predicate="intersects")):
        overlap = shapely.intersection(mine[i], theirs[j])
        area = float(shapely.area(overlap))
        if area < MIN_OVERLAP_M2:
            continue
        code, name = rows[j][0], rows[j][1] or rows[j][0]
        found.append(
            Finding(
                "county_overlap",
                [file_codes[i], code],
                area,
                to_storage(np.array([overlap], dtype=object), crs)[0],
                f"{file_codes[i]} 与已发布的相邻区县 {name}（{code}）重叠约 {area:,.0f} 平方米："
                "区县之间不能交叉重叠，请与相邻区县核对交界线后重新上传，未发布任何数据。",
                detail={"neighbour": code, "neighbour_name": name},
                rows=[int(file_rows[i])],
            )
        )
    return found
