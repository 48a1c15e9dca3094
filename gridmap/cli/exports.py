"""``gridmap export areas|cameras``: the bulk exports of ``/api/v1/exports/…`` written to a file
(the same function, the same content).

Exit codes: 0 written; 2 an option could not be used (unknown level, format, CRS or area code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import GridmapTyper, fail, working

app = GridmapTyper(
    help="Bulk exports of the live data (批量导出): areas with their figures, or cameras, as "
    "GeoPackage, GeoParquet, zipped Shapefile, CSV or XLSX.",
    no_args_is_help=True,
)

OUT = Annotated[
    Path,
    typer.Option(
        metavar="FILE", help="The file to write (.gpkg, .parquet, .shp.zip, .csv or .xlsx; the format follows it)."
    ),
]
FORMAT = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="gpkg, parquet, shp (zipped Shapefile, GBK), csv or xlsx (default: from the --out file name).",
    ),
]
CRS = Annotated[
    str,
    typer.Option(
        metavar="CRS",
        help="4490 (CGCS2000 lon/lat, default) or gk (the data's CGCS2000 Gauss-Krüger zone, metres); "
        "gpkg, parquet and shp only.",
    ),
]


def _format(fmt: str | None, out: Path) -> str:
    from gridmap.io.exports import format_of_path

    chosen = fmt or format_of_path(out)
    if chosen is None:
        raise fail(
            f"无法从文件名“{out.name}”判断格式：请用 --format 指定 gpkg、parquet、shp、csv 或 xlsx", "missing_option"
        )
    return chosen


def _run(write, out: Path, what: str) -> None:
    """``write(conn)`` on one read-only snapshot of the database; then one line saying what was written."""
    from gridmap.db.session import engine_scope

    out.parent.mkdir(parents=True, exist_ok=True)
    with engine_scope() as engine, engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with working(f"正在导出{what}到 {out.name}…"):
            export = write(conn)
        conn.rollback()
    crs = f"，EPSG:{export.epsg}" if export.epsg else ""
    encoding = f"，文字编码 {export.encoding}" if export.encoding else ""
    typer.echo(f"已写入 {out}（{export.rows:,} 行{crs}{encoding}，数据版本 {export.revision}）")


@app.command()
def areas(
    level: Annotated[
        str,
        typer.Option(metavar="LEVEL", help="Level: county, township, village, grid, microgrid (or 0–4)."),
    ],
    out: OUT,
    parent: Annotated[str | None, typer.Option(metavar="CODE", help="Only the areas of LEVEL below this area.")] = None,
    fmt: FORMAT = None,
    crs: CRS = "4490",
) -> None:
    """The live areas of one level with their figures (households, planned, installed, online, rates)."""
    from gridmap.services.exports import export_areas, parse_level

    number = parse_level(level)
    chosen = _format(fmt, out)
    _run(lambda conn: export_areas(conn, level=number, parent=parent, fmt=chosen, crs=crs, out=out), out, "区域")


@app.command()
def cameras(
    out: OUT,
    area: Annotated[str | None, typer.Option(metavar="CODE", help="Only cameras in this area or below.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="STATUS", help="planned, installed or removed, comma-separated (default: all but removed)."
        ),
    ] = None,
    fmt: FORMAT = None,
    crs: CRS = "4490",
) -> None:
    """The cameras with their status, operator, area and lon/lat (EPSG:4490)."""
    from gridmap.services.exports import ExportRefused, export_cameras

    statuses = None
    if status:
        statuses = tuple(dict.fromkeys(s.strip().lower() for s in status.split(",") if s.strip()))
        wrong = [s for s in statuses if s not in ("planned", "installed", "removed")]
        if wrong or not statuses:
            raise ExportRefused("invalid_status", f"状态只能是 planned、installed、removed，而不是“{status}”。")
    chosen = _format(fmt, out)
    _run(lambda conn: export_cameras(conn, area=area, statuses=statuses, fmt=chosen, crs=crs, out=out), out, "摄像头")
