"""API errors: a stable code for programs, a Chinese message for people.

Every error answer has the same JSON body::

    {"code": "area_not_found", "message": "没有编码为 … 的区域。", "detail": …}

``code`` never changes once released (clients switch on it); ``message`` is for the UI;
``detail`` is optional structured context (the validation report, the offending fields, …).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """The body of every error answer (documented in OpenAPI)."""

    code: str
    message: str
    detail: Any | None = None


class ApiError(Exception):
    """Raise from a route to answer ``status`` with a stable ``code`` and a Chinese ``message``."""

    def __init__(self, status: int, code: str, message: str, detail: Any | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.detail, self.headers = status, code, message, detail, headers


def error_response(status: int, code: str, message: str, detail: Any | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(code=code, message=message, detail=detail).model_dump(mode="json"),
                        status_code=status, headers=headers)


#: Error responses to list in OpenAPI for routes that can give them.
def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody} for s in statuses}


_HTTP_CODES = {
    404: ("not_found", "没有这个地址。"),
    405: ("method_not_allowed", "该地址不支持这种请求方法。"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg"),
                     "input": e.get("input")} for e in exc.errors()]
        where = "、".join(p["where"] for p in problems[:5])
        return error_response(422, "invalid_request", f"请求参数不正确：{where}。请检查后重试。", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))
