"""FastAPI dependencies: the database, the settings, and who is asking.

Authorization (see ``gridmap.db.tokens`` for the roles):

- write endpoints depend on :func:`editor`; the workflows in ``gridmap.services.uploads`` then check every
  code they change with ``principal.may_change(code)`` (403 ``out_of_scope``);
- JSON read endpoints and the /map and /upload pages depend on :func:`reader`: open when
  ``GRIDMAP_READ_ACCESS=open``, else a viewer, editor or admin token;
- tiles and the /embed page depend on :func:`tile_reader`: like :func:`reader`, but an embed token
  is accepted too, and the token may come in the URL (``?token=``) for screens that cannot send
  headers.

A bearer token travels in ``Authorization: Bearer gm_…``; a wrong, expired or revoked token is
refused even where no token is needed, so a screen with a dead token finds out at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from gridmap.api.errors import ApiError
from gridmap.config import Settings
from gridmap.db.tokens import Principal, authenticate

_REFUSED = {
    "unknown": ("token_invalid", "令牌无效：请检查是否完整复制，或向管理员申请新令牌。"),
    "expired": ("token_expired", "令牌已过期：请向管理员申请新令牌。"),
    "revoked": ("token_revoked", "令牌已被吊销：请向管理员申请新令牌。"),
}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
#: The largest page offset a query accepts (PostgreSQL's OFFSET is a bigint): more is a 422, not a 500.
MAX_OFFSET = 2**63 - 1


# get_engine, get_settings, url_or_header_principal and tile_reader are ``async``: FastAPI runs a
# plain ``def`` dependency in the threadpool, one hop each (~0.1 ms apiece), which is most of
# the cost of a cached tile. They do not block (a token lookup goes to the threadpool).
async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """A connection for the request (read-only use; writers open their own transaction)."""
    with engine.connect() as conn:
        yield conn


#: The bearer scheme: OpenAPI's ``securitySchemes`` and the Authorize button of /docs. A missing
#: token is decided per route (reading may be open), so ``auto_error`` is off; a header that is
#: there but not ``Bearer <token>`` is refused by :func:`bearer_token`.
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="token", description="gridmap 令牌 `gm_…`（`gridmap token create` 创建）。"
)


async def bearer_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> str | None:
    """The token of the ``Authorization: Bearer …`` header, if one was sent (401 ``token_malformed``
    for another scheme or an empty token)."""
    if credentials is not None and credentials.credentials.strip():
        return credentials.credentials.strip()
    if request.headers.get("authorization"):
        raise ApiError(401, "token_malformed", "Authorization 头应为 “Bearer 令牌”。", headers=_CHALLENGE)
    return None


def _principal(engine: Engine, secret: str | None) -> Principal | None:
    if secret is None:
        return None
    with engine.begin() as conn:
        principal, why = authenticate(conn, secret)
    if principal is None:
        code, message = _REFUSED[why]
        raise ApiError(401, code, message, headers=_CHALLENGE)
    return principal


def header_principal(
    engine: Annotated[Engine, Depends(get_engine)], secret: Annotated[str | None, Depends(bearer_token)]
) -> Principal | None:
    """The token sent in the Authorization header, if any (URL tokens are not accepted here)."""
    return _principal(engine, secret)


async def url_or_header_principal(
    engine: Annotated[Engine, Depends(get_engine)],
    header: Annotated[str | None, Depends(bearer_token)],
    token: Annotated[
        str | None,
        Query(
            description="Token for screens that cannot send headers "
            "(embed or viewer; editor and admin tokens only "
            "in the Authorization header)."
        ),
    ] = None,
) -> Principal | None:
    secret = header or token
    if secret is None:
        return None
    principal = await run_in_threadpool(_principal, engine, secret)
    assert principal is not None  # None only without a secret
    if header is None and principal.writes:
        # URLs end up in access logs, browser history and screenshots: only read tokens go there.
        raise ApiError(
            401,
            "token_in_url_not_allowed",
            "编辑和管理员令牌不能放在地址中（会被记入日志）：请放在 Authorization 请求头中；"
            "大屏请使用嵌入令牌（gridmap token create --role embed）。",
            headers=_CHALLENGE,
        )
    return principal


def _needs_token(settings: Settings) -> bool:
    return settings.read_access == "token"


def reader(
    principal: Annotated[Principal | None, Depends(header_principal)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Principal | None:
    if principal is not None and not principal.reads_api:
        raise ApiError(403, "embed_token_read_only", "嵌入令牌只能用于地图瓦片和 /embed 页面。")
    if principal is None and _needs_token(settings):
        raise ApiError(
            401, "token_required", "本服务需要令牌才能查看：请在请求头中提供 Bearer 令牌。", headers=_CHALLENGE
        )
    return principal


def page_reader(
    principal: Annotated[Principal | None, Depends(url_or_header_principal)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Principal | None:
    """For /map and /upload: like :func:`reader`, but the token may come in the URL."""
    return reader(principal, settings)


async def tile_reader(
    principal: Annotated[Principal | None, Depends(url_or_header_principal)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Principal | None:
    if principal is None and _needs_token(settings):
        raise ApiError(
            401, "token_required", "本服务需要令牌才能查看地图：请在地址中加上 token=嵌入令牌。", headers=_CHALLENGE
        )
    return principal


def editor(principal: Annotated[Principal | None, Depends(header_principal)]) -> Principal:
    if principal is None:
        raise ApiError(
            401, "token_required", "修改数据需要令牌：请在请求头中提供编辑或管理员令牌（Bearer）。", headers=_CHALLENGE
        )
    if not principal.writes:
        raise ApiError(403, "role_cannot_write", f"{principal.role} 令牌只能查看，不能修改数据。")
    return principal


def admin(principal: Annotated[Principal, Depends(editor)]) -> Principal:
    if principal.role != "admin":
        raise ApiError(403, "admin_required", "此操作需要管理员令牌。")
    return principal


Conn = Annotated[Connection, Depends(get_conn)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Reader = Annotated[Principal | None, Depends(reader)]
PageReader = Annotated[Principal | None, Depends(page_reader)]
TileReader = Annotated[Principal | None, Depends(tile_reader)]
Editor = Annotated[Principal, Depends(editor)]
Admin = Annotated[Principal, Depends(admin)]


def open_operations(routes: Iterable[BaseRoute], settings: Settings) -> set[tuple[str, str]]:
    """The (method, path) of each documented route in ``routes`` that needs no token with these
    settings (the readers, when ``GRIDMAP_READ_ACCESS=open``): OpenAPI lists "no token" among
    their security requirements."""
    if _needs_token(settings):
        return set()
    readers = {reader, page_reader, tile_reader}
    return {
        (method, route.path_format)
        for route in routes
        if isinstance(route, APIRoute) and route.include_in_schema and _depends_on(route.dependant, readers)
        for method in route.methods or ()
    }


def _depends_on(dependant: Dependant, calls: set) -> bool:
    return any(d.call in calls or _depends_on(d, calls) for d in dependant.dependencies)


#: OpenAPI's name of the ``?token=`` scheme (tiles, TileJSON, /embed and the pages accept it).
URL_TOKEN_SCHEME = "token_in_url"


def document_url_tokens(spec: dict) -> dict:
    """Add the ``?token=`` query token to ``spec`` as an apiKey-in-query security scheme, listed
    on each operation that accepts it (those with a ``token`` query parameter: tiles, TileJSON,
    /events/revision, the pages): Swagger UI's Authorize button then offers it beside the bearer
    token. Only embed and viewer tokens may travel there (:func:`url_or_header_principal`)."""
    schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[URL_TOKEN_SCHEME] = {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "嵌入或查看令牌放在地址中（`?token=gm_…`），供无法设置请求头的大屏和 iframe 使用；"
        "编辑和管理员令牌只能放在 Authorization 请求头中。",
    }
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            params = operation.get("parameters", [])
            if any(p.get("in") == "query" and p.get("name") == "token" for p in params):
                security = operation.setdefault("security", [])
                requirement: dict[str, list[str]] = {URL_TOKEN_SCHEME: []}
                if requirement not in security:
                    security.insert(len([r for r in security if r]), requirement)  # before "no token" ({})
    return spec
