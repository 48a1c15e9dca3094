"""Files and tokens the upload page tests share (tests/api/test_upload_page_api.py,
tests/browser/test_upload_page.py)."""

from __future__ import annotations

import csv

from conftest import DATA_DIR

from gridmap.db.tokens import create_token


def make_token(engine, role: str, scope: str | None = None, name: str | None = None) -> str:
    with engine.begin() as conn:
        secret, _ = create_token(conn, name=name or f"up-{role}-{scope}", role=role, scope=scope)
    return secret


def camera_file(folder, village: str, *, bad: int = 1):
    """A register of two cameras of ``village`` plus ``bad`` rows whose point lies outside the county."""
    with open(DATA_DIR / "luyi_cameras.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, good = rows[0], [r for r in rows[1:] if r[4].startswith(village[:9])][: 2 + bad]
    lon, lat = header.index("经度") if "经度" in header else 2, header.index("纬度") if "纬度" in header else 3
    for r in good[2:]:
        r[lon], r[lat] = "120.5", "30.25"  # Zhejiang: far from 鹿邑县
    path = folder / "cameras.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *good])
    return path
