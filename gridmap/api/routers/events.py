"""GET /events/revision: the data revision as a server-sent event stream, for pages on screens.

The stream sends the current revision at once, then each newer one as it is committed (``event:
revision``, ``id`` and ``data: {"revision": N}``), with keep-alive comments in between. A page
reloads its tiles with ``?v=N`` (the tile route then never answers from an older revision) and its
figures. Readable like tiles: an embed token is enough, and it may come in the URL (``?token=``:
``EventSource`` cannot send headers).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gridmap.api.deps import TileReader
from gridmap.api.errors import responses
from gridmap.api.revision_feed import RevisionFeed

#: How long a stream waits for a change before it looks whether the client is still there.
WAIT_S = 15.0
#: A stream ends after this long; the browser reconnects (after ``RETRY_MS``) and is sent the
#: revision of that moment. Keeps proxies and a stopping server from waiting on it forever.
MAX_STREAM_S = 300.0
#: How soon (ms) a browser reconnects a dropped stream.
RETRY_MS = 2000


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    feed = getattr(app.state, "revision_feed", None)
    if feed is not None:
        await feed.aclose()


router = APIRouter(tags=["events"], lifespan=_lifespan)


def revision_feed(app: FastAPI) -> RevisionFeed:
    """The app's feed, made on first use (in the loop that serves it)."""
    feed = getattr(app.state, "revision_feed", None)
    if feed is None:
        feed = app.state.revision_feed = RevisionFeed.for_engine(app.state.engine)
    return feed


@router.get("/events/revision", response_class=EventSourceResponse, responses=responses(401, 403))
async def revision_events(request: Request, principal: TileReader) -> AsyncIterator[ServerSentEvent]:
    """The data revision now and at every change (text/event-stream). Each event: `event:
    revision`, `id: N`, `data: {"revision": N}`."""
    feed = revision_feed(request.app)
    seen: int | None = None
    ends = time.monotonic() + MAX_STREAM_S
    while time.monotonic() < ends and not await request.is_disconnected():
        revision = await feed.next_after(seen, min(WAIT_S, max(0.0, ends - time.monotonic())))
        if revision is not None:
            seen = revision
            yield ServerSentEvent(data={"revision": revision}, event="revision", id=str(revision), retry=RETRY_MS)
