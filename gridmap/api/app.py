"""The FastAPI application: JSON/GeoJSON API under /api/v1, vector tiles under /tiles, the pages
(/map, /embed, /upload), health at /healthz and OpenAPI docs at /docs.

SQL lives next to the data (``gridmap.db``, ``gridmap.coverage``, ``gridmap.tiles``); the routers in
``gridmap.api.routers`` only translate HTTP to those calls and back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import signal
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from gridmap import __version__, workers
from gridmap.api.cors import Cors
from gridmap.api.deps import document_url_tokens, open_operations
from gridmap.api.errors import document_errors, install_error_handlers
from gridmap.api.limits import BodyLimit, ExportSlots, UploadSlots
from gridmap.api.revision_cache import RevisionCache
from gridmap.config import Settings, cors_origins, get_settings
from gridmap.tiles.service import TileService

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)

DESCRIPTION = """
gridmap 网格化管理与视频覆盖服务 API。

- 读取接口（区域、摄像头、覆盖率、趋势）、瓦片和页面：`GRIDMAP_READ_ACCESS=open` 时无需令牌，
  `token` 时需要查看（viewer）及以上令牌；瓦片和 /embed 也接受嵌入（embed）令牌，可放在地址 `?token=` 中。
- 修改接口（上传、发布、回滚、导入、状态上报）需要编辑（editor，限其区划编码前缀）或管理员（admin）令牌：
  `Authorization: Bearer gm_…`。令牌用 `gridmap token create` 创建。
- 出错时返回 `{"code": 稳定的英文错误码, "message": 中文说明, "detail": 详情}`。
"""


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """The app on ``engine`` (default: an engine on the configured database, created at startup and
    disposed at shutdown) with ``settings`` (default: from the environment)."""
    from gridmap.api.routers import ROUTERS
    from gridmap.api.routers.ogc import document_limits
    from gridmap.api.routers.tiles import CachedTiles

    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = None
        if getattr(app.state, "engine", None) is None:
            from gridmap.db.session import make_engine

            owned = app.state.engine = make_engine()
        # The tile service's connection pool (gridmap.tiles.service), opened here in the loop that
        # serves it; a test may have set a service of its own before serving.
        tiles = given_tiles = getattr(app.state, "tiles", None)
        if tiles is None:
            tiles = app.state.tiles = TileService(app.state.engine, check_interval=settings.tile_check_interval_s)
        await tiles.open()
        restore_signals = _stop_workers_on_signals()
        expiry = (
            asyncio.get_running_loop().create_task(_expire_statuses(app.state.engine, settings.status_ttl_s))
            if settings.status_ttl_s > 0
            else None
        )
        snapshots = (
            asyncio.get_running_loop().create_task(_daily_snapshots(app.state.engine, settings.snapshot_check_s))
            if settings.snapshot_check_s > 0
            else None
        )
        try:
            yield
        finally:
            restore_signals()
            stopped = workers.stop_all()  # uploads still being validated: stop them now
            if stopped:
                log.warning("stopped %d upload worker(s) at shutdown", stopped)
            for task in (expiry, snapshots):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await tiles.close()
            app.state.tiles = given_tiles  # a closed pool cannot be opened again
            if owned is not None:
                owned.dispose()

    # /docs is served below with the vendored Swagger UI: FastAPI's default page loads it from a CDN,
    # which an intranet cannot reach. ReDoc (CDN only) is off.
    app = FastAPI(
        title="gridmap", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.revision_cache = RevisionCache()
    app.state.upload_slots = UploadSlots(settings.upload_workers, settings.uploads_per_token)
    app.state.export_slots = ExportSlots(settings.export_workers)
    # Innermost: cached tiles skip the routing, yet every middleware below still wraps their answers.
    app.add_middleware(CachedTiles)
    install_error_handlers(app, body_idle_s=settings.body_idle_s)
    app.add_middleware(BodyLimit, max_upload_mb=settings.max_upload_mb)
    # Tiles are compressed by the tile router itself (cached gzipped); everything else here.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)  # level 9: 3× the CPU for 1% less
    origins = cors_origins(settings.cors_origins)
    if origins is not None:  # outermost: error answers of read routes carry the CORS headers too
        app.add_middleware(Cors, origins=origins)
    for router in ROUTERS:
        app.include_router(router)

    made_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_url_tokens(
                document_errors(
                    document_limits(made_openapi(), settings),
                    open_operations((r for router in ROUTERS for r in router.routes), settings),
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        assert app.openapi_url is not None  # the default one: the schema is served
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="gridmap API 文档",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body).decode())
        page.headers["X-Frame-Options"] = "DENY"  # for browsers without CSP frame-ancestors
        return page

    return app


def _stop_workers_on_signals() -> Callable[[], None]:
    """On SIGINT/SIGTERM, stop the upload workers at once (``gridmap.workers.stop_all``), then let
    uvicorn's own handler drain the requests: an upload being validated then answers 503
    ``server_stopping`` right away, instead of holding the shutdown for the whole grace period and
    getting uvicorn's bare 500. Returns how to put the previous handlers back. Only in the main
    thread (where uvicorn handles signals; a server in a test's thread has none)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(sig: int, frame: FrameType | None) -> None:
        threading.Thread(target=workers.stop_all, name="gridmap-stop-workers", daemon=True).start()
        then = previous[sig]
        if callable(then):
            then(sig, frame)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, then in previous.items():
            signal.signal(sig, then)

    return restore


async def _expire_statuses(engine: Engine, ttl_s: float) -> None:
    """The status time-to-live (``GRIDMAP_STATUS_TTL``): every quarter of it (1–30 s), cameras whose
    last online report is older go offline (one process at a time does it)."""
    from gridmap.services.cameras import expire_stale_statuses

    interval = min(max(ttl_s / 4, 1.0), 30.0)
    while True:
        await asyncio.sleep(interval)
        try:
            expired = await run_in_threadpool(expire_stale_statuses, engine, ttl_s)
        except Exception as exc:  # the database may be down for a while: try again next time
            log.warning("status expiry failed: %s", exc)
        else:
            if expired:
                log.info("status expiry: %d cameras offline (no report for %s s)", expired, ttl_s)


def take_daily_snapshot(engine: Engine) -> int | None:
    """Today's coverage snapshot unless it exists (:func:`gridmap.coverage.snapshots.take_daily_snapshot`)."""
    from gridmap.coverage.snapshots import take_daily_snapshot as take

    with engine.begin() as conn:
        return take(conn)


async def _daily_snapshots(engine: Engine, interval_s: float) -> None:
    """``GRIDMAP_SNAPSHOT_CHECK``: at startup and then every ``interval_s`` seconds, today's coverage
    snapshot when there is none yet (one process at a time; at most one a day)."""
    while True:
        try:
            written = await run_in_threadpool(take_daily_snapshot, engine)
        except Exception as exc:  # the database may be down for a while: try again next time
            log.warning("daily snapshot failed: %s", exc)
        else:
            if written:
                log.info("daily snapshot: %d areas", written)
        await asyncio.sleep(interval_s)


#: The vendored Swagger UI (gridmap/web/static/vendor/swagger-ui, served by the pages router).
SWAGGER = "/static/vendor/swagger-ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def docs_csp(html: str) -> str:
    """The Content-Security-Policy of /docs: this server only, the page's one inline script by its
    hash (FastAPI's Swagger UI page starts the UI inline), Swagger UI's inline styles, no framing."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
