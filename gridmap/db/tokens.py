"""API tokens: created by the CLI, stored hashed, checked by the API.

The secret (``gm_`` + 43 URL-safe characters, 256 bits) is shown once at creation; the database
keeps its SHA-256 and its first characters (to tell tokens apart in listings). A token has a role:

- ``viewer``: reads everything (when reading needs a token at all, see GRIDMAP_READ_ACCESS);
- ``editor``: reads, and changes only areas and cameras whose code starts with its ``scope``;
- ``admin``: reads and changes everything;
- ``embed``: reads tiles and the /embed page only, and may travel in a URL (``?token=``) for
  command-centre screens that cannot send headers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gridmap.db.models import TOKEN_ROLES
from gridmap.errors import GridmapError

TOKEN_PREFIX = "gm_"
#: How many leading characters of a secret are stored to recognise it (``gm_`` + 7).
SHOWN_CHARS = 10
#: last_used_at is written at most this often per token, so tile requests do not write each time.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenError(GridmapError, ValueError):
    """A token cannot be created or changed as asked. ``code`` is stable, ``message`` Chinese."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a valid (not expired, not revoked) token."""

    token_id: int
    name: str
    role: str
    scope: str | None

    @property
    def reads_api(self) -> bool:
        """May read the JSON API and every page (embed tokens may not)."""
        return self.role in ("viewer", "editor", "admin")

    @property
    def writes(self) -> bool:
        return self.role in ("editor", "admin")

    @property
    def unrestricted(self) -> bool:
        """An admin without a scope: may change anything. An admin scoped to a city or county
        (``--scope 4116``) administers that part only, like an editor's scope."""
        return self.role == "admin" and self.scope is None

    def may_change(self, code: str | None) -> bool:
        """May change the area (or a camera of the area) with this code. Admin without a scope:
        anything; editor or scoped admin: codes starting with its scope (an editor without a scope:
        the whole database); others: nothing."""
        if self.unrestricted:
            return True
        if self.role not in ("editor", "admin") or code is None:
            return False
        return self.scope is None or code.startswith(self.scope)


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    prefix: str
    role: str
    scope: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def state(self, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(dt.UTC)
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    conn: Connection, *, name: str, role: str, scope: str | None = None, expires_at: dt.datetime | None = None
) -> tuple[str, TokenRow]:
    """Store a new token; returns its secret (shown once) and its row."""
    name = (name or "").strip()
    if not name:
        raise TokenError("name_required", "请用 --name 给令牌起一个名字（谁、哪块屏、做什么用）。")
    if role not in TOKEN_ROLES:
        raise TokenError("unknown_role", f"角色只能是 {'、'.join(TOKEN_ROLES)}，而不是 {role!r}。")
    if scope is not None and not scope.isdigit():
        raise TokenError("invalid_scope", f"范围应为区划编码前缀（只含数字），例如 411628001，而不是 {scope!r}。")
    if role == "editor" and scope is None:
        raise TokenError(
            "scope_required", "编辑令牌必须用 --scope 指定可修改的区划编码前缀（管理员令牌才可修改全部）。"
        )
    if expires_at is not None and expires_at <= dt.datetime.now(dt.UTC):
        raise TokenError("already_expired", "过期时间已经过去，请给出将来的时间。")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        text("""
        INSERT INTO api_token (name, token_hash, token_prefix, role, scope, expires_at)
        VALUES (:name, :hash, :prefix, :role, :scope, :expires)
        RETURNING id, name, token_prefix, role, scope, created_at, expires_at, revoked_at, last_used_at
    """),
        {
            "name": name,
            "hash": hash_secret(secret),
            "prefix": secret[:SHOWN_CHARS],
            "role": role,
            "scope": scope,
            "expires": expires_at,
        },
    ).one()
    return secret, TokenRow(*row)


def list_tokens(conn: Connection) -> list[TokenRow]:
    rows = conn.execute(
        text("""SELECT id, name, token_prefix, role, scope, created_at, expires_at, revoked_at,
                                       last_used_at FROM api_token ORDER BY id""")
    ).all()
    return [TokenRow(*r) for r in rows]


def revoke_token(conn: Connection, token_id: int) -> TokenRow:
    """Revoke a token (idempotent: revoking twice keeps the first time)."""
    row = conn.execute(
        text("""
        UPDATE api_token SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id
        RETURNING id, name, token_prefix, role, scope, created_at, expires_at, revoked_at, last_used_at
    """),
        {"id": token_id},
    ).one_or_none()
    if row is None:
        raise TokenError("token_not_found", f"没有编号为 {token_id} 的令牌，请用 gridmap token list 查看。")
    return TokenRow(*row)


def authenticate(conn: Connection, secret: str) -> tuple[Principal | None, str]:
    """The principal a secret stands for, and why not when it stands for none:
    ``ok``, ``unknown``, ``expired`` or ``revoked``. Records the use (at most once a minute)."""
    row = conn.execute(
        text("""
        SELECT id, name, role, scope, expires_at, revoked_at, last_used_at, now() AS now
        FROM api_token WHERE token_hash = :hash
    """),
        {"hash": hash_secret(secret)},
    ).one_or_none()
    if row is None:
        return None, "unknown"
    if row.revoked_at is not None:
        return None, "revoked"
    if row.expires_at is not None and row.expires_at <= row.now:
        return None, "expired"
    if row.last_used_at is None or row.now - row.last_used_at >= LAST_USED_RESOLUTION:
        conn.execute(text("UPDATE api_token SET last_used_at = now() WHERE id = :id"), {"id": row.id})
    return Principal(row.id, row.name, row.role, row.scope), "ok"
