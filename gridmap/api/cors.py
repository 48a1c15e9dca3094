"""Cross-origin reading (CORS) for the read-only routes, and for nothing else.

A MapLibre GL JS or OpenLayers page on another origin (a vendor's big-screen dashboard) loads our
TileJSON, tiles and figures with ``fetch``; the browser hands it the answers only when they carry
``Access-Control-Allow-Origin``, and sends a preflight ``OPTIONS`` first when the request has an
``Authorization`` header. The rules, by path and method (``GRIDMAP_CORS_ORIGINS`` says which
origins, :func:`gridmap.config.cors_origins`):

- **Read routes** (:data:`READ_PREFIXES`: ``/tiles``, the read API under ``/api/v1`` except the
  editors' ``/api/v1/uploads`` and ``/api/v1/versions``, the event stream ``/events``, ``/ogc``,
  ``/static/vendor``) answered to ``GET``/``HEAD`` carry ``Access-Control-Allow-Origin`` (``*``, or
  the request's origin when it is in the list) and ``Access-Control-Expose-Headers``
  (:data:`EXPOSE_HEADERS`: ETag, X-Tile-Revision, …), error answers (401, 404, 422…) as well, so a
  foreign page can show their Chinese message.
- A **preflight** (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered
  here, never by a route: 204 with ``Access-Control-Allow-Methods: GET, HEAD, OPTIONS``,
  ``-Allow-Headers`` (:data:`ALLOW_HEADERS`) and ``-Max-Age`` when it asks to read a read route
  from an allowed origin; otherwise 403 ``cors_refused`` (JSON, Chinese message) *without* any
  ``Access-Control-Allow-*`` header, so the browser does not send the request.
- **Writes** (POST, PUT, PATCH, DELETE: uploads, publish, rollback, imports, status pushes) get no
  CORS header on any path: a page elsewhere cannot read their answers, and the preflight their
  ``Authorization`` header needs is refused.
- ``Vary: Origin`` on read routes whenever the answer depends on the origin (a list of origins);
  with ``*`` it does not, and a shared cache may keep one copy for every origin.

No credentials: tokens travel in ``Authorization`` or ``?token=``, never in cookies, so
``Access-Control-Allow-Credentials`` is never sent. With CORS off (``GRIDMAP_CORS_ORIGINS=none``)
the middleware is not installed and everything is as without it (a preflight then answers 405).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridmap.api.errors import error_response

#: Paths (this, or this followed by ``/`` or ``.``) whose GET/HEAD answers other origins may read.
READ_PREFIXES = ("/tiles", "/api/v1", "/events", "/ogc", "/static/vendor")
#: Paths under a read prefix that are not read routes for other origins (the editors' own).
NOT_READ = ("/api/v1/uploads", "/api/v1/versions")
READ_METHODS = ("GET", "HEAD")
ALLOW_METHODS = "GET, HEAD, OPTIONS"
#: Request headers a cross-origin read may send (besides the CORS-safelisted ones).
ALLOW_HEADERS = "Authorization, Accept, Accept-Language, If-None-Match, If-Modified-Since, Cache-Control, Last-Event-ID"
#: Answer headers a cross-origin page may read (besides the CORS-safelisted ones).
EXPOSE_HEADERS = (
    "ETag, X-Tile-Revision, X-Tile-Cache, Content-Crs, Link, Content-Disposition, Retry-After, WWW-Authenticate"
)
#: Seconds a browser may reuse an approved preflight (Chromium caps it at 7,200).
MAX_AGE = 600


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + "/", prefix + "."))


def is_read_route(path: str) -> bool:
    """Whether ``path`` is one of the routes other origins may read (any method: the method is
    checked separately)."""
    return any(_under(path, p) for p in READ_PREFIXES) and not any(_under(path, p) for p in NOT_READ)


class Cors:
    """The CORS rules of the module docstring, for ``origins``: ``("*",)`` or a tuple of
    lower-case origins (``scheme://host[:port]``)."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]):
        self.app = app
        self.any = "*" in origins
        self.origins = frozenset(origins)

    def allowed(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, or None."""
        if self.any:
            return "*"
        if origin is not None and origin.lower().rstrip("/") in self.origins:
            return origin
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        asked = headers.get(b"access-control-request-method", b"").decode("latin-1").strip().upper()
        if method == "OPTIONS" and origin is not None and asked:
            await self._preflight(scope, receive, send, path, origin, asked)
            return
        if method not in READ_METHODS or not is_read_route(path):
            await self.app(scope, receive, send)
            return
        allow = self.allowed(origin)
        added: list[tuple[bytes, bytes]] = []
        if allow is not None:
            added += [
                (b"access-control-allow-origin", allow.encode("latin-1")),
                (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            ]
        vary = not self.any

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with(list(message.get("headers", [])), added, vary)}
            await send(message)

        await self.app(scope, receive, sending)

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, path: str, origin: str, asked: str) -> None:
        allow = self.allowed(origin)
        vary = {} if self.any else {"Vary": "Origin"}
        if allow is not None and asked in READ_METHODS and is_read_route(path):
            headers = {
                "Access-Control-Allow-Origin": allow,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": str(MAX_AGE),
                **vary,
            }
            await Response(status_code=204, headers=headers)(scope, receive, send)
            return
        if allow is None:
            why = f"来源 {origin} 不在 GRIDMAP_CORS_ORIGINS 允许的范围内，不能跨域读取本服务。"
        elif asked not in READ_METHODS:
            why = f"跨域只能读取（GET、HEAD），不能用 {asked} 修改数据：请在服务端或同源页面中调用修改接口。"
        else:
            why = f"{path} 不对其他来源的页面开放，只有瓦片、TileJSON、读取接口、/ogc 和 /static/vendor 可以跨域读取。"
        detail = {"origin": origin, "method": asked, "path": path}
        await error_response(403, "cors_refused", why, detail, headers=vary)(scope, receive, send)


def _with(
    headers: list[tuple[bytes, bytes]], added: list[tuple[bytes, bytes]], vary: bool
) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``added`` (replacing any of the same name) and ``Origin`` in ``Vary``."""
    names = {name for name, _ in added}
    out = [(k, v) for k, v in headers if k.lower() not in names]
    out += added
    if vary:
        at = next((i for i, (k, _) in enumerate(out) if k.lower() == b"vary"), None)
        if at is None:
            out.append((b"vary", b"Origin"))
        elif b"origin" not in out[at][1].lower():
            out[at] = (out[at][0], out[at][1] + b", Origin")
    return out
