"""Merge the reports of several `salicodec eval --task detection` runs into one table and figure.

    python benchmarks/detection_merge.py RUN1/detection.json RUN2/detection.json ... --out DIR

The detection benchmark writes its report after every codec, so a long run can be split across
sessions (one set of codecs per run). The runs are merged only if they measured the same thing:
same detector settings, images, bootstrap resamples and uncompressed AP (the same images give the
same detections, and the bootstrap is seeded). A codec in several runs is taken from the last.
Writes DIR/detection.json, DIR/detection_table.md and DIR/detection_ap_vs_bpp.png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from salicodec.evaluation import detection_bench

SAME = ("detector", "images", "bootstrap", "score_threshold", "nms_iou")


def merge(reports: list[dict]) -> dict:
    first = reports[0]
    for r in reports[1:]:
        for key in SAME:
            if r.get(key, first.get(key)) != first.get(key):
                raise SystemExit(f"cannot merge: {key} differs ({first.get(key)!r} vs {r.get(key)!r})")
        u0, u1 = first["uncompressed"], r["uncompressed"]
        if abs(u0["ap"] - u1["ap"]) > 1e-9 or any(abs(a - b) > 1e-9 for a, b in zip(u0["ci"], u1["ci"])):
            raise SystemExit(f"cannot merge: the uncompressed AP differs ({u0['ap']:.6f} vs {u1['ap']:.6f})")
    merged = {k: first[k] for k in (*SAME, "uncompressed")}
    merged["commands"] = [r.get("command", "(not recorded)") for r in reports]
    rows: dict[str, list[dict]] = {}
    per_image: dict[str, dict] = {}
    for r in reports:
        for name in dict.fromkeys(c["codec"] for c in r["codecs"]):
            rows[name] = [c for c in r["codecs"] if c["codec"] == name]
            if name in r.get("per_image_bpp", {}):
                per_image[name] = r["per_image_bpp"][name]
    merged["codecs"] = [c for name in rows for c in rows[name]]
    merged["per_image_bpp"] = per_image
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    try:
        reports = [json.loads(p.read_text()) for p in a.reports]
    except (OSError, ValueError) as e:
        raise SystemExit(f"cannot read a report: {e}")
    merged = merge(reports)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "detection.json").write_text(json.dumps(merged, indent=1))
    (a.out / "detection_table.md").write_text(detection_bench.table_markdown(merged))
    detection_bench.plot(merged, a.out / "detection_ap_vs_bpp.png")
    sys.stdout.write(detection_bench.table_markdown(merged))


if __name__ == "__main__":
    main()
