"""Process memory for the benchmarks: the resident set and its high-water mark (Linux /proc, with
a getrusage fallback), so each benchmark can report the peak of one measured step."""

from __future__ import annotations

import resource
import sys


def status_kb(key: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` figure in kB (VmRSS, VmHWM, ...); None where /proc lacks it."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the RSS high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set since the last ``reset_peak``: VmHWM where /proc has it, else ru_maxrss
    (which on Linux also carries the pre-exec peak of the parent that spawned us)."""
    kb = status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS
    return kb / 1024


def rss_mb() -> float:
    """Current resident set in MB (NaN where /proc lacks it)."""
    kb = status_kb("VmRSS")
    return kb / 1024 if kb is not None else float("nan")
