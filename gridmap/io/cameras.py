"""Reading camera registers (CSV or XLSX, Chinese or English headers) into canonical columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gridmap.io.fields import detect_fields

CAMERA_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "device_id": ("device_id", "设备编码", "国标编码", "设备国标编码", "国标ID", "设备ID", "编码", "deviceid"),
    "name": ("name", "设备名称", "点位名称", "名称", "camera_name"),
    "lon": ("lon", "经度", "longitude", "lng", "x"),
    "lat": ("lat", "纬度", "latitude", "y"),
    "status": ("status", "安装状态", "建设状态", "状态"),
    "online": ("online", "在线状态", "是否在线", "上云状态"),
    "operator": ("operator", "运营商", "建设单位"),
    "installed_on": ("installed_on", "安装日期", "安装时间", "建成日期"),
    "direction": ("direction", "监控方向", "方向", "朝向"),
    "place_type": ("place_type", "点位类型", "位置类型"),
    "grid_code": ("grid_code", "所属网格", "网格编码"),
}
STATUS_WORDS = {
    "已安装": "installed", "安装": "installed", "已建成": "installed", "installed": "installed",
    "未安装": "planned", "规划": "planned", "待安装": "planned", "在建": "planned", "planned": "planned",
    "已拆除": "removed", "拆除": "removed", "removed": "removed",
}
ONLINE_WORDS = {"在线": True, "是": True, "online": True, "1": True, "true": True,
                "离线": False, "否": False, "offline": False, "0": False, "false": False, "": False}


def read_camera_table(path: str | Path) -> pd.DataFrame:
    """A camera register as canonical columns: device_id, name, lon, lat, status (planned /
    installed / removed), online (bool), operator, installed_on, direction, place_type, grid_code.

    Raises ValueError naming the rows (1-based, as a spreadsheet numbers them, header = row 1)
    with a status or online value it does not know.
    """
    path = Path(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raw = pd.read_excel(path, dtype=str, keep_default_na=False)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    mapping = detect_fields(raw.columns, CAMERA_FIELD_ALIASES)
    missing = {"device_id", "lon", "lat", "status"} - mapping.keys()
    if missing:
        raise ValueError(f"{path.name}: required columns not found: {', '.join(sorted(missing))}")
    df = raw.rename(columns={column: canonical for canonical, column in mapping.items()})[list(mapping)]
    df["status"] = _lookup(df["status"], STATUS_WORDS, "安装状态")
    df["online"] = _lookup(df.get("online", pd.Series("", index=df.index)), ONLINE_WORDS, "在线状态")
    df["lon"] = pd.to_numeric(df["lon"])
    df["lat"] = pd.to_numeric(df["lat"])
    if "installed_on" in df:
        df["installed_on"] = pd.to_datetime(df["installed_on"].replace("", None)).dt.date
    return df


def _lookup(values: pd.Series, words: dict[str, object], column: str) -> pd.Series:
    key = values.astype(str).str.strip().str.lower()
    known = {k.lower(): v for k, v in words.items()}
    bad = ~key.isin(known.keys())
    if bad.any():
        rows = ", ".join(str(i + 2) for i in values.index[bad][:10])
        raise ValueError(f"unknown {column} value(s) {sorted(set(values[bad]))[:5]} in row(s) {rows}")
    return key.map(known)
