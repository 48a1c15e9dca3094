"""The ``gridmap`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import make_url

from gridmap.cli import boundaries as cli_boundaries
from gridmap.cli import cameras as cli_cameras
from gridmap.cli import coverage as cli_coverage
from gridmap.cli import exports as cli_exports
from gridmap.cli import plan as cli_plan
from gridmap.cli import regions as cli_regions
from gridmap.cli import tiles as cli_tiles
from gridmap.cli import tokens as cli_tokens
from gridmap.cli._common import GridmapTyper, error_line, fail, in_range, pad, working
from gridmap.cli._errors import local_cluster_failed
from gridmap.config import get_settings
from gridmap.coverage.rates import percent
from gridmap.levels import LEVELS

app = GridmapTyper(
    name="gridmap",
    help="gridmap: county grid maps and video coverage (网格化管理 / 数字乡村).\n\n"
    "\b\n"  # click: keep the lines of this paragraph as written
    "Exit codes: 0 done; 1 errors found, or the work was refused;\n"
    "            2 a file or an option could not be used.\n"
    "Errors are one line on stderr: gridmap: 中文说明（stable_code）",
    no_args_is_help=True,
)
db_app = GridmapTyper(help="The PostGIS database: bring it up, stop it, migrate it.", no_args_is_help=True)
sample_app = GridmapTyper(help="The sample county (鹿邑县, 411628) in data/.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sample_app, name="sample")
app.add_typer(cli_cameras.app, name="cameras")
app.add_typer(cli_coverage.app, name="coverage")
app.add_typer(cli_exports.app, name="export")
app.add_typer(cli_tokens.app, name="token")
app.add_typer(cli_regions.app, name="regions")
app.add_typer(cli_plan.app, name="plan")


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _database_up() -> str:
    """Bring up (or reach) the database and migrate it; returns its URL. Warns (stderr) when the
    URL's role may do more than the service needs (a superuser, say: see ``db grant-sql``)."""
    from gridmap.db.grants import role_rights
    from gridmap.db.migrate import upgrade
    from gridmap.db.session import database_url, engine_scope
    from gridmap.devdb import LocalClusterError

    with working("正在准备数据库（启动、迁移）…"):
        try:
            url = database_url(start_local=True)
        except LocalClusterError as exc:
            raise _cluster_failed(exc) from exc
        upgrade(url)
        with engine_scope(url) as engine, engine.connect() as conn:
            rights = role_rights(conn)
    if rights.more_than_needed:
        message = (
            f"注意：数据库角色 {rights.name} 的权限超出服务所需（{'、'.join(rights.more_than_needed)}）；"
            "服务只需要一个拥有其数据表的普通角色，创建方法见 gridmap db grant-sql"
        )
        typer.echo(error_line(message, "excess_privileges"), err=True)
    return url


def _cluster_failed(exc: Exception) -> typer.Exit:
    """The local cluster could not be set up or stopped: one Chinese line with its code, then the
    tool's own (English) explanation and commands, indented, for whoever administers the machine."""
    typer.echo(local_cluster_failed(exc, "本地 PostGIS 数据库无法启动或停止，原因见下方说明"), err=True)
    return typer.Exit(1)


@db_app.command("up")
def db_up(
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the URL with its password (default: masked as ***).")
    ] = False,
) -> None:
    """Make a working PostGIS available, migrate it and print its URL.

    Uses GRIDMAP_DATABASE_URL when set; otherwise installs PostgreSQL + PostGIS from Debian packages
    if missing and runs a project-local cluster (own data directory and port). Idempotent. The
    password is masked (logs, CI) unless --show-password is given.
    """
    url = _database_up()
    typer.echo(url if show_password else _shown(url))


@db_app.command("down")
def db_down() -> None:
    """Stop the project-local cluster (idempotent).

    Does nothing when GRIDMAP_DATABASE_URL is set: that database is not managed by gridmap.
    """
    from gridmap.devdb import LocalCluster, LocalClusterError

    settings = get_settings()
    if settings.database_url:
        typer.echo("GRIDMAP_DATABASE_URL is set: that database is not managed by gridmap; nothing to stop.")
        return
    try:
        stopped = LocalCluster.from_settings(settings).down()
    except LocalClusterError as exc:
        raise _cluster_failed(exc) from exc
    typer.echo("local PostGIS stopped" if stopped else "local PostGIS was not running")


@db_app.command("status")
def db_status() -> None:
    """Show where the database is and whether it runs."""
    from gridmap.devdb import LocalCluster

    settings = get_settings()
    if settings.database_url:
        typer.echo(f"GRIDMAP_DATABASE_URL: {_shown(settings.database_url)}")
        return
    for key, value in LocalCluster.from_settings(settings).status().items():
        typer.echo(f"{key}: {_shown(value) if key == 'url' and value else value}")


@db_app.command("migrate")
def db_migrate(
    revision: Annotated[
        str, typer.Argument(metavar="REVISION", help="Target revision (default: head, the newest).")
    ] = "head",
) -> None:
    """Run the Alembic migrations up to REVISION (also done by `gridmap db up`)."""
    from gridmap.db.migrate import current_revision, upgrade
    from gridmap.db.session import database_url

    url = database_url()
    with working("正在迁移数据库…"):
        upgrade(url, revision)
    typer.echo(f"schema at revision {current_revision(url)}")


@db_app.command("grant-sql")
def db_grant_sql(
    role: Annotated[
        str, typer.Option(metavar="NAME", help="The role the service connects as (default gridmap).")
    ] = "gridmap",
    database: Annotated[str, typer.Option(metavar="NAME", help="The database it owns (default gridmap).")] = "gridmap",
) -> None:
    """Print the SQL a DBA runs, as a superuser, to set up a database of their own.

    It makes the role the service connects as (not a superuser; its password is given to psql as
    -v password=...), the database that role owns and PostGIS in it (CREATE EXTENSION needs a
    superuser), and hands the role any tables already there (e.g. migrated as a superuser). Run it
    with psql, then set GRIDMAP_DATABASE_URL to that role and run gridmap db migrate. The local
    cluster (gridmap db up) needs none of this: it sets itself up the same way.
    """
    from gridmap.db.grants import grant_script

    typer.echo(grant_script(role, database), nl=False)


@sample_app.command("generate")
def sample_generate(
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Output directory (default: the data directory).")
    ] = None,
    city: Annotated[
        bool, typer.Option("--city", help="The sample city's neighbours of 鹿邑 instead, into DIR/city/.")
    ] = False,
) -> None:
    """Regenerate the sample county files (deterministic: same bytes every run)."""
    if city:
        from gridmap.sample.city import generate_city
        from gridmap.sample.files import CITY_DIR

        with working("正在生成样例市（鹿邑的相邻县）数据…"):
            city_manifest = generate_city(get_settings().data_dir, out / CITY_DIR if out else None)
        for county in city_manifest["counties"]:  # type: ignore[attr-defined]
            typer.echo(f"{county['code']} {county['name']}: areas {county['areas']}, cameras {county['cameras']}")
        return
    from gridmap.sample.generate import generate

    with working("正在生成样例县数据…"):
        manifest = generate(out or get_settings().data_dir)
    typer.echo(f"areas {manifest['areas']}, cameras {manifest['cameras']}")


@sample_app.command("load")
def sample_load() -> None:
    """Restore exactly the sample county: areas, cameras and their statuses as generated.

    Cameras imported since are removed.
    """
    _load_and_summarize(_database_up())


def _load_and_summarize(url: str, *, city: bool = False) -> None:
    from gridmap.db.locks import SubtreeBusy
    from gridmap.db.session import engine_scope
    from gridmap.sample.load import load_city, load_sample

    with engine_scope(url) as engine:
        try:
            if city:
                with working("正在载入样例市（鹿邑及相邻县：区域、摄像头、覆盖统计）…"):
                    load_city(engine, get_settings().data_dir)
            else:
                with working("正在载入样例县（区域、摄像头、覆盖统计）…"):
                    load_sample(engine, get_settings().data_dir)
        except SubtreeBusy as busy:
            raise fail(
                f"另一次写入（{busy.holder or '发布或回滚'}）正在修改该县的区域：请等它完成后再载入样例", busy.code, 1
            ) from None
        _print_summary(engine)
        if city:
            _print_counties(engine)


def _print_counties(engine) -> None:
    """One line per county: its areas' and cameras' figures (the sample city's summary)."""
    from gridmap.coverage.table import coverage_rows

    with engine.connect() as conn:
        cities, rows = coverage_rows(conn, level=-1), coverage_rows(conn, level=0)

    def line(r, below: str) -> str:
        return (
            f"  {r.code:<6} {pad(r.name or '', 8)} {r.children:>4,} {below}  计划 {r.planned:>7,}  已安装 {r.installed:>7,}"
            f"  在线 {r.online:>7,}  安装率 {percent(r.rollout_rate)}  上云率 {percent(r.online_rate)}"
        )

    typer.echo("Cities 市:")
    for r in cities:
        typer.echo(line(r, "区县"))
    typer.echo("Counties 区县:")
    for r in rows:
        typer.echo(line(r, "乡镇"))


def _print_summary(engine) -> None:
    from gridmap.coverage.summary import summarize

    with engine.connect() as conn:
        s = summarize(conn)
    typer.echo(f"Database: {engine.url.render_as_string(hide_password=True)}")
    typer.echo("Areas per level:")
    for lv in LEVELS:
        typer.echo(f"  {lv.number} {lv.key:<10} {pad(lv.name_zh, 10)} {s.areas_per_level.get(lv.number, 0):>8,}")
    typer.echo("Cameras:")
    typer.echo(f"  planned   计划   {s.planned:>8,}")
    typer.echo(f"  installed 已安装 {s.installed:>8,}")
    typer.echo(f"  online    在线   {s.online:>8,}")
    typer.echo(f"  安装率 rollout rate (installed / planned): {percent(s.rollout_rate)}")
    typer.echo(f"  上云率 online rate (online / installed):   {percent(s.online_rate)}")
    if s.cameras_unplaced:
        typer.echo(f"  cameras outside every micro-grid: {s.cameras_unplaced:,}")


@app.command()
def summary() -> None:
    """Print areas per level and the camera figures of the database."""
    from gridmap.db.session import engine_scope

    with engine_scope() as engine:
        _print_summary(engine)


HOST = Annotated[
    str, typer.Option(metavar="ADDRESS", help="Address to listen on (default 127.0.0.1; 0.0.0.0 for the intranet).")
]
PORT = Annotated[
    int, typer.Option(metavar="PORT", help="Port to listen on (default 8000).", callback=in_range(1, 65535))
]


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the summary.")] = False,
    host: HOST = "127.0.0.1",
    port: PORT = 8000,
    city: Annotated[
        bool, typer.Option("--city", help="Load the sample city: 鹿邑 and its generated neighbours (data/city/).")
    ] = False,
) -> None:
    """Bring up PostGIS, load the sample county, print its figures and serve the map.

    The database is migrated first; Ctrl+C stops the web server (the local database keeps running).
    """
    _load_and_summarize(_database_up(), city=city)
    if not no_serve:
        _serve(host, port, workers=1)


@app.command()
def serve(
    host: HOST = "127.0.0.1",
    port: PORT = 8000,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N", help="Worker processes, each with its own tile cache (default 1).", callback=in_range(1, 64)
        ),
    ] = 1,
) -> None:
    """Serve the API, the vector tiles and the pages (/map, /embed, /upload, /docs) with uvicorn."""
    _database_up()
    _serve(host, port, workers)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from gridmap.logs import with_gridmap_logger

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"一张图 map:      http://{shown}:{port}/map")
    typer.echo(f"上传 upload:     http://{shown}:{port}/upload")
    typer.echo(f"大屏 embed:      http://{shown}:{port}/embed?theme=dark")
    typer.echo(f"API docs:        http://{shown}:{port}/docs")
    typer.echo("Ctrl+C stops the server.")
    # Event streams (/events/revision) never end by themselves: on Ctrl+C or SIGTERM, give open
    # requests a few seconds, then close them.
    uvicorn.run(
        "gridmap.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=with_gridmap_logger(uvicorn.config.LOGGING_CONFIG),
        proxy_headers=True,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


#: Seconds open requests get to finish when the server stops.
SHUTDOWN_GRACE_S = 5


@app.command("export-map")
def export_map(
    out: Annotated[Path, typer.Option(metavar="FILE", help="The HTML file to write.")],
    level: Annotated[
        int, typer.Option(metavar="LEVEL", help="Area level to colour: 0 county … 4 micro-grid (default 3, grids).")
    ] = 3,
    metric: Annotated[
        str, typer.Option(metavar="METRIC", help="online_rate (上云率, the default) or rollout_rate (安装率).")
    ] = "online_rate",
    code: Annotated[str | None, typer.Option(metavar="CODE", help="Only areas under this code.")] = None,
    basemap: Annotated[
        str | None, typer.Option(metavar="URL", help="XYZ basemap URL template, e.g. http://host/{z}/{x}/{y}.png.")
    ] = None,
) -> None:
    """Write a standalone HTML coverage map (every asset inlined: works offline).

    Exit codes: 0 written; 2 an option could not be used.
    """
    from gridmap.db.session import engine_scope
    from gridmap.maps.coverage_map import CoverageMapError, write_coverage_map

    with engine_scope() as engine:
        try:
            with working(f"正在生成覆盖地图 {out.name}…"):
                summary = write_coverage_map(engine, out, level=level, metric=metric, code=code, basemap=basemap)
        except CoverageMapError as exc:
            raise fail(exc.message, exc.code, 2) from exc
    typer.echo(summary)


# Offline tile packages (gridmap/cli/tiles.py).
app.command("export-tiles")(cli_tiles.export_tiles)
app.command("export-screen")(cli_tiles.export_screen)

# Boundary files: validate, publish, versions, rollback (gridmap/cli/boundaries.py).
for _command in (cli_boundaries.validate, cli_boundaries.publish, cli_boundaries.versions, cli_boundaries.rollback):
    app.command()(_command)


def main() -> None:
    """Console entry point. Errors (click's usage errors, refusals no command caught, a database
    that cannot be reached) are printed by the app itself (:class:`gridmap.cli._common.GridmapGroup`),
    so ``CliRunner`` sees exactly what a user sees."""
    app(prog_name="gridmap")


if __name__ == "__main__":
    main()
