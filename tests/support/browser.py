"""Helpers for the page tests: Debian's chromium driven by playwright, with every request that
leaves this machine refused and recorded, and screenshots kept under ``test-artifacts/screenshots``.

The pages send a Content-Security-Policy without ``unsafe-eval``, so waiting uses
:func:`wait_for` (polls ``page.evaluate``, which the policy does not restrict) rather than
playwright's ``wait_for_function`` (which evaluates its predicate with ``eval`` in the page).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
from shapely import affinity
from sqlalchemy import Engine, text

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--no-default-browser-check",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def require_chromium() -> None:
    """Fail (not skip) when Debian's chromium is missing: CI installs it (``make test``)."""
    if not CHROMIUM.exists():
        raise AssertionError(
            f"{CHROMIUM} is missing: the page tests need Debian's chromium "
            "(apt-get install chromium; `make test` installs it)."
        )


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in {h.strip("[]") for h in LOCAL_HOSTS}


class Browser:
    """One chromium for a test module; :meth:`page` opens a page whose non-local requests are
    aborted and listed in ``external`` (every test asserts it stays empty)."""

    def __init__(self, playwright, args: list[str] | None = None):
        require_chromium()
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args or CHROMIUM_ARGS)
        self.external: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []  # answers >= 400 (a test clears the ones it expects)

    def page(self, width: int = 1920, height: int = 1080):
        context = self.browser.new_context(
            viewport={"width": width, "height": height},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            service_workers="block",
        )
        context.route("**/*", self._route)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc} {getattr(exc, 'stack', '')}"))
        page.on("console", self._console)
        page.on(
            "response",
            lambda r: self.failed.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None,
        )
        return page

    def _console(self, msg) -> None:
        # failed requests are recorded with their URL by the response handler
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(f"console error: {msg.text}")

    def _route(self, route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def close(self) -> None:
        self.browser.close()


def wait_for(page, expression: str, timeout: float = 30.0, what: str | None = None):
    """Poll ``expression`` (JavaScript) until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or expression} (last value {value!r})")


def wait_idle(page, timeout: float = 30.0) -> None:
    """Until the page's tiles and API requests are done (``window.gm.idle()``), twice in a row
    a few frames apart (a finished fetch may start the next step)."""
    for _ in range(2):
        wait_for(page, "!!(window.gm && window.gm.idle())", timeout, "the page to be idle")
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        time.sleep(0.15)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


#: For pages that draw with WebGL (MapLibre GL JS): software WebGL (SwiftShader through ANGLE)
#: instead of ``--disable-gpu``'s none.
WEBGL_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


@contextmanager
def playwright_browser(args: list[str] | None = None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = Browser(playwright, args)
        try:
            yield browser
        finally:
            browser.close()


# ------------------------------------------------------------------------------------------------
# Data for the pages
# ------------------------------------------------------------------------------------------------


def representative_point(engine: Engine, level: int, *, min_area_m2: float = 0) -> tuple[str, float, float]:
    """(code, lon, lat) of a largish area of ``level``: a point well inside it, easy to click."""
    with engine.connect() as conn:
        row = conn.execute(
            text("""
            SELECT code, ST_X(p), ST_Y(p) FROM (
              SELECT code, area_m2, ST_PointOnSurface(ST_Buffer(geom::geography, -60)::geometry) AS p
              FROM area WHERE level = :level AND area_m2 >= :min ORDER BY area_m2 DESC LIMIT 5) s
            WHERE NOT ST_IsEmpty(p) ORDER BY code LIMIT 1"""),
            {"level": level, "min": min_area_m2},
        ).one()
    return row[0], float(row[1]), float(row[2])


def defective_boundary_file(engine: Engine, folder: Path, *, shift_m: float = 40.0) -> tuple[Path, str, str]:
    """A GeoJSON of one village's grids and micro-grids in which one micro-grid is moved
    ``shift_m`` east (so it overlaps its neighbour and leaves a gap). Returns (path, village code,
    moved micro-grid code)."""
    with engine.connect() as conn:
        village = conn.execute(
            text("""
            SELECT v.code FROM area v WHERE v.level = 2
            AND (SELECT count(*) FROM area g WHERE g.parent_code = v.code) BETWEEN 2 AND 4
            ORDER BY v.code LIMIT 1""")
        ).scalar_one()
        frame = gpd.read_postgis(
            text("""
            SELECT code, name, parent_code, level, kind, households, worker_name, worker_phone, geom
            FROM area WHERE code LIKE :prefix AND level >= 3 ORDER BY level, code"""),
            conn,
            params={"prefix": village + "%"},
            geom_col="geom",
        )
    micro = frame.index[frame["level"] == 4]
    moved = micro[len(micro) // 2]
    latitude = frame.geometry[moved].centroid.y
    degrees = shift_m / (111_320 * math.cos(math.radians(latitude)))
    frame.loc[moved, "geom"] = affinity.translate(frame.geometry[moved], xoff=degrees)
    frame = frame.set_crs(4490, allow_override=True)
    path = folder / f"defective_{village}.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path, village, str(frame.loc[moved, "code"])
