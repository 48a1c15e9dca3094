"""The one shape of a refusal in gridmap.

Every refusal — a file that cannot be read, a publish that would overlap a neighbour, a token out
of scope, a database that is down — is a :class:`GridmapError` (or a subclass) carrying:

- ``code``: stable English snake_case; programs switch on it; never changes once released;
- ``message``: Chinese, for the person who asked, saying what to do next;
- ``detail``: optional structured context (the validation report, the codes involved, ...);
- ``http_status``: the status the API answers with (the class's ``status``, or the one its
  ``statuses`` table names for this code, or one given to the instance);
- ``headers``: optional extra response headers (``Retry-After`` on 503).

The API renders every one with a single exception handler (``gridmap.api.errors``) as
``{"code", "message", "detail"}``; the CLI prints ``gridmap: message（code）`` and exits 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class GridmapError(Exception):
    """Base of every refusal: ``code`` (stable), ``message`` (Chinese), ``detail``, ``http_status``."""

    #: HTTP status of the API answer for this class (subclasses set their own).
    status: ClassVar[int] = 422
    #: Per-code statuses, where one class covers several outcomes (404 for a missing version, ...).
    statuses: ClassVar[Mapping[str, int]] = {}
    #: Exit code of the CLI: 2 the input or an option could not be used, 1 the work was refused.
    exit_code: ClassVar[int] = 2

    def __init__(
        self,
        code: str,
        message: str,
        detail: Any | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.detail = code, message, detail
        self._status = status
        self.headers = dict(headers) if headers else None

    @property
    def http_status(self) -> int:
        return self._status or self.statuses.get(self.code, self.status)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class and attributes, whatever its ``__init__`` takes (refusals come
        back from worker processes: ``gridmap.workers``)."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[GridmapError], args: tuple[Any, ...], state: dict[str, Any]) -> GridmapError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class DatabaseUnavailable(GridmapError):
    """The database is down, restarting, or too busy to answer in time; nothing was written."""

    status = 503
    exit_code = 1

    def __init__(
        self, message: str = "数据库暂时不可用或繁忙，本次未做任何修改，请稍后重试。", detail: Any | None = None
    ):
        super().__init__("database_unavailable", message, detail, headers={"Retry-After": "5"})
