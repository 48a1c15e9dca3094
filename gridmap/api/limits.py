"""Bounds on write requests, checked before their bodies are worked on, and on bulk exports.

- :class:`BodyLimit` (middleware): a request body larger than the upload limit
  (``GRIDMAP_MAX_UPLOAD_MB``, plus room for a form's headers) is answered 413 ``file_too_large``
  from its ``Content-Length`` alone, or as soon as a body without one grows past it; the app never
  receives (or spools to disk) more than that.
- :class:`UploadSlots` and the :func:`upload_slot` dependency: how many uploads the server works on
  at once (``GRIDMAP_UPLOAD_WORKERS``) and how many one token may have in flight
  (``GRIDMAP_UPLOADS_PER_TOKEN``); beyond either, 429 with ``Retry-After``. The dependency runs
  after the token is checked and before the body is read, so a refused request costs nothing.
- :class:`ExportSlots`: how many bulk exports the server writes at once
  (``GRIDMAP_EXPORT_WORKERS``); beyond it, 429 ``too_many_exports`` with ``Retry-After``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridmap.api.deps import Editor
from gridmap.api.errors import ApiError, error_response
from gridmap.db.tokens import Principal

MB = 1024 * 1024
#: Room for a multipart form's boundaries, part headers and small fields around the file.
FORM_OVERHEAD_BYTES = 1 * MB
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def too_large(max_upload_mb: float) -> ApiError:
    return ApiError(
        413,
        "file_too_large",
        f"文件超过 {max_upload_mb:g} MB 的上限：请拆分后分批上传，或请管理员调整 GRIDMAP_MAX_UPLOAD_MB。",
        {"max_upload_mb": max_upload_mb},
    )


class BodyLimit:
    """Refuse request bodies over ``max_upload_mb`` (+ form overhead) with 413, unread."""

    def __init__(self, app: ASGIApp, max_upload_mb: float):
        self.app, self.max_upload_mb = app, max_upload_mb
        self.limit = int(max_upload_mb * MB) + FORM_OVERHEAD_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received, over = 0, False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading; we answer below
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the app answers to a body cut short is replaced by the 413
            started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if over and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(**_fields(too_large(self.max_upload_mb)))
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _fields(exc: ApiError) -> dict[str, Any]:
    return {"status": exc.http_status, "code": exc.code, "message": exc.message, "detail": exc.detail}


class UploadSlots:
    """Counts of uploads in flight, server-wide and per token (thread-safe)."""

    def __init__(self, total: int, per_token: int):
        self.total, self.per_token = total, per_token
        self._lock = threading.Lock()
        self._running = 0
        self._by_token: Counter[str] = Counter()

    @contextmanager
    def hold(self, principal: Principal) -> Iterator[None]:
        """One slot for ``principal`` while the block runs; ``ApiError`` 429 when none is free."""
        key = str(principal.token_id if principal.token_id is not None else principal.name)
        with self._lock:
            if self._by_token[key] >= self.per_token:
                raise ApiError(
                    429,
                    "too_many_uploads",
                    f"该令牌已有 {self._by_token[key]} 个上传正在处理（上限 {self.per_token} 个）：请等上一个完成后再上传。",
                    {"in_flight": self._by_token[key], "max_per_token": self.per_token},
                    headers={"Retry-After": "10"},
                )
            if self._running >= self.total:
                raise ApiError(
                    429,
                    "server_busy",
                    f"服务器正在处理其他 {self._running} 个上传（上限 {self.total} 个）：请稍后重试。",
                    {"in_flight": self._running, "max_in_flight": self.total},
                    headers={"Retry-After": "10"},
                )
            self._running += 1
            self._by_token[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._by_token[key] -= 1
                if not self._by_token[key]:
                    del self._by_token[key]


async def upload_slot(request: Request, principal: Editor) -> AsyncIterator[Principal]:
    """The editor (or admin) asking, holding an upload slot for the request (429 when none is free)."""
    slots: UploadSlots = request.app.state.upload_slots
    with slots.hold(principal):
        yield principal


#: Write routes that read and validate a file: the token, then a slot, then the body.
UploadPrincipal = Annotated[Principal, Depends(upload_slot)]


class ExportSlots:
    """How many bulk exports (``/api/v1/exports/…``) are written at once, server-wide
    (``GRIDMAP_EXPORT_WORKERS``): each holds a table and its file in memory for a second or so;
    beyond the limit, 429 ``too_many_exports`` with ``Retry-After`` (thread-safe)."""

    def __init__(self, total: int):
        self.total = total
        self._lock = threading.Lock()
        self._running = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            if self._running >= self.total:
                raise ApiError(
                    429,
                    "too_many_exports",
                    f"服务器正在生成其他 {self._running} 个导出文件（上限 {self.total} 个）：请稍后重试。",
                    {"in_flight": self._running, "max_in_flight": self.total},
                    headers={"Retry-After": "5"},
                )
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
