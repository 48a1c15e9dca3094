"""The basemap settings (issue 15): ``GRIDMAP_TIANDITU_KEY``, ``GRIDMAP_BASEMAPS``,
``GRIDMAP_BASEMAP_URL``, ``GRIDMAP_BASEMAP_DEFAULT`` and ``GRIDMAP_BASEMAP_CUSTOM`` read from the
environment, their URLs normalised to Leaflet tile templates, bad values refused at start with the
variable named, and what the pages get of them: the config block and the Content-Security-Policy."""

from __future__ import annotations

import json

import pytest

from gridmap.config import SettingsError, default_basemap, get_settings, offered_basemaps, tile_template
from gridmap.maps.pages import basemap_config, csp

KEY = "0123456789abcdef0123456789abcdef"
INTRANET = [
    {"id": "county_img", "name": "县影像", "url": "http://10.1.2.3:8080/img/{z}/{x}/{y}.png", "max_native_zoom": 19},
    {
        "id": "county_wmts",
        "name": "县矢量",
        "url": "https://gis.county.gov.cn/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=vec"
        "&TILEMATRIX={TileMatrix}&TILEROW={TileRow}&TILECOL={TileCol}",
        "labels": "https://gis.county.gov.cn/rest/label/{tilematrix}/{TILEROW}/{TileCol}.png",
        "attribution": "县自然资源局",
        "subdomains": "123",
    },
]


@pytest.fixture
def env(monkeypatch):
    for name in ("BASEMAP_URL", "BASEMAP_ATTRIBUTION", "TIANDITU_KEY", "BASEMAPS", "BASEMAP_DEFAULT", "BASEMAP_CUSTOM"):
        monkeypatch.delenv(f"GRIDMAP_{name}", raising=False)

    def set_(**values: str):
        for name, value in values.items():
            monkeypatch.setenv(f"GRIDMAP_{name.upper()}", value)
        return get_settings()

    return set_


def images(policy: str) -> str:
    return dict(p.strip().split(" ", 1) for p in policy.split(";"))["img-src"]


def test_no_settings_no_basemap_offline_default(env):
    settings = env()
    assert offered_basemaps(settings) == () and default_basemap(settings) == "none"
    assert basemap_config(settings) == {"basemaps": [], "default": "none", "custom": True}
    # a reader may type a URL of their own (default): images from any http(s) host; off: the strict policy
    assert images(csp(settings)) == "'self' data: blob: http: https:"
    assert images(csp(env(basemap_custom="0"))) == "'self' data: blob:"


def test_tianditu_key_offers_vector_and_imagery_with_their_labels_in_web_mercator(env):
    settings = env(tianditu_key=KEY, basemap_custom="false")
    config = basemap_config(settings)
    assert [(b["id"], b["name"]) for b in config["basemaps"]] == [
        ("tianditu_vec", "天地图矢量"),
        ("tianditu_img", "天地图影像"),
    ]
    for b, (base, labels) in zip(config["basemaps"], (("vec", "cva"), ("img", "cia")), strict=True):
        for url, layer in ((b["url"], base), (b["labels"], labels)):
            assert url == (
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                f"&TILECOL={{x}}&tk={KEY}"
            )
        assert b["subdomains"] == "01234567" and b["attribution"].startswith("天地图") and b["maxNativeZoom"] == 18
    assert config["default"] == "none" and config["custom"] is False
    # the key is in the tile URLs and nowhere else (not in the settings' repr, not in the policy)
    text_ = json.dumps(config, ensure_ascii=False)
    assert text_.count(KEY) == 4 and KEY not in repr(settings)
    assert images(csp(settings)) == "'self' data: blob: https://*.tianditu.gov.cn"


def test_intranet_basemaps_are_normalised_and_listed_after_the_others(env):
    settings = env(
        basemaps=json.dumps(INTRANET),
        basemap_url="http://tiles.local/{z}/{x}/{y}.png",
        basemap_attribution="本地瓦片",
        basemap_default="county_wmts",
        basemap_custom="0",
    )
    config = basemap_config(settings)
    assert [b["id"] for b in config["basemaps"]] == ["basemap", "county_img", "county_wmts"]
    legacy, img, wmts = config["basemaps"]
    assert legacy == {
        "id": "basemap",
        "name": "本地瓦片",
        "url": "http://tiles.local/{z}/{x}/{y}.png",
        "labels": None,
        "attribution": "本地瓦片",
        "subdomains": "abc",
        "maxNativeZoom": 18,
    }
    assert img["maxNativeZoom"] == 19 and img["attribution"] == "县影像" and img["labels"] is None
    assert wmts["url"].endswith("&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}")
    assert wmts["labels"] == "https://gis.county.gov.cn/rest/label/{z}/{y}/{x}.png"
    assert (wmts["attribution"], wmts["subdomains"]) == ("县自然资源局", "123")
    assert config["default"] == "county_wmts"
    assert images(csp(settings)) == (
        "'self' data: blob: http://tiles.local http://10.1.2.3:8080 https://gis.county.gov.cn"
    )


def test_the_old_single_basemap_is_still_the_default_one(env):
    settings = env(basemap_url="http://t{s}.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=K")
    config = basemap_config(settings)
    assert config["default"] == "basemap" and config["basemaps"][0]["subdomains"] == "01234567"
    assert config["basemaps"][0]["name"] == "底图"
    assert default_basemap(env(basemap_default="none")) == "none"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/{z}/{x}/{y}.png", "http://h/{z}/{x}/{y}.png"),
        (" https://h:8080/t/{Z}/{X}/{-y}.jpg ", "https://h:8080/t/{z}/{x}/{-y}.jpg"),
        ("http://h/wmts?TileMatrix={TileMatrix}&TileRow={TileRow}&TileCol={TileCol}", None),
        ("http://{s}.h.cn/1.0.0/layer/default/w/{TILEMATRIX}/{tilerow}/{TileCol}.png", None),
    ],
)
def test_tile_templates_become_leaflet_templates(url, expected):
    out = tile_template(url)
    assert out == (expected or out)
    assert "{z}" in out and "{x}" in out and ("{y}" in out or "{-y}" in out)
    assert "TileMatrix}" not in out and "{TileRow}" not in out and "{tilerow}" not in out


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("basemaps", "[{", "不是有效的 JSON"),
        ("basemaps", '{"id": "a"}', "JSON 列表"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "ftp://h/{z}/{x}/{y}"}]', "http(s)"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "javascript:alert(1)//{z}{x}{y}"}]', "http(s)"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "http://h/tile.png"}]', "缺少瓦片占位符"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "http://h/{z}/{x}/{y}?style={Style}"}]', "{Style}"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "http://h x/{z}/{x}/{y}"}]', "http(s)"),
        ("basemaps", '[{"id": "none", "name": "A", "url": "http://h/{z}/{x}/{y}"}]', "id"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "http://h/{z}/{x}/{y}", "colour": 1}]', "colour"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "http://h/{z}/{x}/{y}", "labels": "http://h/"}]', "底图 a"),
        ("basemaps", '[{"id": "a", "name": "A", "url": "http://h/{z}/{x}/{y}", "max_native_zoom": 30}]', "0–24"),
        (
            "basemaps",
            '[{"id": "a", "name": "A", "url": "http://h/{z}/{x}/{y}"}, {"id": "a", "name": "B", "url": "http://g/{z}/{x}/{y}"}]',
            "重复",
        ),
        ("basemap_url", "http://h/tile.png", "缺少瓦片占位符"),
        ("tianditu_key", "abc; img-src *", "天地图密钥"),
        ("basemap_default", "tianditu_img", "没有这个底图"),
    ],
)
def test_bad_basemap_settings_stop_the_start_naming_the_variable(env, name, value, says):
    with pytest.raises(SettingsError) as info:
        env(**{name: value})
    assert f"GRIDMAP_{name.upper()}=" in str(info.value) and says in str(info.value)


def test_default_may_name_a_tianditu_or_intranet_basemap(env):
    assert default_basemap(env(tianditu_key=KEY, basemap_default="tianditu_img")) == "tianditu_img"
    assert default_basemap(env(basemaps=json.dumps(INTRANET), basemap_default="county_img")) == "county_img"
