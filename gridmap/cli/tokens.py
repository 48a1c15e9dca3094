"""``gridmap token``: create, list and revoke API tokens (see gridmap.db.tokens for the roles)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from gridmap.cli._common import GridmapTyper, check_choice, fail, table_lines

app = GridmapTyper(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)

CHINA = dt.timezone(dt.timedelta(hours=8))
FORMAT = Annotated[str, typer.Option("--format", metavar="FORMAT", help="text or json (default text).")]


def _expiry(expires: str | None, days: int | None) -> dt.datetime | None:
    if expires and days:
        raise fail("--expires 和 --days 只能给一个", "conflicting_options")
    if days is not None:
        if days <= 0:
            raise fail(f"选项 --days 的值无效：应为正整数，而不是“{days}”", "invalid_option")
        return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    if expires:
        try:
            when = dt.datetime.fromisoformat(expires)
        except ValueError:
            raise fail(
                f"选项 --expires 的值无效：应为日期或时间，例如 2027-06-30 或 2027-06-30T18:00，而不是“{expires}”",
                "invalid_option",
            ) from None
        return when if when.tzinfo else when.replace(tzinfo=CHINA)  # naive times are China time
    return None


@app.command("create")
def create(
    name: Annotated[
        str, typer.Option(metavar="TEXT", help="Who or what the token is for (e.g. 城关镇网格办, 指挥中心大屏1).")
    ],
    role: Annotated[str, typer.Option(metavar="ROLE", help="viewer (the default), editor, admin or embed.")] = "viewer",
    scope: Annotated[
        str | None, typer.Option(metavar="CODE", help="Area code prefix an editor may change, e.g. 411628001.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(metavar="DATE", help="Expiry date or time, e.g. 2027-06-30 (China time).")
    ] = None,
    days: Annotated[int | None, typer.Option(metavar="N", help="Expire after N days.")] = None,
    fmt: FORMAT = "text",
) -> None:
    """Create a token and print its secret (shown once: only its hash is stored)."""
    from gridmap.db.session import engine_scope
    from gridmap.db.tokens import TokenError, create_token

    check_choice("--format", fmt, ("text", "json"))
    until = _expiry(expires, days)
    with engine_scope() as engine, engine.begin() as conn:
        try:
            secret, row = create_token(conn, name=name, role=role, scope=scope, expires_at=until)
        except TokenError as exc:
            raise fail(exc.message, exc.code) from exc
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
def list_(fmt: FORMAT = "text") -> None:
    """List tokens (never their secrets)."""
    from gridmap.db.session import engine_scope
    from gridmap.db.tokens import list_tokens

    check_choice("--format", fmt, ("text", "json"))
    with engine_scope() as engine, engine.connect() as conn:
        rows = list_tokens(conn)
    if fmt == "json":
        typer.echo(json.dumps([{**r.__dict__, "state": r.state()} for r in rows], ensure_ascii=False, default=str))
        return

    def when(t):
        return t.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if t else ""

    header = ("编号", "前缀", "角色", "范围", "状态", "到期", "最近使用", "名称")
    body = [
        (r.id, r.prefix, r.role, r.scope or "全部", r.state(), when(r.expires_at), when(r.last_used_at), r.name)
        for r in rows
    ]
    for line in table_lines(header, body, "><<<<<<<"):
        typer.echo(line)


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="NUMBER", help="Token number (see gridmap token list).")],
) -> None:
    """Revoke a token: it stops working at once."""
    from gridmap.db.session import engine_scope
    from gridmap.db.tokens import TokenError, revoke_token

    with engine_scope() as engine, engine.begin() as conn:
        try:
            row = revoke_token(conn, token_id)
        except TokenError as exc:
            raise fail(exc.message, exc.code) from exc
    typer.echo(f"令牌 {row.id}（{row.name}）已吊销。")
