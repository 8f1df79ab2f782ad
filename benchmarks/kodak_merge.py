"""Merge Kodak rate-distortion runs: replace some of our points in an earlier report by a new run's.

    python benchmarks/kodak_merge.py NEW_DIR ... --base BASE_DIR --out DIR
    python benchmarks/kodak_merge.py NEW_DIR ... --base-csv docs/benchmarks/kodak_per_image.csv \
        --base-summary docs/benchmarks/kodak_summary.json --out DIR

BASE_DIR and each NEW_DIR hold a `salicodec eval` report (per_image.csv and summary.json; the
committed copies in docs/benchmarks are one). The
standard codecs take two hours of one core to measure and do not change when a model of ours
does, so a new model is measured alone (`salicodec eval … --codecs ours:NAME`) and merged here:
every record of a NEW run (its codec `ours:NAME` counted as `ours`) replaces the base's records
of the same codec and target bpp. The merge is refused unless every replaced point covers the
same images and the metrics agree. Peak memory is taken with the records (the base's, or the new
run's probes). Writes DIR/per_image.csv, summary.json, report.md and the rate-distortion plots,
as `salicodec eval` does; the crop figure needs the reconstructions, which are not merged.

With --keep-base-as CODEC=NAME (e.g. ours=ours-v5), the base's rows of CODEC are kept under NAME
before the NEW runs replace them: a family's earlier members stay in the table beside the new.
With --copy-base-as CODEC=NAME they are kept under NAME and CODEC keeps them too, so a point of
CODEC that no NEW run replaces (a member not retrained) stays in CODEC's curve.

With --add-metrics, the NEW runs add columns instead of replacing points: a run of the same
encodes with another metric (`salicodec eval … --metrics psnr,lpips-alex`) gives each base
record the metrics it lacks, refused unless every matched record is the same file (equal size)
and agrees on the metrics both have (report.add_metric_columns). Without it, a new run may bring
a metric the base lacks. Either way a point whose images do not all have a metric gets no mean
for it.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from salicodec.evaluation import plots, report
from salicodec.evaluation.runner import RunState

def family(codec: str) -> str:
    """`ours:NAME` (a run of one model) is a point of `ours`."""
    return codec.split(":")[0]


def read_records(path: Path) -> tuple[list[dict], list[str]]:
    records, metric_names = report.read_csv(path)
    for r in records:
        r["codec"] = family(r["codec"])
    return records, metric_names


def memory_of(summary: dict) -> dict:
    return {(family(codec), row["target_bpp"]): {k: row.get(k) for k in ("encode_peak_mib", "decode_peak_mib")}
            for codec, rows in summary.items() for row in rows}


def merge(base: list[dict], base_memory: dict, base_metrics: list[str],
          news: list[tuple[list[dict], dict, list[str]]]) -> tuple[list[dict], dict, list[str]]:
    """The new runs' points replace the base's. A new run must have every metric of the base; one
    it adds is listed after them (the base's other points lack it, and get no mean for it)."""
    records, memory, names = list(base), dict(base_memory), list(base_metrics)
    for new, new_memory, metric_names in news:
        if set(names) - set(metric_names):
            raise SystemExit(f"cannot merge: the new run lacks {sorted(set(names) - set(metric_names))}")
        names += [m for m in metric_names if m not in names]
        points = defaultdict(set)
        for r in new:
            points[(r["codec"], r["target_bpp"])].add(r["image"])
        for key, images in points.items():
            old = {r["image"] for r in records if (r["codec"], r["target_bpp"]) == key}
            if old and old != images:
                raise SystemExit(f"cannot merge {key}: the new run has {len(images)} images, the base {len(old)}")
            memory.pop(key, None)
            if key in new_memory:
                memory[key] = new_memory[key]
        records = [r for r in records if (r["codec"], r["target_bpp"]) not in points] + new
    records.sort(key=lambda r: (r["codec"], r["image"], r["target_bpp"]))
    return records, memory, names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("new", type=Path, nargs="+", help="eval folders whose records replace the base's")
    ap.add_argument("--base", type=Path, help="the earlier eval folder")
    ap.add_argument("--base-csv", type=Path, help="its per_image.csv (instead of --base)")
    ap.add_argument("--base-summary", type=Path, help="its summary.json (instead of --base)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--add-metrics", action="store_true",
                    help="the new runs add metric columns to the base's records (same encodes) instead of replacing points")
    ap.add_argument("--keep-base-as", metavar="CODEC=NAME", action="append", default=[],
                    help="keep the base's rows of CODEC under the name NAME (before the new runs replace CODEC's); "
                         "repeatable")
    ap.add_argument("--copy-base-as", metavar="CODEC=NAME", action="append", default=[],
                    help="as --keep-base-as, but CODEC keeps the rows too (the points no new run replaces stay); "
                         "repeatable")
    ap.add_argument("--command", default="benchmarks/kodak_merge.py", help="the command shown in report.md")
    a = ap.parse_args(argv)
    base_csv = a.base_csv or (a.base / "per_image.csv" if a.base else None)
    base_summary = a.base_summary or (a.base / "summary.json" if a.base else None)
    if base_csv is None or base_summary is None:
        ap.error("need --base DIR, or --base-csv and --base-summary")
    try:
        base, base_metrics = read_records(base_csv)
        base_doc = json.loads(base_summary.read_text())
        loaded, new_codecs = [], {}
        for d in a.new:
            recs, metrics = read_records(d / "per_image.csv")
            doc = json.loads((d / "summary.json").read_text())
            loaded.append((recs, memory_of(doc["summary"]), metrics))
            for name, info in doc["codecs"].items():
                new_codecs.setdefault(family(name), []).append(info)
        base_memory, base_codecs = memory_of(base_doc["summary"]), dict(base_doc["codecs"])
        for rename, copy in [(r, False) for r in a.keep_base_as] + [(r, True) for r in a.copy_base_as]:
            old, sep, new = rename.partition("=")
            if not sep or not new or new == old:
                raise ValueError(f"--{'copy' if copy else 'keep'}-base-as wants CODEC=NAME, not {rename!r}")
            if copy:
                base = report.copy_codec(base, old, new)
                base_memory |= {(new, t): v for (c, t), v in base_memory.items() if c == old}
                info = base_codecs[old]
            else:
                base = report.rename_codec(base, old, new)
                base_memory = {(new if c == old else c, t): v for (c, t), v in base_memory.items()}
                info = base_codecs.pop(old)
            base_codecs[new] = dict(info, name=new, settings=f"{info.get('settings', '')}; the rows of {old!r} "
                                                           "before a later merge replaced them")
    except (OSError, ValueError, KeyError) as e:
        print(f"kodak_merge: {e}", file=sys.stderr)
        return 2
    if a.add_metrics:
        records, memory = base, base_memory
        for d, (recs, _, metrics) in zip(a.new, loaded):
            try:
                records, base_metrics, unmatched = report.add_metric_columns(records, base_metrics, recs, metrics)
            except ValueError as e:
                print(f"kodak_merge: cannot add the metrics of {d}: {e}", file=sys.stderr)
                return 2
            if unmatched:
                print(f"kodak_merge: {d}: {unmatched} records have no base record (ignored)", file=sys.stderr)
        new_codecs = {}  # same encodes: the codecs' descriptions stay the base's
    else:
        records, memory, base_metrics = merge(base, base_memory, base_metrics, loaded)
    summary = report.summarise(records, base_metrics, memory)
    bd = report.bd_rates(summary)
    images = sorted({r["image"] for r in records})
    codecs = base_codecs
    for fam, infos in new_codecs.items():
        if fam not in codecs:  # a family the base has not seen (e.g. ours-refine100): list what made it
            codecs[fam] = dict(infos[0], name=fam, settings="; ".join(i["settings"] for i in infos))
    state = RunState(images=[Path(i) for i in images], codecs=codecs,
                     skipped_codecs=base_doc.get("skipped_codecs", {}), metrics=base_metrics,
                     skipped_metrics=base_doc.get("skipped_metrics", {}))
    # The base may itself be a merge: keep its sources so that the chain of runs stays on record.
    earlier = [m for m in base_doc.get("config", {}).get("merged_from", []) if m != str(base_csv)]
    config = dict(base_doc.get("config", {}), merged_from=earlier + [str(base_csv)]
                  + ([] if a.add_metrics else [str(d) for d in a.new]))
    if a.add_metrics:  # columns, not points: listed apart, with the metrics of each run
        config["metrics_added_from"] = base_doc.get("config", {}).get("metrics_added_from", []) + [
            f"{d} ({', '.join(metrics)})" for d, (_, _, metrics) in zip(a.new, loaded)]
    a.out.mkdir(parents=True, exist_ok=True)
    report.write_csv(a.out / "per_image.csv", records, base_metrics)
    report.write_json(a.out / "summary.json", summary, bd, state, config)
    (a.out / "report.md").write_text(report.markdown(summary, bd, state, a.command))
    for m in ["psnr", "ms-ssim-db", "lpips", "lpips-alex", "psnr-s"]:
        plots.rd_plot(summary, m, a.out / f"rd_{m}.png")
    print(f"wrote {a.out}/per_image.csv, summary.json, report.md, rd_*.png ({len(records)} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
