"""GET /healthz: is the service up and can it reach its database?"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gridmap.api.deps import EngineDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str  # ok | error
    database: str  # ok | unreachable | not_migrated
    revision: int | None = None  # data revision (changes with every publish, import, status report)
    areas: int | None = None
    latency_ms: float | None = None
    message: str | None = None


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(engine: EngineDep):
    """200 when the database answers and is migrated, 503 otherwise (for load balancers and monitors)."""
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT revision FROM data_revision WHERE id = 1")).scalar_one_or_none()
            areas = conn.execute(text("SELECT count(*) FROM area WHERE level >= 0")).scalar_one()
    except SQLAlchemyError as exc:
        missing = "data_revision" in str(exc) and "does not exist" in str(exc)
        body = Health(
            status="error",
            database="not_migrated" if missing else "unreachable",
            message="数据库未迁移：请运行 gridmap db migrate。"
            if missing
            else "无法连接数据库：请检查 GRIDMAP_DATABASE_URL 或运行 gridmap db up。",
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(
        status="ok",
        database="ok",
        revision=revision,
        areas=areas,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
    )
