"""Logging: every module logs under the one ``gridmap`` logger (``gridmap.<area>``), with
structured fields that stay machine-readable.

    log = get_logger("services.boundaries")
    event(log, "publish", root="411628001", version=12, areas=640, ms=580)

prints, once :func:`configure` has run (``gridmap serve`` sets it up in uvicorn's logging
configuration, :func:`with_gridmap_logger`; a library user configures logging as they like)::

    2026-12-06 18:20:01,512 INFO gridmap.services.boundaries publish root=411628001 version=12 areas=640 ms=580

Fields with spaces or quotes are quoted; secrets never go into fields (tokens are logged by
their shown prefix only).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any
from urllib.parse import unquote_plus

ROOT = "gridmap"
_FIELDS = "gridmap_fields"


def get_logger(name: str) -> logging.Logger:
    """The logger ``gridmap.<name>``."""
    return logging.getLogger(f"{ROOT}.{name}")


def event(log: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``message`` with ``fields`` (rendered ``key=value`` by :class:`KeyValueFormatter`)."""
    if log.isEnabledFor(level):
        log.log(level, message, extra={_FIELDS: fields}, stacklevel=2)


def _value(value: Any) -> str:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    return f'"{text}"' if not text or any(c in text for c in ' "=') else text


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value …`` (the fields given to :func:`event`)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, _FIELDS, None)
        if not fields:
            return text
        head, sep, tail = text.partition("\n")  # keep a traceback below the fields
        pairs = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        return f"{head} {pairs}{sep}{tail}"


#: A query string in a log line or URL: from ``?`` to the first space or quote (a ``#`` sent in a
#: request line is part of the query string the server parses).
_QUERY = re.compile(r"\?[^\s\"]*")
_SEPARATORS = re.compile(r"([?&;])")


def redact(text: str) -> str:
    """``text`` (a request line, a URL) with the value of every ``token`` parameter replaced by
    ***: whatever its case, repeated, and however its name is spelled in the URL (``to%6Ben=``
    is ``token=`` to the server, and logs keep the query string as it was sent)."""
    return _QUERY.sub(lambda m: _redact_query(m.group(0)), text)


def _redact_query(query: str) -> str:
    parts = _SEPARATORS.split(query)
    for i, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and unquote_plus(name).strip().lower() == "token":
            parts[i] = f"{name}=***"
    return "".join(parts)


class RedactTokens(logging.Filter):
    """A filter for access logs: the ``token=`` secrets screens put in URLs never reach a log file
    (uvicorn's access record carries the path with its query string in ``args``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        record.msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
        return True


def with_gridmap_logger(config: dict[str, Any], level: str = "INFO") -> dict[str, Any]:
    """A copy of a ``logging.config.dictConfig`` dictionary (uvicorn's, say) that also sends the
    ``gridmap`` logger's records to stderr as ``key=value`` lines (each worker process applies it)
    and redacts ``token=`` parameters from uvicorn's access lines."""
    config = {**config}
    config["formatters"] = {**config.get("formatters", {}), "gridmap": {"()": f"{__name__}.KeyValueFormatter"}}
    config["handlers"] = {
        **config.get("handlers", {}),
        "gridmap": {"class": "logging.StreamHandler", "formatter": "gridmap", "stream": "ext://sys.stderr"},
    }
    config["loggers"] = {
        **config.get("loggers", {}),
        ROOT: {"handlers": ["gridmap"], "level": level, "propagate": False},
    }
    # Access lines without the token= secrets of screen URLs.
    config["filters"] = {**config.get("filters", {}), "redact_tokens": {"()": f"{__name__}.RedactTokens"}}
    if "uvicorn.access" in config["loggers"]:
        access = dict(config["loggers"]["uvicorn.access"])
        access["filters"] = [*access.get("filters", []), "redact_tokens"]
        config["loggers"]["uvicorn.access"] = access
    return config


def configure(level: int | str = logging.INFO) -> None:
    """Send the ``gridmap`` logger's records to stderr as ``key=value`` lines (idempotent)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if not any(getattr(h, "_gridmap", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter())
        handler._gridmap = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
