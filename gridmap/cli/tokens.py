"""``gridmap token``: create, list and revoke API tokens (see gridmap.db.tokens for the roles)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from gridmap.cli._common import fail

app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)

CHINA = dt.timezone(dt.timedelta(hours=8))


def _expiry(expires: str | None, days: int | None) -> dt.datetime | None:
    if expires and days:
        raise fail("--expires 和 --days 只能给一个。", 2)
    if days is not None:
        if days <= 0:
            raise fail("--days 必须是正整数。", 2)
        return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    if expires:
        try:
            when = dt.datetime.fromisoformat(expires)
        except ValueError:
            raise fail(
                f"--expires 应为日期或时间，例如 2027-06-30 或 2027-06-30T18:00，而不是 {expires!r}。", 2
            ) from None
        return when if when.tzinfo else when.replace(tzinfo=CHINA)  # naive times are China time
    return None


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who or what the token is for (e.g. 城关镇网格办, 指挥中心大屏1).")],
    role: Annotated[str, typer.Option(help="viewer | editor | admin | embed")] = "viewer",
    scope: Annotated[str | None, typer.Option(help="Area code prefix an editor may change, e.g. 411628001.")] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry date/time (ISO; naive = China time).")] = None,
    days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
) -> None:
    """Create a token and print its secret (shown once: only its hash is stored)."""
    from gridmap.db.session import engine_scope
    from gridmap.db.tokens import TokenError, create_token

    until = _expiry(expires, days)
    with engine_scope() as engine, engine.begin() as conn:
        try:
            secret, row = create_token(conn, name=name, role=role, scope=scope, expires_at=until)
        except TokenError as exc:
            raise fail(f"{exc.message}（{exc.code}）", 2) from exc
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "id": row.id,
                    "token": secret,
                    "name": row.name,
                    "role": row.role,
                    "scope": row.scope,
                    "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                },
                ensure_ascii=False,
            )
        )
        return
    typer.echo(secret)
    typer.echo(
        f"令牌 {row.id}（{row.name}，{row.role}{'，范围 ' + row.scope if row.scope else ''}"
        f"{'，到期 ' + row.expires_at.astimezone(CHINA).strftime('%Y-%m-%d %H:%M') if row.expires_at else ''}）"
        f"已创建。上面的密钥只显示这一次，请妥善保存。",
        err=True,
    )


@app.command("list")
def list_(fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text") -> None:
    """List tokens (never their secrets)."""
    from gridmap.db.session import engine_scope
    from gridmap.db.tokens import list_tokens

    with engine_scope() as engine, engine.connect() as conn:
        rows = list_tokens(conn)
    if fmt == "json":
        typer.echo(json.dumps([{**r.__dict__, "state": r.state()} for r in rows], ensure_ascii=False, default=str))
        return
    typer.echo(f"{'编号':>4}  {'前缀':<11} {'角色':<7} {'范围':<12} {'状态':<8} {'到期':<16} {'最近使用':<16} 名称")

    def when(t):
        return t.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if t else ""

    for r in rows:
        typer.echo(
            f"{r.id:>4}  {r.prefix:<11} {r.role:<7} {r.scope or '全部':<12} {r.state():<8} "
            f"{when(r.expires_at):<16} {when(r.last_used_at):<16} {r.name}"
        )


@app.command("revoke")
def revoke(token_id: Annotated[int, typer.Argument(help="Token number (see gridmap token list).")]) -> None:
    """Revoke a token: it stops working at once."""
    from gridmap.db.session import engine_scope
    from gridmap.db.tokens import TokenError, revoke_token

    with engine_scope() as engine, engine.begin() as conn:
        try:
            row = revoke_token(conn, token_id)
        except TokenError as exc:
            raise fail(f"{exc.message}（{exc.code}）", 2) from exc
    typer.echo(f"令牌 {row.id}（{row.name}）已吊销。")
