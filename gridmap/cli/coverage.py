"""``gridmap coverage [blind | snapshot | trend]``: camera coverage per area, blind grids, history.

Exit codes: 0 success (verify: the figures agree), 1 verify found differences, 2 an option could
not be used (unknown code, level or format).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import GridmapTyper, check_choice, fail, in_range, working

app = GridmapTyper(
    help="Camera coverage (覆盖统计): planned / installed / online and rates per area.\n\n"
    "Without a command: the coverage table (the county and its townships, or --level / --code).",
    invoke_without_command=True,
)

LEVEL = Annotated[
    int | None,
    typer.Option(
        metavar="LEVEL",
        callback=in_range(0, 4),
        help="Level: 0 county, 1 township, 2 village, 3 grid, 4 micro-grid.",
    ),
]
CODE = Annotated[
    str | None,
    typer.Option(
        metavar="CODE", help="Area code: that area and its children, or with --level the areas of that level under it."
    ),
]
TABLE_FORMAT = Annotated[
    str, typer.Option("--format", metavar="FORMAT", help="text, json, csv or xlsx (default text).")
]
OUT = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Write to FILE instead of the terminal (required for xlsx)."),
]


def _rows(kind: str, **kwargs):
    """The stored rows (``coverage_rows`` or ``blind_rows``) for the CLI's options."""
    from gridmap.coverage.table import blind_rows, coverage_rows
    from gridmap.db.session import engine_scope

    with engine_scope() as engine, engine.connect() as conn:
        try:
            return (coverage_rows if kind == "rows" else blind_rows)(conn, **kwargs)
        except KeyError:
            raise fail(f"没有编码为 {kwargs.get('code')} 的区域：请检查 --code", "unknown_code") from None


def _view_figures(code: str | None):
    """The field-of-view rows by code for ``--view`` (the counties ``code`` spans)."""
    from gridmap.config import get_settings
    from gridmap.db.session import engine_scope
    from gridmap.services.view_coverage import view_figures

    with engine_scope() as engine, engine.connect() as conn:
        return view_figures(conn, code, get_settings().view_kinds)


def _write(rows, fmt: str, out: Path | None, title: str, view=None) -> None:
    from gridmap.coverage.formats import FORMATS, render, write_xlsx

    check_choice("--format", fmt, tuple(FORMATS))
    if fmt == "xlsx":
        if out is None:
            raise fail("--format xlsx 需要用 --out 指定 .xlsx 文件", "missing_option")
        write_xlsx(rows, out, view)
        typer.echo(f"已写入 {out}（{len(rows):,} 行）")
        return
    body = render(rows, fmt, title=title, view=view)
    if out is None:
        typer.echo(body, nl=not body.endswith("\n"))
    else:
        out.write_text(body, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        typer.echo(f"已写入 {out}（{len(rows):,} 行）")


@app.callback()
def coverage(
    ctx: typer.Context,
    level: LEVEL = None,
    code: CODE = None,
    fmt: TABLE_FORMAT = "text",
    out: OUT = None,
    view: Annotated[
        bool,
        typer.Option(
            "--view",
            help="Add the field-of-view columns (视野覆盖面积 m², 视野覆盖率, 视野内户数, 视野内户数占比): "
            "about a second per county.",
        ),
    ] = False,
) -> None:
    """Coverage table: without options the county and its townships."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _rows("rows", level=level, code=code)
    figures = _view_figures(code) if view else None
    title = "摄像头覆盖统计（安装率 = 已安装 / 计划，上云率 = 在线 / 已安装）"
    _write(rows, fmt, out, title + ("；视野覆盖 = 摄像头视野覆盖的面积占比" if view else ""), figures)


@app.command()
def blind(
    level: Annotated[
        int,
        typer.Option(
            metavar="LEVEL", callback=in_range(0, 4), help="Level: 0 county … 4 micro-grid (default 3, grids)."
        ),
    ] = 3,
    code: Annotated[str | None, typer.Option(metavar="CODE", help="Only areas under this code.")] = None,
    fmt: TABLE_FORMAT = "text",
    out: OUT = None,
) -> None:
    """Areas with no installed camera (盲区): the grids "覆盖到每个网格" still misses."""
    rows, total = _rows("blind", level=level, code=code)
    _write(rows, fmt, out, f"无已安装摄像头的区域：{len(rows):,} / {total:,}")


@app.command()
def snapshot(
    date: Annotated[
        str | None, typer.Option(metavar="YYYY-MM-DD", help="Snapshot date (default: today, China time).")
    ] = None,
) -> None:
    """Store today's coverage of every area (re-running the same day replaces it)."""
    from gridmap.coverage.snapshots import take_snapshot, today_in_china
    from gridmap.db.session import engine_scope

    day = _date(date, "--date") or today_in_china()
    with engine_scope() as engine, engine.begin() as conn:
        n = take_snapshot(conn, day)
    typer.echo(f"{day.isoformat()}：已保存 {n:,} 个区域的覆盖快照")


@app.command()
def verify(
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild every stored figure, tile row and label row when they disagree.")
    ] = False,
) -> None:
    """Check the stored figures, tile rows and label rows against a recomputation from scratch.

    The stored figures are moved by every write; this recomputes them independently.

    Exit codes: 0 they agree exactly; 1 they differ (listed; with --repair, rebuilt).
    """
    from gridmap.coverage.table import differences
    from gridmap.db.labels import label_differences
    from gridmap.db.session import engine_scope
    from gridmap.services.changes import record_change
    from gridmap.tiles.store import tile_differences

    with engine_scope() as engine:
        with working("正在从头重算覆盖统计、瓦片数据和名称位置并比对…"), engine.connect() as conn:
            found = differences(conn) + tile_differences(conn) + label_differences(conn)
        if not found:
            typer.echo("一致：存储的覆盖统计、瓦片数据和名称位置与从头重算的结果完全相同。")
            return
        typer.echo(f"不一致（列出前 {len(found)} 处）：")
        for line in found:
            typer.echo(f"  {line}")
        if repair:
            with working("正在重建覆盖统计、瓦片数据和名称位置…"), engine.begin() as conn:
                revision = record_change(conn, "repair", everything=True)
            typer.echo(f"已从头重建覆盖统计、瓦片数据和名称位置（数据版本 {revision}）。")
    raise typer.Exit(1)


@app.command()
def trend(
    code: Annotated[str, typer.Argument(metavar="CODE", help="Area code.")],
    since: Annotated[str | None, typer.Option("--from", metavar="YYYY-MM-DD", help="First date.")] = None,
    until: Annotated[str | None, typer.Option("--to", metavar="YYYY-MM-DD", help="Last date.")] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, json or csv (default text).")] = "text",
) -> None:
    """An area's coverage over time, from the daily snapshots."""
    from gridmap.coverage.rates import percent
    from gridmap.coverage.snapshots import trend as read_trend
    from gridmap.db.session import engine_scope

    check_choice("--format", fmt, ("text", "json", "csv"))
    with engine_scope() as engine, engine.connect() as conn:
        points = read_trend(conn, code, _date(since, "--from"), _date(until, "--to"))
    if fmt == "json":
        typer.echo(json.dumps([p.to_dict() for p in points], ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        typer.echo("date,planned,installed,online,rollout_rate,online_rate")
        for p in points:
            typer.echo(
                f"{p.day},{p.planned},{p.installed},{p.online},"
                f"{'' if p.rollout_rate is None else percent(p.rollout_rate)},"
                f"{'' if p.online_rate is None else percent(p.online_rate)}"
            )
        return
    if not points:
        typer.echo(f"{code} 还没有快照：用 gridmap coverage snapshot 每天保存一次。")
        return
    typer.echo("日期        计划数  已安装    在线   安装率   上云率")
    for p in points:
        typer.echo(
            f"{p.day}  {p.planned:>6,}  {p.installed:>6,}  {p.online:>6,}  "
            f"{percent(p.rollout_rate):>7}  {percent(p.online_rate):>7}"
        )


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"选项 {option} 的值无效：应为 YYYY-MM-DD 格式的日期，而不是“{value}”", "invalid_option") from None


from gridmap.cli.view import view as _view  # noqa: E402  (its own module: the command is long)

app.command("view")(_view)
