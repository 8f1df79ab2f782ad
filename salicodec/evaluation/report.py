"""Reports of a run: per-image CSV, summary JSON, Markdown table, BD-rates against HEIC.

Averages over images at each target: mean achieved bpp, mean of each metric; MS-SSIM in dB is
computed from the mean MS-SSIM (-10 log10(1 - mean)), the convention of CompressAI's Kodak curves.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict

import numpy as np

from ..baselines import REFERENCE_CODEC
from ..imageio import atomic_write_bytes
from . import anchors
from .bdrate import bd_rate
from .metrics import LOWER_IS_BETTER
from .runner import RunState, metric_value

BD_METRICS = ["psnr", "ms-ssim-db", "lpips", "lpips-alex"]
CSV_FIELDS = ["image", "codec", "target_bpp", "setting", "parameter", "bytes", "bpp", "rate_error_pct",
              "reachable", "search_encodes", "encode_s", "decode_s",
              "width", "height"]


def _mean(values) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def summarise(records: list[dict], metric_names: list[str], memory: dict | None = None) -> dict[str, list[dict]]:
    """codec -> one row per target: means over images. Peak memory comes from `memory`
    ((codec, target) -> fresh-process probe on the first image), not from the workers."""
    memory = memory or {}
    groups = defaultdict(list)
    for r in records:
        groups[(r["codec"], r["target_bpp"])].append(r)
    out: dict[str, list[dict]] = defaultdict(list)
    for (codec, target), recs in sorted(groups.items()):
        row = {
            "target_bpp": target, "n_images": len(recs),
            "bpp": _mean(r["bpp"] for r in recs),
            "bpp_min": min(r["bpp"] for r in recs), "bpp_max": max(r["bpp"] for r in recs),
            "mean_abs_rate_error_pct": _mean(abs(r["rate_error_pct"]) for r in recs),
            "unreachable": sum(not r["reachable"] for r in recs),
            "encode_s": _mean(r["encode_s"] for r in recs), "decode_s": _mean(r["decode_s"] for r in recs),
            "encode_peak_mib": memory.get((codec, target), {}).get("encode_peak_mib"),
            "decode_peak_mib": memory.get((codec, target), {}).get("decode_peak_mib"),
        }
        for m in metric_names:
            # A metric that some images lack (a column merged from a run that did not cover this
            # point, add_metric_columns) is not averaged over the rest: a subset's mean is not the
            # point's.
            missing = any(m not in r["metrics"] for r in recs)
            row[m] = math.nan if missing else _mean(metric_value(r, m) for r in recs)
        if "ms-ssim" in metric_names:
            row["ms-ssim-db"] = -10.0 * math.log10(1.0 - row["ms-ssim"]) if row["ms-ssim"] < 1 else math.inf
        out[codec].append(row)
    return dict(out)


def rename_codec(records: list[dict], old: str, new: str) -> list[dict]:
    """The records with codec `old` relabelled `new` (copies; the rest as they are): a codec's
    earlier rows kept beside the rows that replace them under its name. Refused (ValueError)
    when there is no `old` or there already is a `new`."""
    codecs = {r["codec"] for r in records}
    if old not in codecs:
        raise ValueError(f"no records of codec {old!r} to rename")
    if new in codecs:
        raise ValueError(f"there already are records of codec {new!r}")
    return [dict(r, codec=new) if r["codec"] == old else r for r in records]


def copy_codec(records: list[dict], old: str, new: str) -> list[dict]:
    """The records plus copies of codec `old`'s relabelled `new`: the earlier rows kept under
    another name while `old` keeps them too, so that a merge that replaces only some of `old`'s
    points (a new member at one rate) leaves the others under `old`. Refused as rename_codec."""
    return records + [r for r in rename_codec(records, old, new) if r["codec"] == new]


def add_metric_columns(base: list[dict], base_metrics: list[str],
                       new: list[dict], new_metrics: list[str],
                       rel_tol: float = 1e-4) -> tuple[list[dict], list[str], int]:
    """Give the base's records the metrics of another run of the same encodes (e.g. a metric
    added later, measured without measuring the others again). A new record belongs to the base
    record of the same codec, image and target; it must be the same file (equal size) and agree
    on every metric both have, within rel_tol (decoders that use floats, ours and JPEG XL, give
    the same file's pixels a few 1e-5 dB apart from run to run). It fills the metrics the base
    record lacks. Returns the records (copies), the metric names (base's, then the added ones)
    and how many new records had no base record (ignored). Raises ValueError on a disagreement
    (that metric is not of these files) or when nothing was filled."""
    names = base_metrics + [m for m in new_metrics if m not in base_metrics]
    records = [dict(r, metrics=dict(r["metrics"])) for r in base]
    index = {(r["codec"], r["image"], r["target_bpp"]): r for r in records}
    unmatched = filled = 0
    for r in new:
        key = (r["codec"], r["image"], r["target_bpp"])
        b = index.get(key)
        if b is None:
            unmatched += 1
            continue
        if b["bytes"] != r["bytes"]:
            raise ValueError(f"{key}: a different file ({r['bytes']} bytes, the base {b['bytes']})")
        for m, y in r["metrics"].items():
            x = b["metrics"].get(m)
            if x is None:
                b["metrics"][m] = y
                filled += 1
            elif not math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-9):
                raise ValueError(f"{key}: {m} {y} against the base's {x}")
    if not filled:
        raise ValueError("the new run adds no value to the base's records")
    return records, names, unmatched


def bd_rates(summary: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """codec -> metric -> BD-rate (%) against HEIC over the mean points. NaN when not computable."""
    if REFERENCE_CODEC not in summary:
        return {}
    ref = summary[REFERENCE_CODEC]
    result = {}
    for codec, rows in summary.items():
        result[codec] = {}
        if [r["n_images"] for r in rows] != [r["n_images"] for r in ref]:
            continue  # different image sets (a partial run): no fair comparison
        for m in BD_METRICS:
            if not all(m in r and math.isfinite(r[m]) for r in ref + rows):
                continue  # not measured (or not at every point): no curve to integrate
            try:
                result[codec][m] = bd_rate([r["bpp"] for r in ref], [r[m] for r in ref],
                                           [r["bpp"] for r in rows], [r[m] for r in rows],
                                           higher_is_better=m not in LOWER_IS_BETTER)
            except ValueError:
                result[codec][m] = math.nan
    return result


def write_csv(path, records: list[dict], metric_names: list[str]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS + metric_names)
    for r in records:
        w.writerow([r[k] for k in CSV_FIELDS] + [r["metrics"].get(m, "") for m in metric_names])
    atomic_write_bytes(path, buf.getvalue().encode(), force=True)


_INT_FIELDS = ("bytes", "search_encodes", "width", "height")
_FLOAT_FIELDS = ("target_bpp", "bpp", "rate_error_pct", "encode_s", "decode_s")


def read_csv(path) -> tuple[list[dict], list[str]]:
    """The inverse of write_csv: records (metrics in a dict, as the runner builds them) and the
    metric names, so that a committed per-image CSV can be summarised again."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    metric_names = [k for k in (rows[0] if rows else {}) if k not in CSV_FIELDS]
    records = []
    for row in rows:
        rec = {k: row[k] for k in CSV_FIELDS}
        rec.update({k: int(row[k]) for k in _INT_FIELDS})
        rec.update({k: float(row[k]) for k in _FLOAT_FIELDS})
        rec["reachable"] = row["reachable"] == "True"
        rec["metrics"] = {m: float(row[m]) for m in metric_names if row[m] != ""}
        records.append(rec)
    return records, metric_names


def json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path, summary, bd, state: RunState, config_dict: dict) -> None:
    doc = {
        "config": config_dict,
        "images": [p.name for p in state.images],
        "codecs": state.codecs, "skipped_codecs": state.skipped_codecs,
        "metrics": state.metrics, "skipped_metrics": state.skipped_metrics,
        "rate_matching": "bisection on each codec's quality knob, per image (salicodec/evaluation/ratematch.py)",
        "bd_rate_reference": REFERENCE_CODEC, "bd_rate_method": "Bjontegaard, PCHIP interpolation of log-rate over the common quality interval",
        "summary": summary, "bd_rate_pct": bd,
    }
    atomic_write_bytes(path, json.dumps(json_safe(doc), indent=1).encode(), force=True)


def _f(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}"


def markdown(summary, bd, state: RunState, command: str) -> str:
    metric_cols = [m for m in ["psnr", "ms-ssim", "ms-ssim-db", "lpips", "lpips-alex", "psnr-s"]
                   if any(m in rows[0] for rows in summary.values())]
    digits = {"psnr": 2, "ms-ssim": 4, "ms-ssim-db": 2, "lpips": 4, "lpips-alex": 4, "psnr-s": 2}
    names = {"psnr": "PSNR dB", "ms-ssim": "MS-SSIM", "ms-ssim-db": "MS-SSIM dB", "lpips": "LPIPS",
             "lpips-alex": "LPIPS-Alex", "psnr-s": "PSNR-S dB"}
    lines = [f"Kodak-style benchmark over {len(state.images)} images. Command: `{command}`", ""]
    lines.append("| codec | target bpp | images | mean bpp | mean \\|Δrate\\| % | " + " | ".join(names[m] for m in metric_cols)
                 + " | enc s | dec s | enc peak MiB | dec peak MiB |")
    lines.append("|" + "---|" * (5 + len(metric_cols) + 4))
    for codec, rows in summary.items():
        for r in rows:
            unreach = f" ({r['unreachable']} unreachable)" if r["unreachable"] else ""
            lines.append(f"| {codec} | {r['target_bpp']:.2f} | {r['n_images']} | {r['bpp']:.3f}{unreach} | {_f(r['mean_abs_rate_error_pct'], 1)} | "
                         + " | ".join(_f(r.get(m), digits[m]) for m in metric_cols)
                         + f" | {_f(r['encode_s'], 3)} | {_f(r['decode_s'], 3)} | {_f(r['encode_peak_mib'], 0)} | {_f(r['decode_peak_mib'], 0)} |")
    if bd:
        cols = [m for m in BD_METRICS if any(m in v for v in bd.values())]
        lines += ["", f"BD-rate against {REFERENCE_CODEC} (%, negative = fewer bits for equal quality; PCHIP Bjøntegaard over the mean points):", "",
                  "| codec | " + " | ".join(names.get(m, m) for m in cols) + " |", "|" + "---|" * (1 + len(cols))]
        for codec, v in bd.items():
            lines.append(f"| {codec} | " + " | ".join(_f(v.get(m), 1) for m in cols) + " |")
    if REFERENCE_CODEC in summary:
        lines += ["", "HEIC (x265 4:4:4, measured here) beside published BPG 4:4:4 (CompressAI, interpolated):", "",
                  "| target bpp | HEIC bpp | HEIC PSNR | BPG PSNR at target | BPG PSNR at HEIC bpp | HEIC MS-SSIM dB | BPG MS-SSIM dB at HEIC bpp |",
                  "|---|---|---|---|---|---|---|"]
        for r in summary[REFERENCE_CODEC]:
            lines.append(f"| {r['target_bpp']:.2f} | {r['bpp']:.3f} | {_f(r.get('psnr'))} | {_f(anchors.bpg_at(r['target_bpp'], 'psnr'))} | "
                         f"{_f(anchors.bpg_at(r['bpp'], 'psnr'))} | {_f(r.get('ms-ssim-db'))} | {_f(anchors.bpg_at(r['bpp'], 'ms-ssim-db'))} |")
    lines += ["", "| codec | version | settings |", "|---|---|---|"]
    for name, info in state.codecs.items():
        lines.append(f"| {name} | {info['version']} | {info['settings']} (knob: {info['parameter']}) |")
    for name, why in state.skipped_codecs.items():
        lines.append(f"| {name} | **skipped** | {why} |")
    if state.skipped_metrics:
        lines += [""] + [f"- metric `{m}` not reported: {why}" for m, why in state.skipped_metrics.items()]
    return "\n".join(lines) + "\n"
