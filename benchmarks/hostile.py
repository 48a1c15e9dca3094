"""Hostile uploads against a real server: time, memory, answer, leftovers — this checkout against a
baseline commit, in the same run.

Each input (built here, in a scratch directory) is sent to ``gridmap.api.app`` served by
``uvicorn --workers 1`` on a scratch copy of the sample county (``gridmap_bench_hostile_*``,
dropped at the end), with an admin token, one at a time. Per input:

- seconds until the answer (or ``--timeout``: then the server is killed and restarted);
- peak resident memory of the server's process tree (the server plus any worker processes,
  sampled every 50 ms) and the server's own resident memory after the answer (what it keeps);
- the answer: HTTP status and error code;
- files left in the upload temporary directory (``GRIDMAP_UPLOAD_TMP_DIR``; ``TMPDIR`` for code
  that has no such setting) and whether the live areas and cameras are unchanged (md5 of both).

    .venv/bin/python benchmarks/hostile.py [--baseline REF] [--timeout 120] [--bomb-gb 2] [--only NAME ...]

The baseline (default: none) is checked out in a temporary git worktree and served the same way.
Its memory-hungry inputs can use several GB: the client gives up after ``--timeout`` seconds.
The new code runs with its default limits except ``GRIDMAP_WORK_TIMEOUT`` (``--work-timeout``,
default 30 s, to keep the run short).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from writes import ROOT, Code, admin_token, baseline_worktree, cluster, drop_worktree, free_port  # noqa: E402

SCRATCH = "gridmap_bench_hostile"
SCOPE = "411628001"
MB = 1024 * 1024


# ----------------------------------------------------------------------------------------------
# Inputs


def _shapefile_parts(tmp: Path) -> dict[str, bytes]:
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame(
        {"code": [f"{SCOPE}001"], "name": ["测试村"]}, geometry=[shapely.box(115.4, 33.87, 115.41, 33.88)], crs=4490
    )
    path = tmp / "parts" / "v.shp"
    path.parent.mkdir(exist_ok=True)
    gdf.to_file(path, encoding="utf-8")
    return {ext: path.with_suffix(ext).read_bytes() for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")}


def _zip_with_big_member(path: Path, parts: dict[str, bytes], big: str, size: int, head: bytes = b"") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for ext, data in parts.items():
            if ext != big:
                z.writestr(f"v{ext}", data)
        with z.open(f"v{big}", "w", force_zip64=True) as f:
            f.write(head)
            block = b" " * (8 * MB)
            left = size - len(head)
            while left > 0:
                f.write(block[: min(left, len(block))])
                left -= len(block)
    return path


def _star(n: int, crossing: bool):
    import numpy as np
    import shapely

    if crossing:  # {n/k}: ~n²/4 self-intersections
        t = np.arange(n) * 2 * np.pi * ((n - 1) // 2) / n
        r = np.ones(n)
    else:  # a simple zig-zag star
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = np.where(np.arange(n) % 2 == 0, 1.0, 0.6)
    return shapely.Polygon(np.c_[115.42 + 0.01 * r * np.cos(t), 33.88 + 0.01 * r * np.sin(t)])


def _circle(n: int):
    """A circle of ``n`` vertices (GEOS' buffer caps its segments: built from the points)."""
    import numpy as np
    import shapely

    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return shapely.Polygon(np.c_[115.42 + 0.01 * np.cos(t), 33.88 + 0.01 * np.sin(t)])


def _gpkg(path: Path, geometry) -> Path:
    import geopandas as gpd

    gpd.GeoDataFrame({"code": [f"{SCOPE}001"], "name": ["测试村"]}, geometry=[geometry], crs=4490).to_file(path)
    return path


def _xlsx_to_xfd(path: Path, rows: int) -> Path:
    """A small workbook whose cells reach column XFD (16,384) on every row, written by hand (as
    generators of such files do): ~5 bytes per cell compressed."""
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x</t></is></c><c r="XFD{r}"><v>1</v></c></row>'
        for r in range(1, rows + 1)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:XFD{rows}"/><sheetData>{cells}</sheetData></worksheet>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        z.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="摄像头" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>",
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def _csv_rows(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        f.write("设备编码,设备名称,经度,纬度,状态\n")
        for i in range(rows):
            f.write(f"4116280001131{i:07d},点位{i},200.0,95.0,已安装\n")  # every row rejected (coordinates)
    return path


def _corrupt_dbf(path: Path, parts: dict[str, bytes]) -> Path:
    dbf = bytearray(parts[".dbf"])
    dbf[4:8] = (0xFFFFFFF0).to_bytes(4, "little")  # a record count of ~4.3 billion
    dbf[8:10] = (3).to_bytes(2, "little")  # a header length shorter than the header
    with zipfile.ZipFile(path, "w") as z:
        for ext, data in parts.items():
            z.writestr(f"v{ext}", bytes(dbf) if ext == ".dbf" else data)
    return path


def build_inputs(tmp: Path, bomb_gb: float) -> list[tuple[str, str, Path, dict]]:
    """(name, route, file, form) of every hostile input."""
    parts = _shapefile_parts(tmp)
    boundaries, cameras = "/api/v1/uploads/boundaries", "/api/v1/uploads/cameras"
    nested = tmp / "nested.zip"
    with zipfile.ZipFile(nested, "w") as z:
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as zi:
            for ext, data in parts.items():
                zi.writestr(f"v{ext}", data)
        z.writestr("乡镇一.zip", inner.getvalue())
    return [
        (f"zipped DBF bomb ({bomb_gb / 2:g} GB .dbf)", boundaries,
         _zip_with_big_member(tmp / "dbf_bomb.zip", parts, ".dbf", int(bomb_gb / 2 * 1024 * MB), parts[".dbf"][:-1]),
         {}),
        (f"zip bomb ({bomb_gb:g} GB .shp)", boundaries,
         _zip_with_big_member(tmp / "shp_bomb.zip", parts, ".shp", int(bomb_gb * 1024 * MB), parts[".shp"]), {}),
        ("GeoPackage, one 2M-vertex zig-zag star", boundaries, _gpkg(tmp / "star2m.gpkg", _star(2_000_000, False)),
         {"parent_code": SCOPE}),
        ("GeoPackage, self-crossing star {2001/1000} (48 KB)", boundaries,
         _gpkg(tmp / "star2001.gpkg", _star(2001, True)), {"parent_code": SCOPE}),
        ("GeoPackage, 2M-vertex circle", boundaries,
         _gpkg(tmp / "circle2m.gpkg", _circle(2_000_000)),
         {"parent_code": SCOPE}),
        ("XLSX, cells to column XFD (6,000 rows)", cameras, _xlsx_to_xfd(tmp / "xfd.xlsx", 6000), {}),
        ("camera CSV, 1M rows, all rejected", cameras, _csv_rows(tmp / "million.csv", 1_000_000), {}),
        ("DBF with a corrupt header", boundaries, _corrupt_dbf(tmp / "corrupt_dbf.zip", parts), {}),
        ("zip holding a zip", boundaries, nested, {}),
    ]  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Serving and measuring


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of ``pid`` and all its descendants, RSS of ``pid`` alone), MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        p = int(status.parent.name)
        children.setdefault(int(fields["PPid"]), []).append(p)
        rss[p] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total / 1024, rss.get(pid, 0) / 1024


class Server:
    def __init__(self, code: Code, url: str, env: dict[str, str]):
        self.code, self.url, self.env = code, url, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "gridmap.api.app:create_app", "--workers", "1",
             "--no-access-log", "--host", "127.0.0.1", "--port", str(port)],
            cwd=self.code.root, env={**self.code.env(self.url), **self.env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def fingerprint(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT md5(string_agg(code || encode(ST_AsEWKB(geom), 'hex'), ',' ORDER BY code)) FROM area")).scalar_one(),
                conn.execute(text("SELECT md5(string_agg(c::text, ',' ORDER BY device_id)) FROM camera c")).scalar_one(),
            )  # fmt: skip
    finally:
        engine.dispose()


def measure(server: Server, token: str, route: str, path: Path, form: dict, timeout: float, tmpdir: Path) -> dict:
    assert server.proc is not None
    peak, stop = [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(server.proc.pid)[0])
            time.sleep(0.05)

    before = tree_rss_mb(server.proc.pid)[1]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        with open(path, "rb") as f:
            r = httpx.post(
                server.base + route, files={"file": (path.name, f)}, data=form,
                headers={"Authorization": f"Bearer {token}"}, timeout=timeout,
            )  # fmt: skip
        answer = f"{r.status_code} {r.json().get('code', '') if r.headers.get('content-type', '').startswith('application/json') else r.text[:40]}"
    except httpx.TimeoutException:
        answer = f"no answer in {timeout:g} s"
    except httpx.HTTPError as exc:
        answer = f"connection error: {type(exc).__name__}"
    seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    alive = server.proc.poll() is None
    after = tree_rss_mb(server.proc.pid)[1] if alive else float("nan")
    left = sum(1 for p in tmpdir.iterdir() if not p.name.startswith("pymp-"))  # not multiprocessing's own
    return {
        "seconds": seconds,
        "answer": answer if alive else answer + " (server died)",
        "peak_mb": peak[0],
        "server_before_mb": before,
        "server_after_mb": after,
        "left_files": left,
        "alive": alive,
    }


def run(code: Code, inputs, args) -> list[dict]:
    name = f"{SCRATCH}_{code.name}_p{os.getpid()}"
    url = cluster().ensure_database(name, drop_first=True)
    from writes import _SETUP

    code.run(url, _SETUP, url, "0", "new" if code.name == "new" else "old")
    token = admin_token(url)
    tmpdir = Path(tempfile.mkdtemp(prefix=f"gridmap-hostile-{code.name}-"))
    env = {"GRIDMAP_UPLOAD_TMP_DIR": str(tmpdir), "TMPDIR": str(tmpdir), "GRIDMAP_WORK_TIMEOUT": str(args.work_timeout)}
    server = Server(code, url, env)
    server.start()
    rows = []
    try:
        for label, route, path, form in inputs:
            before = fingerprint(url)
            row = measure(server, token, route, path, form, args.timeout, tmpdir)
            row.update(input=label, size_mb=path.stat().st_size / MB, unchanged=fingerprint(url) == before)
            rows.append(row)
            print(
                f"  [{code.name}] {label}: {row['answer']} in {row['seconds']:.1f} s, peak {row['peak_mb']:,.0f} MB",
                flush=True,
            )
            if not row["alive"] or row["answer"].startswith("no answer"):
                server.stop()
                server.start()
            for leftover in (p for p in tmpdir.iterdir() if not p.name.startswith("pymp-")):
                shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
    finally:
        server.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)
        cluster().drop_database(name)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", help="git ref to compare with (default: none)")
    ap.add_argument("--timeout", type=float, default=120.0, help="client timeout per input, seconds (default 120)")
    ap.add_argument("--work-timeout", type=float, default=30.0, help="GRIDMAP_WORK_TIMEOUT of the new code (30)")
    ap.add_argument("--bomb-gb", type=float, default=2.0, help="unpacked size of the .shp zip bomb, GB (default 2)")
    ap.add_argument("--only", nargs="*", help="run only inputs whose name contains one of these words")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridmap-hostile-inputs-") as tmp:
        print("building inputs ...", flush=True)
        inputs = build_inputs(Path(tmp), args.bomb_gb)
        if args.only:
            inputs = [i for i in inputs if any(w.lower() in i[0].lower() for w in args.only)]
        codes = [Code("new", ROOT)]
        worktree = baseline_worktree(args.baseline) if args.baseline else None
        if worktree:
            codes.append(Code("baseline", worktree))
        try:
            results = {code.name: run(code, inputs, args) for code in codes}
        finally:
            if worktree:
                drop_worktree(worktree)
    print()
    print(
        "| input | size | code | answer | seconds | peak MB (server + workers) | server MB before → after | files left | data unchanged |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for i, (label, *_rest) in enumerate(inputs):
        for name, rows in results.items():
            r = rows[i]
            print(
                f"| {label} | {r['size_mb']:,.2f} MB | {name} | {r['answer']} | {r['seconds']:.2f} | {r['peak_mb']:,.0f} | "
                f"{r['server_before_mb']:,.0f} → {r['server_after_mb']:,.0f} | {r['left_files']} | {'yes' if r['unchanged'] else 'NO'} |"
            )


if __name__ == "__main__":
    main()
