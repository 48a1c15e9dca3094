"""Benchmark of the uploads issue 13 bounds, against the code before them in the same run: time and
peak memory of the files that used to cost minutes and gigabytes, and what each path answers.

Files (made in a temporary directory):

- ``xfd.xlsx``: a camera register as openpyxl writes it, ``--xfd-rows`` rows (default 6,000)
  and one stray cell in the last column, XFD1 (its dimension says A1:XFD6001; ~90 KB);
- ``rows.csv``: ``--rows`` (default 1,000,000) camera rows, every one rejected (ids that are not
  GB/T 28181 ids), ~30 MB;
- ``dbf_*.zip``: a zipped shapefile of 20 grids written by GDAL, its DBF header corrupted: header
  length beyond the file, record count 4,294,967,280, no terminator, file cut in half.

Each file goes through, with this checkout's code (``new``) and the baseline's (``--baseline REF``,
default the commit before this work, extracted with ``git archive``; ``none`` skips it):

1. the reader alone (``read_camera_file`` / ``read_boundary_file``) in a fresh process: wall time,
   peak RSS (VmHWM), what it gave;
2. the CLI (``gridmap cameras import FILE --format json`` on a scratch database with the sample
   county; ``gridmap validate FILE --no-db`` for the shapefiles): wall time, peak RSS of the
   process (wait4), exit code, and whether it printed a traceback;
3. the API (``uvicorn --workers 1`` on the scratch database, an admin token): ``POST
   /api/v1/uploads/cameras`` or ``/uploads/boundaries``; wall time, the status and code answered,
   and the server's peak RSS during the request above its RSS before it (VmHWM reset through
   ``/proc/<pid>/clear_refs``), and what it kept after.

    .venv/bin/python benchmarks/upload_limits.py [--rows 1000000] [--xfd-rows 6000] [--baseline REF|none]
                                                 [--skip-cli] [--skip-api]

The scratch databases (``gridmap_bench_limits_*_p<pid>``) are dropped at the end. With the baseline
and a million rows, about 15 minutes (the baseline spends minutes on the CSV in each path).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memory import status_kb  # noqa: E402  (benchmarks/memory.py)

DEFAULT_BASELINE = "284844e"  # main before the bounded uploads (archive limits only)
SCRATCH = "gridmap_bench_limits"

# ----------------------------------------------------------------------------------------- files


def make_files(folder: Path, rows: int, xfd_rows: int) -> dict[str, tuple[str, Path]]:
    """name → (kind: camera | boundary, path)."""
    import geopandas as gpd
    import openpyxl
    import pyogrio
    import shapely

    files: dict[str, tuple[str, Path]] = {}
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["设备编码", "经度", "纬度", "安装状态"])
    for _ in range(xfd_rows):
        sheet.append(["41162800011318900001", "115.5", "33.9", "已安装"])
    sheet.cell(row=1, column=16_384, value="x")
    book.save(folder / "xfd.xlsx")
    files["xfd_xlsx"] = ("camera", folder / "xfd.xlsx")

    with open(folder / "rows.csv", "w", encoding="utf-8") as f:
        f.write("设备编码,经度,纬度,安装状态\n")
        f.writelines(f"bad{k},115.5,33.9,已安装\n" for k in range(rows))
    files["csv_rows"] = ("camera", folder / "rows.csv")

    exported = folder / "shp"
    exported.mkdir()
    grids = gpd.GeoDataFrame(
        {"编码": [f"411628001001{k:03d}" for k in range(20)], "名称": [f"网格{k}" for k in range(20)]},
        geometry=[shapely.box(115.5 + k * 0.01, 33.9, 115.505 + k * 0.01, 33.905) for k in range(20)],
        crs=4490,
    )
    pyogrio.write_dataframe(grids, exported / "网格.shp", encoding="UTF-8")
    dbf = (exported / "网格.dbf").read_bytes()
    header_length = struct.unpack_from("<H", dbf, 8)[0]

    def patched(offset: int, fmt: str, value: int) -> bytes:
        data = bytearray(dbf)
        struct.pack_into(fmt, data, offset, value)
        return bytes(data)

    corrupt = {
        "dbf_header_length": patched(8, "<H", 0xFFFF),
        "dbf_record_count": patched(4, "<I", 0xFFFFFFF0),
        "dbf_no_terminator": patched(header_length - 1, "<B", 0x20),
        "dbf_truncated": dbf[: len(dbf) // 2],
    }
    for name, data in corrupt.items():
        archive = folder / f"{name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(exported.iterdir()):
                zf.writestr(part.name, data if part.suffix == ".dbf" else part.read_bytes())
        files[name] = ("boundary", archive)
    return files


# ------------------------------------------------------------------------------------------ code


class Code:
    """A version of gridmap (this checkout, or the baseline extracted), run with this venv's Python."""

    def __init__(self, name: str, root: Path):
        self.name, self.root = name, root

    def env(self, url: str | None = None) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(self.root), "GRIDMAP_READ_ACCESS": "open"}
        if url:
            env["GRIDMAP_DATABASE_URL"] = url
        return env

    def run(self, url: str | None, script: str, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", script, *args], cwd=self.root, env=self.env(url), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: script failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def extract_baseline(ref: str) -> Path:
    """The code at ``ref`` in a temporary directory (``git archive``: the repository is only read)."""
    path = Path(tempfile.mkdtemp(prefix="gridmap-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(path, filter="data")
    return path


_READ = """
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
try:
    if kind == "camera":
        from gridmap.io.cameras import read_camera_file
        table = read_camera_file(path, county_code="411628")
        outcome = f"read: {table.source_rows:,} rows, {len(table.rejected):,} rejected"
    else:
        from gridmap.io.boundaries import read_boundary_file
        outcome = f"read: {len(read_boundary_file(path).areas)} areas"
except Exception as exc:
    code = getattr(exc, "code", None)
    outcome = f"{code}" if code else f"{type(exc).__name__} (uncaught: a 500 / a traceback)"
seconds = time.perf_counter() - t
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "outcome": outcome}))
"""

_SETUP = """
import datetime as dt, json, sys
from sqlalchemy import create_engine
from gridmap.config import get_settings
from gridmap.db.migrate import upgrade
from gridmap.db.tokens import create_token
from gridmap.sample.load import load_sample
url = sys.argv[1]
upgrade(url)
engine = create_engine(url)
load_sample(engine, get_settings().data_dir)
with engine.begin() as conn:
    secret, _ = create_token(conn, name="benchmark", role="admin",
                             expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
print(json.dumps({"token": secret}))
"""


def cluster():
    from gridmap.config import get_settings
    from gridmap.devdb import LocalCluster

    c = LocalCluster.from_settings(get_settings())
    c.up()
    return c


# ------------------------------------------------------------------------------------------- CLI


def run_cli(code: Code, url: str, kind: str, path: Path) -> dict:
    """The command under ``/usr/bin/time`` (its own peak RSS), as a user runs it."""
    args = (
        ["cameras", "import", str(path), "--format", "json"] if kind == "camera" else ["validate", str(path), "--no-db"]
    )
    timer = ["/usr/bin/time", "-f", "__maxrss_kb %M"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    done = subprocess.run(
        [*timer, sys.executable, "-m", "gridmap.cli", *args], cwd=code.root, env=code.env(url), capture_output=True
    )
    seconds = time.perf_counter() - start
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    peak = float("nan")
    if lines and lines[-1].startswith("__maxrss_kb"):
        peak = int(lines.pop().split()[1]) / 1024
    exit_code = done.returncode
    last = (lines or [""])[-1]
    if lines and lines[-1].startswith("Command exited with non-zero status"):
        lines.pop()
        last = (lines or [""])[-1]
    if kind == "camera":  # --format json: the report, or the refusal, on stdout
        try:
            report = json.loads(done.stdout)
            if "error" in report:
                last = f"{report['error']}: {report['message']}"
            else:
                last = (
                    f"report {len(done.stdout) / 2**20:.2f} MB: {report['rejected_count']:,} rejected, "
                    f"{len(report['rejected']):,} listed"
                )
        except (ValueError, KeyError):
            pass
    traceback = any("Traceback" in line for line in lines)
    return {"seconds": seconds, "peak_mb": peak, "exit": exit_code, "traceback": traceback, "last": last[:160]}


# ------------------------------------------------------------------------------------------- API


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, code: Code, url: str):
        self.code, self.url = code, url
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "gridmap.api.app:create_app", "--workers", "1"]
        cmd += ["--no-access-log", "--host", "127.0.0.1", "--port", str(port)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.code.root,
            env=self.code.env(self.url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("server did not start")

    def rss_mb(self, key: str = "VmRSS") -> float:
        kb = status_kb(key, self.proc.pid) if self.proc else None
        return kb / 1024 if kb else float("nan")

    def reset_peak(self) -> None:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def post(server: Server, token: str, kind: str, path: Path) -> dict:
    route = "/api/v1/uploads/cameras" if kind == "camera" else "/api/v1/uploads/boundaries"
    before = server.rss_mb()
    server.reset_peak()
    start = time.perf_counter()
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=3600) as c:
        r = c.post(route, files={"file": (path.name, path.read_bytes())})
    seconds = time.perf_counter() - start
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code == 201 and kind == "boundary":
        what = f"kept as {body.get('status')}"
    elif r.status_code == 201:
        what = f"{body.get('rejected_count', 0):,} rejected, {len(body.get('rejected', [])):,} listed"
    else:
        what = body.get("code", "")
    return {
        "seconds": seconds,
        "status": r.status_code,
        "what": what,
        "answer_mb": len(r.content) / 2**20,
        "peak_above_mb": server.rss_mb("VmHWM") - before,
        "kept_mb": server.rss_mb() - before,
    }


# ---------------------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xfd-rows", type=int, default=6000)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()

    codes = [Code("new", ROOT)]
    if args.baseline != "none":
        codes.append(Code("baseline", extract_baseline(args.baseline)))
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {os.cpu_count()} CPUs", flush=True)
    urls: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-limits-") as tmp:
        files = make_files(Path(tmp), args.rows, args.xfd_rows)
        for name, (_kind, path) in files.items():
            print(f"  {name:<20} {path.stat().st_size / 1024:>10,.1f} KB  {path.name}", flush=True)
        try:
            tokens = {}
            if not (args.skip_cli and args.skip_api):
                for code in codes:
                    urls[code.name] = cluster().ensure_database(
                        f"{SCRATCH}_{code.name}_p{os.getpid()}", drop_first=True
                    )
                    tokens[code.name] = code.run(urls[code.name], _SETUP, urls[code.name])["token"]
            print("\n1. The reader alone (a fresh process each)")
            print(f"   {'file':<20}{'code':<10}{'seconds':>10}{'peak MB':>10}  outcome")
            for name, (kind, path) in files.items():
                for code in codes:
                    r = code.run(None, _READ, kind, str(path))
                    print(
                        f"   {name:<20}{code.name:<10}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}  {r['outcome']}",
                        flush=True,
                    )
            if not args.skip_cli:
                print("\n2. The CLI (cameras import --format json / validate --no-db)")
                print(f"   {'file':<20}{'code':<10}{'seconds':>10}{'peak MB':>10}{'exit':>6}  traceback  last line")
                for name, (kind, path) in files.items():
                    for code in codes:
                        r = run_cli(code, urls[code.name], kind, path)
                        print(
                            f"   {name:<20}{code.name:<10}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}{r['exit']:>6}  "
                            f"{'yes' if r['traceback'] else 'no':<9}  {r['last']}",
                            flush=True,
                        )
            if not args.skip_api:
                print("\n3. The API (uvicorn --workers 1; server memory above its RSS before the request)")
                print(
                    f"   {'file':<20}{'code':<10}{'seconds':>10}{'status':>7}{'peak +MB':>10}{'kept +MB':>10}{'answer MB':>10}  code / report"
                )
                for code in codes:
                    with Server(code, urls[code.name]) as server:
                        for name, (kind, path) in files.items():
                            r = post(server, tokens[code.name], kind, path)
                            print(
                                f"   {name:<20}{code.name:<10}{r['seconds']:>10.2f}{r['status']:>7}"
                                f"{r['peak_above_mb']:>10.0f}{r['kept_mb']:>10.0f}{r['answer_mb']:>10.2f}  {r['what']}",
                                flush=True,
                            )
        finally:
            c = cluster() if urls else None
            for url in urls.values():
                c.drop_database(url.rsplit("/", 1)[1].split("?")[0])
            for code in codes[1:]:
                subprocess.run(["rm", "-rf", str(code.root)], check=False)
    print(f"\n(run at {dt.datetime.now().isoformat(timespec='seconds')})")


if __name__ == "__main__":
    main()
