"""A static file server with HTTP range requests and CORS, for the offline-package page tests: it
stands for the screen network's own web server (nginx, IIS …) holding a ``.pmtiles`` file, on
another origin than gridmap. ``ranges=False`` makes it a server without byte serving (like
``python -m http.server``): it answers every request with the whole file. :func:`serve_static`
is Python's own static server (a screen bundle's folder, ``gridmap export-screen``)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@contextmanager
def serve_files(folder: Path, *, ranges: bool = True) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` at a free localhost port; yields (base URL, the request log: "METHOD path range")."""
    log: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _cors(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "Range")
            self.send_header("Access-Control-Expose-Headers", "Content-Range, Content-Length, ETag")

        def do_OPTIONS(self) -> None:
            log.append(f"OPTIONS {self.path}")
            self.send_response(204)
            self._cors()
            self.end_headers()

        def do_GET(self) -> None:
            path = folder / self.path.split("?")[0].lstrip("/")
            asked = self.headers.get("Range")
            log.append(f"GET {self.path} {asked or ''}".rstrip())
            if not path.is_file() or path.resolve().parent != folder.resolve():
                self.send_response(404)
                self._cors()
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", asked or "") if ranges else None
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
                body = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self._cors()
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with _running(Handler) as base:
        yield base, log


@contextmanager
def serve_static(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """``folder`` served by Python's own static file server (``python3 -m http.server``'s handler:
    no range requests, no CORS), as a screen's plain web server would; yields (base URL, the
    request log: "METHOD path range")."""
    log: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:  # quiet
            pass

        def send_head(self):  # every GET and HEAD comes through here
            log.append(f"{self.command} {self.path} {self.headers.get('Range') or ''}".rstrip())
            return super().send_head()

    with _running(Handler) as base:
        yield base, log


@contextmanager
def _running(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on a free localhost port in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
