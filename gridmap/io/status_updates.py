"""Bulk online/offline reports: which cameras went online or offline, and when.

Platforms (GB/T 28181 Catalog/Keepalive, a video cloud's export) and county staff report camera
status as a CSV/XLSX sheet or as JSON. ``read_status_updates`` turns any of these into rows of
(device_id, online, at) and rejects, with row number and a stable code, rows it cannot use:

- ``device_id_missing`` / ``device_id_format``: no id, or not 20 ASCII digits (the county and the
  type code are not checked here: the caller matches ids against the cameras it knows);
- ``online_unknown``: a status word not in ``gridmap.io.cameras.ONLINE_WORDS`` (ON/OFF, 在线/离线,
  1/0, true/false …) or empty;
- ``time_invalid``: a time that is neither ISO 8601 / "2026-11-21 08:00:00" nor epoch seconds or
  milliseconds (2000–2100).

Times are tz-aware ``pandas.Timestamp``s in Asia/Shanghai; naive times are read as Beijing time,
epoch numbers as UTC instants. Several reports for one device are all kept (the caller applies the
newest).

A sheet is bounded as a camera register is (``gridmap.io.tables.TableLimits``); a JSON list of
reports by the same row limit, counted item by item as the JSON is decoded (``load_reports_json``):
a body of millions of reports is refused (413 ``too_many_rows``) before they are all in memory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridmap.io.cameras import ONLINE_WORDS, RowProblem, word_key, word_list
from gridmap.io.device_ids import describe, device_id_format_problem, normalize_device_id
from gridmap.io.fields import detect_fields
from gridmap.io.tables import (
    CameraReadError,
    TableLimits,
    decode_text,
    missing_columns_error,
    read_table,
    refuse_lone_surrogates,
)

#: Time zone of naive report times.
TIME_ZONE = "Asia/Shanghai"
#: Column names / JSON keys per field (matched ignoring case, spaces and underscores: "DeviceID",
#: "deviceId" and "device_id" are the same).
STATUS_UPDATE_ALIASES: dict[str, tuple[str, ...]] = {
    "device_id": (
        "device_id",
        "设备编码",
        "国标编码",
        "设备国标编码",
        "国标ID",
        "GB28181编码",
        "通道编码",
        "设备ID",
        "编码",
    ),
    "online": ("online", "在线状态", "是否在线", "status", "状态", "设备状态", "online_status"),
    "at": ("at", "time", "时间", "上报时间", "状态时间", "timestamp", "更新时间", "report_time", "updated_at"),
}
REQUIRED_FIELDS = ("device_id", "online")
FIELD_LABELS = {"device_id": "设备编码", "online": "在线状态", "at": "时间"}
#: Epoch times outside these years are rejected (a year or a serial number is not a time).
EPOCH_YEARS = (2000, 2100)
_REPORT_WORDS = {k: v for k, v in ONLINE_WORDS.items() if k != ""}  # an empty status is not a report
_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".json": "json"}


@dataclass
class StatusUpdates:
    """``updates``: columns row, device_id (20 digits), online (bool), at (tz-aware Timestamp,
    Asia/Shanghai), in source order; ``rejected``: one ``RowProblem`` per unusable row."""

    updates: pd.DataFrame
    rejected: list[RowProblem] = field(default_factory=list)
    source_rows: int = 0


def read_status_updates(
    source: str | Path | bytes | list | dict, *, default_time: dt.datetime | None = None
) -> StatusUpdates:
    """Read online/offline reports from a CSV/XLSX/XLS/JSON file (path), its bytes, JSON text (a ``str``
    starting with ``[`` or ``{``) or parsed JSON (a list of objects, or ``{"updates": [...]}`` /
    ``{"items": [...]}``).

    Rows without a time get ``default_time`` (naive = Beijing time; None = now). Row numbers are
    spreadsheet rows (header = row 1) for sheets, 1-based item numbers for JSON. Raises
    ``CameraReadError`` when the source as a whole cannot be read.
    """
    columns, rows, sources = _load(source)
    missing = [f for f in REQUIRED_FIELDS if all(k is None for k in sources[f])]
    if missing:
        raise missing_columns_error(
            missing,
            sorted({k for keys in sources.values() for k in keys if k is not None}),
            STATUS_UPDATE_ALIASES,
            FIELD_LABELS,
            field_hint=False,
        )
    default = _timestamp(default_time) if default_time is not None else pd.Timestamp.now(tz=TIME_ZONE)
    return _check(columns, rows, sources, default)


# ---------------------------------------------------------------------------------------------
# Sources → text frame
# ---------------------------------------------------------------------------------------------

#: The reports as text, column by column (device_id, online, at; "" when absent), with per row the
#: source column or JSON key of each field (None when absent) and the row numbers.
Columns = dict[str, list[str]]


def _load(source: str | Path | bytes | list | dict) -> tuple[Columns, list[int], dict[str, list[str | None]]]:
    """The reports as text columns, their row numbers, and per row and field the source column or
    JSON key (None when absent)."""
    if isinstance(source, (list, dict)):
        return _json_columns(source)
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n").startswith(("[", "{")):
        source = source.encode("utf-8")  # JSON text rather than a path
    if isinstance(source, bytes):
        fmt = _sniff(source)
        data = source
    else:
        path = Path(source)
        if path.suffix.lower() not in _FORMATS:
            raise CameraReadError(
                "unsupported_format",
                f"不支持的文件类型“{path.suffix or path.name}”：请上传 CSV、XLSX、XLS 或 JSON 文件。",
            )
        fmt = _FORMATS[path.suffix.lower()]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CameraReadError("unreadable", f"无法读取文件“{path}”：{exc.strerror or exc}。") from exc
    if fmt == "json":
        try:
            document = load_reports_json(decode_text(data)[0]) if data.strip() else None
        except json.JSONDecodeError as exc:
            raise CameraReadError(
                "unreadable", f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）。"
            ) from exc
        except RecursionError:
            raise CameraReadError("unreadable", "JSON 嵌套层数过多：状态上报应为对象的数组。") from None
        return _json_columns(document)
    table = read_table(data, fmt, STATUS_UPDATE_ALIASES, REQUIRED_FIELDS, labels=FIELD_LABELS, field_hint=False)
    n = len(table.frame)
    columns = {
        f: ["" if v is None or v != v else str(v) for v in table.frame[col].tolist()] if col else [""] * n
        for f, col in ((f, table.mapping.get(f)) for f in STATUS_UPDATE_ALIASES)
    }
    sources = {f: [table.mapping.get(f)] * n for f in STATUS_UPDATE_ALIASES}
    return columns, [int(r) for r in table.rows], sources


#: Keys of an object holding the list of reports (``{"reports": [...]}`` and the like).
REPORT_LIST_KEYS = ("reports", "updates", "items")
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not JSON whitespace."""
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def load_reports_json(text: str, limits: TableLimits | None = None) -> Any:
    """JSON ``text`` as ``json.loads`` gives it, except that a list of reports — the document
    itself, or the value of a top-level key in ``REPORT_LIST_KEYS`` — is decoded item by item and
    refused (``TableTooLarge``) at the first item beyond ``limits.max_rows`` (default: the
    settings'). Raises ``json.JSONDecodeError`` (``RecursionError`` for nesting too deep) as
    ``json.loads`` would."""
    limits = limits or TableLimits.from_settings()
    decoder = json.JSONDecoder()
    document: Any
    pos = _skip(text, 0)
    if text.startswith("[", pos):
        document, pos = _report_list(text, pos, decoder, limits)
    elif text.startswith("{", pos):
        document, pos = _report_object(text, pos, decoder, limits)
    else:
        document, pos = decoder.raw_decode(text, pos)
    pos = _skip(text, pos)
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return document


def _report_list(text: str, pos: int, decoder: json.JSONDecoder, limits: TableLimits) -> tuple[list, int]:
    """The array starting at ``text[pos]`` (a "["), item by item, and the position after it."""
    items: list = []
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        return items, pos + 1
    while True:
        if len(items) == limits.max_rows:
            raise limits.too_many_rows("JSON 中的上报记录", unit="条")
        item, pos = decoder.raw_decode(text, pos)
        items.append(item)
        pos = _skip(text, pos)
        if text.startswith("]", pos):
            return items, pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _skip(text, pos + 1)


def _report_object(text: str, pos: int, decoder: json.JSONDecoder, limits: TableLimits) -> tuple[dict, int]:
    """The object starting at ``text[pos]`` (a "{"), its list of reports read by :func:`_report_list`."""
    document: dict = {}
    pos = _skip(text, pos + 1)
    if text.startswith("}", pos):
        return document, pos + 1
    while True:
        if not text.startswith('"', pos):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
        pos = _skip(text, pos + 1)
        if str(key).lower() in REPORT_LIST_KEYS and text.startswith("[", pos):
            document[key], pos = _report_list(text, pos, decoder, limits)
        else:
            document[key], pos = decoder.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text.startswith("}", pos):
            return document, pos + 1
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _skip(text, pos + 1)


def _sniff(data: bytes) -> str:
    """Format of uploaded bytes: XLSX (a zip), XLS (an OLE compound file), JSON (starts with [ or
    {), else CSV."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head in (b"[", b"{") else "csv"


def _json_columns(document: object) -> tuple[Columns, list[int], dict[str, list[str | None]]]:
    """A list of report objects (or ``{"updates"|"items": [...]}``) as text columns, and the key
    each item used per field (items may spell keys differently). An item that is not an object
    becomes an empty row (rejected for its missing id)."""
    refuse_lone_surrogates(document)
    items = document
    if isinstance(document, dict):
        key = next((k for k in document if str(k).lower() in ("updates", "items")), None)
        items = document[key] if key is not None else None
    if not isinstance(items, list):
        raise CameraReadError("unreadable", 'JSON 应为上报记录的数组，或 {"updates": [...]} / {"items": [...]}。')
    if not items:
        raise CameraReadError("empty", "JSON 中没有上报记录。")
    limits = TableLimits.from_settings()
    if len(items) > limits.max_rows:  # parsed by the caller (JSON text is bounded as it is decoded)
        raise limits.too_many_rows("JSON 中的上报记录", len(items), unit="条")
    columns: Columns = {f: [] for f in STATUS_UPDATE_ALIASES}
    sources: dict[str, list[str | None]] = {f: [] for f in STATUS_UPDATE_ALIASES}
    mappings: dict[tuple[str, ...], dict[str, str]] = {}  # items mostly share one set of keys
    for item in items:
        item = {str(k).strip(): v for k, v in item.items()} if isinstance(item, dict) else {}
        keys = tuple(item)
        mapping = mappings.get(keys)
        if mapping is None:
            mapping = mappings[keys] = detect_fields(list(keys), STATUS_UPDATE_ALIASES)
        for f in STATUS_UPDATE_ALIASES:
            key = mapping.get(f)
            columns[f].append(_json_text(item[key]) if key is not None else "")
            sources[f].append(key)
    return columns, list(range(1, len(items) + 1)), sources


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value).strip()


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _timestamp(value: dt.datetime | pd.Timestamp) -> pd.Timestamp:
    """A tz-aware Timestamp in ``TIME_ZONE`` (naive values are Beijing time)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(TIME_ZONE) if stamp.tzinfo is None else stamp.tz_convert(TIME_ZONE)


_DATE_START = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def parse_time(text: str) -> pd.Timestamp | None:
    """One report time: ISO 8601 ("2026-11-21T08:00:00+08:00", "…Z"), "2026-11-21 08:00:00",
    "2026/11/21 8:00", "2026年11月21日 08:00", or epoch seconds / milliseconds (UTC instants, years
    ``EPOCH_YEARS``). None when it is none of these."""
    if _NUMBER.match(text):
        number = float(text)  # inf for hundreds of digits
        if not number < 1e16:  # past epoch milliseconds of the year 2100 (and inf): no report time
            return None
        stamp = pd.Timestamp(number, unit="ms" if number >= 1e11 else "s", tz="UTC")
        return stamp.tz_convert(TIME_ZONE) if EPOCH_YEARS[0] <= stamp.year < EPOCH_YEARS[1] else None
    value = re.sub(r"[年月/]", "-", text).replace("日", " ").strip()
    if not _DATE_START.match(value):
        return None
    try:
        # In nanoseconds, as the reports are kept: year 0, 1677 or 9999 does not fit (OutOfBoundsDatetime).
        return _timestamp(pd.Timestamp(value)).as_unit("ns")
    except (ValueError, TypeError, OverflowError, NotImplementedError):
        return None


def _check(
    text: Columns, rows: list[int], sources: dict[str, list[str | None]], default: pd.Timestamp
) -> StatusUpdates:
    """Validate the rows one by one; each rejected row reports its first problem (id, then status,
    then time). Each distinct time text is parsed once."""
    words = {word_key(k): v for k, v in _REPORT_WORDS.items()}
    accepted = word_list(_REPORT_WORDS, {True: "在线", False: "离线"})
    times: dict[str, pd.Timestamp | None] = {"": default}
    kept: dict[str, list] = {"row": [], "device_id": [], "online": [], "at": []}
    rejected: list[RowProblem] = []
    for i, (raw_id, word, when) in enumerate(zip(text["device_id"], text["online"], text["at"])):
        device_id = normalize_device_id(raw_id)
        if when not in times:
            times[when] = parse_time(when)
        online, at = words.get(word_key(word)), times[when]
        id_problem = device_id_format_problem(device_id)
        if id_problem is not None:
            problem = (id_problem, "device_id", describe(id_problem, raw_id))
        elif online is None:
            problem = (
                "online_unknown",
                "online",
                (f"在线状态“{word}”无法识别" if word else "在线状态为空") + f"；可用的写法：{accepted}。",
            )
        elif at is None:
            problem = (
                "time_invalid",
                "at",
                f"时间“{when}”无法识别：请写成 2026-11-21 08:00:00、"
                "ISO 8601（如 2026-11-21T08:00:00+08:00）或 Unix 时间戳（秒或毫秒）。",
            )
        else:
            for column, value in zip(kept.values(), (rows[i], device_id, online, at)):
                column.append(value)
            continue
        code, field_name, message = problem
        rejected.append(
            RowProblem(
                int(rows[i]),
                code,
                message,
                device_id or None,
                sources[field_name][i] or field_name,
                text[field_name][i],
            )
        )
    instants = np.array([t.value for t in kept["at"]], dtype="datetime64[ns]")  # UTC nanoseconds
    updates = pd.DataFrame(
        {
            "row": np.array(kept["row"], dtype=np.int64),
            "device_id": kept["device_id"],
            "online": np.array(kept["online"], dtype=bool),
            "at": pd.DatetimeIndex(instants).tz_localize("UTC").tz_convert(TIME_ZONE),
        }
    )
    return StatusUpdates(updates, rejected, len(rows))
