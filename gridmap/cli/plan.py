"""``gridmap plan cameras``: where the next cameras should go (a maximal-covering placement plan).

Exit codes: 0 the plan; 2 an option or the candidates file could not be used, or the budget is
below the number of grids without a camera (``--must-cover-each-grid``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import GridmapTyper, check_choice, fail, in_range, working

app = GridmapTyper(help="Camera placement plans (布点规划).", no_args_is_help=True)
FORMATS = ("table", "json", "csv", "xlsx", "geojson")


@app.command()
def cameras(
    budget: Annotated[int, typer.Option(metavar="N", help="How many new cameras to place.")],
    code: Annotated[str | None, typer.Option(metavar="COUNTY", help="County code (default: the only county).")] = None,
    level: Annotated[
        int,
        typer.Option(
            metavar="LEVEL", callback=in_range(1, 4), help="Candidates in areas of this level (default 3, grids)."
        ),
    ] = 3,
    must_cover_each_grid: Annotated[
        bool, typer.Option("--must-cover-each-grid", help="Every grid without an installed camera gets one.")
    ] = False,
    candidates: Annotated[
        str,
        typer.Option(
            metavar="FILE|auto",
            help="auto (a lattice in every grid, 8 directions, plus the planned cameras) or a file of points: "
            "CSV with lon/lat (EPSG:4490) and optional direction/kind, or any GDAL vector file.",
        ),
    ] = "auto",
    objective: Annotated[
        str, typer.Option(metavar="WHAT", help="households (default) or area newly seen.")
    ] = "households",
    kind: Annotated[
        str, typer.Option(metavar="KIND", help="Kind of the auto candidates: bullet, dome or half_dome.")
    ] = "bullet",
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, json, csv, xlsx or geojson.")
    ] = "table",
    out: Annotated[Path | None, typer.Option(metavar="FILE", help="Write to FILE (required for xlsx).")] = None,
) -> None:
    """Choose BUDGET camera sites that newly see the most households (or m²): the sites with their
    position (EPSG:4490), grid, direction and what each newly sees, the optimality gap against the
    LP bound, and how many cameras put one in every grid."""
    from gridmap.coverage.plan import OBJECTIVES
    from gridmap.db.session import engine_scope
    from gridmap.services.plan import PlanRequest, plan_cameras, read_candidate_file, render, write_xlsx

    check_choice("--format", fmt, FORMATS)
    check_choice("--objective", objective, OBJECTIVES)
    check_choice("--kind", kind, ("bullet", "dome", "half_dome"))
    if fmt == "xlsx" and out is None:
        raise fail("--format xlsx 需要用 --out 指定 .xlsx 文件", "missing_option")
    file = None if candidates == "auto" else read_candidate_file(Path(candidates))
    request = PlanRequest(budget, code, level, must_cover_each_grid, objective, kind)
    with working("正在规划摄像头点位…"), engine_scope() as engine, engine.connect() as conn:
        answer = plan_cameras(conn, request, file)
    if fmt == "xlsx":
        assert out is not None
        write_xlsx(answer, out)
        typer.echo(f"已写入 {out}（{len(answer['sites']):,} 个点位）")
        return
    body = _table(answer) if fmt == "table" else render(answer, fmt)
    if out is None:
        typer.echo(body)
    else:
        out.write_text(body, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        typer.echo(f"已写入 {out}（{len(answer['sites']):,} 个点位）")


def _table(answer: dict) -> str:
    gap = answer["optimality_gap"]
    lines = [
        f"县 {answer['code']}：新增 {len(answer['sites']):,} 台摄像头，新增可见 {answer['households_newly_seen']:,.1f} 户、"
        f"{answer['area_newly_seen_m2']:,.0f} 平方米",
        f"方法 {answer['method']}（{answer['solver']}），与线性松弛上界的差距 "
        + ("未知" if gap is None else f"{gap * 100:.2f}%"),
        f"让每个网格都有摄像头至少还需 {answer['cameras_for_every_grid']:,} 台",
        "",
        f"{'序号':>4}  {'经度':>12}  {'纬度':>11}  {'网格编码':<18}  {'朝向':<4}  {'新增户数':>8}  {'新增面积m²':>10}  来源",
    ]
    for s in answer["sites"]:
        lines.append(
            f"{s['rank']:>4}  {s['lon']:>12.7f}  {s['lat']:>11.7f}  {s['grid_code'] or '-':<18}  "
            f"{s['direction']['name']:<4}  {s['households_newly_seen']:>8.2f}  {s['area_newly_seen_m2']:>10.0f}  {s['source']}"
        )
    return "\n".join(lines)
