"""The README's facts that drift: the number of tests it states is the number pytest collects."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import COLLECTED

ROOT = Path(__file__).resolve().parents[2]


def _collected_by_a_fresh_pytest() -> int:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(ROOT / "tests")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    match = re.search(r"^(\d+) tests? collected", collected.stdout, re.M)
    assert match, collected.stdout[-2000:] + collected.stderr[-2000:]
    return int(match.group(1))


def test_the_readme_states_the_number_of_tests(request):
    # The whole suite was collected (make test, CI): its count is known; a run of a few files asks
    # a fresh pytest for it.
    whole = [Path(a).resolve() for a in request.config.args] in ([ROOT / "tests"], [ROOT])
    count = request.config.stash[COLLECTED] if whole else _collected_by_a_fresh_pytest()
    stated = re.search(r"the whole\s+suite, (\d+) tests", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "README: the Tests section should say how many tests there are"
    assert int(stated.group(1)) == count, "update the test count in README.md (## Tests)"
