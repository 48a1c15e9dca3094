"""Recognising columns by the names counties give them (Chinese and English)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _norm(name: str) -> str:
    return "".join(name.split()).lower().replace("_", "").replace("（", "(").replace("）", ")")


def detect_fields(
    columns: Iterable[str], aliases: Mapping[str, tuple[str, ...]], explicit: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map canonical field names to the file's column names.

    ``aliases`` lists, per canonical name, the column names it is known by, most specific first;
    ``explicit`` (canonical → column) wins over detection. Columns are matched ignoring case,
    spaces and underscores; each column is used at most once.
    """
    by_norm = {_norm(c): c for c in columns}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for canonical, column in (explicit or {}).items():
        if column not in set(by_norm.values()):
            raise KeyError(f"column {column!r} given for {canonical!r} is not in the file")
        mapping[canonical] = column
        used.add(column)
    for canonical, names in aliases.items():
        if canonical in mapping:
            continue
        for alias in names:
            found = by_norm.get(_norm(alias))
            if found is not None and found not in used:
                mapping[canonical] = found
                used.add(found)
                break
    return mapping


def parse_field_items(items: Iterable[str]) -> dict[str, str]:
    """``NAME=COLUMN`` items (the CLI's ``--field``, the API's ``fields`` lines) as {NAME: COLUMN}.
    Blank items are skipped; a malformed one raises ``ValueError`` with that item."""
    fields = {}
    for item in items:
        if not item.strip():
            continue
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ValueError(item)
        fields[name.strip()] = column.strip()
    return fields
