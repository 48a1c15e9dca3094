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
