"""Conditional GETs of the read answers built from the data (``/ogc`` items and features,
``/api/v1/areas``): an ``ETag`` from the data revision, so a client that has the page already
revalidates it for a 304 instead of downloading it again.

Every write that changes what the API shows bumps ``data_revision`` (:mod:`gridmap.api.revision_cache`),
so an answer is the same for every request that names the same URL (host, path and query: the
links inside the answer are absolute), the same negotiated format and the same revision, from the
same gridmap version. The tag is weak (``W/``): the ``timeStamp`` of an OGC page differs from one
request to the next while the features do not. ``Cache-Control: no-cache`` makes clients revalidate
every time (``private`` when reading needs a token, so shared caches keep no copy); the tiles have
their own, longer-lived rules (:mod:`gridmap.api.routers.tiles`).
"""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from sqlalchemy import Connection

from gridmap import __version__
from gridmap.db.revisions import current_revision


def revision_etag(request: Request, revision: int, variant: str = "") -> str:
    """The weak ETag of the answer to ``request`` at data ``revision`` (``variant``: what else the
    answer depends on, such as the negotiated format)."""
    digest = hashlib.sha256(f"{__version__}\n{request.url}\n{variant}".encode()).hexdigest()[:20]
    return f'W/"r{revision}-{digest}"'


def cache_headers(request: Request, etag: str) -> dict[str, str]:
    """``ETag`` and ``Cache-Control`` of a revision-tagged answer."""
    scope = "private" if request.app.state.settings.read_access == "token" else "public"
    return {"ETag": etag, "Cache-Control": f"{scope}, no-cache"}


def not_modified(request: Request, etag: str, headers: dict[str, str] | None = None) -> Response | None:
    """A 304 when ``If-None-Match`` names ``etag`` (weak comparison, a list or ``*``), else None."""
    header = request.headers.get("if-none-match")
    if not header:
        return None
    wanted = etag.removeprefix("W/")
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return Response(status_code=304, headers={**cache_headers(request, etag), **(headers or {})})
    return None


def revision_check(request: Request, conn: Connection, variant: str = "") -> tuple[dict[str, str], Response | None]:
    """The caching headers of the answer to ``request`` at the revision ``conn`` sees, and the 304
    to send instead when the client has it already (None: build the answer, with the headers)."""
    headers = cache_headers(request, revision_etag(request, current_revision(conn), variant))
    return headers, not_modified(request, headers["ETag"])
