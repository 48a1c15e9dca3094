"""The sample county's public cameras ("数字乡村"): planned points, installation and online status.

Reproduces 鹿邑县's published figures exactly: 10,520 planned, 10,048 installed (安装率 95.51%),
9,896 online (上云率 98.49%). Cameras are spread unevenly: more where more households live, some
townships lag in installation, a few grids have no camera planned at all. Three operators each
serve a contiguous region of eight townships. Device ids follow GB/T 28181 (20 digits).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.config import STORAGE_SRID

OPERATORS = ("中国移动", "中国联通", "中国电信")
PLACES = (
    "村口",
    "村委会",
    "十字路口",
    "主干道",
    "学校门口",
    "文化广场",
    "卫生室",
    "桥头",
    "坑塘",
    "超市门口",
    "养殖场",
    "田间路口",
    "社区大门",
    "停车场",
    "河道",
)
DIRECTIONS = ("东", "南", "西", "北", "东南", "东北", "西南", "西北")
#: GB/T 28181 device id parts for the sample: centre code (province 41, city 16, county 28, unit 00).
CENTRE_CODE = "41162800"
NETWORK_SOCIAL = "8"  # 社会资源接入网: cameras run by telecom operators

#: Column headers as the county's camera register has them.
COLUMNS = (
    "设备编码",
    "设备名称",
    "所属乡镇",
    "所属村(社区)",
    "所属网格",
    "点位类型",
    "经度",
    "纬度",
    "监控方向",
    "安装状态",
    "在线状态",
    "运营商",
    "安装日期",
)


def build_cameras(
    frames: dict[str, gpd.GeoDataFrame],
    seed: int,
    planned: int = 10520,
    installed: int = 10048,
    online: int = 9896,
    *,
    centre_code: str = CENTRE_CODE,
    operators: tuple[str, ...] = OPERATORS,
    offline_weights: tuple[float, ...] = (1.0, 2.5, 1.5),
) -> pd.DataFrame:
    """The camera register as a DataFrame with Chinese headers (``COLUMNS``), lon/lat in EPSG:4490.

    ``centre_code``: the 8 digits device ids start with (county code + unit). ``operators``: one
    contiguous sector of townships each; ``offline_weights``: how much likelier an installed camera
    of each operator is offline (same order).

    ``frames`` are the county's levels in a projected CRS (metres); points are placed at least 4 m
    inside their micro-grid so that rounding the coordinates to 6 decimals (≈0.1 m) keeps them there.
    """
    rng = np.random.default_rng(seed)
    towns, villages, grids, micro = (frames[k] for k in ("township", "village", "grid", "microgrid"))

    # Operators: three contiguous sectors of townships around the county centre.
    centre = frames["county"].geometry.iloc[0].centroid
    tc = towns.geometry.centroid
    angle = np.arctan2(tc.x - centre.x, tc.y - centre.y) % (2 * np.pi)
    rank = np.argsort(np.argsort(angle))
    operator_of_town = dict(zip(towns["code"], np.array(operators)[rank * len(operators) // len(towns)]))

    # Planned cameras per grid: ∝ households, with township- and grid-level unevenness; ~3% of grids none.
    town_factor = dict(zip(towns["code"], rng.lognormal(0.0, 0.3, len(towns))))
    g_town = grids["code"].str[:9]
    weight = grids["households"].to_numpy() ** 0.8 * g_town.map(town_factor).to_numpy()
    weight *= rng.lognormal(0.0, 0.45, len(grids))
    weight[rng.random(len(grids)) < 0.03] = 0.0
    per_grid = rng.multinomial(planned, weight / weight.sum())

    # Each camera goes to a micro-grid of its grid (∝ households), at a random point inside it.
    micro_grid = micro["code"].str[:15].to_numpy()
    micro_idx_by_grid = pd.Series(np.arange(len(micro))).groupby(micro_grid).apply(np.asarray).to_dict()
    micro_hh = micro["households"].to_numpy().astype(float)
    chosen = np.concatenate(
        [
            rng.choice(
                micro_idx_by_grid[g], size=n, p=micro_hh[micro_idx_by_grid[g]] / micro_hh[micro_idx_by_grid[g]].sum()
            )
            for g, n in zip(grids["code"], per_grid)
            if n
        ]
    )
    chosen.sort(kind="stable")
    xy = _points_inside(rng, micro.geometry.to_numpy(), chosen, inset_m=4.0)

    # Installation lags in a few townships and, within them, in whole grids at a time.
    n = len(chosen)
    cam_grid = micro_grid[chosen]
    cam_town = np.array([g[:9] for g in cam_grid])
    lagging = set(rng.choice(towns["code"].to_numpy(), size=5, replace=False))
    grid_lag = dict(zip(grids["code"], rng.lognormal(0.0, 1.2, len(grids))))
    w_not = np.array([(8.0 if t in lagging else 1.0) * grid_lag[g] for t, g in zip(cam_town, cam_grid)])
    not_installed = rng.choice(n, size=planned - installed, replace=False, p=w_not / w_not.sum())
    is_installed = np.ones(n, dtype=bool)
    is_installed[not_installed] = False

    operator = np.array([operator_of_town[t] for t in cam_town])
    w_off = np.select([operator == op for op in operators], offline_weights, 1.0) * is_installed
    offline = rng.choice(n, size=installed - online, replace=False, p=w_off / w_off.sum())
    is_online = is_installed.copy()
    is_online[offline] = False

    lonlat = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=micro.crs).to_crs(STORAGE_SRID)
    lon, lat = np.round(lonlat.x.to_numpy(), 6), np.round(lonlat.y.to_numpy(), 6)
    micro_4490 = micro.geometry.to_crs(STORAGE_SRID).to_numpy()[chosen]
    if not shapely.contains_xy(micro_4490, lon, lat).all():  # elementwise: each point in its own micro-grid
        raise RuntimeError("a rounded camera coordinate left its micro-grid")

    town_kind = dict(zip(towns["code"], towns["kind"]))
    town_name = dict(zip(towns["code"], towns["name"]))
    village_name = dict(zip(villages["code"], villages["name"]))
    industry = np.array(["01" if town_kind[t] == "街道" else "00" for t in cam_town])  # 社区接入 / 路面接入
    dev_type = np.where(rng.random(n) < 0.85, "132", "131")  # network camera / camera
    device_id = [
        f"{centre_code}{ind}{typ}{NETWORK_SOCIAL}{i:06d}"
        for i, (ind, typ) in enumerate(zip(industry, dev_type), start=1)
    ]
    place = rng.choice(PLACES, size=n)
    seen: dict[tuple[str, str], int] = {}
    names = []
    for g, p in zip(cam_grid, place):
        key = (g[:12], str(p))
        seen[key] = seen.get(key, 0) + 1
        names.append(f"{village_name[g[:12]]}{p}{seen[key]}号")
    start, span = dt.date(2022, 3, 20), (dt.date(2024, 9, 30) - dt.date(2022, 3, 20)).days
    dates = [
        (start + dt.timedelta(days=int(d))).isoformat() if ok else ""
        for d, ok in zip(rng.integers(0, span + 1, n), is_installed)
    ]
    return pd.DataFrame(
        {
            "设备编码": device_id,
            "设备名称": names,
            "所属乡镇": [town_name[t] for t in cam_town],
            "所属村(社区)": [village_name[g[:12]] for g in cam_grid],
            "所属网格": cam_grid,
            "点位类型": place,
            "经度": lon,
            "纬度": lat,
            "监控方向": rng.choice(DIRECTIONS, size=n),
            "安装状态": np.where(is_installed, "已安装", "未安装"),
            "在线状态": np.select([is_online, is_installed], ["在线", "离线"], ""),
            "运营商": operator,
            "安装日期": dates,
        },
        columns=list(COLUMNS),
    )


def _points_inside(rng: np.random.Generator, polygons: np.ndarray, index: np.ndarray, inset_m: float) -> np.ndarray:
    """One uniform random point per entry of ``index`` inside ``polygons[index]`` shrunk by ``inset_m``."""
    out = np.empty((index.size, 2))
    for poly_i in np.unique(index):
        slots = np.nonzero(index == poly_i)[0]
        inner = shapely.buffer(polygons[poly_i], -inset_m)
        if inner.is_empty:
            inner = polygons[poly_i]
        minx, miny, maxx, maxy = inner.bounds
        got: list[np.ndarray] = []
        while sum(len(g) for g in got) < slots.size:
            cand = np.column_stack([rng.uniform(minx, maxx, 4 * slots.size), rng.uniform(miny, maxy, 4 * slots.size)])
            got.append(cand[shapely.contains_xy(inner, cand[:, 0], cand[:, 1])])
        out[slots] = np.concatenate(got)[: slots.size]
    return out
