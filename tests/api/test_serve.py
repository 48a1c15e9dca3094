"""`gridmap serve` as a real process: uvicorn with the app factory, its own engine, then stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_the_app_on_the_configured_database(loaded_engine):
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": loaded_engine.url.render_as_string(hide_password=False)}
    gridmap = Path(sys.executable).with_name("gridmap")
    proc = subprocess.Popen(
        [str(gridmap), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "gridmap serve did not answer within 60 s"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["areas"] == 12195
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10)
        assert docs.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/map" in out
    assert proc.returncode == 0, out


def test_the_access_log_carries_no_token_from_a_header_or_a_url(loaded_engine):
    """uvicorn's access lines (as ``gridmap serve`` configures them) name the path and query but
    never the Authorization header; every ``token=`` in the URL, however spelled, is ***."""
    import urllib.parse

    from api_tokens import make_token

    embed = make_token(loaded_engine, "embed", name="access-log-embed")
    admin = make_token(loaded_engine, "admin", name="access-log-admin")
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": loaded_engine.url.render_as_string(hide_password=False)}
    gridmap = Path(sys.executable).with_name("gridmap")
    proc = subprocess.Popen(
        [str(gridmap), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    secrets = [embed, admin, "gm_not_a_real_one_1", "gm_not_a_real_one_2"]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "gridmap serve did not start"
                time.sleep(0.2)
        quoted = urllib.parse.quote(embed)
        urls = [
            f"/tiles/county/0/0/0.mvt?token={embed}",
            f"/tiles/county/0/0/0.mvt?v=1&TOKEN={embed}",
            f"/tiles/county/0/0/0.mvt?to%6Ben={quoted}",  # the server reads this as token=
            f"/tiles/county/0/0/0.mvt?token=gm_not_a_real_one_1&token={embed}",
            "/embed?x=1;token=gm_not_a_real_one_2",
        ]
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get(f"/tiles/county/0/0/0.mvt?to%6Ben={quoted}").status_code == 200  # used as a token
            for url in urls:
                http.get(url)
            assert http.get("/api/v1/uploads", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
            http.get("/api/v1/summary", headers={"Authorization": "Bearer gm_not_a_real_one_1"})
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "GET /api/v1/uploads HTTP/1.1" in out and "token=***" in out  # the access log is on
    for secret in secrets:
        assert secret not in out and urllib.parse.quote(secret) not in out, secret
