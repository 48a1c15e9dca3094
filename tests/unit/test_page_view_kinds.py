"""The pages' config carries the camera kinds' views (/map's 布点规划 layer draws sectors with
them): the defaults of gridmap.config, overridden by GRIDMAP_VIEW_KINDS."""

from __future__ import annotations

from gridmap.config import VIEW_KIND_DEFAULTS, Settings
from gridmap.maps.pages import page_config


def test_page_config_has_the_view_kinds_defaults_and_overrides():
    config = page_config({}, base="/", settings=Settings())
    assert {k: (v["angle"], v["range"]) for k, v in config["viewKinds"].items()} == VIEW_KIND_DEFAULTS
    assert config["viewKinds"]["bullet"]["label"] == "枪机"
    custom = page_config({}, base="/", settings=Settings(view_kinds='{"bullet": {"angle": 60, "range": 40}}'))
    assert custom["viewKinds"]["bullet"] == {"label": "枪机", "angle": 60.0, "range": 40.0}
    assert custom["viewKinds"]["dome"]["range"] == VIEW_KIND_DEFAULTS["dome"][1]
