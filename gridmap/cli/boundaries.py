"""``gridmap validate | publish | versions | rollback``: boundary files in, versions out.

Exit codes: 0 success (no errors), 1 errors found / publish refused, 2 the file, an option or the
version asked for could not be used (the reason is printed).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import check_choice, error_line, fail, in_range, parse_field_mapping, table_lines, working

FILE = Annotated[
    Path,
    typer.Argument(metavar="FILE", help="Boundary file: zipped Shapefile, .shp, GeoPackage, GeoJSON, KML/KMZ."),
]
LAYER = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help="Layer to read (default: every polygon layer); for a DXF, the CAD layer of the boundaries."
    ),
]
LEVEL = Annotated[
    int | None,
    typer.Option(
        metavar="LEVEL",
        callback=in_range(0, 4),
        help="Level of the features: 0 county … 4 micro-grid (default: a level column or the code length).",
    ),
]
PARENT = Annotated[
    str | None, typer.Option("--parent-code", metavar="CODE", help="Code of the area this upload belongs to.")
]
CRS = Annotated[
    str | None,
    typer.Option(metavar="CRS", help="CRS of the coordinates, e.g. 4526 (default: the file's, or inferred)."),
]
ENCODING = Annotated[
    str | None,
    typer.Option(metavar="ENCODING", help="Attribute encoding of a shapefile, e.g. GBK (default: .cpg or detected)."),
]
FIELD = Annotated[
    list[str] | None,
    typer.Option(
        "--field",
        metavar="NAME=COLUMN",
        help="Column mapping, e.g. code=网格编码 (repeatable); for a DXF, code=/name= may name a CAD text layer, block attribute tag or XDATA application.",
    ),
]
SLIVER_W = Annotated[
    float,
    typer.Option(
        "--sliver-width",
        metavar="METRES",
        help="Gaps, overlaps and outside parts narrower than this are slivers: warnings (default 0.5).",
    ),
]
SLIVER_A = Annotated[
    float,
    typer.Option("--sliver-area", metavar="M2", help="… or smaller than this, in m² (default 1)."),
]
HOUSEHOLDS = Annotated[
    list[str] | None,
    typer.Option(
        "--households",
        metavar="LEVEL:MIN-MAX",
        help="Households range per area of a level (repeatable; default 4:15-60).",
    ),
]
SCHEME = Annotated[
    str | None,
    typer.Option(
        "--scheme",
        metavar="SCHEME",
        help="The county's levels and code lengths, e.g. township:9,village:12,grid:15 (no micro-grids) or "
        "乡镇:9,社区:12,网格:16; kept with the county when published (default: as published before, else the five standard levels).",
    ),
]
NO_DB = Annotated[bool, typer.Option("--no-db", help="Do not look up parents in the database.")]
BY = Annotated[str | None, typer.Option(metavar="NAME", help="Who does it (recorded; default: the login name).")]
REASON = Annotated[str | None, typer.Option(metavar="TEXT", help="Why, recorded with the new version.")]
OUTPUT = Annotated[str, typer.Option("--format", metavar="FORMAT", help="text or json (default text).")]

#: Refusals whose cause is the input (the version asked for, a missing --reason): exit 2, not 1.
UNUSABLE_INPUT = frozenset({"version_not_found", "version_has_no_areas", "reason_required"})


def _read_options(layer, crs, encoding, field):
    from gridmap.services.boundaries import ReadOptions

    return ReadOptions(layer=layer, crs=crs, encoding=encoding, fields=parse_field_mapping(field))


def _validation_options(sliver_width, sliver_area, households):
    from gridmap.geometry.partition import Tolerances
    from gridmap.geometry.policy import DEFAULT_HOUSEHOLDS
    from gridmap.geometry.validate import ValidationOptions

    ranges = dict(DEFAULT_HOUSEHOLDS)
    for item in households or []:
        try:
            level, span = item.split(":")
            low, high = span.split("-")
            ranges[int(level)] = (int(low), int(high))
        except ValueError:
            raise fail(
                f"选项 --households 的值无效：应为 层级:最小-最大，例如 4:15-60，而不是“{item}”", "invalid_option"
            ) from None
    return ValidationOptions(
        tolerances=Tolerances(sliver_width_m=sliver_width, sliver_area_m2=sliver_area), households=ranges
    )


def _unreadable(file: Path, message: str) -> str:
    """The reader's message names the file most of the time; say which file when it does not."""
    return message if file.name in message else f"无法读取 {file}：{message}"


def _engine_or_none():
    """An engine on a reachable database, or None (validation then runs on the file alone)."""
    from sqlalchemy.exc import SQLAlchemyError

    from gridmap.db.session import database_url, make_engine

    try:
        engine = make_engine(database_url())
        with engine.connect():
            return engine
    except (SQLAlchemyError, OSError, RuntimeError, ValueError):
        return None


def _emit(report: dict, areas, fmt: str, out: Path | None, default_html: Path) -> None:
    from gridmap.geometry.report import report_text

    if fmt == "json":
        text = json.dumps(report, ensure_ascii=False, indent=1)
    elif fmt == "text":
        text = report_text(report)
    else:
        from gridmap.maps.validation import write_validation_html

        path = out or default_html
        with working(f"正在写出 HTML 报告 {path.name}…"):
            write_validation_html(report, areas, path)
        typer.echo(f"HTML 报告已写入 {path}")
        return
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    else:
        typer.echo(text)


def validate(
    file: FILE,
    layer: LAYER = None,
    level: LEVEL = None,
    parent_code: PARENT = None,
    crs: CRS = None,
    encoding: ENCODING = None,
    field: FIELD = None,
    fix: Annotated[
        Path | None,
        typer.Option("--fix", metavar="PATH", help="Write a repaired copy to PATH (same format and CRS as the input)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, json or html (default text).")] = "text",
    out: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Write the report to PATH (html: default FILE.report.html)."),
    ] = None,
    sliver_width: SLIVER_W = 0.5,
    sliver_area: SLIVER_A = 1.0,
    households: HOUSEHOLDS = None,
    max_fix_area: Annotated[
        float,
        typer.Option(
            "--max-fix-area",
            metavar="M2",
            help="--fix merges gaps and overlaps up to this size (default 100); bigger ones are left.",
        ),
    ] = 100.0,
    snap: Annotated[float, typer.Option(metavar="METRES", help="--fix snapping distance (default 0.05).")] = 0.05,
    no_db: NO_DB = False,
    scheme: SCHEME = None,
) -> None:
    """Check a boundary file: geometry, codes, gaps, overlaps, nesting, policy.

    Exit codes: 0 no errors; 1 errors found; 2 the file or an option could not be used.
    """
    from gridmap.geometry.repair import RepairOptions, repair
    from gridmap.geometry.validate import analyse
    from gridmap.io.boundary_formats import BoundaryReadError, BoundaryWriteError
    from gridmap.io.boundary_writer import write_boundary_file
    from gridmap.services.boundaries import check_file, database_parents

    check_choice("--format", fmt, ("text", "json", "html"))
    read = _read_options(layer, crs, encoding, field)
    options = _validation_options(sliver_width, sliver_area, households)
    engine = None if no_db else _engine_or_none()
    conn = None
    try:
        conn = engine.connect() if engine else None
        lookup = database_parents(conn) if conn else None
        with working(f"正在校验 {file.name}…"):
            src, analysis = check_file(
                file,
                read=read,
                level=level,
                parent_code=parent_code,
                options=options,
                parent_lookup=lookup,
                live=conn,
                scheme=scheme,
            )
        if conn is None:
            analysis.report.source.setdefault("notes", []).append("未连接数据库：上级区域只在文件内查找。")
        report, areas = analysis.report, src.areas
        if fix is not None:
            with working(f"正在修复并写出 {fix.name}…"):
                fixed = repair(
                    analysis, src.areas.geometry.to_numpy(), RepairOptions(max_area_m2=max_fix_area, snap_m=snap)
                )
                written = write_boundary_file(src, fixed.geoms_4490, fix)
                areas = src.areas.set_geometry(list(fixed.geoms_4490), crs=src.areas.crs)
                after = analyse(
                    areas,
                    level=level,
                    parent_code=parent_code,
                    parent_lookup=lookup,
                    options=options,
                    source={**analysis.report.source, "fixed_file": str(written), "input_summary": report.summary()},
                    scheme=analysis.scope.scheme,
                )
            report = after.report
            report.repairs = fixed.changes
    except BoundaryReadError as exc:
        raise fail(_unreadable(file, exc.message), exc.code) from exc
    except BoundaryWriteError as exc:
        raise fail(f"无法写出修复结果 {fix}：{exc.message}", exc.code) from exc
    finally:
        if engine is not None:
            if conn is not None:
                conn.close()
            engine.dispose()
    _emit(report.to_dict(), areas, fmt, out, file.with_suffix(".report.html"))
    raise typer.Exit(0 if report.ok else 1)


def publish(
    file: FILE,
    layer: LAYER = None,
    level: LEVEL = None,
    parent_code: PARENT = None,
    crs: CRS = None,
    encoding: ENCODING = None,
    field: FIELD = None,
    by: BY = None,
    force: Annotated[bool, typer.Option("--force", help="Publish despite errors (needs --reason).")] = False,
    reason: REASON = None,
    fmt: OUTPUT = "text",
    sliver_width: SLIVER_W = 0.5,
    sliver_area: SLIVER_A = 1.0,
    households: HOUSEHOLDS = None,
    scheme: SCHEME = None,
) -> None:
    """Validate a boundary file and publish it as a new version.

    The file's subtree is replaced in one transaction and its cameras are reassigned; nothing is
    published when validation finds errors (unless --force --reason).

    Exit codes: 0 published; 1 refused (errors found, a conflict); 2 the file or an option could
    not be used.
    """
    from gridmap.db.session import engine_scope
    from gridmap.io.boundary_formats import BoundaryReadError
    from gridmap.services.boundaries import PublishRefused, publish_file

    check_choice("--format", fmt, ("text", "json"))
    with engine_scope() as engine:
        try:
            with working(f"正在校验并发布 {file.name}…"):
                result = publish_file(
                    engine,
                    file,
                    by=by or getpass.getuser(),
                    read=_read_options(layer, crs, encoding, field),
                    level=level,
                    parent_code=parent_code,
                    force=force,
                    reason=reason,
                    options=_validation_options(sliver_width, sliver_area, households),
                    scheme=scheme,
                )
        except BoundaryReadError as exc:
            raise fail(_unreadable(file, exc.message), exc.code) from exc
        except PublishRefused as exc:
            _refused(exc, fmt)
    _published(result, fmt)


def versions(
    code: Annotated[
        str | None, typer.Option(metavar="CODE", help="Only versions whose subtree contains CODE or lies in it.")
    ] = None,
    fmt: OUTPUT = "text",
) -> None:
    """List boundary versions, newest first."""
    from gridmap.db.session import engine_scope
    from gridmap.db.versions import list_versions

    check_choice("--format", fmt, ("text", "json"))
    with engine_scope() as engine, engine.connect() as conn:
        rows = list_versions(conn, code)
    if fmt == "json":
        typer.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    for line in versions_table(rows):
        typer.echo(line)


def versions_table(rows) -> list[str]:
    """The lines of ``gridmap versions``: columns sized to their widest cell in terminal columns
    (a Chinese character takes two), so 发布人 and 文件 line up whatever the names."""
    header = ("版本", "状态", "范围", "层级", "要素", "在用", "错误", "发布人", "时间", "文件 / 原因")
    body = []
    for r in rows:
        note = r.file_name or ""
        if r.restored_from:
            note += f"（恢复自版本 {r.restored_from}）"
        if r.reason:
            note += f"  原因：{r.reason}"
        body.append(
            (
                r.id,
                r.status,
                r.root_code,
                r.top_level,
                f"{r.feature_count:,}",
                f"{r.live_count:,}",
                r.errors,
                r.created_by,
                f"{r.created_at:%Y-%m-%d %H:%M}",
                note.strip(),
            )
        )
    return table_lines(header, body, "><<>>>><<<")


def rollback(
    version: Annotated[int, typer.Argument(metavar="VERSION", help="Version id to restore (see gridmap versions).")],
    by: BY = None,
    force: Annotated[bool, typer.Option("--force", help="Restore even if it no longer fits the live parents.")] = False,
    reason: REASON = None,
    fmt: OUTPUT = "text",
) -> None:
    """Make an earlier version's areas live again, recorded as a new version.

    Exit codes: 0 restored; 1 refused (a conflict, no longer fits); 2 no such version, or an option
    could not be used.
    """
    from gridmap.db.session import engine_scope
    from gridmap.services.boundaries import PublishRefused
    from gridmap.services.boundaries import rollback as do_rollback

    check_choice("--format", fmt, ("text", "json"))
    with engine_scope() as engine:
        try:
            with working(f"正在回滚到版本 {version}…"):
                result = do_rollback(engine, version, by=by or getpass.getuser(), force=force, reason=reason)
        except PublishRefused as exc:
            _refused(exc, fmt, "未回滚")
    _published(result, fmt)


def _refused(exc, fmt: str, not_done: str = "未发布") -> None:
    from gridmap.geometry.report import report_text

    if fmt == "json":
        typer.echo(
            json.dumps(
                {"published": False, "code": exc.code, "message": exc.message, "report": exc.detail},
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        if exc.detail is not None and "summary" in exc.detail:
            typer.echo(report_text(exc.detail))
        typer.echo(error_line(f"{not_done}：{exc.message}", exc.code), err=True)
    raise typer.Exit(2 if exc.code in UNUSABLE_INPUT else 1)


def _published(result, fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    s = result.report["summary"]
    typer.echo(
        f"已发布版本 {result.version_id}：范围 {result.scope.root}（第 {result.scope.top_level} 级起），"
        f"替换 {result.removed:,} 个区域为 {result.added:,} 个；范围内 {result.cameras_assigned:,} 个摄像头已重新归属网格；"
        f"校验 {s['errors']} 个错误、{s['warnings']} 个警告。"
    )
