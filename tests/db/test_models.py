"""GeoAlchemy2 models against a real PostGIS: SRID round trips, the spatial index, constraints."""

from __future__ import annotations

import pytest
import shapely
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridmap.db.models import Area, BoundaryVersion, Camera

SQUARE = shapely.MultiPolygon([shapely.box(115.40, 33.80, 115.41, 33.81)])


def test_polygon_and_point_round_trip_with_srid(engine):
    with Session(engine) as session, session.begin():
        version = BoundaryVersion(created_by="test", root_code="999999", status="published")
        session.add(version)
        session.flush()
        session.add(
            Area(code="999999", name="测试县", level=0, geom=from_shape(SQUARE, srid=4490), version_id=version.id)
        )
        session.add(
            Camera(
                device_id="99999900001320000001",
                status="installed",
                online=True,
                geom=from_shape(shapely.Point(115.405, 33.805), srid=4490),
            )
        )
        session.flush()
        area = session.scalars(select(Area).where(Area.code == "999999")).one()
        camera = session.scalars(select(Camera).where(Camera.device_id == "99999900001320000001")).one()
        assert session.scalar(select(func.ST_SRID(Area.geom)).where(Area.id == area.id)) == 4490
        assert session.scalar(select(func.ST_SRID(Camera.geom)).where(Camera.id == camera.id)) == 4490
        assert area.geom.srid == 4490
        assert to_shape(area.geom).equals_exact(SQUARE, tolerance=0)
        assert to_shape(camera.geom).equals(shapely.Point(115.405, 33.805))
        assert session.scalar(select(func.ST_Contains(Area.geom, camera.geom)).where(Area.id == area.id))
        session.rollback()


def test_wrong_srid_is_refused(engine):
    with pytest.raises(Exception, match="SRID"), Session(engine) as session, session.begin():
        session.add(Area(code="999998", name="x", level=0, geom=from_shape(SQUARE, srid=4326)))


@pytest.mark.parametrize(
    "device_id, status, online",
    [
        ("4116280000132000001", "installed", True),  # 19 digits
        ("4116280000132000000A", "installed", True),  # not all digits
        ("41162800001320000001", "broken", False),  # unknown status
        ("41162800001320000001", "planned", True),  # online but not installed
    ],
)
def test_camera_constraints(engine, device_id, status, online):
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(
            Camera(
                device_id=device_id,
                status=status,
                online=online,
                geom=from_shape(shapely.Point(115.4, 33.8), srid=4490),
            )
        )


def test_spatial_query_uses_the_gist_index(loaded_engine):
    with loaded_engine.connect() as conn:
        conn.execute(text("ANALYZE area"))
        plan = "\n".join(
            conn.execute(
                text("""
            EXPLAIN SELECT code FROM area
            WHERE ST_Intersects(geom, ST_MakeEnvelope(115.47, 33.85, 115.48, 33.86, 4490))
        """)
            ).scalars()
        )
        assert "ix_area_geom" in plan, plan
        hits = conn.execute(
            text("""
            SELECT count(*) FROM area
            WHERE level = 4 AND ST_Intersects(geom, ST_MakeEnvelope(115.47, 33.85, 115.48, 33.86, 4490))
        """)
        ).scalar_one()
        assert 1 <= hits < 10311
