"""``gridmap regions outline | list | gaps``: official outlines of provinces, cities and counties,
and the gaps and overreach of the live counties against them (:mod:`gridmap.services.region_outlines`).

Exit codes: 0 done; 2 the file, an option or the region asked for could not be used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import GridmapTyper, check_choice, fail, parse_field_mapping, table_lines, working
from gridmap.cli.boundaries import CRS, ENCODING, FIELD, LAYER

app = GridmapTyper(
    help="Regions above the county: official outlines, names, gaps between counties.", no_args_is_help=True
)


def _km2(m2: float) -> str:
    return f"{m2 / 1e6:,.3f} km²"


@app.command("outline")
def outline(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Official boundary: zipped Shapefile, .shp, GeoPackage, GeoJSON, KML/KMZ …"
        ),
    ],
    code: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="The region's code (2 province, 4 city, 6 county digits) for the whole file; "
            "default: each feature's code column.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(metavar="NAME", help="The region's name, e.g. 周口市.")] = None,
    crs: CRS = None,
    layer: LAYER = None,
    encoding: ENCODING = None,
    field: FIELD = None,
) -> None:
    """Load the official outline of a city, province or county (replacing an earlier one).

    Counties validated or published afterwards are checked against their city's and province's
    outlines (county_outside_region errors, county_gap warnings). A name given (or read from the
    file) names the region.
    """
    from gridmap.db.session import engine_scope
    from gridmap.services.region_outlines import load_outlines

    fields = parse_field_mapping(field)
    with engine_scope() as engine, working(f"正在载入官方界线 {file.name}…"):
        loaded = load_outlines(
            engine, file, code=code, name=name, layer=layer, crs=crs, encoding=encoding, fields=fields or None
        )
    for o in loaded.outlines:
        typer.echo(f"{o.code} {o.name or ''}: {_km2(o.area_m2)} ({o.source})".replace(" :", ":"))
    for note in loaded.notes:
        typer.echo(f"note: {note}", err=True)
    if loaded.renamed:
        typer.echo(f"renamed regions: {', '.join(loaded.renamed)}")


@app.command("list")
def list_regions() -> None:
    """Show the region rows (provinces, cities) with their names, and the loaded outlines."""
    from gridmap.db.region_outlines import listed_outlines, region_rows
    from gridmap.db.session import engine_scope
    from gridmap.levels import level_name

    with engine_scope() as engine, engine.connect() as conn:
        rows, outlines = region_rows(conn), listed_outlines(conn)
    typer.echo("Regions 区域:")
    table = [(c, n or "", level_name(lv), children, "yes" if has else "") for c, n, lv, children, has in rows]
    for line in table_lines(("code", "name", "level", "children", "outline"), table, "<<<><"):
        typer.echo(f"  {line}")
    typer.echo("Outlines 官方界线:")
    if not outlines:
        typer.echo("  (none)")
        return
    loaded = [(c, n or "", _km2(a), s, t) for c, n, a, s, t in outlines]
    for line in table_lines(("code", "name", "area", "source", "loaded at"), loaded, "<<><<"):
        typer.echo(f"  {line}")


@app.command("names")
def names() -> None:
    """Apply the region names now (GRIDMAP_REGION_NAMES, outlines' names), without waiting for a publish."""
    from gridmap.db.region_outlines import apply_region_names
    from gridmap.db.session import engine_scope

    with engine_scope() as engine, engine.begin() as conn:
        renamed = apply_region_names(conn)
    typer.echo(f"renamed regions: {', '.join(renamed)}" if renamed else "every region already has its name")


@app.command("gaps")
def gaps(
    code: Annotated[str, typer.Argument(metavar="CODE", help="A region with an outline loaded, e.g. 4116.")],
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text or json (default text).")] = "text",
) -> None:
    """Report a region's outline against its live counties, in m²: covered, gaps, parts outside."""
    from gridmap.db.session import engine_scope
    from gridmap.services.region_outlines import OutlineError, region_gaps

    check_choice("--format", fmt, ("text", "json"))
    with engine_scope() as engine, engine.connect() as conn:
        try:
            report = region_gaps(conn, code)
        except OutlineError as exc:
            raise fail(exc.message, exc.code) from exc
    if fmt == "json":
        typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    typer.echo(f"{report['code']} {report['name'] or ''} (outline {report['source']}, measured in {report['crs']})")
    typer.echo(f"  area      {report['area_m2']:>18,.1f} m²")
    typer.echo(f"  covered   {report['covered_m2']:>18,.1f} m²  by {len(report['counties'])} live counties")
    typer.echo(f"  uncovered {report['uncovered_m2']:>18,.1f} m²  (slivers < {report['min_gap_m2']:,.0f} m²: "
               f"{report['slivers_m2']:,.1f} m²)")  # fmt: skip
    typer.echo(f"Gaps 空白 ({len(report['gaps'])}):")
    rows = [(f"{g['area_m2']:,.1f}", "yes" if g["touching"] else "no", ", ".join(g["touches"])) for g in report["gaps"]]
    for line in table_lines(("m²", "touching", "touches"), rows, "><<"):
        typer.echo(f"  {line}")
    typer.echo(f"Outside 超出界线 ({len(report['outside'])}):")
    rows = [(o["code"], o["name"] or "", f"{o['area_m2']:,.1f}") for o in report["outside"]]
    for line in table_lines(("code", "name", "m²"), rows, "<<>"):
        typer.echo(f"  {line}")
