"""``gridmap validate | publish | versions | rollback``: boundary files in, versions out.

Exit codes: 0 success (no errors), 1 errors found / publish refused, 2 the file or an option could
not be used (the reason is printed).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import fail, parse_field_mapping

FILE = Annotated[Path, typer.Argument(help="Boundary file: zipped Shapefile, .shp, GeoPackage, GeoJSON, KML/KMZ.")]
LAYER = Annotated[str | None, typer.Option(help="Layer to read (default: every polygon layer).")]
LEVEL = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=4,
        help="Level of the features: 0 county … 4 micro-grid (default: a level column or the code length).",
    ),
]
PARENT = Annotated[str | None, typer.Option("--parent-code", help="Code of the area this upload belongs to.")]
CRS = Annotated[str | None, typer.Option(help="CRS of the coordinates, e.g. 4526 (default: the file's, or inferred).")]
ENCODING = Annotated[
    str | None, typer.Option(help="Attribute encoding of a shapefile, e.g. GBK (default: .cpg or detected).")
]
FIELD = Annotated[
    list[str] | None, typer.Option("--field", help="Column mapping NAME=COLUMN, e.g. code=网格编码 (repeatable).")
]
SLIVER_W = Annotated[float, typer.Option("--sliver-width", help="Narrower defects are slivers (warnings), metres.")]
SLIVER_A = Annotated[float, typer.Option("--sliver-area", help="Smaller defects are slivers (warnings), m².")]
HOUSEHOLDS = Annotated[
    list[str] | None,
    typer.Option("--households", help="Households range per level LEVEL:MIN-MAX (repeatable; default 4:15-60)."),
]
NO_DB = Annotated[bool, typer.Option("--no-db", help="Do not look up parents in the database.")]


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
            raise fail(f"--households 的格式应为 层级:最小-最大（例如 4:15-60），而不是 {item!r}", 2) from None
    return ValidationOptions(
        tolerances=Tolerances(sliver_width_m=sliver_width, sliver_area_m2=sliver_area), households=ranges
    )


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
        typer.Option("--fix", help="Write a repaired copy to this path (same format and CRS as the input)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text | json | html")] = "text",
    out: Annotated[Path | None, typer.Option(help="Write the report here (html: default FILE.report.html).")] = None,
    sliver_width: SLIVER_W = 0.5,
    sliver_area: SLIVER_A = 1.0,
    households: HOUSEHOLDS = None,
    max_fix_area: Annotated[
        float,
        typer.Option("--max-fix-area", help="--fix merges gaps/overlaps up to this size, m²; bigger ones are left."),
    ] = 100.0,
    snap: Annotated[float, typer.Option(help="--fix snapping distance for coverage_clean, metres.")] = 0.05,
    no_db: NO_DB = False,
) -> None:
    """Check a boundary file: geometry, codes, gaps, overlaps, nesting, policy. Exit 0 when there are
    no errors, 1 when there are, 2 when the file cannot be read."""
    from gridmap.geometry.repair import RepairOptions, repair
    from gridmap.geometry.validate import analyse
    from gridmap.io.boundary_formats import BoundaryReadError, BoundaryWriteError
    from gridmap.io.boundary_writer import write_boundary_file
    from gridmap.services.boundaries import check_file, database_parents

    if fmt not in ("text", "json", "html"):
        raise fail(f"--format 只能是 text、json 或 html，而不是 {fmt!r}", 2)
    read = _read_options(layer, crs, encoding, field)
    options = _validation_options(sliver_width, sliver_area, households)
    engine = None if no_db else _engine_or_none()
    conn = None
    try:
        conn = engine.connect() if engine else None
        lookup = database_parents(conn) if conn else None
        src, analysis = check_file(
            file, read=read, level=level, parent_code=parent_code, options=options, parent_lookup=lookup
        )
        if conn is None:
            analysis.report.source.setdefault("notes", []).append("未连接数据库：上级区域只在文件内查找。")
        report, areas = analysis.report, src.areas
        if fix is not None:
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
            )
            report = after.report
            report.repairs = fixed.changes
    except BoundaryReadError as exc:
        raise fail(f"无法读取 {file}（{exc.code}）：{exc.message}", 2) from exc
    except BoundaryWriteError as exc:
        raise fail(f"无法写出修复结果 {fix}（{exc.code}）：{exc.message}", 2) from exc
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
    by: Annotated[str | None, typer.Option(help="Who publishes (recorded; default: the login name).")] = None,
    force: Annotated[bool, typer.Option(help="Publish despite errors (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why, recorded with the version.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
    sliver_width: SLIVER_W = 0.5,
    sliver_area: SLIVER_A = 1.0,
    households: HOUSEHOLDS = None,
) -> None:
    """Validate a boundary file and publish it as a new version, replacing its subtree in one
    transaction and re-assigning cameras. Refuses when validation finds errors."""
    from gridmap.db.session import engine_scope
    from gridmap.io.boundary_formats import BoundaryReadError
    from gridmap.services.boundaries import PublishRefused, publish_file

    with engine_scope() as engine:
        try:
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
            )
        except BoundaryReadError as exc:
            raise fail(f"无法读取 {file}（{exc.code}）：{exc.message}", 2) from exc
        except PublishRefused as exc:
            _refused(exc, fmt)
    _published(result, fmt)


def versions(
    code: Annotated[str | None, typer.Option(help="Only versions whose subtree contains or lies in CODE.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
) -> None:
    """List boundary versions, newest first."""
    from gridmap.db.session import engine_scope
    from gridmap.db.versions import list_versions

    with engine_scope() as engine, engine.connect() as conn:
        rows = list_versions(conn, code)
    if fmt == "json":
        typer.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    typer.echo(
        f"{'版本':>5}  {'状态':<11} {'范围':<18} {'层级':<4} {'要素':>7} {'在用':>7} {'错误':>4}  "
        f"{'发布人':<10} {'时间':<16}  文件 / 原因"
    )
    for r in rows:
        note = r.file_name or ""
        if r.restored_from:
            note += f"（恢复自版本 {r.restored_from}）"
        if r.reason:
            note += f"  原因：{r.reason}"
        typer.echo(
            f"{r.id:>5}  {r.status:<11} {r.root_code:<18} {'' if r.top_level is None else r.top_level:<4} "
            f"{r.feature_count:>7,} {r.live_count:>7,} {'' if r.errors is None else r.errors:>4}  "
            f"{r.created_by:<10} {r.created_at:%Y-%m-%d %H:%M}  {note}"
        )


def rollback(
    version: Annotated[int, typer.Argument(help="Version id to restore (see gridmap versions).")],
    by: Annotated[str | None, typer.Option(help="Who rolls back (recorded; default: the login name).")] = None,
    force: Annotated[bool, typer.Option(help="Restore even if it no longer fits the live parents.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why, recorded with the new version.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
) -> None:
    """Make an earlier version's areas live again (recorded as a new version)."""
    from gridmap.db.session import engine_scope
    from gridmap.services.boundaries import PublishRefused
    from gridmap.services.boundaries import rollback as do_rollback

    with engine_scope() as engine:
        try:
            result = do_rollback(engine, version, by=by or getpass.getuser(), force=force, reason=reason)
        except PublishRefused as exc:
            _refused(exc, fmt)
    _published(result, fmt)


def _refused(exc, fmt: str) -> None:
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
        typer.echo(f"gridmap: 未发布（{exc.code}）：{exc.message}", err=True)
    raise typer.Exit(1)


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
