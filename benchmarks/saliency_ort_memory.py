"""Peak memory and time of one U^2-Net-p forward pass with onnxruntime's memory options on and off.

    PYTHONPATH=. python benchmarks/saliency_ort_memory.py [--runs 10]

Each configuration runs in a fresh subprocess (peak resident set, VmHWM, is per process). This is
why salicodec/saliency/u2netp.py sets enable_mem_pattern = False.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import sys, time
import numpy as np, onnxruntime as ort
from salicodec import weights
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) / 1024
arena, pattern, runs = sys.argv[1] == '1', sys.argv[2] == '1', int(sys.argv[3])
o = ort.SessionOptions(); o.enable_cpu_mem_arena = arena; o.enable_mem_pattern = pattern
o.log_severity_level = 3
s = ort.InferenceSession(str(weights.path('u2netp')), o, providers=['CPUExecutionProvider'])
x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
before = hwm(); s.run(None, {s.get_inputs()[0].name: x})
t = time.perf_counter()
for _ in range(runs):
    s.run(None, {s.get_inputs()[0].name: x})
print(f"{before:.0f} {hwm():.0f} {(time.perf_counter() - t) / runs:.3f}")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    print("| cpu mem arena | mem pattern | peak RSS before / after the first run | time per run |")
    print("|---|---|---|---|")
    for arena in (1, 0):
        for pattern in (1, 0):
            out = subprocess.run([sys.executable, "-c", CHILD, str(arena), str(pattern), str(args.runs)],
                                 capture_output=True, text=True, check=True).stdout.split()
            print(f"| {'on' if arena else 'off'} | {'on' if pattern else 'off'} | {out[0]} / {out[1]} MiB | {out[2]} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
