"""Publishing boundary files as versions in PostGIS, and rolling back — through the real command.

Runs in a database of its own (the sample county loaded) because every test changes live data.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pandas as pd
import pyogrio
import pytest
from boundary_files import CHINESE
from conftest import DATA_DIR, engine_for_cli, loaded_database
from planting import plant_gap, plant_overlap
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.sample.files import CAMERAS_CSV

runner = CliRunner()


@pytest.fixture(scope="module")
def url() -> str:
    url, engine = loaded_database("gridmap_test_publish")
    engine.dispose()
    return url


@pytest.fixture
def engine(url, monkeypatch):
    yield from engine_for_cli(url, monkeypatch)


def gridmap(*args: str):
    return runner.invoke(app, list(args))


def live(engine, *, with_versions: bool = True) -> str:
    """A fingerprint of every live area (and, optionally, which version it came from)."""
    version = "|| ':' || coalesce(version_id::text, '')" if with_versions else ""
    with engine.connect() as conn:
        return conn.execute(
            text(f"""
            SELECT md5(string_agg(code || ':' || coalesce(name, '') || ':' || coalesce(households::text, '') || ':'
                                  || encode(ST_AsEWKB(geom), 'hex') {version}, ',' ORDER BY code))
            FROM area""")
        ).scalar_one()


def versions(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id, status, root_code, top_level, restored_from, reason FROM boundary_version ORDER BY id")
        ).all()


def write(gdf, path):
    pyogrio.write_dataframe(
        gdf.to_crs(4490).rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]], path, layer="网格"
    )
    return path


def test_a_defective_file_is_refused_recorded_and_changes_nothing(engine, township, tmp_path):
    gdf = township.copy()
    plant_overlap(gdf, set())
    before, history = live(engine), versions(engine)
    result = gridmap("publish", str(write(gdf, tmp_path / "bad.gpkg")), "--by", "测试员")
    assert result.exit_code == 1
    assert "validation_failed" in result.output and "重叠" in result.output
    assert live(engine) == before
    after = versions(engine)
    assert after[:-1] == history and after[-1][1] == "rejected"

    result = gridmap("publish", str(tmp_path / "bad.gpkg"), "--force")  # an option missing: exit 2
    assert result.exit_code == 2 and "reason_required" in result.stderr
    assert live(engine) == before


def test_publish_then_rollback_round_trip(engine, township, tmp_path):
    original, original_content = live(engine), live(engine, with_versions=False)
    first = versions(engine)[0][0]
    gdf = township.copy()
    leaf = gdf.index[gdf["level"] == 4]
    gdf.loc[leaf[:3], "name"] = ["新一", "新二", "新三"]
    result = gridmap("publish", str(write(gdf, tmp_path / "township.gpkg")), "--by", "县网格中心", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    root = sorted(township.loc[township["level"] == 1, "code"])[0]
    # One township and its subtree: that township is replaced, its 23 live siblings stay.
    assert (out["root"], out["top_level"], out["added"], out["removed"]) == (root, 1, len(gdf), len(gdf))
    register = pd.read_csv(DATA_DIR / CAMERAS_CSV, dtype=str, encoding="utf-8-sig")
    assert out["cameras_assigned"] == int(register["所属网格"].str.startswith(root).sum())
    with engine.connect() as conn:
        by_version = dict(conn.execute(text("SELECT version_id, count(*) FROM area GROUP BY 1")).all())
        names = (
            conn.execute(
                text("SELECT name FROM area WHERE code = ANY(:c) ORDER BY code"), {"c": list(gdf.loc[leaf[:3], "code"])}
            )
            .scalars()
            .all()
        )
        unplaced = conn.execute(text("SELECT count(*) FROM camera WHERE area_code IS NULL")).scalar_one()
    new = out["version"]
    assert by_version[new] == len(gdf) and by_version[first] == 12195 - len(gdf)
    assert sorted(names) == sorted(["新一", "新二", "新三"]) and unplaced == 0
    assert all(code.startswith(root) for code in township["code"])

    listing = gridmap("versions", "--code", root)
    assert listing.exit_code == 0 and str(new) in listing.output and "县网格中心" in listing.output
    assert_columns_line_up(listing.stdout.splitlines())

    result = gridmap("rollback", str(first), "--by", "县网格中心")
    assert result.exit_code == 0, result.output
    assert live(engine, with_versions=False) == original_content and live(engine) != original
    history = {v[0]: v for v in versions(engine)}
    restored = max(history)
    assert history[restored][1:5] == ("published", "411628", 0, first)
    assert history[new][1] == "rolled_back"


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def assert_columns_line_up(lines: list[str]) -> None:
    """The 时间 column starts at the same terminal column on every line, whatever the 发布人 names
    (Chinese characters take two columns) before it."""
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")
    assert len(lines) >= 3, lines
    starts = {display_width(lines[0][: lines[0].index("时间")])}
    starts |= {display_width(line[: stamp.search(line).start()]) for line in lines[1:]}
    assert len(starts) == 1, "\n".join(lines)


def test_rolling_back_to_a_version_that_does_not_exist_exits_2(engine):
    before = live(engine)
    result = gridmap("rollback", "99999")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "gridmap: 未回滚：没有版本 99999，请用 gridmap versions 查看（version_not_found）"
    as_json = gridmap("rollback", "99999", "--format", "json")
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["code"] == "version_not_found"
    assert live(engine) == before


def test_micro_grids_of_one_grid_replace_only_that_grid(engine, township, tmp_path):
    grid = sorted(township.loc[township["level"] == 3, "code"])[2]
    upload = township[township["parent_code"] == grid].copy()
    upload["households"] = 42
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM area")).scalar_one()
    result = gridmap("publish", str(write(upload, tmp_path / "grid.gpkg")), "--parent-code", grid, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["root"], out["top_level"], out["added"]) == (grid, 4, len(upload))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM area")).scalar_one() == total
        hh = (
            conn.execute(text("SELECT DISTINCT households FROM area WHERE parent_code = :g"), {"g": grid})
            .scalars()
            .all()
        )
        assert hh == [42]


def test_publishing_only_upper_levels_would_drop_descendants_and_is_refused(engine, township, tmp_path):
    before = live(engine)
    upper = township[township["level"] <= 2]
    result = gridmap("publish", str(write(upper, tmp_path / "upper.gpkg")))
    assert result.exit_code == 1 and "would_remove_descendants" in result.output
    assert live(engine) == before


def test_a_publish_failing_half_way_leaves_the_previous_version_live(engine, township, tmp_path):
    """A real database error after the old areas were deleted and the new ones copied in: the
    archive insert fails (a trigger raises), and the whole transaction must roll back."""
    before, history = live(engine), versions(engine)
    with engine.begin() as conn:
        conn.execute(
            text("""
            CREATE FUNCTION fail_archive() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'simulated failure while archiving'; END $$;
            CREATE TRIGGER fail_archive BEFORE INSERT ON area_version FOR EACH ROW EXECUTE FUNCTION fail_archive();
        """)
        )
    try:
        gdf = township.copy()
        gdf["households"] = 30
        result = gridmap("publish", str(write(gdf, tmp_path / "ok.gpkg")))
        assert result.exit_code == 1
        assert "database_error" in result.output and "simulated failure" in result.output
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER fail_archive ON area_version; DROP FUNCTION fail_archive();"))
    assert live(engine) == before and versions(engine) == history


def test_force_with_reason_publishes_despite_errors_and_records_why(engine, township, tmp_path):
    gdf = township.copy()
    plant_gap(gdf, set())
    result = gridmap("publish", str(write(gdf, tmp_path / "gap.gpkg")), "--force", "--reason", "外业核实中，先行上线")
    assert result.exit_code == 0, result.output
    last = versions(engine)[-1]
    assert last[1] == "published" and last[5] == "外业核实中，先行上线"
    with engine.connect() as conn:
        errors = conn.execute(
            text("SELECT report -> 'summary' ->> 'errors' FROM boundary_version WHERE id = :i"), {"i": last[0]}
        ).scalar_one()
    assert errors == "1"
