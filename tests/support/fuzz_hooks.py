"""Schemathesis hooks and checks of gridmap's fuzz runs (loaded by ``st run`` through
``SCHEMATHESIS_HOOKS=fuzz_hooks``, see :mod:`fuzzing`).

Checks, on top of schemathesis' own:

- ``gridmap_error_body``: every 4xx/5xx answer is the standard error body: JSON ``{"code",
  "message", "detail"}``, ``code`` stable snake_case, ``message`` Chinese;
- ``gridmap_nosniff``: every answer carries ``X-Content-Type-Options: nosniff``.

With ``GRIDMAP_FUZZ_SPARE_VERSIONS=N`` (the CI-sized run) a rollback aimed at one of the first N
boundary versions (each the whole sample county: about 12 s of publishing) is sent to a version
that does not exist instead: the request still goes through every check and parser of the route,
without the work. The long run (``benchmarks/fuzz.py``) rolls back for real.
"""

from __future__ import annotations

import os
import re

import schemathesis

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SPARE = int(os.environ.get("GRIDMAP_FUZZ_SPARE_VERSIONS", "0") or 0)


@schemathesis.check
def gridmap_error_body(ctx, response, case) -> None:
    """A refusal or failure is ``{"code", "message", "detail"}`` JSON with a Chinese message."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error answer is {content_type!r}, not JSON"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"code", "message", "detail"}, f"not the error body: {body!r:.200}"
    assert isinstance(body["code"], str) and _CODE.match(body["code"]), f"code {body['code']!r} is not snake_case"
    assert isinstance(body["message"], str) and _CJK.search(body["message"]), f"message {body['message']!r:.100}"


@schemathesis.check
def gridmap_nosniff(ctx, response, case) -> None:
    """Every answer says ``X-Content-Type-Options: nosniff``."""
    values = response.headers.get("x-content-type-options", [])
    assert values == ["nosniff"], f"X-Content-Type-Options: {values!r}"


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    if not _SPARE or not case.operation.path.endswith("/rollback"):
        return
    version = str((case.path_parameters or {}).get("version_id", ""))
    if version.isascii() and version.isdigit() and 1 <= int(version) <= _SPARE:
        case.path_parameters["version_id"] = 10**12 + int(version)
