"""Hostile uploads against a real server: each is refused within its limit with a stable code, the
worker that read it is gone, its temporary files are removed and the live data is unchanged.

The files are built here, small where the limit allows (a bomb need not be large to exceed a
small configured limit). The pathological polygon is a self-crossing star {n/k} (k = (n-1)/2):
n vertices, ~n²/4 self-intersections; validating it takes ~n² time and memory (401 vertices: ~6 s
and 410 MB; 801: ~24 s and 940 MB), however few vertices it has, so only a wall-clock or memory
bound stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from api_server import client, serve
from api_tokens import OTHER, SCOPE, make_token
from conftest import loaded_database
from db_state import checksums, revision

#: A village code inside the editor's scope (the sample's first township).
VILLAGE = f"{SCOPE}001"


def star(n: int) -> shapely.Polygon:
    """The self-crossing star {n/k}, k = (n-1)//2, about 2 km across inside the sample county."""
    k = (n - 1) // 2
    t = np.arange(n) * 2 * np.pi * k / n
    return shapely.Polygon(np.c_[115.42 + 0.01 * np.cos(t), 33.88 + 0.01 * np.sin(t)])


def gpkg(path: Path, geometry, code: str = VILLAGE) -> Path:
    gpd.GeoDataFrame({"code": [code], "name": ["测试村"]}, geometry=[geometry], crs=4490).to_file(path)
    return path


def post(http: httpx.Client, path: Path, route: str = "/api/v1/uploads/boundaries", **form) -> httpx.Response:
    with open(path, "rb") as f:
        return http.post(route, files={"file": (path.name, f)}, data=form)


def worker_pids(parent: int) -> set[int]:
    """Processes descending from ``parent`` (the forkserver and the workers it forked)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [parent]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_hostile")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def tokens(engine):
    return {
        "admin": make_token(engine, "admin"),
        "editor": make_token(engine, "editor", SCOPE),
        "editor2": make_token(engine, "editor", SCOPE, name="second editor"),
    }


@pytest.fixture
def unpacked(tmp_path):
    """Where the server writes and unpacks uploads (``GRIDMAP_UPLOAD_TMP_DIR``): empty after each request."""
    path = tmp_path / "uploads"
    path.mkdir()
    return path


@pytest.fixture
def untouched(engine):
    """Asserts that the live data and its revision are the same after the test."""
    before = checksums(engine), revision(engine)
    yield
    assert (checksums(engine), revision(engine)) == before


# ------------------------------------------------------------------------------------ limits


def test_a_self_crossing_star_is_stopped_at_the_wall_clock_limit(engine, tokens, unpacked, tmp_path, untouched):
    path = gpkg(tmp_path / "star.gpkg", star(801))
    with serve(engine, work_timeout_s=2, upload_tmp_dir=unpacked) as base, client(base, tokens["admin"]) as http:
        started = time.monotonic()
        r = post(http, path, parent_code=SCOPE)
        took = time.monotonic() - started
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_timeout" and "2 秒" in body["message"] and "拆分" in body["message"]
    assert body["detail"]["timeout_s"] == 2
    assert took < 2 + 3, took  # the limit, plus starting the worker and answering
    assert not any(unpacked.iterdir())


def test_a_polygon_needing_more_memory_than_the_limit_is_too_complex(engine, tokens, unpacked, tmp_path, untouched):
    path = gpkg(tmp_path / "star.gpkg", star(801))  # ~940 MB to validate
    limit = 800  # MB of address space: the worker starts with ~530 MB mapped
    with (
        serve(engine, work_memory_mb=limit, work_timeout_s=60, upload_tmp_dir=unpacked) as base,
        client(base, tokens["admin"]) as http,
    ):
        server_before = _rss_mb()
        r = post(http, path, parent_code=SCOPE)
        server_after = _rss_mb()
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "too_complex" and f"{limit:,}" in body["message"], body
    assert body["detail"]["seconds"] < 30
    assert body["detail"]["peak_mb"] <= limit
    assert server_after - server_before < 100  # the server itself did not carry the work
    assert not any(unpacked.iterdir())


def test_vertex_and_feature_limits_refuse_before_validating(engine, tokens, tmp_path, untouched):
    circle = shapely.Point(115.42, 33.88).buffer(0.01, quad_segs=5000)  # 20,001 vertices, valid
    path = gpkg(tmp_path / "circle.gpkg", circle)
    many = tmp_path / "many.gpkg"
    cells = shapely.box(*np.c_[np.arange(300) * 1e-4 + 115.4, np.full(300, 33.88)].T.repeat(2, axis=0))
    gpd.GeoDataFrame({"code": [f"{VILLAGE}{i:03d}" for i in range(300)]}, geometry=cells, crs=4490).to_file(many)
    with (
        serve(engine, max_feature_vertices=10_000, max_file_vertices=50_000, max_features=200) as base,
        client(base, tokens["editor"]) as http,
    ):
        one = post(http, path)
        features = post(http, many)
    assert one.status_code == 413, one.text
    assert one.json()["code"] == "too_many_vertices"
    assert one.json()["detail"]["vertices"] == 20_001 and "10,000" in one.json()["message"]
    assert features.status_code == 413 and features.json()["code"] == "too_many_features", features.text


def test_the_stored_report_lists_a_bounded_number_of_issues(engine, tokens, tmp_path, untouched):
    # 40 villages of the editor's township overlapping each other: many findings, 5 listed.
    boxes = [shapely.box(115.40 + i * 1e-3, 33.87, 115.40 + i * 1e-3 + 2e-3, 33.872) for i in range(40)]
    path = tmp_path / "overlaps.gpkg"
    gpd.GeoDataFrame({"code": [f"{SCOPE}{i + 1:03d}" for i in range(40)]}, geometry=boxes, crs=4490).to_file(path)
    with serve(engine, max_report_issues=5) as base, client(base, tokens["admin"]) as http:
        r = post(http, path, parent_code=SCOPE)
        assert r.status_code == 201, r.text
        stored = http.get(f"/api/v1/uploads/{r.json()['upload_id']}").json()
    report = stored["report"]
    assert len(report["issues"]) == 5 and report["issues_truncated"] is True
    assert report["issues_total"] == report["summary"]["errors"] + report["summary"]["warnings"] > 5
    assert all(i["severity"] == "error" for i in report["issues"])  # errors first


def test_an_archive_holding_archives_is_refused_by_name(engine, tokens, tmp_path, untouched):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("a.txt", "x")
    outer = tmp_path / "townships.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(inner, "乡镇一.zip")
        z.write(inner, "乡镇二.zip")
    with serve(engine) as base, client(base, tokens["editor"]) as http:
        r = post(http, outer)
    assert r.status_code == 422 and r.json()["code"] == "archive_nested", r.text
    assert "乡镇一.zip" in r.json()["message"]


# ------------------------------------------------------------------------------------ editors first


def test_an_editor_is_refused_on_the_declared_scope_before_the_file_is_read(engine, tokens, unpacked, tmp_path):
    path = gpkg(tmp_path / "star.gpkg", star(801))  # would hold a worker for ~24 s
    with serve(engine, upload_tmp_dir=unpacked) as base, client(base, tokens["editor"]) as http:
        started = time.monotonic()
        r = post(http, path, parent_code=OTHER)
        wrong_type = http.post("/api/v1/uploads/boundaries", files={"file": ("register.docx", b"PK\x03\x04 not read")})
        took = time.monotonic() - started
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope", r.text
    assert wrong_type.status_code == 422 and wrong_type.json()["code"] == "unsupported_format", wrong_type.text
    assert took < 2, took
    assert not any(unpacked.iterdir())


def test_one_token_cannot_queue_unbounded_work(engine, tokens, unpacked, tmp_path, untouched):
    slow = gpkg(tmp_path / "star.gpkg", star(401))  # ~6 s to validate
    with (
        serve(engine, uploads_per_token=1, upload_workers=2, work_timeout_s=1.5, upload_tmp_dir=unpacked) as base,
        client(base, tokens["editor"]) as first,
        client(base, tokens["editor"]) as same_token,
        client(base, tokens["editor2"]) as other_token,
        client(base, tokens["admin"]) as third,
        ThreadPoolExecutor(3) as pool,
    ):
        running = pool.submit(post, first, slow, parent_code=SCOPE)
        _wait_for(lambda: any(unpacked.iterdir()))  # the first upload is being worked on
        again = post(same_token, slow, parent_code=SCOPE)
        other = pool.submit(post, other_token, slow, parent_code=SCOPE)
        _wait_for(lambda: len(list(unpacked.iterdir())) >= 2)
        busy = post(third, slow, parent_code=SCOPE)
        outcomes = [running.result().json()["code"], other.result().json()["code"]]
    assert again.status_code == 429 and again.json()["code"] == "too_many_uploads", again.text
    assert again.headers["Retry-After"]
    assert busy.status_code == 429 and busy.json()["code"] == "server_busy", busy.text
    assert outcomes == ["validation_timeout", "validation_timeout"]
    assert not any(unpacked.iterdir())


# ------------------------------------------------------------------------------------ request bodies


def raw_request(base: str, head: str, chunks: list[bytes] = ()) -> tuple[int, bytes, float]:
    """Send a request's head and then ``chunks`` over a socket (stopping when the server answers
    and closes); returns the status, the answer and the seconds it took."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed: the rest is not read
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return int(answer.split(b" ", 2)[1]), answer, time.monotonic() - started


def test_bodies_over_the_limit_are_refused_unread(engine, tokens):
    auth = f"Authorization: Bearer {tokens['editor']}\r\n"
    form = "Content-Type: multipart/form-data; boundary=b\r\n"
    with serve(engine, max_upload_mb=1) as base:
        # Declares 50 MB and sends nothing more: answered from the header alone.
        declared, answer, took = raw_request(
            base, f"POST /api/v1/uploads/boundaries HTTP/1.1\r\nHost: x\r\n{auth}{form}Content-Length: 52428800\r\n\r\n"
        )
        assert declared == 413 and b"file_too_large" in answer and took < 5, answer[:300]
        # Chunked, no length: refused once past the limit, the rest never read.
        start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.gpkg"\r\n\r\n'
        chunk = b"x" * (256 * 1024)
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        streamed, answer, took = raw_request(
            base,
            f"POST /api/v1/uploads/boundaries HTTP/1.1\r\nHost: x\r\n{auth}{form}Transfer-Encoding: chunked\r\n\r\n",
            [f"{len(start):x}\r\n".encode() + start + b"\r\n"] + [piece] * 400,  # a file of 100 MB offered
        )
        assert streamed == 413 and b"file_too_large" in answer, answer[:300]
        with client(base, tokens["editor"]) as http:
            assert http.get("/api/v1/uploads").status_code == 200  # the server is fine


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("multipart/form-data", b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", 400, "malformed_form"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=file; filename=a.gpkg\r\n", 422, "file_required"),
        ("multipart/form-data; boundary=b", b"garbage without any boundary", 400, "malformed_form"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=file; filename=a.gpkg\r\n\r\nab\r\n--b\r\nContent-Disposition: form-data; name=file; filename=b.gpkg\r\n\r\ncd\r\n--b--\r\n", 400, "malformed_form"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\ntext\r\n--b--\r\n", 422, "file_required"),
        ("application/json", b'{"file": "x"}', 415, "form_required"),
    ],
)  # fmt: skip
def test_malformed_forms_are_client_errors(engine, tokens, content_type, body, status, code):
    with serve(engine) as base, client(base, tokens["editor"]) as http:
        for route in ("/api/v1/uploads/boundaries", "/api/v1/uploads/cameras"):
            r = http.post(route, content=body, headers={"Content-Type": content_type})
            assert (r.status_code, r.json()["code"]) == (status, code), (route, r.text)


def test_a_status_push_is_bounded_far_below_an_upload(engine, tokens):
    reports = b"[" + b",".join([b'{"device_id": "41162800011318000001", "online": true}'] * 40_000) + b"]"  # ~2 MB
    with serve(engine, max_status_mb=1) as base, client(base, tokens["editor"]) as http:
        as_json = http.post("/api/v1/cameras/status", content=reports, headers={"Content-Type": "application/json"})
        as_form = http.post("/api/v1/cameras/status", files={"file": ("status.json", reports)})
    for r in (as_json, as_form):
        assert r.status_code == 413 and r.json()["code"] == "file_too_large", r.text
        assert "GRIDMAP_MAX_STATUS_MB" in r.json()["message"]


def test_form_options_are_validated_like_parameters(engine, tokens, tmp_path):
    path = gpkg(tmp_path / "ok.gpkg", shapely.box(115.40, 33.87, 115.41, 33.88))
    with serve(engine) as base, client(base, tokens["editor"]) as http:
        r = post(http, path, level="9", parent_code="41a")
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
    assert {p["where"] for p in r.json()["detail"]} >= {"body.level", "body.parent_code"}


# ------------------------------------------------------------------------------------ shutdown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_stops_the_server_promptly_with_an_upload_in_flight(engine, tokens, tmp_path):
    from gridmap.cli.app import SHUTDOWN_GRACE_S

    unpacked = tmp_path / "uploads"
    unpacked.mkdir()
    path = gpkg(tmp_path / "star.gpkg", star(1201))  # ~30 s of work
    port = _free_port()
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GRIDMAP_UPLOAD_TMP_DIR": str(unpacked),
        "GRIDMAP_WORK_TIMEOUT": "600",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gridmap")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    answers: list[httpx.Response | Exception] = []
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _answers(f"{base}/healthz"), timeout=60)

        def upload() -> None:
            try:
                with client(base, tokens["admin"]) as http:
                    answers.append(post(http, path, parent_code=SCOPE))
            except Exception as exc:  # the connection may be closed by the stopping server
                answers.append(exc)

        thread = threading.Thread(target=upload)
        thread.start()
        _wait_for(lambda: any(unpacked.iterdir()), timeout=30)
        time.sleep(1)  # the worker is validating
        workers = worker_pids(proc.pid)
        assert workers, "no worker process"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=SHUTDOWN_GRACE_S + 20)
        took = time.monotonic() - started
        thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert took < SHUTDOWN_GRACE_S + 5, (took, out)
    assert not [pid for pid in workers if alive(pid)], out
    assert not any(unpacked.iterdir())
    assert answers and (isinstance(answers[0], Exception) or answers[0].status_code == 503), (answers[0].text, out)


# ------------------------------------------------------------------------------------ helpers


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
