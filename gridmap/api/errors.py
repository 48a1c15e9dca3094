"""API errors: a stable code for programs, a Chinese message for people.

Every error answer has the same JSON body (:class:`ErrorBody`, in the OpenAPI of every route)::

    {"code": "area_not_found", "message": "没有编码为 … 的区域。", "detail": …}

``code`` never changes once released (clients switch on it); ``message`` is for the UI;
``detail`` is optional structured context (the validation report, the offending fields, …).

One handler renders every :class:`gridmap.errors.GridmapError` the workflows raise (its
``http_status``, ``code``, ``message``, ``detail``, ``headers``); routes raise :class:`ApiError` (a
``GridmapError`` with an explicit status) for refusals of their own. A database that cannot be
reached answers 503 ``database_unavailable`` (JSON, ``Retry-After``) on every route; anything
unexpected answers 500 ``internal_error`` (JSON; the traceback goes to the log, never to the client).
A request whose query string or path carries a NUL character is refused (400 ``invalid_request``)
before any route runs: no database takes NUL in text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from gridmap.errors import DatabaseUnavailable, GridmapError

log = logging.getLogger("gridmap.api")


class ErrorBody(BaseModel):
    """The body of every error answer (documented in OpenAPI)."""

    code: str
    message: str
    detail: Any | None = None


class ApiError(GridmapError):
    """Raise from a route to answer ``status`` with a stable ``code`` and a Chinese ``message``."""

    def __init__(
        self, status: int, code: str, message: str, detail: Any | None = None, headers: Mapping[str, str] | None = None
    ):
        super().__init__(code, message, detail, status=status, headers=headers)


def error_response(
    status: int, code: str, message: str, detail: Any | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorBody(code=code, message=message, detail=detail).model_dump(mode="json"),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def refusal_response(exc: GridmapError) -> JSONResponse:
    """The answer to a refusal: its status, code, message, detail and headers."""
    return error_response(exc.http_status, exc.code, exc.message, exc.detail, exc.headers)


#: Error responses to list in OpenAPI for routes that can give them.
def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody} for s in statuses}


_HTTP_CODES = {
    400: ("bad_request", "请求格式不正确。"),
    404: ("not_found", "没有这个地址。"),
    405: ("method_not_allowed", "该地址不支持这种请求方法。"),
}


def _first_line(exc: BaseException) -> str | None:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else None


def _database_down(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or could not answer in time (as
    opposed to a statement that is wrong)."""
    if isinstance(exc, (OperationalError, PoolTimeout, psycopg.OperationalError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _internal(request: Request, exc: BaseException) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _internal_response()


def _internal_response() -> JSONResponse:
    return error_response(
        500,
        "internal_error",
        "服务器内部错误，本次请求未完成；请稍后重试，如果一再出现请联系管理员（服务日志中有详细原因）。",
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridmapError)
    async def _refusal(_request: Request, exc: GridmapError) -> JSONResponse:
        return refusal_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg"), "input": e.get("input")}
            for e in exc.errors()
        ]
        where = "、".join(p["where"] for p in problems[:5])
        return error_response(422, "invalid_request", f"请求参数不正确：{where}。请检查后重试。", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if _database_down(exc):
            # The driver's words stay in the log: they may name hosts, ports and roles.
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, _first_line(exc))
            return refusal_response(DatabaseUnavailable())
        return _internal(request, exc)

    for kind in (DBAPIError, PoolTimeout, psycopg.Error):
        app.add_exception_handler(kind, _database)

    app.add_middleware(AnswerUnexpected)
    app.add_middleware(RefuseNul)
    app.add_middleware(NoSniff)


class AnswerUnexpected:
    """Answer an exception no handler took with JSON 500 ``internal_error`` (the traceback goes to
    the log). Unlike an ``Exception`` handler (Starlette re-raises after it, and the server then
    drops the keep-alive connection the client is about to reuse), the connection stays usable."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # too late for another answer: let the server close the connection
                raise
            log.error("unexpected error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            await _internal_response()(scope, receive, send)


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every answer (JSON, tiles, static files, errors): a
    browser must take each as the type it is served as."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


class RefuseNul:
    """Answer 400 ``invalid_request`` to a request whose path or query string holds a NUL
    character (raw or ``%00``): PostgreSQL cannot store NUL in text, and no code or name has one."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            response = error_response(400, "invalid_request", "请求地址或参数中含有空字符（NUL, %00），已拒绝。")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return b"\x00" in query or b"%00" in query or "\x00" in scope.get("path", "")
