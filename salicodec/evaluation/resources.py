"""Wall time and peak resident memory of one call (encode or decode).

Peak memory on Linux: writing "5" to /proc/self/clear_refs resets the process's high-water mark
(VmHWM) to its current RSS, so VmHWM after the call minus RSS before it is the call's peak extra
memory, including what C libraries (x265, libaom, OpenJPEG) allocate. Elsewhere: None.
"""
from __future__ import annotations

import time
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


def measure(fn, *args):
    """Run fn(*args); return (result, seconds, peak extra MiB or None)."""
    can_reset = _reset_peak()
    rss_before = _status_kib("VmRSS")
    start = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    if not can_reset or rss_before is None or peak is None:
        return result, seconds, None
    return result, seconds, max(0, peak - rss_before) / 1024.0
