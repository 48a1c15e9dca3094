"""The API's routers, in the order they are mounted."""

from gridmap.api.routers import areas, cameras, coverage, events, exports, health, ogc, pages, tiles, uploads

ROUTERS = [
    health.router,
    areas.router,
    cameras.router,
    coverage.router,
    exports.router,
    uploads.router,
    tiles.router,
    events.router,
    ogc.router,
    pages.router,
]
