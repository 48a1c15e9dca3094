"""``gridmap cameras import | status | expire | outside``: camera lists and online reports in.

Exit codes: 0 every row imported / applied, 1 some rows rejected (listed), 2 the file or an option
could not be used (the reason is printed).
"""

from __future__ import annotations

import csv
import errno
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import GridmapTyper, check_choice, fail, parse_field_mapping, without_library_text, working
from gridmap.errors import GridmapError

app = GridmapTyper(
    help="Camera lists (摄像头台账): import, online/offline reports, cameras outside every area.", no_args_is_help=True
)

FORMAT = Annotated[str, typer.Option("--format", metavar="FORMAT", help="text or json (default text).")]
REJECTED = Annotated[
    Path | None,
    typer.Option(
        "--rejected",
        metavar="FILE",
        help="Write every rejected row to FILE (CSV: 行号, 设备编码, 代码, 原因, 字段, 值); the report "
        "itself lists the first GRIDMAP_MAX_REPORT_REJECTED (1,000).",
    ),
]

#: Why the system refused to read a file, for the errno values a user can meet.
_OS_REASONS = {
    errno.EACCES: "没有读取权限",
    errno.EPERM: "没有读取权限",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENOENT: "文件不存在",
}


def _check_format(fmt: str) -> None:
    check_choice("--format", fmt, ("text", "json"))


def _problems_text(problems, limit: int = 200) -> list[str]:
    lines = [f"  第 {p.row} 行 [{p.code}] {p.message}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  …… 另有 {len(problems) - limit:,} 行：用 --rejected 文件.csv 导出全部被拒绝的行")
    return lines


def _write_rejected(path: Path, problems) -> None:
    """Every rejected row to ``path`` as CSV (UTF-8 with BOM for Excel, CRLF rows, no cell that
    Excel would run as a formula); exit 2 (``cannot_write``) when it cannot be written."""
    from gridmap.coverage.formats import safe_text

    try:
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f, lineterminator="\r\n")
            writer.writerow(["行号", "设备编码", "代码", "原因", "字段", "值"])
            for p in problems:
                writer.writerow(
                    [p.row, *(safe_text(v or "") for v in (p.device_id, p.code, p.message, p.field, p.value))]
                )
    except OSError as exc:
        raise fail(f"无法写出 {path}：{exc.strerror or exc}", "cannot_write") from exc


def read_problem(exc: GridmapError, name: str) -> str:
    """The Chinese reason a camera list or report file could not be read. The readers put the
    library's own (English) words in some messages ("File is not a zip file", a CSV parser's
    complaint): those are replaced by what the file most likely is, by the exception behind them."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, GridmapError):
        return without_library_text(exc.message)
    if isinstance(cause, json.JSONDecodeError):
        return f"{name} 不是有效的 JSON：第 {cause.lineno} 行第 {cause.colno} 列有语法错误"
    if isinstance(cause, OSError) and cause.errno in _OS_REASONS:
        return f"无法读取 {name}：{_OS_REASONS[cause.errno]}"
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return (
            f"无法按 Excel（.xlsx）读取 {name}：它不是有效的 Excel 工作簿，可能是改了扩展名的其他文件，"
            "或文件已损坏、加密。请用 Excel 打开后另存为 .xlsx（或 CSV）再导入"
        )
    if suffix == ".xls":
        return (
            f"无法按 Excel 97–2003（.xls）读取 {name}：它不是有效的 .xls 工作簿，可能是改了扩展名的其他文件，"
            "或文件已损坏、加密。请用 Excel 打开后另存为 .xlsx 再导入"
        )
    if suffix in (".csv", ".txt"):
        return (
            f"无法按 CSV 读取 {name}：内容不是规整的表格（各行列数不一致，或不是文本文件）。"
            "请用 Excel 另存为“CSV UTF-8（逗号分隔）”再导入"
        )
    return f"无法读取 {name}：文件可能已损坏，或内容与扩展名不符"


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Camera list: CSV, XLSX, XLS or GeoJSON.")],
    crs: Annotated[
        str | None,
        typer.Option(
            metavar="CRS",
            help="CRS of the coordinates: wgs84, cgcs2000, gcj02 (高德/腾讯), bd09 (百度) "
            "or an EPSG code (default: cgcs2000; GeoJSON: wgs84).",
        ),
    ] = None,
    fmt: FORMAT = "text",
    field: Annotated[
        list[str] | None,
        typer.Option("--field", metavar="NAME=COLUMN", help="Column mapping, e.g. device_id=通道编码 (repeatable)."),
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(metavar="NAME", help="XLSX sheet (default: the first with camera columns).")
    ] = None,
    county: Annotated[
        str | None, typer.Option(metavar="CODE", help="County code (only when the database holds several).")
    ] = None,
    rejected: REJECTED = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Import even when another CRS fits the grids far better than the declared one (crs_mismatch).",
        ),
    ] = False,
) -> None:
    """Import a camera list: good rows are upserted by device id, bad rows listed by row number.

    Before writing, the points are checked against the grids: when another CRS (WGS84, GCJ-02,
    BD-09) fits far better than the declared one, nothing is written and the fitting --crs is named
    (exit 1; --force imports anyway).

    Exit codes: 0 every row imported; 1 some rows rejected (listed), or the CRS does not fit;
    2 the file or an option could not be used.
    """
    from gridmap.db.session import engine_scope
    from gridmap.io.cameras import CameraReadError
    from gridmap.io.crs import CrsUnknownError
    from gridmap.services.cameras import ImportRefused, import_cameras

    _check_format(fmt)
    fields = parse_field_mapping(field, "device_id=通道编码")
    if not file.exists():
        raise fail(f"文件不存在：{file}", "file_not_found")
    with engine_scope() as engine:
        try:
            with working(f"正在导入摄像头台账 {file.name}…"):
                result = import_cameras(engine, file, crs=crs, fields=fields, sheet=sheet, county=county, force=force)
        except CameraReadError as exc:
            _refused(fmt, exc.code, read_problem(exc, file.name))
        except ImportRefused as exc:
            if exc.code == "crs_mismatch":  # the work was refused (exit 1), with what fits
                _refused(fmt, exc.code, exc.message, exit_code=1, detail=exc.detail)
            _refused(fmt, exc.code, exc.message)
        except CrsUnknownError as exc:
            _refused(fmt, "crs_unknown", exc.message)
    if rejected is not None:
        _write_rejected(rejected, result.rejected)
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        c = result.counts
        typer.echo(
            f"{file.name}：{result.source_rows:,} 行，导入 {result.imported:,} 行"
            f"（新增 {c.inserted:,}，更新 {c.updated:,}，未变 {c.unchanged:,}），拒绝 {len(result.rejected):,} 行；"
            f"坐标系 {result.crs}"
        )
        for note in result.notes:
            typer.echo(f"  说明：{note}")
        for warning in result.warnings:
            typer.echo(f"警告：{warning}")
        for item in result.outside[:20]:
            typer.echo(
                f"  不在任何网格内：第 {item['row']} 行 {item['device_id']} ({item['lon']:.6f}, {item['lat']:.6f})"
            )
        if result.rejected:
            typer.echo("被拒绝的行：")
            for line in _problems_text(result.rejected):
                typer.echo(line)
    raise typer.Exit(0 if result.ok else 1)


def _refused(fmt: str, code: str, message: str, *, exit_code: int = 2, detail: object = None) -> None:
    if fmt == "json":
        body: dict[str, object] = {"ok": False, "error": code, "message": message}
        if isinstance(detail, dict):
            body.update(detail)
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2, default=str))
        raise typer.Exit(exit_code)
    raise fail(message, code, exit_code)


@app.command("status")
def status(
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="Reports: CSV, XLSX, XLS or JSON file; - reads JSON from stdin.")
    ],
    fmt: FORMAT = "text",
    rejected: REJECTED = None,
) -> None:
    """Apply online/offline reports (device id, online, time) as a video platform sends them.

    Exit codes: 0 every report applied (or ignored as stale); 1 some reports rejected (listed); 2
    the file or an option could not be used.
    """
    from gridmap.db.session import engine_scope
    from gridmap.io.cameras import CameraReadError
    from gridmap.io.status_updates import load_reports_json
    from gridmap.services.cameras import apply_status_reports

    _check_format(fmt)
    if source == "-":
        try:
            parsed = load_reports_json(sys.stdin.read())  # a list of reports: bounded as it is decoded
        except json.JSONDecodeError as exc:
            _refused(fmt, "unreadable", f"标准输入不是合法的 JSON：第 {exc.lineno} 行第 {exc.colno} 列有语法错误")
        except RecursionError:
            _refused(fmt, "unreadable", "标准输入的 JSON 嵌套层数过多：状态上报应为对象的数组。")
        except CameraReadError as exc:  # too many reports
            _refused(fmt, exc.code, exc.message)
        if not isinstance(parsed, list | dict):  # a number, string or null is no report
            _refused(fmt, "unreadable", "标准输入应为状态上报的 JSON 数组（或含 updates 数组的对象）。")
        payload: Path | list | dict = parsed
    else:
        payload = Path(source)
        if not payload.exists():
            raise fail(f"文件不存在：{source}", "file_not_found")
    with engine_scope() as engine:
        try:
            with working("正在应用状态上报…"):
                result = apply_status_reports(engine, payload)
        except CameraReadError as exc:
            _refused(fmt, exc.code, read_problem(exc, "标准输入" if source == "-" else Path(source).name))
    if rejected is not None:
        _write_rejected(rejected, result.rejected)
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(
            f"{result.source_rows:,} 条状态上报：生效 {result.applied:,}，过时忽略 {result.stale:,}，"
            f"拒绝 {len(result.rejected):,}"
        )
        for line in _problems_text(result.rejected):
            typer.echo(line)
    raise typer.Exit(0 if result.ok else 1)


@app.command("outside")
def outside(fmt: FORMAT = "text") -> None:
    """Cameras that no leaf area covers (wrong coordinates, or a gap in the grids)."""
    from gridmap.coverage.table import cameras_outside
    from gridmap.db.session import engine_scope

    _check_format(fmt)
    with engine_scope() as engine, engine.connect() as conn:
        rows = cameras_outside(conn)
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"不在任何网格内的摄像头：{len(rows):,} 个")
    for r in rows:
        typer.echo(f"  {r['device_id']} {r['name'] or ''} ({r['lon']:.6f}, {r['lat']:.6f}) {r['status']}")


@app.command("expire")
def expire(
    ttl: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Seconds after its last online report a camera counts as offline (default: GRIDMAP_STATUS_TTL).",
        ),
    ] = None,
) -> None:
    """Set offline the online cameras whose last online report is older than the time-to-live.

    For cron, when no server runs the expiry itself (a server with GRIDMAP_STATUS_TTL set does).
    """
    from gridmap.config import get_settings
    from gridmap.db.session import engine_scope
    from gridmap.services.cameras import expire_stale_statuses

    if ttl is not None and not ttl > 0:
        raise fail(f"选项 --ttl 的值无效：应为正数（秒），而不是“{ttl:g}”", "invalid_option")
    seconds = ttl if ttl is not None else get_settings().status_ttl_s
    if not seconds or seconds <= 0:
        raise fail(
            "请用 --ttl 给出秒数（例如 180：GB/T 28181 平台 3 次 60 秒心跳未到即离线），或设置 GRIDMAP_STATUS_TTL",
            "missing_option",
        )
    with engine_scope() as engine:
        expired = expire_stale_statuses(engine, seconds)
    typer.echo(f"超过 {seconds:g} 秒没有在线上报、已设为离线的摄像头：{expired:,} 个")
