"""Heavy work on an uploaded file — reading and validating it — runs in a child process that can be
stopped, so one pathological file (a polygon with millions of self-crossing vertices, a sheet that
unpacks to gigabytes) cannot hold a core or the server's memory.

:func:`run_bounded` calls a function in a fresh child with

- a **wall-clock limit** (``WorkLimits.timeout_s``): past it the child is killed (SIGKILL, which
  also stops GEOS in the middle of a computation) and :class:`WorkRefused` ``validation_timeout``
  is raised;
- an **address-space limit** (``RLIMIT_AS``, ``WorkLimits.memory_mb``): an allocation beyond it
  fails inside the child (``MemoryError``, or GEOS/GDAL aborting), and the caller gets
  :class:`WorkRefused` ``too_complex``; the server's own memory never grows with the file.

Children are forked from a forkserver that has imported the modules named in
:func:`preload` (a fresh, single-threaded process: forking the server itself, with its threads
and connection pools, would not be safe), so a child starts in milliseconds. A child's temporary
files go into a directory the caller owns (``workdir``), removed by the caller whatever happened
to the child. :func:`stop_all` kills every child still running and removes its workdir (the server
calls it when it shuts down, so SIGTERM is prompt with work in flight and leaves no files).

The result, and any :class:`gridmap.errors.GridmapError` the function raises, come back to the
caller pickled; any other exception in the child is a bug and comes back as :class:`WorkFailed`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from gridmap.config import Settings, get_settings
from gridmap.errors import GridmapError
from gridmap.logs import event, get_logger

MB = 1024 * 1024
T = TypeVar("T")
_log = get_logger("gridmap.workers")
_context = multiprocessing.get_context("forkserver")
_running: dict[multiprocessing.process.BaseProcess, Path] = {}  # child → its workdir
_stopped: set[int | None] = set()  # pids killed by stop_all
_lock = threading.Lock()


@dataclass(frozen=True)
class WorkLimits:
    """Bounds of one piece of work in a child: seconds of wall-clock time, MB of address space
    (defaults in the settings: ``GRIDMAP_WORK_TIMEOUT``, ``GRIDMAP_WORK_MEMORY_MB``)."""

    timeout_s: float
    memory_mb: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WorkLimits:
        s = settings or get_settings()
        return cls(s.work_timeout_s, s.work_memory_mb)


class WorkRefused(GridmapError):
    """The work did not finish within its limits: ``validation_timeout`` (wall clock) or
    ``too_complex`` (memory); 422 with the limit in ``detail``."""

    status = 422
    exit_code = 1


class WorkFailed(GridmapError):
    """The child failed in a way that is not a refusal (a bug): 500, logged with the child's error."""

    status = 500
    exit_code = 1


@dataclass(frozen=True)
class WorkStats:
    """What a child used: seconds of wall-clock time and its peak resident memory in MB."""

    seconds: float
    peak_mb: float


def preload(*modules: str) -> None:
    """Modules the forkserver imports once, so that children start with them loaded. Call before
    the first :func:`run_bounded` (later calls have no effect once the forkserver runs)."""
    _context.set_forkserver_preload(list(modules))


def run_bounded(
    func: Callable[..., T],
    *args: Any,
    limits: WorkLimits,
    workdir: str | Path,
    label: str,
    **kwargs: Any,
) -> tuple[T, WorkStats]:
    """``func(*args, **kwargs)`` in a child process within ``limits``; returns its result and what
    it used. ``func`` must be a module-level function (it is pickled by name) and its arguments and
    result picklable. The child's temporary files go under ``workdir`` (the caller removes it).

    Raises what ``func`` raised if it is a ``GridmapError``; :class:`WorkRefused`
    (``validation_timeout``, ``too_complex``) when the limits stop it; :class:`WorkFailed` otherwise."""
    started = time.monotonic()
    receiver, sender = _context.Pipe(duplex=False)
    child = _context.Process(
        target=_child,
        args=(sender, func, args, kwargs, int(limits.memory_mb * MB), str(workdir), _settings_environment()),
        name=f"gridmap-{label}",
        daemon=True,
    )
    with _lock:
        child.start()
        _running[child] = Path(workdir)
    sender.close()
    peak_mb = 0.0
    try:
        deadline = started + limits.timeout_s
        message = None
        while message is None:
            left = deadline - time.monotonic()
            if left <= 0:
                peak_mb = _peak_mb(child.pid)
                raise _timeout(limits, label, time.monotonic() - started, peak_mb)
            if receiver.poll(min(left, 0.5)):
                try:
                    message = receiver.recv()
                except (EOFError, OSError):  # the child died without answering (killed, aborted)
                    break
            elif not child.is_alive() and not receiver.poll(0):
                break
    finally:
        if child.is_alive():
            peak_mb = peak_mb or _peak_mb(child.pid)
            child.kill()
        child.join()
        receiver.close()
        with _lock:
            _running.pop(child, None)
    seconds = time.monotonic() - started
    if message is None:  # died: out of memory in native code, or killed (by stop_all or the system)
        event(_log, "work_died", label=label, exitcode=child.exitcode, seconds=round(seconds, 2))
        with _lock:
            stopped = child.pid in _stopped
            _stopped.discard(child.pid)
        if stopped:
            raise GridmapError(
                "server_stopping",
                "服务正在停止，本次处理已中止，未做任何修改；请稍后重新上传。",
                status=503,
                headers={"Retry-After": "30"},
            )
        raise _too_complex(limits, label, seconds, peak_mb, died=True)
    kind, payload, peak_mb = message
    stats = WorkStats(round(seconds, 3), peak_mb)
    event(_log, "work", label=label, outcome=kind, seconds=stats.seconds, peak_mb=round(peak_mb, 1))
    if kind == "ok":
        return payload, stats
    if kind == "memory":
        raise _too_complex(limits, label, seconds, peak_mb)
    if kind == "refused":
        raise payload
    raise WorkFailed(
        "work_failed", "服务器处理文件时出错，本次未做任何修改；请把文件发给管理员排查。", {"error": payload}
    )


def stop_all() -> int:
    """Kill every child still running and remove their workdirs (the server shutting down: the
    threads waiting for them may not get to clean up before the process ends); returns how many."""
    with _lock:
        children = dict(_running)
        _stopped.update(c.pid for c in children)
    for child, workdir in children.items():
        with contextlib.suppress(Exception):
            child.kill()
            child.join(5)
        shutil.rmtree(workdir, ignore_errors=True)
    return len(children)


def _settings_environment() -> dict[str, str]:
    """The caller's ``GRIDMAP_*`` variables now: the settings the work must see (the forkserver's
    environment is the one it started with)."""
    return {k: v for k, v in os.environ.items() if k.startswith("GRIDMAP_")}


def _child(
    sender: Connection,
    func: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    memory_bytes: int,
    workdir: str,
    environment: dict[str, str],
) -> None:
    """The child's body: the caller's settings and the limits first, then the work; answers
    (kind, payload, peak MB)."""
    for name in [k for k in os.environ if k.startswith("GRIDMAP_")]:
        del os.environ[name]
    os.environ.update(environment)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    tempfile.tempdir = workdir  # every temporary file of the work goes where the caller cleans up
    os.environ["CPL_TMPDIR"] = workdir  # GDAL's
    try:
        result: tuple[str, Any] = ("ok", func(*args, **kwargs))
    except Exception as exc:
        if out_of_memory(exc):
            result = ("memory", None)
        elif isinstance(exc, GridmapError):
            result = ("refused", exc)
        else:  # a bug: the parent logs it and answers 500
            result = ("failed", f"{type(exc).__name__}: {exc}"[:2000])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        sender.send((*result, peak_mb))
    except MemoryError:
        sender.send(("memory", None, peak_mb))
    sender.close()


_MEMORY_WORDS = ("bad_alloc", "out of memory", "cannot allocate memory", "memory allocation failed")


def out_of_memory(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is an allocation that failed: Python's ``MemoryError``,
    or the words GEOS (``std::bad_alloc``), GDAL and the C library use for it."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, MemoryError) or any(w in str(exc).lower() for w in _MEMORY_WORDS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _peak_mb(pid: int | None) -> float:
    """A running child's peak resident memory (VmHWM), MB; 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _timeout(limits: WorkLimits, label: str, seconds: float, peak_mb: float) -> WorkRefused:
    event(_log, "work_timeout", label=label, seconds=round(seconds, 2), peak_mb=round(peak_mb, 1))
    return WorkRefused(
        "validation_timeout",
        f"文件在 {limits.timeout_s:g} 秒内未能处理完（可能含有顶点极多或严重自相交的图形），已停止处理，未做任何修改："
        "请按乡镇拆分后分批上传，或先在 GIS 软件中简化图形；如确需处理更大的文件，请管理员调整 GRIDMAP_WORK_TIMEOUT。",
        {"timeout_s": limits.timeout_s, "seconds": round(seconds, 1), "peak_mb": round(peak_mb, 1)},
    )


def _too_complex(limits: WorkLimits, label: str, seconds: float, peak_mb: float, *, died: bool = False) -> WorkRefused:
    event(_log, "work_too_complex", label=label, seconds=round(seconds, 2), peak_mb=round(peak_mb, 1), died=died)
    return WorkRefused(
        "too_complex",
        f"处理该文件需要的内存超过上限 {limits.memory_mb:,.0f} MB（图形或表格过于复杂），已停止处理，未做任何修改："
        "请按乡镇拆分后分批上传，或先在 GIS 软件中简化图形；如确需处理更大的文件，请管理员调整 GRIDMAP_WORK_MEMORY_MB。",
        {"memory_mb": limits.memory_mb, "seconds": round(seconds, 1), "peak_mb": round(peak_mb, 1)},
    )
