"""TileJSON as GIS software reads it: GDAL's MVT driver (what QGIS uses) takes each attribute's
type from the TileJSON ``vector_layers[].fields`` (``Number`` → Real, ``Boolean`` → Boolean,
anything else → String). A tile and the TileJSON, both as our server answers them, opened with
pyogrio (``MVT:`` with the ``METADATA_FILE`` open option): the figures come out as numbers.
"""

from __future__ import annotations

import pyogrio
import pytest

from gridmap.tiles.layers import LAYERS

CENTRE_TILES = {"microgrid": (14, 13447, 6552), "cameras": (14, 13447, 6552), "township": (10, 840, 408)}


def test_tilejson_fields_are_type_names_and_descriptions_are_elsewhere(http):
    listing = {layer["id"]: layer for layer in http.get("/tiles").json()["layers"]}
    for layer_id, spec in LAYERS.items():
        (vl,) = http.get(f"/tiles/{layer_id}.json").json()["vector_layers"]
        assert set(vl["fields"].values()) <= {"Number", "String", "Boolean"}
        assert vl["fields"] == listing[layer_id]["fields"] == spec.fields
        assert listing[layer_id]["field_descriptions"].keys() == vl["fields"].keys()
        assert all(listing[layer_id]["field_descriptions"].values())
        assert spec.title in vl["description"] and "建设率" in vl["description"] if spec.is_area else True


@pytest.mark.parametrize("layer", sorted(CENTRE_TILES))
def test_gdal_reads_the_figures_as_numbers(http, tmp_path, layer):
    z, x, y = CENTRE_TILES[layer]
    r = http.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    assert r.status_code == 200, r.text
    folder = tmp_path / str(z) / str(x)
    folder.mkdir(parents=True)
    (folder / f"{y}.pbf").write_bytes(r.content)
    (tmp_path / "tilejson.json").write_bytes(http.get(f"/tiles/{layer}.json").content)
    source = f"MVT:{folder / f'{y}.pbf'}"
    info = pyogrio.read_info(source, layer=layer, METADATA_FILE=str(tmp_path / "tilejson.json"))
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    expected = {"Number": "float64", "String": "object", "Boolean": "bool"}
    assert {k: types[k] for k in LAYERS[layer].fields} == {k: expected[t] for k, t in LAYERS[layer].fields.items()}
    frame = pyogrio.read_dataframe(source, layer=layer, METADATA_FILE=str(tmp_path / "tilejson.json"))
    assert len(frame) > 0 and str(frame.crs).endswith("3857")
    if LAYERS[layer].is_area:
        assert frame["planned"].sum() > 0 and frame["code"].str.len().eq(9 if layer == "township" else 18).all()
        rates = frame["rollout_rate"].dropna()
        assert len(rates) and rates.between(0, 1).all()
    else:
        assert frame["online"].any() and frame["device_id"].str.len().eq(20).all()
