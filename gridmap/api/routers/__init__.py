"""The API's routers, in the order they are mounted."""

from gridmap.api.routers import areas, cameras, coverage, health, pages, tiles, uploads

ROUTERS = [health.router, areas.router, cameras.router, coverage.router, uploads.router, tiles.router,
           pages.router]
