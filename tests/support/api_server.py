"""A real uvicorn server in a background thread, for tests that talk HTTP to the API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from sqlalchemy import Engine

from gridmap.api.app import create_app
from gridmap.config import get_settings


@contextmanager
def serve(engine: Engine, **settings) -> Iterator[str]:
    """Serve the app on ``engine`` at a free localhost port; yields the base URL (no trailing /).
    ``settings`` override fields of :class:`gridmap.config.Settings` (e.g. read_access="token").
    The daily coverage snapshot is off unless a test asks for it (``snapshot_check_s``): a run
    crossing midnight (China time) must not add a day to a database other tests read."""
    settings = {"snapshot_check_s": 0, **settings}
    with serve_app(create_app(engine, get_settings().model_copy(update=settings))) as base:
        yield base


@contextmanager
def serve_app(app) -> Iterator[str]:
    """Serve ``app`` (made by the test) at a free localhost port; yields the base URL."""
    # proto=IPPROTO_TCP as uvicorn's own sockets: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    # only on connections of a socket that says it is TCP; without it, every answer on a reused
    # connection waits ~40 ms for the client's delayed ACK between its head and its body.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # A page's event stream (/events/revision) stays open: stop without waiting long for it.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test API server did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def client(base: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=60)
