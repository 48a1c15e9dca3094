"""Fuzzing the API with schemathesis: its CLI (``st run``, in a child process) over the app's own
OpenAPI document, against a real uvicorn serving a database of the run's own; the server counts
what it answered (:class:`Recorder`), so a 5xx is seen whatever schemathesis reports.

Used by ``tests/api/test_fuzz.py`` (CI-sized: a few examples per operation, deterministic) and
``benchmarks/fuzz.py`` (many more examples, every phase, a summary).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SUPPORT = Path(__file__).resolve().parent
#: schemathesis' own checks each run asserts (plus ours, in ``fuzz_hooks``).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "gridmap_error_body",
    "gridmap_nosniff",
)


class Recorder:
    """ASGI middleware around the app under test: every answer's status, and each 5xx, crash
    (an exception out of the app), request left unanswered, or answer without
    ``X-Content-Type-Options: nosniff``."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.crashes: list[str] = []
        self.unanswered: list[str] = []
        self.without_nosniff: list[str] = []

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        what = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'')[:200].decode('latin-1')}"
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                if headers.get(b"x-content-type-options") != b"nosniff":
                    self.without_nosniff.append(f"{status} {what}")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException as exc:
            self.crashes.append(f"{what}: {type(exc).__name__}: {exc}"[:500])
            raise
        finally:
            self.statuses[status] += 1
            if status >= 500:
                self.server_errors.append(f"{status} {what}")
            elif status == 0:
                self.unanswered.append(what)


@dataclass
class Outcome:
    """One ``st run``: its exit code, JSON report, output, wall time."""

    who: str
    exit_code: int
    report: dict[str, Any]
    output: str
    seconds: float
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def operations(self) -> int:
        return int(self.report.get("operations", {}).get("tested", 0))

    @property
    def cases(self) -> int:
        return int(self.report.get("test_cases", {}).get("generated", 0))

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.report.get("errors") or [])

    def failures_of(self, codes: set[str]) -> dict[str, int]:
        return {name: n for name, n in self.failures.items() if name.split(" ", 1)[0] in codes}


def run_schemathesis(
    base: str,
    report_dir: Path,
    *,
    who: str,
    token: str | None = None,
    max_examples: int = 5,
    phases: str = "examples,coverage,fuzzing",
    checks: tuple[str, ...] = CHECKS,
    seed: int | None = None,
    workers: int = 1,
    request_timeout: float = 30,
    timeout: float = 600,
    spare_versions: int = 0,
    extra: tuple[str, ...] = (),
) -> Outcome:
    """``st run`` over ``base``/openapi.json as ``who`` (``token``: an ``Authorization: Bearer``
    header on every request). Deterministic when ``seed`` is None (the same cases every run);
    ``spare_versions``: see ``fuzz_hooks``. Raises ``subprocess.TimeoutExpired`` past ``timeout``."""
    report = report_dir / f"schemathesis-{who}.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--max-examples",
        str(max_examples),
        "--phases",
        phases,
        "--checks",
        ",".join(checks),
        "--workers",
        str(workers),
        "--request-timeout",
        str(request_timeout),
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        "--warnings",
        "off",
        *(["--generation-deterministic"] if seed is None else ["--seed", str(seed), "--generation-database", "none"]),
        *(["--header", f"Authorization: Bearer {token}"] if token else []),
        *extra,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "GRIDMAP_FUZZ_SPARE_VERSIONS": str(spare_versions),
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=report_dir, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    document = json.loads(report.read_text()) if report.exists() else {}
    failures = {f"{f['code']} {f['title']}": int(f["count"]) for f in document.get("failures") or []}
    return Outcome(who, done.returncode, document, output, seconds, failures)


@contextmanager
def short_event_streams(seconds: float = 1.0):
    """``/events/revision`` streams end after ``seconds`` instead of minutes: schemathesis reads an
    answer to its end, and an open stream would hold each request for the stream's whole life."""
    from gridmap.api.routers import events

    saved = events.MAX_STREAM_S, events.WAIT_S
    events.MAX_STREAM_S, events.WAIT_S = seconds, seconds / 2
    try:
        yield
    finally:
        events.MAX_STREAM_S, events.WAIT_S = saved


def summary(outcomes: list[Outcome], recorder: Recorder) -> str:
    """The figures of a fuzz run, for people: per run the operations, cases, time, failures by
    check and errors; then what the server answered (requests by status, 5xx, crashes)."""
    lines = []
    for o in outcomes:
        lines.append(
            f"{o.who:>6}: {o.operations} operations, {o.cases} test cases, {o.seconds:.1f} s, exit {o.exit_code}"
        )
        for name, n in sorted(o.failures.items()):
            lines.append(f"        failure {name}: {n}")
        for error in o.errors:
            lines.append(f"        error {error.get('title')}: {error.get('count')}")
    by_status = ", ".join(f"{s}: {n}" for s, n in sorted(recorder.statuses.items()))
    lines.append(f"server: {recorder.requests} requests ({by_status})")
    lines.append(
        f"server: {len(recorder.server_errors)} 5xx, {len(recorder.crashes)} crashes, "
        f"{len(recorder.unanswered)} unanswered, {len(recorder.without_nosniff)} answers without nosniff"
    )
    lines.extend(f"        5xx {e}" for e in recorder.server_errors[:20])
    lines.extend(f"        crash {e}" for e in recorder.crashes[:20])
    lines.extend(f"        unanswered {e}" for e in recorder.unanswered[:20])
    lines.extend(f"        no nosniff {e}" for e in recorder.without_nosniff[:20])
    return "\n".join(lines)
