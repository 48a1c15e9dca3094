"""A township whose grids and micro-grids carry the county's own numbers (WG…, MG…) under a
上级编码 column: published with standard codes made from their parents', the local numbers kept,
and the same codes again when the file is published again (GDAL-written GeoPackage, the real
command, a database of its own)."""

from __future__ import annotations

import json

import pytest
from boundary_files import write_gpkg
from conftest import engine_for_cli, loaded_database
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.coverage.table import differences

runner = CliRunner()


@pytest.fixture(scope="module")
def url() -> str:
    url, engine = loaded_database("gridmap_test_local_codes")
    engine.dispose()
    return url


@pytest.fixture
def engine(url, monkeypatch):
    yield from engine_for_cli(url, monkeypatch)


@pytest.fixture
def local_file(township, tmp_path):
    """The township with its grids numbered WG1… and micro-grids MG1… (parents by those numbers)."""
    areas = township.copy()
    local = {}
    for level, prefix in ((3, "WG"), (4, "MG")):
        for i, code in enumerate(sorted(areas.loc[areas["level"] == level, "code"]), start=1):
            local[code] = f"{prefix}{i}"
    areas["parent_code"] = areas["parent_code"].map(lambda p: local.get(p, p))
    areas["code"] = areas["code"].map(lambda c: local.get(c, c))
    return write_gpkg(areas, tmp_path / "local.gpkg"), local


def live_locals(engine, town: str) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT attrs ->> '本地编码', code FROM area WHERE code LIKE :t || '%' AND attrs ? '本地编码'"),
                {"t": town},
            ).all()
        )


def test_local_numbers_get_standard_codes_that_stay(engine, township, local_file):
    path, local = local_file
    town = township.loc[township["level"] == 1, "code"].iloc[0]
    result = runner.invoke(app, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output  # validates clean against the live data
    assert any("本地编码" in n for n in json.loads(result.stdout)["notes"])
    result = runner.invoke(app, ["publish", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    first = live_locals(engine, town)
    assert set(first) == set(local.values())
    assert all(len(code) == (15 if key.startswith("WG") else 18) for key, code in first.items())
    with engine.connect() as conn:
        wrong = conn.execute(
            text("""SELECT count(*) FROM area c JOIN area p ON p.code = c.parent_code
                    WHERE c.code LIKE :t || '%' AND NOT starts_with(c.code, p.code)"""),
            {"t": town},
        ).scalar_one()
        assert wrong == 0  # every standard code starts with its parent's
        assert differences(conn) == []
    result = runner.invoke(app, ["publish", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert live_locals(engine, town) == first  # published again: the same codes
