"""Fuzzing (issue 13, "hard to break"): schemathesis generates requests from the app's own OpenAPI
document — valid ones, and invalid ones for every parameter, header and body — and sends them to a
real uvicorn on a database of this module's own (writes change it; that is what it is for), once
without a token and once with an admin token.

CI-sized: a few examples per operation, deterministic (the same cases every run), bounded in time.
Whatever schemathesis reports, the server's own count (``fuzzing.Recorder``) must show no 5xx, no
crash and ``nosniff`` on every answer; schemathesis' checks must find no answer that breaks the
OpenAPI document (status, content type, schema) or the standard error body. The longer run, with
every phase and many more examples, is ``benchmarks/fuzz.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from api_server import serve_app
from api_tokens import make_token
from conftest import loaded_database
from fuzzing import CHECKS, Recorder, run_schemathesis, short_event_streams, summary
from sqlalchemy import text

from gridmap.api.app import create_app

pytestmark = pytest.mark.slow

#: Examples per operation and phase: enough to try every parameter with bad values (the coverage
#: phase does that whatever this number), small enough for CI (about 1,000 requests, under a minute).
EXAMPLES = 5
OPERATIONS = 43  # in the OpenAPI document (the test says so when a route is added)


@pytest.fixture(scope="module")
def fuzz_server():
    _, engine = loaded_database("gridmap_test_fuzz")
    admin = make_token(engine, "admin", name="fuzz-admin")
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT coalesce(max(id), 0) FROM boundary_version")).scalar_one()
    recorder = Recorder(create_app(engine))
    with short_event_streams(), serve_app(recorder) as base:
        yield base, admin, recorder, versions
    engine.dispose()


def test_fuzzing_the_openapi_finds_no_server_error_and_no_broken_answer(fuzz_server, tmp_path):
    base, admin, recorder, versions = fuzz_server
    # Both at once (two processes: the machine's two cores), as a screen and an editor would.
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(
                run_schemathesis, base, tmp_path, who=who, token=token, max_examples=EXAMPLES, spare_versions=versions
            )
            for who, token in (("anon", None), ("admin", admin))
        ]
        outcomes = [run.result() for run in runs]
    print(summary(outcomes, recorder))
    assert recorder.requests > 500  # the fuzz did reach the server
    assert not recorder.server_errors, recorder.server_errors[:10]
    assert not recorder.crashes, recorder.crashes[:10]
    assert not recorder.unanswered, recorder.unanswered[:10]
    assert not recorder.without_nosniff, recorder.without_nosniff[:10]
    for outcome in outcomes:
        assert outcome.report, outcome.output[-3000:]  # the JSON report was written
        assert outcome.operations == OPERATIONS, outcome.report.get("operations")
        assert not outcome.errors, outcome.output[-5000:]
        assert not outcome.failures, outcome.output[-8000:]
        assert outcome.exit_code == 0, outcome.output[-3000:]
    assert set(CHECKS) >= {"not_a_server_error", "gridmap_error_body", "gridmap_nosniff"}
