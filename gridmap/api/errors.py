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
before any route runs: no database takes NUL in text. A value the database refuses all the same (a
NUL inside a file or a form, a number out of range: :func:`gridmap.db.session.is_bad_value`) is 422
``invalid_value``; a request body that stops arriving is 408 ``request_timeout``
(:class:`BodyIdleTimeout`). :func:`document_errors` makes the OpenAPI document say all this.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridmap.db.session import is_bad_value
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


class _ErrorJSON(JSONResponse):
    """JSON that renders whatever the refused input held: a lone surrogate (``"\\ud800"`` in a JSON
    body, echoed back in ``detail``) has no UTF-8, so such a body is sent with ASCII escapes."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(
    status: int, code: str, message: str, detail: Any | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return _ErrorJSON(
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


#: The statuses any operation may answer besides its own (the error body, JSON): a body, form
#: or address that cannot be parsed (400), and a database that cannot be reached (503).
_EVERYWHERE = {
    "400": "请求格式不正确：无法解析的请求体或表单，或地址中含有空字符（NUL）。",
    "503": "数据库暂时不可用（database_unavailable，带 Retry-After）。",
}
_ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def document_errors(spec: dict[str, Any], open_operations: Collection[tuple[str, str]] = ()) -> dict[str, Any]:
    """``spec`` (an OpenAPI document made by FastAPI) saying what the API really answers on errors:

    - every error answer (4xx/5xx) of every operation is :class:`ErrorBody` as ``application/json``
      (FastAPI documents its own ``HTTPValidationError`` for 422, and the route's media type, e.g.
      ``application/geo+json``, for the others);
    - every operation may answer 400 (:data:`_EVERYWHERE`) and 503, and 401 when it takes a token
      (a wrong, expired or revoked one is refused even where none is needed);
    - ``open_operations`` ((method, path) pairs that need no token, e.g. reading with
      ``GRIDMAP_READ_ACCESS=open``) list "no token" (``{}``) among their security requirements.
    """
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers = operation["responses"]
            extra = dict(_EVERYWHERE)
            if operation.get("security"):
                extra["401"] = (
                    "令牌无效、过期、被吊销或格式不对（token_invalid、token_expired、token_revoked、token_malformed）。"
                )
                if (method.upper(), path) in open_operations and {} not in operation["security"]:
                    operation["security"] = [*operation["security"], {}]
            for status, description in extra.items():
                if status not in answers and not (status == "503" and "503" in answers):
                    answers[status] = {"description": description}
            for status, answer in answers.items():
                if str(status)[:1] not in ("4", "5"):
                    continue
                content = answer.get("content") or {}
                schema = next((m.get("schema") for m in content.values() if m.get("schema")), None)
                if schema is None or schema.get("$ref", "").rsplit("/", 1)[-1] in ("ErrorBody", "HTTPValidationError"):
                    answer["content"] = {"application/json": {"schema": {"$ref": _ERROR_BODY_REF}}}
    text = json.dumps(spec.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'/{unused}"' not in text:
            schemas.pop(unused, None)
    return spec


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


def bad_value_response() -> JSONResponse:
    return error_response(
        422,
        "invalid_value",
        "请求或文件中有数据库无法保存的值（例如空字符 NUL、超出范围的数字或日期），本次请求未完成：请检查后重试。",
    )


def _internal(request: Request, exc: BaseException) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _internal_response()


def _internal_response() -> JSONResponse:
    return error_response(
        500,
        "internal_error",
        "服务器内部错误，本次请求未完成；请稍后重试，如果一再出现请联系管理员（服务日志中有详细原因）。",
    )


def install_error_handlers(app: FastAPI, *, body_idle_s: float = 30.0) -> None:
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
        if is_bad_value(exc):
            log.warning(
                "value refused by the database on %s %s: %s", request.method, request.url.path, _first_line(exc)
            )
            return bad_value_response()
        return _internal(request, exc)

    for kind in (DBAPIError, PoolTimeout, psycopg.Error):
        app.add_exception_handler(kind, _database)

    app.add_middleware(AnswerUnexpected)
    app.add_middleware(BodyIdleTimeout, idle_s=body_idle_s)
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
        except ClientDisconnect:  # the client went away before its body arrived whole: no one to answer
            log.info("client disconnected during %s %s", scope.get("method"), scope.get("path"))
        except Exception as exc:
            if started:  # too late for another answer: let the server close the connection
                raise
            log.error("unexpected error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            await _internal_response()(scope, receive, send)


class BodyIdleTimeout:
    """Answer 408 ``request_timeout`` when a request body stops arriving: no bytes for ``idle_s``
    seconds (a truncated upload whose client keeps the connection open, a stalled network).
    The route then sees the client as gone and its own answer is dropped. Only the body is timed:
    once it is whole, waiting for the client (an event stream) is not limited."""

    def __init__(self, app: ASGIApp, idle_s: float = 30.0):
        self.app, self.idle_s = app, idle_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        whole = answered = False

        async def receiving() -> Message:
            nonlocal whole, answered
            if whole or answered:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_s)
            except TimeoutError:
                answered = True
                log.info("request body stalled for %s s on %s %s", self.idle_s, scope.get("method"), scope.get("path"))
                await error_response(
                    408,
                    "request_timeout",
                    f"请求内容在 {self.idle_s:g} 秒内没有继续传来（上传中断？），已停止接收：请检查网络后重新上传。",
                    headers={"Connection": "close"},
                )(scope, receive, send)
                return {"type": "http.disconnect"}
            whole = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def sending(message: Message) -> None:
            if not answered:  # after a 408 the route's own answer is too late
                await send(message)

        try:
            await self.app(scope, receiving, sending)
        except Exception:
            if not answered:
                raise


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
