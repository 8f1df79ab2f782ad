"""Wall time of one call (encode or decode). Peak memory is measured apart, in a fresh process
(salicodec.baselines.memprobe): inside a worker the allocator keeps earlier heaps."""
from __future__ import annotations

import time


def measure(fn, *args):
    """Run fn(*args); return (result, seconds)."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start
