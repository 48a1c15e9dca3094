"""GB/T 28181-2016 device ids (国标编码) of cameras: format, county and device-type checks.

A device id has 20 digits (GB/T 28181-2016 附录 D)::

    41 16 28 00 | 01 | 132 | 8 | 000001
    centre code | industry | type | network | serial
    (province 2 + city 2 + county 2 + unit 2 = 行政区划代码 + 基层单位)

- digits 1–8 (chars 0–8): 中心编码; the first 6 are the county's administrative division code.
- digits 9–10 (chars 8–10): 行业编码 (00 社会治安路面接入, 01 社会治安社区接入, …).
- digits 11–13 (chars 10–13): 类型编码. Front-end devices 111–130: 111 DVR, 112 视频服务器,
  113 编码器, 114 解码器, 115 视频切换矩阵, 116 音频切换矩阵, 117 报警控制器, 118 NVR,
  119–130 扩展; front-end peripherals 131–199: 131 摄像机, 132 网络摄像机, 133 显示器,
  134 报警输入设备, 135 报警输出设备, 136 语音输入设备, 137 语音输出设备, 138 移动传输设备,
  139–199 扩展; 200–299 platform devices (200 中心信令控制服务器, 215 业务分组, 216 虚拟组织 …).
  Only 131 and 132 are cameras: a register row with, say, an NVR (118) or a platform id
  (200) is a channel/recorder, not a camera point, and is rejected.
- digit 14 (char 13): 网络标识 (0–4 监控报警专网, 5 公安信息网, 6 政务网, 7 Internet, 8 社会资源接入网 …).
- digits 15–20 (chars 14–20): 设备序号.

Excel stores a 20-digit number as a float (15 significant digits): "41162800011318000001" typed
into a number cell becomes 4.11628000113180E+19 and its last digits are lost. Readers therefore
read cells as text; a value that still looks like scientific notation gets a message saying how to
fix the column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

#: GB/T 28181 type codes (digits 11–13) of cameras: 131 摄像机, 132 网络摄像机.
CAMERA_TYPE_CODES = frozenset({"131", "132"})
#: Problem codes, in the order they are checked.
PROBLEM_CODES = ("device_id_missing", "device_id_format", "device_id_county", "device_id_type")

_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d*)?[eE][+-]?\d+$")
_TYPE_NAMES = {
    "111": "DVR",
    "112": "视频服务器",
    "113": "编码器",
    "114": "解码器",
    "115": "视频切换矩阵",
    "116": "音频切换矩阵",
    "117": "报警控制器",
    "118": "NVR",
    "133": "显示器",
    "134": "报警输入设备",
    "135": "报警输出设备",
    "136": "语音输入设备",
    "137": "语音输出设备",
    "138": "移动传输设备",
    "200": "中心信令控制服务器",
    "215": "业务分组",
    "216": "虚拟组织",
}


_SPACE = re.compile(r"\s+")
_EXCEL_TEXT = re.compile(r'^="(.*)"$')
_TWENTY_DIGITS = re.compile(r"[0-9]{20}")


def normalize_device_id(value: object) -> str:
    """An id as text ready for checking: whitespace (also inside) removed, full-width digits made
    ASCII, Excel's text markers (a leading ``'``, or ``="…"``) removed; missing → ""."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = _SPACE.sub("", str(value)).translate(_FULL_WIDTH)
    return _EXCEL_TEXT.sub(r"\1", text).removeprefix("'")


def device_id_format_problem(normalized: str) -> str | None:
    """``device_id_missing`` / ``device_id_format`` for a normalized id, None when it has 20 ASCII digits."""
    if not normalized:
        return "device_id_missing"
    return None if _TWENTY_DIGITS.fullmatch(normalized) else "device_id_format"


def normalize_device_ids(ids: pd.Series) -> pd.Series:
    """:func:`normalize_device_id` of every id (keeps the index)."""
    return ids.astype(object).map(normalize_device_id).astype(object)


def centre_prefixes(county_code: str | Sequence[str] | None) -> tuple[str, ...]:
    """The prefixes an id must start with: a county's 6-digit code, or the centre codes configured
    for the counties of an import (``GRIDMAP_CENTRE_CODES``); () for no check."""
    if not county_code:
        return ()
    if isinstance(county_code, str):
        return (county_code.strip()[:6],) if county_code.strip() else ()
    return tuple(dict.fromkeys(c.strip() for c in county_code if c and c.strip()))


def check_device_ids(ids: pd.Series, county_code: str | Sequence[str] | None) -> pd.Series:
    """Per row, None when the id is a valid camera id (starting with the county's 6-digit
    ``county_code``, or one of several centre codes, when given) or the first problem code of
    ``PROBLEM_CODES``. Keeps ``ids``' index."""
    text = normalize_device_ids(ids)
    well_formed = text.map(lambda t: device_id_format_problem(t) is None).astype(bool)
    codes = pd.Series([None] * len(ids), index=ids.index, dtype=object)
    codes[~well_formed] = "device_id_format"
    codes[text == ""] = "device_id_missing"
    fine = codes.isna()
    prefixes = centre_prefixes(county_code)
    if prefixes:
        codes[fine & ~text.map(lambda t: t.startswith(prefixes)).astype(bool)] = "device_id_county"
        fine = codes.isna()
    codes[fine & ~text.str[10:13].isin(CAMERA_TYPE_CODES)] = "device_id_type"
    return codes.astype(object).where(codes.notna(), None)


def describe(code: str, value: object, county_code: str | Sequence[str] | None = None) -> str:
    """A Chinese message for a problem code of ``check_device_ids`` about the id ``value``."""
    text = "" if value is None else str(value).strip()
    digits = normalize_device_id(text)
    if code == "device_id_missing":
        return "设备编码为空：每个摄像头都需要 20 位 GB/T 28181 国标编码。"
    if code == "device_id_format":
        if _SCIENTIFIC.match(digits):
            return (
                f"设备编码“{text}”是 Excel 科学计数法显示的数字，后几位已经丢失：请将该列设为文本"
                "（设置单元格格式→文本）后重新填入完整的 20 位编码，再导出。"
            )
        count = sum(ch.isdigit() for ch in digits)
        if digits.isdigit() and digits.isascii():
            return f"设备编码“{text}”有 {count} 位数字，GB/T 28181 国标编码应为 20 位数字。"
        return f"设备编码“{text}”含有数字以外的字符，GB/T 28181 国标编码应为 20 位数字。"
    if code == "device_id_county":
        prefixes = centre_prefixes(county_code)
        if len(prefixes) == 1 and len(prefixes[0]) == 6:
            return (
                f"设备编码“{text}”的中心编码前 6 位 {digits[:6]} 与本县行政区划代码 {prefixes[0]} 不符"
                "（国标编码前 6 位应为设备所在县的行政区划代码）。"
            )
        return (
            f"设备编码“{text}”的开头 {digits[:8]} 不是本次导入区域的中心编码（{'、'.join(prefixes)}）之一"
            "（国标编码前 6 或 8 位应为设备所在县的中心编码）。"
        )
    if code == "device_id_type":
        kind = digits[10:13]
        name = f"（{_TYPE_NAMES[kind]}）" if kind in _TYPE_NAMES else ""
        return (
            f"设备编码“{text}”第 11–13 位类型编码为 {kind}{name}，不是摄像机：摄像头点位的类型编码应为 "
            "131（摄像机）或 132（网络摄像机）。"
        )
    raise ValueError(f"not a device id problem code: {code}")
