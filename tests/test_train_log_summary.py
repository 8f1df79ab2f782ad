"""benchmarks/train_log_summary.py: the training figures docs/MODELS.md quotes, from a run's log.csv."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_log_summary.py"


def _module():
    spec = importlib.util.spec_from_file_location("train_log_summary", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_summary_of_a_log_with_a_learning_rate_drop():
    rows = [{"step": str(10 * i), "bpp": str(0.5 + 0.01 * i), "mse": "0.002", "dpl": str(0.1 - 0.001 * i),
             "images_per_s": str(3.0 + 0.01 * i), "lr": "0.0001" if i <= 6 else "2e-05"} for i in range(1, 11)]
    rows.insert(3, {"step": "", "bpp": "", "mse": "", "dpl": "", "images_per_s": "", "lr": ""})  # no figures: skipped
    s = _module().summarise(rows, window=3)
    assert s["steps"] == 100
    assert abs(s["bpp"][0] - 0.52) < 1e-9 and abs(s["bpp"][1] - 0.59) < 1e-9  # steps 10-30, 80-100
    assert abs(s["dpl"][1] - 0.091) < 1e-9
    assert s["last_step_at_lr"] == {1e-4: 60, 2e-5: 100}
    lo, hi = s["images_per_s_5_95"]
    assert 3.0 < lo < hi < 3.11


def test_a_file_that_is_not_a_training_log_gets_one_line(tmp_path):
    bad = tmp_path / "log.csv"
    bad.write_text("a,b\n1,2\n")
    r = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "not a training log" in r.stderr and "Traceback" not in r.stderr
