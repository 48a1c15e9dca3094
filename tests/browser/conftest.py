"""The page tests' shared fixtures: one chromium per module, and after each test that used it, no
request left this machine, no page script failed and no request failed."""

from __future__ import annotations

import pytest
from browser import playwright_browser


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium; fails (never skips) with how to install it when it is missing."""
    with playwright_browser() as b:
        yield b


@pytest.fixture(autouse=True)
def no_external_requests(request):
    """After each browser test: no request left this machine, and no page script failed."""
    yield
    if "browser" in request.fixturenames:
        b = request.getfixturevalue("browser")
        external, errors, failed = list(b.external), list(b.errors), list(b.failed)
        b.external.clear(), b.errors.clear(), b.failed.clear()
        assert external == [], f"pages requested external URLs: {external[:10]}"
        assert errors == [], f"page errors: {errors[:10]}"
        assert failed == [], f"{len(failed)} requests failed: {failed[:10]}"
