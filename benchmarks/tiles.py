"""Benchmark of the vector tiles (``/tiles/{layer}/{z}/{x}/{y}.mvt``) against tipg on the same
PostGIS tables, the same tiles, in the same run.

Set-up (a scratch database ``gridmap_bench_tiles_p<pid>`` in the local cluster, dropped at the
end unless ``--keep-db``): migrations, the sample county (``load_sample``: areas, cameras, and our
precomputed tile rows, timed), and for tipg one view per layer in schema ``tipg_bench`` with the
same properties (``area`` joined with ``area_stats`` per level; cameras without the removed ones).
tipg (``pip install tipg`` into a separate venv, ``.venv-tipg``, made on first use) serves them at
``/collections/tipg_bench.<layer>/tiles/WebMercatorQuad/{z}/{x}/{y}`` with the same extent (4096),
buffer (64) and feature cap (4096).

Tiles: a fixed, seeded set — for every layer and every zoom from max(10, its minzoom) to 16, up
to ``--per-zoom`` distinct tiles drawn among those meeting the county's bounding box (all of them
where there are fewer), shuffled. Each server runs alone as ``uvicorn … --workers 1`` (asyncio
loop, h11, no access log) in a subprocess; ``--clients`` threads, each with its own keep-alive
``httpx.Client`` sending ``Accept-Encoding: gzip``, take tiles from a shared queue.

- cold: a freshly started server (our tile cache empty; tipg has none), each tile requested once;
- warm: the same tiles again on the same server (ours: all from the in-process cache; tipg:
  database buffers warm, otherwise the same work); warm1: once more with a single client, the
  latency without queueing behind the other clients.

Figures: tiles/s (tiles ÷ wall time), p50/p99 latency as the client sees it, our ratio to tipg,
and the CPU time per tile of the server process plus the PostgreSQL backends serving it (read from
/proc before and after each pass: unlike the wall-clock figures, independent of other load).
Targets: cold ≥ 3× tipg's throughput; warm p99 < 10 ms. The client shares the machine's CPUs with
both servers and PostgreSQL: the load average is printed, other processes skew the timings.

    .venv/bin/python benchmarks/tiles.py [--per-zoom 30] [--clients 4] [--seed 1] [--rounds 1] [--keep-db]

About a minute per round (plus ~10 s for the scratch database). On a 2-CPU machine the client
threads compete with both servers and PostgreSQL for the CPUs: with ``--clients 8`` the warm
latencies mostly measure that queueing (the CPU figures do not depend on it).
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m  # noqa: E402
from gridmap.tiles.layers import LAYERS  # noqa: E402

TIPG_VENV = ROOT / ".venv-tipg"
SCRATCH_DB = "gridmap_bench_tiles"
ZOOMS = range(10, 17)


# ----------------------------------------------------------------------------------------------
# Set-up


def ensure_tipg() -> Path:
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        print(f"   creating {TIPG_VENV} with tipg (once) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"], check=True)
    return uvicorn


def tipg_version() -> str:
    out = subprocess.run(
        [str(TIPG_VENV / "bin" / "python"), "-c", "import tipg; print(tipg.__version__)"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


def make_database(keep: bool) -> tuple[str, str, float]:
    """(URL, database name, seconds load_sample took)."""
    from sqlalchemy import create_engine, text

    from gridmap.config import get_settings
    from gridmap.db.migrate import upgrade
    from gridmap.devdb import LocalCluster
    from gridmap.sample.load import load_sample

    cluster = LocalCluster.from_settings(get_settings())
    cluster.up()
    name = SCRATCH_DB if keep else f"{SCRATCH_DB}_p{os.getpid()}"
    if keep and name in cluster.database_names(SCRATCH_DB):
        return cluster.ensure_database(name), name, float("nan")  # handed to the service role if need be
    url = cluster.ensure_database(name, drop_first=True)
    upgrade(url)
    engine = create_engine(url)
    try:
        t = time.perf_counter()
        load_sample(engine, get_settings().data_dir)
        load_s = time.perf_counter() - t
        with engine.begin() as conn:
            conn.execute(text("CREATE SCHEMA tipg_bench"))
            for layer in LAYERS.values():
                if layer.is_area:
                    conn.execute(
                        text(f"""
                        CREATE VIEW tipg_bench.{layer.id} AS
                        SELECT a.code, a.name, a.level, s.rollout_rate, s.online_rate, s.planned, s.installed,
                               s.online, s.households, a.geom
                        FROM area a JOIN area_stats s USING (code) WHERE a.level = {layer.level}""")
                    )
                else:
                    conn.execute(
                        text(f"""
                        CREATE VIEW tipg_bench.{layer.id} AS
                        SELECT device_id, name, status, online, operator, area_code, geom
                        FROM camera WHERE status <> 'removed'""")
                    )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return url, name, load_s


def county_box(url: str) -> tuple[float, float, float, float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                    "FROM (SELECT ST_Extent(geom)::geometry AS e FROM area) x"
                )
            ).one()
    finally:
        engine.dispose()
    return tuple(float(v) for v in row)


def tile_set(box: tuple[float, float, float, float], per_zoom: int, seed: int) -> list[tuple[str, int, int, int]]:
    rng = random.Random(seed)
    (x0, y0), (x1, y1) = lonlat_to_3857(box[0], box[1]), lonlat_to_3857(box[2], box[3])
    tiles = []
    for layer in LAYERS.values():
        for z in ZOOMS:
            if not layer.has_zoom(z):
                continue
            size = tile_size_m(z)
            cols = range(int((x0 + HALF_WORLD) // size), int((x1 + HALF_WORLD) // size) + 1)
            rows = range(int((HALF_WORLD - y1) // size), int((HALF_WORLD - y0) // size) + 1)
            every = [(x, y) for x in cols for y in rows]
            for x, y in sorted(rng.sample(every, min(per_zoom, len(every)))):
                tiles.append((layer.id, z, x, y))
    rng.shuffle(tiles)
    return tiles


# ----------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready_path: str, url_of, cwd: Path = ROOT):
        self.name, self.argv, self.env, self.ready_path, self.url_of = name, argv, env, ready_path, url_of
        self.cwd = cwd  # `python -m` puts the working directory first on sys.path: the source tree served
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [*self.argv, "--port", str(port)],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=self.cwd,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.base + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.name} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def uvicorn_opts(stack: str) -> list[str]:
    loop, http = stack.split("/")
    return ["--workers", "1", "--loop", loop, "--http", http, "--no-access-log", "--host", "127.0.0.1"]


def resolved_stack(stack: str, tree: Path) -> str:
    """What uvicorn's ``auto`` picks in the server's environment (uvloop/httptools when importable)."""
    loop, http = stack.split("/")
    code = "import importlib.util as u; print(bool(u.find_spec('uvloop')), bool(u.find_spec('httptools')))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
    if loop == "auto":
        loop = "uvloop" if out[:1] == ["True"] else "asyncio"
    if http == "auto":
        http = "httptools" if out[1:2] == ["True"] else "h11"
    return f"{loop}/{http}"


def git_commit(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return out.stdout.strip()[:60] or "?"


def gridmap_server(url: str, label: str, tree: Path, stack: str) -> Server:
    """Our app from the source tree ``tree`` (first on PYTHONPATH), served with ``stack`` (loop/http)."""
    return Server(
        label,
        [sys.executable, "-m", "uvicorn", "--factory", "gridmap.api.app:create_app", *uvicorn_opts(stack)],
        {
            "GRIDMAP_DATABASE_URL": url,
            "GRIDMAP_READ_ACCESS": "open",
            "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
        },
        "/healthz",
        lambda layer, z, x, y: f"/tiles/{layer}/{z}/{x}/{y}.mvt",
        cwd=tree,
    )


def servers(url: str, configs: list[tuple[str, Path, str]], with_tipg: bool) -> dict[str, Server]:
    """tipg (unless left out), then ours in each configuration (label, source tree, loop/http)."""
    ours = {label: gridmap_server(url, label, tree, stack) for label, tree, stack in configs}
    if not with_tipg:
        return ours
    tipg = Server(
        "tipg",
        [str(TIPG_VENV / "bin" / "uvicorn"), "tipg.main:app", *uvicorn_opts("asyncio/h11")],
        {
            "DATABASE_URL": url.replace("+psycopg", ""),
            "TIPG_DB_SCHEMAS": '["tipg_bench"]',
            "TIPG_TILE_BUFFER": "64",
            "TIPG_TILE_RESOLUTION": "4096",
            "TIPG_MAX_FEATURES_PER_TILE": "4096",
            "TIPG_CATALOG_TTL": "0",
        },
        "/collections",
        lambda layer, z, x, y: f"/collections/tipg_bench.{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}",
    )
    return {"tipg": tipg, **ours}


def plain_app():
    """The app without :class:`CachedTiles` (every tile through FastAPI's routing), as the fast-path
    test builds it: ``uvicorn --factory tiles:plain_app --app-dir benchmarks``."""
    from gridmap.api.app import create_app
    from gridmap.api.routers.tiles import CachedTiles

    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not CachedTiles]
    return app


def plain_server(url: str, tree: Path, stack: str) -> Server:
    server = gridmap_server(url, f"plain:{stack}", tree, stack)
    server.argv = [
        sys.executable, "-m", "uvicorn", "--factory", "tiles:plain_app", "--app-dir", str(ROOT / "benchmarks"),
        *uvicorn_opts(stack),
    ]  # fmt: skip
    return server


# ----------------------------------------------------------------------------------------------
# wrk: the load generator outside Python


WRK_SCRIPT = """-- Generated by benchmarks/tiles.py: each wrk thread walks the warm tile paths from its own offset.
local paths = {%s}
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end
function init(args)
  i = offset or 0
end
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_ms(text: str) -> float:
    """A wrk duration ("812.00us", "1.23ms", "2.01s") in milliseconds."""
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * _UNITS[unit]
    raise ValueError(f"not a wrk duration: {text!r}")


def parse_wrk(out: str) -> dict:
    """p50/p75/p90/p99 (ms), requests/s, requests, non-2xx/3xx and socket errors from ``wrk --latency``."""
    got: dict = {"non2xx": 0, "socket_errors": ""}
    lines = out.splitlines()
    for k, line in enumerate(lines):
        words = line.split()
        if line.strip() == "Latency Distribution":
            for row in lines[k + 1 : k + 5]:
                pct, value = row.split()
                got["p" + pct.rstrip("%")] = wrk_ms(value)
        elif words[:1] == ["Requests/sec:"]:
            got["rate"] = float(words[1])
        elif "requests in" in line:
            got["n"] = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            got["non2xx"] = int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            got["socket_errors"] = line.strip()
    return got


def run_wrk(server: Server, paths: list[str], threads: int, connections: int, seconds: int, tmp: Path) -> dict:
    script = tmp / "tiles.lua"
    script.write_text(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    cache_before = _early_hits(server)
    cpu_before = cpu_seconds(server.proc.pid)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), server.base]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    got = parse_wrk(out)
    got["server_ms"] = (cpu_seconds(server.proc.pid) - cpu_before) / max(got.get("n", 1), 1) * 1000
    after = _early_hits(server)
    got["early"] = after - cache_before if isinstance(after, int) and isinstance(cache_before, int) else "–"
    got["raw"] = out
    return got


def _early_hits(server: Server) -> int | str:
    try:
        return httpx.get(server.base + "/tiles", timeout=10).json()["cache"].get("early_hits", "–")
    except (httpx.HTTPError, KeyError, ValueError):
        return "–"


def wrk_bench(url: str, tiles, configs: list[tuple[str, Path, str]], args) -> None:
    """Each configuration, the fast path and the plain app: warmed with every tile once (one Python
    client), then ``wrk`` walking the same tile paths, ``args.wrk_rounds`` times."""
    import tempfile

    runs: dict[str, list[dict]] = {}
    plan: list[Server] = []
    for label, tree, stack in configs:
        plan.append(gridmap_server(url, label, tree, stack))
        plan.append(plain_server(url, tree, stack) if tree == ROOT else gridmap_server(url, label, tree, stack))
    plan = list({s.name: s for s in plan}.values())
    with tempfile.TemporaryDirectory(prefix="gridmap_wrk_") as tmp:
        for _round in range(args.wrk_rounds):
            for server in plan:
                server.start()
                try:
                    warm = run_pass(server, tiles, 1)
                    ok = [server.url_of(*t) for t in tiles]  # the warm-up reports any not 200/204
                    if warm["errors"]:
                        print(f"   ! {server.name} warm-up: {warm['errors']}")
                    got = run_wrk(server, ok, args.wrk_threads, args.clients, args.wrk_seconds, Path(tmp))
                    got["load"] = os.getloadavg()[0]
                    runs.setdefault(server.name, []).append(got)
                finally:
                    server.stop()
    print(
        f"   wrk -t{args.wrk_threads} -c{args.clients} -d{args.wrk_seconds}s --latency, {len(tiles):,} warm tile URLs "
        f"walked in turn (Accept-Encoding: gzip); {args.wrk_rounds} round(s), servers alternating; medians shown"
    )
    head = f"   {'server':<28}{'req/s':>9}{'p50 ms':>9}{'p75 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
    print(head + f"{'CPU ms/req':>12}{'early hits':>12}{'non-2xx':>9}  load (1 min) per round")
    for name, rs in runs.items():

        def med(field: str, rs=rs) -> float:
            return statistics.median(r[field] for r in rs)

        early = rs[-1]["early"]
        print(
            f"   {name:<28}{med('rate'):>9.0f}{med('p50'):>9.2f}{med('p75'):>9.2f}{med('p90'):>9.2f}"
            f"{med('p99'):>9.2f}{med('server_ms'):>12.3f}{early!s:>12}{sum(r['non2xx'] for r in rs):>9}  "
            + " ".join(f"{r['load']:.2f}" for r in rs)
        )
        if any(r["socket_errors"] for r in rs):
            print(f"     {rs[-1]['socket_errors']}")
    print(
        "   per round, p99 ms: "
        + "; ".join(f"{n} " + " ".join(f"{r['p99']:.2f}" for r in rs) for n, rs in runs.items())
    )
    for name, rs in runs.items():
        p99 = statistics.median(r["p99"] for r in rs)
        print(
            f"   {name}: cached tile p99 < 10 ms with {args.clients} connections (wrk): {'met' if p99 < 10 else 'NOT met'} ({p99:.2f} ms)"
        )


# ----------------------------------------------------------------------------------------------
# Load


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by a server process and by the PostgreSQL backends serving the benchmark
    database (load-independent, unlike wall time)."""

    def __init__(self, url: str, name: str):
        import psycopg

        self.db = name
        self.conn = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)

    def snapshot(self, server_pid: int) -> tuple[float, dict[int, float]]:
        pids = [
            r[0]
            for r in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()",
                (self.db,),
            )
        ]
        return cpu_seconds(server_pid), {p: cpu_seconds(p) for p in pids}

    @staticmethod
    def used(before, after) -> tuple[float, float]:
        server = after[0] - before[0]
        backends = sum(v - before[1].get(p, 0.0) for p, v in after[1].items())
        return server, backends


def run_pass(server: Server, tiles, clients: int, meter: CpuMeter | None = None) -> dict:
    work: queue.SimpleQueue = queue.SimpleQueue()
    for t in tiles:
        work.put(t)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cache: dict[str, int] = {}
    sizes = [0]
    lock = threading.Lock()
    errors: list[str] = []

    def client() -> None:
        mine, codes, hits, got = [], {}, {}, 0
        with httpx.Client(base_url=server.base, headers={"Accept-Encoding": "gzip"}, timeout=60) as c:
            c.get(server.ready_path)  # open the connection before the clock starts
            start.wait()
            while True:
                try:
                    t = work.get_nowait()
                except queue.Empty:
                    break
                path = server.url_of(*t)
                t0 = time.perf_counter()
                r = c.get(path)
                body = r.content
                mine.append(time.perf_counter() - t0)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                got += int(r.headers.get("content-length", 0)) if r.status_code == 200 else 0
                h = r.headers.get("x-tile-cache")
                if h:
                    hits[h] = hits.get(h, 0) + 1
                if r.status_code not in (200, 204) and len(errors) < 3:
                    errors.append(f"{r.status_code} {path} {body[:200]!r}")
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v
            for k, v in hits.items():
                cache[k] = cache.get(k, 0) + v
            sizes[0] += got

    start = threading.Event()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    before = meter.snapshot(server.proc.pid) if meter else None
    t0 = time.perf_counter()
    start.set()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    server_cpu, db_cpu = meter.used(before, meter.snapshot(server.proc.pid)) if meter else (0.0, 0.0)
    latencies.sort()
    return {
        "n": len(latencies),
        "wall": wall,
        "rate": len(latencies) / wall,
        "server_ms": server_cpu / len(latencies) * 1000,
        "db_ms": db_cpu / len(latencies) * 1000,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "mean": statistics.fmean(latencies) * 1000,
        "statuses": statuses,
        "cache": cache,
        "mb": sizes[0] / 1e6,
        "errors": errors,
    }


def bench(server: Server, tiles, clients: int, meter: CpuMeter, warm_repeat: int = 1) -> tuple[dict, dict, dict]:
    server.start()
    try:
        cold = run_pass(server, tiles, clients, meter)
        warm = run_pass(server, tiles * warm_repeat, clients, meter)
        alone = run_pass(server, tiles * warm_repeat, 1, meter)
        if server.ready_path == "/healthz":  # ours: how many cached tiles were answered before the routing
            cache = httpx.get(server.base + "/tiles", timeout=10).json()["cache"]
            alone["early_hits"] = cache.get("early_hits", "–")
    finally:
        server.stop()
    return cold, warm, alone


# ----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-zoom", type=int, default=30, help="tiles per layer and zoom (default 30)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat each server's cold+warm run; medians shown")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-db", action="store_true", help=f"keep (and reuse) the scratch database {SCRATCH_DB}")
    ap.add_argument(
        "--stacks",
        default="auto/auto",
        help="our server's uvicorn loop/http, comma-separated, each run in turn (default auto/auto, as `gridmap "
        "serve`: uvloop/httptools when installed); e.g. asyncio/h11,uvloop/httptools",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also serve the gridmap of this source tree (e.g. a checkout of main), in each of the stacks",
    )
    ap.add_argument("--no-tipg", action="store_true", help="leave tipg out (ours only; no ratios to it)")
    ap.add_argument(
        "--warm-repeat",
        type=int,
        default=1,
        metavar="N",
        help="send the tile set N times in each warm pass: more samples for p99 and the CPU figures (default 1)",
    )
    ap.add_argument(
        "--wrk",
        action="store_true",
        help="measure the warm tiles with wrk (outside Python) instead of the Python clients: the fast path "
        "and the plain app (no CachedTiles) of each stack; tipg left out",
    )
    ap.add_argument("--wrk-seconds", type=int, default=20, help="duration of each wrk run (default 20)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2); connections = --clients")
    ap.add_argument("--wrk-rounds", type=int, default=3, help="wrk runs per server, alternating (default 3)")
    args = ap.parse_args()
    if args.wrk:
        if shutil.which("wrk") is None:
            raise SystemExit("wrk not found: apt-get install wrk (see benchmarks/README.md)")
        args.no_tipg = True

    with_tipg = not args.no_tipg
    if with_tipg:
        ensure_tipg()
    print("Vector tile benchmark: gridmap /tiles" + (" vs tipg (same PostGIS, same tiles)" if with_tipg else ""))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"   {f'tipg {tipg_version()}, ' if with_tipg else ''}Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({usable} usable); "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes skew timings)"
    )
    trees = [("gridmap", ROOT)] + ([("base", args.baseline.resolve())] if args.baseline else [])
    configs = []
    for stack in args.stacks.split(","):
        for name, tree in trees:
            resolved = resolved_stack(stack, tree)
            label = f"{name}:{resolved}"
            if all(c[0] != label for c in configs):
                configs.append((label, tree, resolved))
    for label, tree, stack in configs:
        print(f"   {label}: uvicorn {' '.join(uvicorn_opts(stack))} — source {tree} ({git_commit(tree)})")
    t = time.perf_counter()
    url, name, load_s = make_database(args.keep_db)
    print(
        f"   scratch database {name}: ready in {time.perf_counter() - t:.1f} s "
        f"(load_sample incl. precomputed tile rows: {load_s:.1f} s)"
    )
    try:
        tiles = tile_set(county_box(url), args.per_zoom, args.seed)
        per_layer = {}
        for layer, _z, *_ in tiles:
            per_layer[layer] = per_layer.get(layer, 0) + 1
        print(
            f"   {len(tiles):,} tiles z10–z16 (seed {args.seed}, ≤{args.per_zoom} per layer and zoom): "
            + ", ".join(f"{k} {v}" for k, v in per_layer.items())
        )
        print(
            f"   {args.clients} concurrent clients (threads, keep-alive, Accept-Encoding: gzip); "
            f"{args.rounds} round(s), cold = fresh server process, warm passes send the tiles "
            f"{args.warm_repeat}×\n"
        )
        results: dict[tuple[str, str], list[dict]] = {}
        if args.wrk:
            wrk_bench(url, tiles, configs, args)
            print(f"   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            return
        meter = CpuMeter(url, name)
        for _round in range(args.rounds):
            for key, server in servers(url, configs, with_tipg).items():
                cold, warm, alone = bench(server, tiles, args.clients, meter, args.warm_repeat)
                results.setdefault((key, "cold"), []).append(cold)
                results.setdefault((key, "warm"), []).append(warm)
                results.setdefault((key, "warm1"), []).append(alone)
                for phase, res in (("cold", cold), ("warm", warm), ("warm1", alone)):
                    if res["errors"]:
                        print(f"   ! {key} {phase}: {res['errors']}")
        meter.conn.close()
        report(results, args.clients, [c[0] for c in configs], with_tipg)
        print(f"   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if not args.keep_db:
            from gridmap.config import get_settings
            from gridmap.devdb import LocalCluster

            LocalCluster.from_settings(get_settings()).drop_database(name)


def report(results: dict, clients: int, ours: list[str], with_tipg: bool) -> None:
    def med(key, field):
        return statistics.median(r[field] for r in results[key])

    width = max(9, *(len(label) + 2 for label in ours))
    print(
        f"   {'server':<{width}}{'cache':<7}{'tiles':>7}{'tiles/s':>10}{'vs tipg':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'mean ms':>9}{'CPU ms/tile':>13}{'(server+db)':>12}  {'MB':>5}  statuses / X-Tile-Cache"
    )
    names = (["tipg"] if with_tipg else []) + ours
    for phase in ("cold", "warm", "warm1"):
        for server in names:
            key = (server, phase)
            last = results[key][-1]
            ratio = f"{med(key, 'rate') / med(('tipg', phase), 'rate'):.1f}×" if with_tipg else "–"
            cpu = med(key, "server_ms") + med(key, "db_ms")
            split = f"{med(key, 'server_ms'):.2f}+{med(key, 'db_ms'):.2f}"
            print(
                f"   {server:<{width}}{phase:<7}{last['n']:>7,}{med(key, 'rate'):>10.0f}{ratio:>9}"
                f"{med(key, 'p50'):>9.2f}{med(key, 'p99'):>9.2f}{med(key, 'mean'):>9.2f}{cpu:>13.2f}"
                f"{split:>12}  {last['mb']:>5.1f}  "
                f"{dict(sorted(last['statuses'].items()))} {last['cache'] or ''}"
            )
    note = ""
    if with_tipg:
        cpu_ratio = (med(("tipg", "cold"), "server_ms") + med(("tipg", "cold"), "db_ms")) / (
            med((ours[0], "cold"), "server_ms") + med((ours[0], "cold"), "db_ms")
        )
        note = f"; cold, tipg needs {cpu_ratio:.1f}× the CPU per tile of {ours[0]}"
    print(
        f"   (warm1: the warm pass again with one client, for latency without queueing. CPU ms/tile: the server "
        f"process plus the PostgreSQL backends it used, per tile — independent of other load{note})"
    )
    print()
    for label in ours:
        warm_p99, alone_p99 = med((label, "warm"), "p99"), med((label, "warm1"), "p99")
        line = f"   {label}: "
        if with_tipg:
            cold = med((label, "cold"), "rate") / med(("tipg", "cold"), "rate")
            line += f"target cold ≥ 3× tipg throughput: {'met' if cold >= 3 else 'NOT met'} ({cold:.1f}×); "
        line += f"cached tiles answered before the routing: {results[(label, 'warm1')][-1].get('early_hits', '–')}; "
        line += (
            f"warm p99 < 10 ms: {'met' if warm_p99 < 10 else 'NOT met'} with {clients} clients ({warm_p99:.2f} ms), "
            f"{'met' if alone_p99 < 10 else 'NOT met'} with 1 ({alone_p99:.2f} ms)"
        )
        print(line)


if __name__ == "__main__":
    main()
