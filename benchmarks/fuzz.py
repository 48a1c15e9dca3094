"""The long fuzz run (issue 13): schemathesis over the API's OpenAPI document with many more examples
than the CI-sized ``tests/api/test_fuzz.py``, every phase (examples, coverage, fuzzing, stateful:
sequences that follow the links between operations), rollbacks for real, and a summary.

Set-up: a scratch database ``gridmap_bench_fuzz_p<pid>`` in the local cluster (migrated, the sample
county loaded; dropped at the end unless ``--keep-db``), served by a real uvicorn in this process
(``tests/support/api_server.py``) behind the counting middleware of ``tests/support/fuzzing.py``;
``st run`` runs in child processes, first without a token, then with an admin token.

    .venv/bin/python benchmarks/fuzz.py [--examples 100] [--phases examples,coverage,fuzzing,stateful]
                                        [--seed 13] [--workers 1] [--spare-versions] [--keep-db]

Prints, per run, the operations, test cases, time and failures by check, then what the server
answered (requests by status, 5xx, crashes, answers without nosniff). Exit 1 when the server
answered a 5xx, crashed, left a request unanswered, or a run reports a failure or an error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

from fuzzing import Recorder, run_schemathesis, short_event_streams, summary  # noqa: E402

SCRATCH = "gridmap_bench_fuzz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="examples per operation and phase (default 100)")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--seed", type=int, default=13, help="the same seed, the same cases (default 13)")
    # One worker: with two, schemathesis' threads may hit CPython 3.11's "AST constructor recursion
    # depth mismatch" (a SystemError in ast.parse, inside hypothesis describing a filter) — a tool error.
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers per run (default 1)")
    parser.add_argument(
        "--spare-versions", action="store_true", help="send rollbacks of the sample's versions to absent ones (faster)"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    from api_server import serve_app
    from sqlalchemy import create_engine, text

    from gridmap.api.app import create_app
    from gridmap.config import get_settings
    from gridmap.db.migrate import upgrade
    from gridmap.db.tokens import create_token
    from gridmap.devdb import LocalCluster
    from gridmap.sample.load import load_sample

    cluster = LocalCluster.from_settings(get_settings())
    cluster.up()
    name = f"{SCRATCH}_p{os.getpid()}"
    url = cluster.ensure_database(name, drop_first=True)
    started = time.monotonic()
    try:
        upgrade(url)
        engine = create_engine(url)
        load_sample(engine, get_settings().data_dir)
        with engine.begin() as conn:
            admin, _ = create_token(
                conn, name="fuzz-admin", role="admin", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            )
            versions = conn.execute(text("SELECT coalesce(max(id), 0) FROM boundary_version")).scalar_one()
        print(f"scratch database {name}: sample county loaded in {time.monotonic() - started:.0f} s", flush=True)
        recorder = Recorder(create_app(engine))
        outcomes = []
        with tempfile.TemporaryDirectory() as reports, short_event_streams(), serve_app(recorder) as base:
            for who, token in (("anon", None), ("admin", admin)):
                print(f"st run as {who}: {args.examples} examples per operation, phases {args.phases} …", flush=True)
                outcomes.append(
                    run_schemathesis(
                        base,
                        Path(reports),
                        who=who,
                        token=token,
                        max_examples=args.examples,
                        phases=args.phases,
                        seed=args.seed,
                        workers=args.workers,
                        request_timeout=120,
                        timeout=6 * 3600,
                        spare_versions=versions if args.spare_versions else 0,
                    )
                )
        engine.dispose()
    finally:
        if not args.keep_db:
            cluster.drop_database(name)
    print()
    print(summary(outcomes, recorder))
    print(f"total {time.monotonic() - started:.0f} s")
    broken = (
        recorder.server_errors
        or recorder.crashes
        or recorder.unanswered
        or recorder.without_nosniff
        or any(o.failures or o.errors or o.exit_code for o in outcomes)
    )
    if broken:
        for o in outcomes:
            if o.failures or o.errors:
                print(f"\n---- {o.who}: schemathesis' own account ----\n{o.output[-20000:]}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
