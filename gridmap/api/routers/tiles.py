"""Vector tiles: ``/tiles/{layer}/{z}/{x}/{y}.mvt``, TileJSON at ``/tiles/{layer}.json``, the
list of layers with the cache's figures at ``/tiles``.

Tiles are made in PostGIS from precomputed geometry (:mod:`gridmap.tiles`) and kept gzipped in
an in-process LRU; every answer says whether it came from there (``X-Tile-Cache: hit|miss``) and
the data revision it is current at (``X-Tile-Revision``). The LRU follows the data revision (read
at most every ``check_interval``, and at once when the URL names a newer one with ``?v=``, as the
pages do) and evicts the tiles a write touched (:mod:`gridmap.tiles.cache`,
:func:`gridmap.tiles.service.changed_regions`): a tile is never served from an older revision than
the one its URL names or the cache has seen.

HTTP caching: ``ETag`` (a hash of the tile, ``-gz`` appended for the gzipped form) with
``If-None-Match`` → 304; ``Cache-Control: public, max-age=60, stale-while-revalidate=600``
(``private`` instead of ``public`` when reading needs a token, so shared caches keep no copy):
a browser reuses a tile for a minute, may show it for ten more while it revalidates in the
background, and revalidating an unchanged tile costs a 304. ``Content-Encoding: gzip`` when the
client accepts it, else the plain tile; ``Vary: Accept-Encoding``. An empty tile is 204.
"""

from __future__ import annotations

import gzip
import math
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gridmap.api.deps import TileReader, bearer_scheme, bearer_token, tile_reader, url_or_header_principal
from gridmap.api.errors import ApiError, responses
from gridmap.tiles.cache import Tile
from gridmap.tiles.grid import BUFFER, EXTENT, MAX_ZOOM, tile_in_range, tolerance_m
from gridmap.tiles.layers import TileLayer
from gridmap.tiles.service import TileService

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MAX_AGE = 60
STALE_WHILE_REVALIDATE = 600


router = APIRouter(tags=["tiles"])


def tile_service(app: FastAPI) -> TileService:
    """The app's tile service, opened (and closed) by the app's lifespan (:mod:`gridmap.api.app`)."""
    service: TileService = app.state.tiles
    return service


def _layer(service: TileService, layer_id: str) -> TileLayer:
    layer = service.layers.get(layer_id)
    if layer is None:
        raise ApiError(
            404,
            "unknown_layer",
            f"没有名为 {layer_id} 的图层，可用图层：{'、'.join(service.layers)}。",
            {"layers": list(service.layers)},
        )
    return layer


def _cache_control(request: Request) -> str:
    scope = "private" if request.app.state.settings.read_access == "token" else "public"
    return f"{scope}, max-age={MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (``gzip``/``x-gzip``/``*`` with q > 0)."""
    if not header:
        return False
    quality: dict[str, float] = {}
    for part in header.lower().split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[coding] = q
    for coding in ("gzip", "x-gzip", "*"):
        if coding in quality:
            return quality[coding] > 0
    return False


def _matches(if_none_match: str, digest: str) -> bool:
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag.removesuffix("-gz") == digest:
            return True
    return False


def tile_response(request: Request, tile: Tile, hit: bool, current_at: int | None = None) -> Response:
    """The tile as HTTP. ``X-Tile-Revision``: the newest revision the tile is known to be current
    at (the cache's, for a tile that survived its evictions since it was made)."""
    revision = max(tile.revision, current_at) if current_at is not None else tile.revision
    headers = {
        "Cache-Control": _cache_control(request),
        "X-Tile-Cache": "hit" if hit else "miss",
        "X-Tile-Revision": str(revision),
        "Vary": "Accept-Encoding",
    }
    if tile.empty:
        return Response(status_code=204, headers=headers)
    gz = accepts_gzip(request.headers.get("accept-encoding"))
    headers["ETag"] = f'"{tile.digest}-gz"' if gz else f'"{tile.digest}"'
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and _matches(if_none_match, tile.digest):
        return Response(status_code=304, headers=headers)
    if gz:
        headers["Content-Encoding"] = "gzip"
        return Response(tile.gz, headers=headers, media_type=MVT_MEDIA_TYPE)
    return Response(gzip.decompress(tile.gz), headers=headers, media_type=MVT_MEDIA_TYPE)


_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "The tile (gzipped when the client accepts gzip)."},
    204: {"description": "Empty tile: no feature of the layer there."},
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
    **responses(401, 404, 503),
}


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response, responses=_TILE_RESPONSES, summary="Vector tile (MVT)"
)
async def get_tile(
    request: Request,
    principal: TileReader,
    layer: Annotated[str, Path(description="county, township, village, grid, microgrid or cameras")],
    z: Annotated[int, Path(description="zoom")],
    x: Annotated[int, Path()],
    y: Annotated[int, Path(description="row, from the top (XYZ)")],
) -> Response:
    """One Mapbox Vector Tile (EPSG:3857 XYZ / WebMercatorQuad, extent 4096, buffer 64) with one
    layer named like ``layer``. Area properties: code, name, level, rollout_rate, online_rate,
    planned, installed, online, households; camera properties: device_id, name, status, online,
    operator, area_code. Feature ids: integers below 2^53 (exact in JavaScript), one per code
    (device), the same across publishes and rollbacks; or ``promoteId: 'code'`` in MapLibre.
    See ``/tiles`` for each layer's zoom range. Errors: 404 ``unknown_layer``, ``zoom_out_of_range``, ``tile_out_of_range``;
    503 ``database_unavailable``."""
    return await _tile(request, layer, z, x, y)


async def _fast_tile(request: Request) -> Response:
    """The same endpoint as a plain Starlette route, matched first for well-formed paths: it
    runs the ``TileReader`` dependency itself instead of FastAPI's per-request dependency and
    parameter machinery (≈0.1 ms of the ≈0.5 ms of CPU a cached tile costs). The FastAPI route above
    documents the endpoint and answers the malformed paths (422) this one does not match."""
    header = await bearer_token(request, await bearer_scheme(request))
    principal = await url_or_header_principal(request.app.state.engine, header, request.query_params.get("token"))
    await tile_reader(principal, request.app.state.settings)
    p = request.path_params
    return await _tile(request, p["layer"], p["z"], p["x"], p["y"])


router.routes.insert(
    0, Route("/tiles/{layer}/{z:int}/{x:int}/{y:int}.mvt", _fast_tile, methods=["GET"], include_in_schema=False)
)


#: The path of a tile, as the routes above match it (``[^/]+`` and ``[0-9]+``, Starlette's own).
_TILE_PATH = re.compile(r"/tiles/([^/]+)/([0-9]+)/([0-9]+)/([0-9]+)\.mvt")


class CachedTiles:
    """Cached tiles answered before FastAPI's routing (ASGI middleware; :func:`gridmap.api.app.create_app`
    installs it innermost, so every other middleware — CORS, ``nosniff``, the error guards — still
    wraps its answers). A ``GET``/``HEAD`` of a tile path is answered here when the request passes
    the same checks as the route, in the same order (token from the header or the URL, then
    ``tile_reader``; layer, zoom, range; the revision check or ``?v=``) and the tile is in the
    cache; the answer is the route's own (:func:`tile_response`: ETag, 304, Cache-Control,
    X-Tile-Revision, gzip or not). Everything else — a refused token, a bad path, a miss, any
    error — goes on to the app untouched, which answers it as always. Saves the routing, the
    request's dependency machinery and the exception middleware: most of a cached tile's CPU."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not scope.get("root_path"):
            match = _TILE_PATH.fullmatch(scope["path"])
            if match is not None:
                response = await _cached_tile(Request(scope), match)
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _cached_tile(request: Request, match: re.Match[str]) -> Response | None:
    """The route's answer to ``request`` when its tile is cached and current, else None."""
    state = request.app.state
    service = tile_service(request.app)
    try:
        header = await bearer_token(request, await bearer_scheme(request))
        principal = await url_or_header_principal(state.engine, header, request.query_params.get("token"))
        await tile_reader(principal, state.settings)
        spec = service.layers.get(match[1])
        z, x, y = int(match[2]), int(match[3]), int(match[4])
        if spec is None or not spec.has_zoom(z) or not tile_in_range(z, x, y):
            return None
        await _follow_revision(service, _named_revision(request))
    except Exception:  # refused, or the database is down: the app answers it (again) as always
        return None
    current_at = service.cache.revision  # as in _tile: a tile found after this is current
    tile = service.cache.get_hit((spec.id, z, x, y))
    if tile is None:
        return None
    service.early_hits += 1
    return tile_response(request, tile, True, current_at)


async def _tile(request: Request, layer: str, z: int, x: int, y: int) -> Response:
    service = tile_service(request.app)
    spec = _layer(service, layer)
    if not spec.has_zoom(z):
        raise ApiError(
            404,
            "zoom_out_of_range",
            f"图层 {spec.id} 只在第 {spec.minzoom}–{spec.maxzoom} 级提供瓦片，没有第 {z} 级。",
            {"minzoom": spec.minzoom, "maxzoom": spec.maxzoom},
        )
    if not tile_in_range(z, x, y):
        raise ApiError(
            404,
            "tile_out_of_range",
            f"第 {z} 级的瓦片行列号应在 0–{(1 << z) - 1} 之间，没有 {x}/{y}。",
            {"z": z, "max": (1 << z) - 1},
        )
    await _follow_revision(service, _named_revision(request))
    current_at = service.cache.revision  # a cached tile found after this has survived its evictions
    tile, hit = await service.tile(spec, z, x, y)  # TileDatabaseError: 503 (gridmap.api.errors)
    return tile_response(request, tile, hit, current_at if hit else None)


async def _follow_revision(service: TileService, wanted: int | None) -> None:
    """Bring the cache up to the revision the URL names (``?v=``), or look at the data revision
    when a check is due: a cached tile found afterwards is current."""
    seen = service.cache.revision
    if wanted is not None and (seen is None or seen < wanted):
        await service.ensure_revision(wanted)
    elif service.check_due():
        await service.check_revision()


def _named_revision(request: Request) -> int | None:
    """The data revision a tile URL names (``?v=``, as the pages write it), if it is one."""
    value = request.query_params.get("v")
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _tile_url(request: Request, layer_id: str) -> str:
    token = request.query_params.get("token")
    query = "?" + urlencode({"token": token}) if token else ""
    return f"{str(request.base_url).rstrip('/')}/tiles/{layer_id}/{{z}}/{{x}}/{{y}}.mvt{query}"


def _center(bounds: tuple[float, float, float, float], layer: TileLayer) -> list[float]:
    west, south, east, north = bounds
    span = max(east - west, (north - south) * 1.2, 1e-6)
    zoom = max(layer.minzoom, min(layer.maxzoom, int(math.log2(720 / span))))
    return [round((west + east) / 2, 6), round((south + north) / 2, 6), zoom]


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0.0 of a layer", responses=responses(401, 404, 503))
async def tilejson(request: Request, principal: TileReader, layer: str) -> JSONResponse:
    """TileJSON 3.0.0 for ``layer``: the absolute tile URL template (with ``?token=`` when this
    request had one), zoom range, bounds and centre of the data, the layer's fields with their
    types (``Number``, ``String``, ``Boolean``, as GDAL, QGIS and MapLibre read them; what each
    means is in the layer's ``description`` and in ``/tiles`` as ``field_descriptions``)."""
    service = tile_service(request.app)
    spec = _layer(service, layer)
    if service.check_due():
        await service.check_revision()
    bounds = await service.bounds(spec)
    world = (-180.0, -85.051129, 180.0, 85.051129)
    body = {
        "tilejson": "3.0.0",
        "name": f"gridmap {spec.id}",
        "description": f"{spec.title}（gridmap 矢量瓦片，EPSG:3857，extent {EXTENT}）",
        "version": "1.0.0",
        "attribution": "gridmap",
        "scheme": "xyz",
        "tiles": [_tile_url(request, spec.id)],
        "minzoom": spec.minzoom,
        "maxzoom": spec.maxzoom,
        "bounds": [round(v, 6) for v in (bounds or world)],
        "center": _center(bounds, spec) if bounds else [0.0, 0.0, spec.minzoom],
        "vector_layers": [
            {
                "id": spec.id,
                "description": _layer_description(spec),
                "minzoom": spec.minzoom,
                "maxzoom": spec.maxzoom,
                "fields": dict(spec.fields),
            }
        ],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-cache"})


def _layer_description(spec: TileLayer) -> str:
    """The layer's title and what each field means (TileJSON ``fields`` hold only the types)."""
    return f"{spec.title}。" + "；".join(f"{name}：{text}" for name, text in spec.field_descriptions.items())


@router.get("/tiles", summary="Tile layers and the tile cache's figures", responses=responses(401))
async def list_layers(request: Request, principal: TileReader) -> JSONResponse:
    """The layers (zoom range, feature cap, fields with their types and ``field_descriptions``,
    URL template, TileJSON address) and the
    in-process cache: hits, misses, entries, bytes, the data revision it reflects."""
    service = tile_service(request.app)
    token = request.query_params.get("token")
    query = "?" + urlencode({"token": token}) if token else ""
    base = str(request.base_url).rstrip("/")
    layers = [
        {
            "id": spec.id,
            "title": spec.title,
            "level": spec.level,
            "minzoom": spec.minzoom,
            "maxzoom": spec.maxzoom,
            "max_features": spec.max_features,
            "fields": dict(spec.fields),
            "field_descriptions": dict(spec.field_descriptions),
            "tiles": _tile_url(request, spec.id),
            "tilejson": f"{base}/tiles/{spec.id}.json{query}",
            "simplify_tolerance_m": {z: round(tolerance_m(z), 3) for z in (spec.minzoom, MAX_ZOOM)},
        }
        for spec in service.layers.values()
    ]
    return JSONResponse(
        {
            "layers": layers,
            "extent": EXTENT,
            "buffer": BUFFER,
            "cache_control": _cache_control(request),
            "cache": service.stats(),
        },
        headers={"Cache-Control": "no-cache"},
    )
