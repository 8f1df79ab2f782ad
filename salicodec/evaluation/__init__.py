"""Rate–distortion evaluation: rate matching, BD-rate, reports and plots (`salicodec eval`)."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

from ..imageio import atomic_write_bytes
from .bdrate import bd_rate
from .runner import MARKER, EvalConfig, prepare_out, probe_memory, resolve, run

DEFAULT_TARGETS = [0.23, 0.37, 0.67, 1.0]  # Patel et al., Fig. 7


def evaluate(config: EvalConfig, progress: bool = True) -> dict:
    """Run the whole benchmark into config.out; return {report name: path}."""
    from . import plots, report

    state = resolve(config)  # checks the dataset before anything is written
    prepare_out(config.out, config.force)
    for name, why in state.skipped_codecs.items():
        print(f"salicodec: warning: codec {name} skipped: {why}", file=sys.stderr)
    for name, why in state.skipped_metrics.items():
        print(f"salicodec: warning: metric {name} skipped: {why}", file=sys.stderr)
    config_dict = {k: (str(v) if k in ("dataset", "out") else v) for k, v in asdict(config).items()}
    atomic_write_bytes(config.out / MARKER, json.dumps(config_dict, indent=1).encode(), force=True)
    records = run(config, state, progress=progress)

    out = config.out
    metric_names = state.metrics
    memory = probe_memory(records, state, config, progress=progress) if config.memory else {}
    summary = report.summarise(records, metric_names, memory)
    bd = report.bd_rates(summary)
    paths = {"csv": out / "per_image.csv", "json": out / "summary.json", "markdown": out / "report.md"}
    report.write_csv(paths["csv"], records, metric_names)
    report.write_json(paths["json"], summary, bd, state, config_dict)
    atomic_write_bytes(paths["markdown"], report.markdown(summary, bd, state, config.command).encode(), force=True)
    for m in ["psnr", "ms-ssim-db", "lpips", "lpips-alex", "psnr-s"]:
        if plots.rd_plot(summary, m, out / f"rd_{m}.png"):
            paths[f"rd_{m}"] = out / f"rd_{m}.png"
    if plots.crop_figure(records, out, out / "crops.png", dataset=config.dataset):
        paths["crops"] = out / "crops.png"
    return paths


__all__ = ["EvalConfig", "evaluate", "bd_rate", "DEFAULT_TARGETS"]
