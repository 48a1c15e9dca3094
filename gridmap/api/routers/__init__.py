"""The API's routers, in the order they are mounted."""

from gridmap.api.routers import (
    areas,
    cameras,
    coverage,
    events,
    exports,
    health,
    map_overlays,
    ogc,
    pages,
    plan,
    tiles,
    uploads,
    view_coverage,
)

ROUTERS = [
    health.router,
    areas.router,
    cameras.router,
    view_coverage.router,
    coverage.router,
    exports.router,
    uploads.router,
    plan.router,
    tiles.router,
    map_overlays.router,
    events.router,
    ogc.router,
    pages.router,
]
