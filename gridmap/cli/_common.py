"""What every ``gridmap`` command group shares: how a refusal is printed and exits, option parsing."""

from __future__ import annotations

import typer

from gridmap.io.fields import parse_field_items


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` to stderr; the ``typer.Exit`` to raise with ``code``."""
    typer.echo(f"gridmap: {message}", err=True)
    return typer.Exit(code)


def parse_field_mapping(items: list[str] | None, example: str = "code=网格编码") -> dict[str, str]:
    """``--field NAME=COLUMN`` options as {NAME: COLUMN}; exit 2 on a malformed one."""
    try:
        return parse_field_items(items or [])
    except ValueError as exc:
        raise fail(f"--field 的格式应为 名称=列名（例如 {example}），而不是 {exc.args[0]!r}", 2) from None
