"""``gridmap export-screen DIR`` (:mod:`gridmap.maps.screen`): the folder holds the pages, every
file they name (relative URLs only), the package and its manifest; a folder that is neither empty
nor an earlier bundle is refused, an earlier bundle replaced; bad options get stable codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pmtiles.reader import MmapSource, Reader
from typer.testing import CliRunner

from gridmap.cli.app import app

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def _run(args: list[str]):
    return CliRunner().invoke(app, ["export-screen", *args])


def test_export_screen_writes_a_self_contained_folder(loaded_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", loaded_engine.url.render_as_string(hide_password=False))
    dest = tmp_path / "screen"
    result = _run([str(dest), "--level", "village", "--metric", "rollout_rate", "--theme", "light", "--maxzoom", "10"])
    assert result.exit_code == 0, result.output
    assert "已写入大屏包" in result.stdout and "第 10 级" in result.stderr
    names = {p.name for p in dest.iterdir()}
    assert {"index.html", "map.html", "gridmap.pmtiles", "bundle.json", "web.config", "static"} <= names
    assert [p.name for p in tmp_path.iterdir()] == ["screen"]  # no temporary folder left

    for page in ("index.html", "map.html"):
        html = (dest / page).read_text(encoding="utf-8")
        assert '<meta http-equiv="Content-Security-Policy" content="default-src \'self\';' in html
        assert "frame-ancestors" not in html and "__GM_" not in html
        for url in ASSET.findall(html):
            path = url.split("?")[0]
            if path.startswith(("./", "#")):  # the server's other pages (hidden offline), anchors
                continue
            assert not path.startswith(("/", "http:", "https:")), url
            assert (dest / path).is_file(), url
    for module in ("common.js", "embed.js", "map.js", "package.js"):
        assert (dest / "static" / "js" / module).is_file()
    for vendored in (
        "leaflet/leaflet.js",
        "leaflet/images/layers.png",
        "vendor/pmtiles/pmtiles.js",
        "vendor/pmtiles/LICENSE",
    ):
        assert (dest / "static" / vendored).is_file()
    assert not (dest / "static" / "vendor" / "swagger-ui").exists()

    config = json.loads(re.search(r'id="gm-config">(.*?)</script>', (dest / "index.html").read_text()).group(1))
    assert config["page"] == {
        "name": "embed",
        "layer": "village",
        "metric": "rollout_rate",
        "theme": "light",
        "cameras": False,
        "summary": True,
        "refresh": 0,
        "package": "gridmap.pmtiles",
    }
    assert config["base"] == "./" and config["basemap"] is None
    manifest = json.loads((dest / "bundle.json").read_text())
    assert manifest["maxzoom"] == 10 and manifest["tiles"] > 0 and "county" in manifest["layers"]
    with (dest / "gridmap.pmtiles").open("rb") as f:
        assert Reader(MmapSource(f)).metadata()["gridmap_revision"] == manifest["revision"]

    # An earlier bundle is replaced; any other non-empty folder is refused.
    result = _run([str(dest), "--maxzoom", "8", "--layers", "county,township", "--level", "township"])
    assert result.exit_code == 0, result.output
    assert json.loads((dest / "bundle.json").read_text())["maxzoom"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["screen"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    cases = [
        ([str(other)], "target_not_empty"),
        ([str(tmp_path / "x"), "--level", "street"], "invalid_option"),
        ([str(tmp_path / "x"), "--theme", "blue"], "invalid_option"),
        ([str(tmp_path / "x"), "--layers", "county", "--level", "grid"], "invalid_option"),
        ([str(tmp_path / "x"), "--level", "microgrid", "--maxzoom", "11"], "invalid_option"),
        ([str(tmp_path / "missing" / "x")], "invalid_option"),
        ([str(tmp_path / "x"), "--minzoom", "9", "--maxzoom", "3"], "invalid_option"),
    ]
    for args, code in cases:
        result = _run(args)
        assert result.exit_code == 2, (args, result.output)
        assert f"（{code}）" in result.stderr, (args, result.stderr)
    assert (other / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "screen"]


def test_a_bundle_page_is_rendered_like_the_servers(tmp_path):
    """The bundle's pages are the server's templates: same body, relative asset URLs."""
    from gridmap.config import get_settings
    from gridmap.maps.screen import page_html

    html = page_html("embed.html", {"name": "embed", "layer": "grid"}, get_settings())
    assert 'src="static/leaflet/leaflet.js?v=' in html and 'type="module" src="static/js/embed.js?v=' in html
    assert Path(tmp_path).is_dir()
