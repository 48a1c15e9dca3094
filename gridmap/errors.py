"""The one shape of a refusal in gridmap: a stable English ``code`` (switched on by programs, the
API's error code) and an actionable Chinese ``message`` (shown to people)."""

from __future__ import annotations


class GridmapError(Exception):
    """Base of the workflows' refusals (file cannot be read, publish refused, bad token, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message
