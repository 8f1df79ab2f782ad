"""Kodak benchmark of shipped models: bpp, quality, encode/decode seconds, peak memory, exactness.

    python benchmarks/codec_kodak.py [--models NAME ...] [--images N] [--threads T]
                                     [--json out.json] [--update-registry]
    python benchmarks/codec_kodak.py --from-eval OUT_DIR [OUT_DIR ...] [--update-registry]

`--from-eval` takes the figures of `salicodec eval KODAK --codecs ours --out OUT_DIR` (the same
compress/decompress path, same metrics) instead of coding again; it has no exactness check.
Several OUT_DIRs (one `--codecs ours:MODEL` run per model) are searched in turn.

For every image: compress (saliency auto), decompress, and check (1) the decoded image equals the
model's own forward reconstruction bit for bit, (2) the payload is within 1% of the cross-entropy
the context models predict (training path, Eq. 12, plus the coded channel counts).
Peak memory is the process's maximum resident set size (ru_maxrss) after each model's run.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from salicodec import api
from salicodec.imageio import load_rgb, shared_dir
from salicodec.metrics import msssim_rgb, psnr_rgb
from salicodec.models import zoo


def run_model(name: str, files, lpips_fn, saliency: str) -> dict:
    model = zoo.load_model(name)
    rows = []
    for f in files:
        rgb = load_rgb(f)
        h, w = rgb.shape[:2]
        sal = api.saliency_map_for(rgb, saliency)
        t0 = time.perf_counter()
        data, code = api.compress(rgb, model, saliency=sal, return_stats=True)
        t1 = time.perf_counter()
        rec = np.asarray(api.decompress(data, model))
        t2 = time.perf_counter()
        forward = api.reconstruct(rgb, model, saliency=sal)
        x = api.pad_to_multiple(rgb)
        s = api.saliency_tensor(sal, rgb, (x.shape[2] // 8, x.shape[3] // 8))
        with torch.no_grad():
            out = model(x, s)
        predicted = float(out["bits_y"] + out["bits_z"]) + code.predicted_bits["k1"] + code.predicted_bits.get("k2", 0.0)
        payload = 8 * sum(len(sec) for sec in code.sections)
        rows.append({
            "image": f.name, "bytes": len(data), "bpp": 8 * len(data) / (h * w),
            "psnr": psnr_rgb(rgb, rec), "ms_ssim": msssim_rgb(rgb, rec),
            "lpips": lpips_fn(rgb, rec) if lpips_fn else None,
            "encode_s": t1 - t0, "decode_s": t2 - t1,
            "exact": bool(np.array_equal(rec, forward)),
            "payload_vs_predicted": payload / predicted - 1.0,
        })
        print(f"{name} {f.name}: {rows[-1]['bpp']:.4f} bpp {rows[-1]['psnr']:.2f} dB "
              f"enc {rows[-1]['encode_s']:.2f}s dec {rows[-1]['decode_s']:.2f}s exact={rows[-1]['exact']} "
              f"payload/predicted-1={rows[-1]['payload_vs_predicted']:+.4%}", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s")}
    if lpips_fn:
        mean["lpips"] = float(np.mean([r["lpips"] for r in rows]))
    mean["all_exact"] = all(r["exact"] for r in rows)
    mean["max_abs_payload_vs_predicted"] = float(max(abs(r["payload_vs_predicted"]) for r in rows))
    mean["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": name, "mean": mean, "images": rows}


def from_eval(out_dirs: list[Path], names: list[str]) -> list[dict]:
    """Per-model means of the eval cache's records (`OUT_DIR/cache/ours/IMAGE@MODEL.json`, or
    `cache/ours_MODEL/` for a run of `--codecs ours:MODEL`), from the first OUT_DIR that has them."""
    results = []
    for name in names:
        for out_dir in out_dirs:
            paths = [p for folder in ("ours", f"ours_{name}") for p in sorted((out_dir / "cache" / folder).glob(f"*@{name}.json"))]
            if paths:
                break
        recs = [json.loads(p.read_text()) for p in paths]
        if len(recs) != 24:
            raise SystemExit(f"{out_dir}: {len(recs)} Kodak records for {name}, expected 24")
        rows = [{"image": r["image"], "bytes": r["bytes"], "bpp": r["bpp"], "psnr": r["metrics"]["psnr"],
                 "ms_ssim": r["metrics"]["ms-ssim"], "lpips": r["metrics"]["lpips"],
                 "encode_s": r["encode_s"], "decode_s": r["decode_s"]} for r in recs]
        keys = ["bpp", "psnr", "ms_ssim", "lpips", "encode_s", "decode_s"]
        if all("lpips-alex" in r["metrics"] for r in recs):  # an eval run with --metrics …,lpips-alex
            for row, r in zip(rows, recs):
                row["lpips_alex"] = r["metrics"]["lpips-alex"]
            keys.append("lpips_alex")
        mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
        results.append({"model": name, "source": str(out_dir), "mean": mean, "images": rows})
    return results


def write_family_json(path: Path, results: list[dict]) -> None:
    """PATH holds one entry per current family member (zoo.list_models()), in target order: a member
    measured in `results` takes that entry, the others keep PATH's; retired members drop out."""
    old = json.loads(path.read_text()) if path.is_file() else []
    target = {m.name: m.target_bpp for m in zoo.list_models()}
    by_model = {e["model"]: e for e in old} | {r["model"]: r for r in results}
    entries = sorted((e for name, e in by_model.items() if name in target), key=lambda e: target[e["model"]])
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--saliency", default="auto", choices=["auto", "none"])
    ap.add_argument("--no-lpips", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--update-registry", action="store_true")
    ap.add_argument("--family-json", type=Path, metavar="PATH",
                    help="rewrite PATH (e.g. docs/benchmarks/codec_kodak.json) as the current family's "
                         "entries: these results, and PATH's own for members not measured here")
    ap.add_argument("--from-eval", type=Path, nargs="+", metavar="OUT_DIR")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    files = sorted((shared_dir() / "data" / "kodak").glob("kodim*.png"))[: a.images]
    lpips_fn = None
    if not a.no_lpips and not a.from_eval:
        from salicodec.metrics.lpips import LPIPS

        lp = LPIPS("vgg")
        lpips_fn = lambda r, d: float(lp(r, d))  # noqa: E731
    names = a.models or [m.name for m in zoo.list_models()]
    if a.from_eval:
        results = from_eval(a.from_eval, names)
    else:
        results = [run_model(n, files, lpips_fn, a.saliency) for n in names]
    for r in results:
        print(json.dumps({"model": r["model"], **r["mean"]}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if a.update_registry and (a.from_eval or a.images == 24):  # from_eval checks its 24 records
        reg = json.loads(zoo.REGISTRY.read_text())
        for r in results:
            for m in reg["models"]:
                if m["name"] == r["model"]:
                    # 6 places: `salicodec models` prints 4, and 5 let a mean like 0.963649 print as
                    # 0.9637 (stored 0.96365) where the tables, rounding the mean itself, say 0.9636
                    m["measured"] = {k: round(v, 6) for k, v in r["mean"].items()
                                     if k in ("bpp", "psnr", "ms_ssim", "lpips", "lpips_alex", "encode_s", "decode_s")}
        zoo.REGISTRY.write_text(json.dumps(reg, indent=2) + "\n")
    if a.family_json:
        write_family_json(a.family_json, results)


if __name__ == "__main__":
    main()
