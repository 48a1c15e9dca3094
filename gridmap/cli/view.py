"""``gridmap coverage view``: what the installed cameras see of each area (视野覆盖)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import check_choice, fail, in_range, working


def view(
    code: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="Area code: that area and its children, or with --level the areas of that level under it.",
        ),
    ] = None,
    level: Annotated[
        int | None,
        typer.Option(metavar="LEVEL", callback=in_range(0, 4), help="Level: 0 county … 4 micro-grid."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, json or csv (default table).")
    ] = "table",
    out: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write the rows to FILE instead of the terminal.")
    ] = None,
    unseen: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.gpkg|geojson",
            help="Also write the unseen parts (视野盲区) of the micro-grids under CODE (default: all) "
            "with their area in m², EPSG:4490.",
        ),
    ] = None,
    residences: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Residence/building points with a 户数/households column (any GDAL vector format): "
            "households are counted at the points instead of spread over each micro-grid.",
        ),
    ] = None,
) -> None:
    """Field-of-view coverage (视野覆盖): per area the m² and share the installed cameras' views
    cover, and the households in the seen parts (views: sectors per camera kind, GRIDMAP_VIEW_KINDS)."""
    from gridmap.config import get_settings
    from gridmap.coverage.view_formats import FORMATS, render
    from gridmap.db.session import engine_scope
    from gridmap.io.residences import read_residences
    from gridmap.services.view_coverage import view_rows

    check_choice("--format", fmt, FORMATS)
    points = read_residences(residences) if residences is not None else None
    with engine_scope() as engine, engine.connect() as conn, working("正在计算摄像头视野覆盖…"):
        try:
            rows, views = view_rows(conn, code, level, get_settings().view_kinds, residences=points)
        except KeyError:
            raise fail(f"没有编码为 {code} 的区域：请检查 --code", "unknown_code") from None
    cameras = sum(v.cameras for v in views)
    title = (
        f"摄像头视野覆盖（{cameras:,} 台已安装摄像头；户数按"
        f"{'住户点' if points is not None else '微网格面积均摊'}计；面积单位 m²）"
    )
    body = render(rows, fmt, cameras, title=title)
    if out is None:
        typer.echo(body, nl=not body.endswith("\n"))
    else:
        out.write_text(body, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        typer.echo(f"已写入 {out}（{len(rows):,} 行）")
    if unseen is not None:
        _write_unseen(views, code, unseen)


def _write_unseen(views, code: str | None, path: Path) -> None:
    import geopandas as gpd
    import numpy as np
    import pyogrio

    from gridmap.geometry.metric import to_storage

    codes, m2, geoms = [], [], []
    for v in views:
        found = v.unseen_under(code if code and len(code) >= 6 else "")
        codes += [c for c, _, _ in found]
        m2 += [round(a, 1) for _, a, _ in found]
        geoms += list(to_storage(np.array([g for _, _, g in found], dtype=object), v.crs)) if found else []
    frame = gpd.GeoDataFrame({"code": codes, "unseen_m2": m2}, geometry=geoms, crs=4490)
    suffix = path.suffix.lower()
    driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}.get(suffix)
    if driver is None:
        raise fail(f"--unseen 只支持 .gpkg 或 .geojson 文件，而不是 {path.name}", "unsupported_format")
    if path.exists():
        path.unlink()
    pyogrio.write_dataframe(frame, path, driver=driver, layer="unseen" if driver == "GPKG" else None)
    typer.echo(f"视野盲区已写入 {path}（{len(frame):,} 个微网格，共 {sum(m2):,.0f} m²）")
