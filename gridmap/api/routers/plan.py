"""The camera placement plan: POST /api/v1/plan (editor or admin; an editor or scoped admin only
for a county within its scope). The model is :mod:`gridmap.coverage.plan`, the data and the
answer :mod:`gridmap.services.plan`; the solving runs in a worker process bounded by
``GRIDMAP_PLAN_API_TIMEOUT`` (at most ``GRIDMAP_WORK_TIMEOUT``) and ``GRIDMAP_WORK_MEMORY_MB``
(:mod:`gridmap.workers`), one plan at a time: a longer plan is 422 ``validation_timeout`` (use the CLI).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gridmap.api.deps import Editor, EngineDep, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.services import plan as plan_service
from gridmap.workers import WorkLimits, run_bounded

router = APIRouter(prefix="/api/v1", tags=["plan"])
_busy = threading.Semaphore(1)


class PlanBody(BaseModel):
    """What to plan: ``budget`` new cameras in county ``code`` (default: the only county)."""

    model_config = ConfigDict(extra="forbid")

    budget: Annotated[int, Field(ge=1, le=1_000_000, description="New cameras to place (≤ GRIDMAP_PLAN_MAX_BUDGET).")]
    code: Annotated[str | None, Field(max_length=64, description="County code (6 digits).")] = None
    level: Annotated[int, Field(ge=1, le=4, description="Candidates in areas of this level (3: grids).")] = 3
    must_cover_each_grid: bool = Field(default=False, description="Every grid without an installed camera gets one.")
    objective: Literal["households", "area"] = "households"
    kind: Literal["bullet", "dome", "half_dome"] = Field(default="bullet", description="Kind of the auto candidates.")


@router.post("/plan", responses=responses(400, 401, 403, 404, 422, 429))
async def plan_cameras(request: Request, body: PlanBody, principal: Editor, engine: EngineDep, settings: SettingsDep):
    """A camera placement plan (see `gridmap plan cameras`): `sites` in the order chosen, each with
    `lon`, `lat` (EPSG:4490), `grid_code`, `direction`, `kind`, `households_newly_seen`,
    `area_newly_seen_m2`, `source`; the totals `households_newly_seen`, `optimality_gap` (a
    fraction: (LP bound − value) / LP bound), `lp_bound`, `method`, `cameras_for_every_grid`. With
    `Accept: application/geo+json`: the sites as GeoJSON points."""
    req = plan_service.PlanRequest(
        body.budget, body.code, body.level, body.must_cover_each_grid, body.objective, body.kind
    )
    if not _busy.acquire(blocking=False):
        raise ApiError(429, "too_many_plans", "已有一个布点规划正在计算：请稍后再试。", headers={"Retry-After": "30"})
    try:
        answer = await run_in_threadpool(_plan, engine, settings, principal, req)
    finally:
        _busy.release()
    if "application/geo+json" in (request.headers.get("accept") or ""):
        return JSONResponse(plan_service.plan_geojson(answer), media_type="application/geo+json")
    return JSONResponse(answer)


def _plan(engine, settings, principal, req: plan_service.PlanRequest) -> dict:
    with engine.connect() as conn:
        county = plan_service.check_request(conn, req, settings)
        if not principal.may_change(county):
            raise ApiError(
                403,
                "out_of_scope",
                f"令牌 {principal.name} 的范围是 {principal.scope}，不能为县 {county} 做布点规划。",
                {"code": county, "scope": principal.scope},
            )
        ps = plan_service.plan_settings(settings)
        inputs, crs, planned = plan_service.load_inputs(conn, county, req.level)
    cands = plan_service.candidates_for(inputs, crs, planned, req, ps)
    workdir = tempfile.mkdtemp(prefix="gridmap-plan-", dir=settings.upload_tmp_dir)
    try:
        answer, _stats = run_bounded(
            plan_service.compute,
            inputs,
            crs.to_wkt(),
            cands,
            req,
            ps,
            limits=WorkLimits(min(settings.work_timeout_s, settings.plan_api_timeout_s), settings.work_memory_mb),
            workdir=workdir,
            label="plan",
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    answer["code"] = county
    return answer
