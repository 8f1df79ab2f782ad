"""A whole (tiny) evaluation: the report files exist and parse, a rerun resumes from the cache,
a codec that cannot run is reported, and the CLI refuses bad input with exit status 2."""
from __future__ import annotations

import csv
import math
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salicodec.cli import main
from salicodec.evaluation import EvalConfig, evaluate

DATA = Path(__file__).resolve().parents[2] / "salicodec" / "data" / "astronaut.png"
CODECS = ["heic", "jpeg-420", "webp", "ours:no-such-model"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    with Image.open(DATA) as img:
        rgb = np.asarray(img.convert("RGB"))
    Image.fromarray(rgb[96:288, 128:384]).save(d / "kodim15.png")  # the crop figure's image name
    Image.fromarray(rgb[300:492, 200:456]).save(d / "b.png")
    return d


def _config(dataset, out, **kw):
    return EvalConfig(dataset=dataset, codecs=CODECS, targets=[0.5, 1.5], metrics=["psnr", "ms-ssim", "lpips"],
                      out=out, jobs=1, memory=False, command="test", **kw)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    return out, evaluate(_config(dataset, out), progress=False)


def test_report_files_exist_and_parse(run):
    out, paths = run
    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3 * 2  # images x available codecs x targets
    assert {r["codec"] for r in rows} == {"heic", "jpeg-420", "webp"}
    for r in rows:
        assert (out / "files").is_dir() and float(r["bpp"]) > 0 and 20 < float(r["psnr"]) < 60
        assert 0.5 < float(r["ms-ssim"]) <= 1.0
    summary = json.loads(paths["json"].read_text())
    assert summary["skipped_codecs"].keys() == {"ours:no-such-model"}
    assert summary["bd_rate_pct"]["heic"]["psnr"] == pytest.approx(0.0, abs=1e-9)
    assert summary["bd_rate_pct"]["jpeg-420"]["psnr"] > 0  # JPEG needs more bits than HEVC intra
    for row in summary["summary"]["webp"]:
        assert row["n_images"] == 2 and abs(row["bpp"] / row["target_bpp"] - 1) < 0.03
    md = paths["markdown"].read_text()
    assert "| heic | 0.50 | 2 |" in md and "BD-rate against heic" in md and "**skipped**" in md
    for key in ("rd_psnr", "rd_ms-ssim-db", "crops"):
        with Image.open(paths[key]) as img:
            assert img.format == "PNG" and img.size[0] > 200
    recon = sorted((out / "recon" / "heic").glob("*.png"))
    assert len(recon) == 4


def test_rerun_resumes_from_the_cache(run, dataset):
    out, paths = run
    cache = sorted((out / "cache").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cache]
    before = paths["csv"].read_text()
    evaluate(_config(dataset, out), progress=False)
    assert [p.stat().st_mtime_ns for p in cache] == stamps  # nothing re-encoded or re-measured
    assert paths["csv"].read_text() == before
    evaluate(_config(dataset, out, report_only=True), progress=False)
    assert paths["csv"].read_text() == before


def test_cli_refuses_bad_input(tmp_path, dataset, capsys):
    cases = [
        [str(tmp_path / "missing"), "--out", str(tmp_path / "o1")],
        [str(dataset), "--bpp", "0.2,x", "--out", str(tmp_path / "o2")],
        [str(dataset), "--metrics", "psnr,nope", "--out", str(tmp_path / "o3")],
        [str(dataset), "--codecs", "bpg", "--out", str(tmp_path / "o4")],
        [str(dataset), "--out", str(dataset)],  # a non-empty folder that no eval made
    ]
    for args in cases:
        assert main(["eval", *args, "--no-progress"]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("salicodec: error: ") and err.count("\n") == 1, err


def test_lpips_alex_is_an_evaluation_metric_judged_lower_is_better(dataset):
    """LPIPS with AlexNet: a perceptual distance that shares no network with the training DPL
    (VGG-16), for searches and models that minimise the VGG one (docs/BENCHMARKS.md)."""
    from salicodec.evaluation import metrics as table
    from salicodec.metrics import compute as registry_compute

    with Image.open(dataset / "b.png") as img:
        ref = np.asarray(img.convert("RGB"))
    worse = np.clip(ref.astype(np.int16) + 24, 0, 255).astype(np.uint8)
    near = np.clip(ref.astype(np.int16) + 3, 0, 255).astype(np.uint8)
    got = table.compute(ref, worse, ["lpips-alex"])["lpips-alex"]
    assert got == pytest.approx(registry_compute(ref, worse, ["lpips-alex"])["lpips-alex"])
    assert table.compute(ref, near, ["lpips-alex"])["lpips-alex"] < got
    assert "lpips-alex" in table.KNOWN and "lpips-alex" in table.LOWER_IS_BETTER


def _record(codec, image, target, nbytes, **metrics):
    return {"image": image, "codec": codec, "target_bpp": target, "setting": 1.0, "parameter": "q",
            "bytes": nbytes, "bpp": nbytes * 8 / 100.0, "rate_error_pct": 0.0, "reachable": True,
            "search_encodes": 1, "encode_s": 0.1, "decode_s": 0.1, "width": 10, "height": 10,
            "metrics": metrics}


def test_a_metric_measured_later_joins_the_records_of_the_same_files():
    from salicodec.evaluation import report

    base = [_record("webp", "a.png", 0.5, 30, psnr=30.0), _record("webp", "b.png", 0.5, 32, psnr=31.0),
            _record("heic", "a.png", 0.5, 29, psnr=33.0), _record("heic", "b.png", 0.5, 31, psnr=34.0)]
    new = [_record("webp", "a.png", 0.5, 30, psnr=30.0, **{"lpips-alex": 0.2}),
           _record("webp", "b.png", 0.5, 32, psnr=31.0, **{"lpips-alex": 0.4}),
           _record("heic", "a.png", 0.5, 29, psnr=33.0, **{"lpips-alex": 0.1}),
           _record("jpeg-420", "a.png", 0.5, 40, psnr=29.0, **{"lpips-alex": 0.5})]  # not in the base
    records, names, unmatched = report.add_metric_columns(base, ["psnr"], new, ["psnr", "lpips-alex"])
    assert names == ["psnr", "lpips-alex"] and unmatched == 1
    assert "lpips-alex" not in base[0]["metrics"]  # the base is not modified
    summary = report.summarise(records, names)
    assert summary["webp"][0]["lpips-alex"] == pytest.approx(0.3)
    # heic has it for one image of two: no mean over the subset
    assert math.isnan(summary["heic"][0]["lpips-alex"]) and summary["heic"][0]["psnr"] == pytest.approx(33.5)

    other_file = [_record("webp", "a.png", 0.5, 31, psnr=30.0, **{"lpips-alex": 0.2})]
    with pytest.raises(ValueError, match="different file"):
        report.add_metric_columns(base, ["psnr"], other_file, ["psnr", "lpips-alex"])
    other_decode = [_record("webp", "a.png", 0.5, 30, psnr=30.5, **{"lpips-alex": 0.2})]
    with pytest.raises(ValueError, match="psnr"):
        report.add_metric_columns(base, ["psnr"], other_decode, ["psnr", "lpips-alex"])
    float_decode = [_record("webp", "a.png", 0.5, 30, psnr=30.0006, **{"lpips-alex": 0.2})]  # ours, JPEG XL
    assert report.add_metric_columns(base, ["psnr"], float_decode, ["psnr", "lpips-alex"])[0][0]["metrics"] \
        == {"psnr": 30.0, "lpips-alex": 0.2}
    # a second run of the added metric must agree with the first, and must add something
    with pytest.raises(ValueError, match="lpips-alex"):
        report.add_metric_columns(records, names, [_record("webp", "a.png", 0.5, 30, **{"lpips-alex": 0.25})],
                                  ["lpips-alex"])
    with pytest.raises(ValueError, match="adds no value"):
        report.add_metric_columns(records, names, new[:2], ["psnr", "lpips-alex"])


def test_a_codecs_earlier_rows_can_be_kept_under_another_name():
    from salicodec.evaluation import report

    base = [_record("ours", "a.png", 0.5, 30, psnr=30.0), _record("webp", "a.png", 0.5, 32, psnr=31.0)]
    kept = report.rename_codec(base, "ours", "ours-v5")
    assert [r["codec"] for r in kept] == ["ours-v5", "webp"] and base[0]["codec"] == "ours"
    assert kept[0]["metrics"] == base[0]["metrics"] and kept[1] is base[1]
    with pytest.raises(ValueError, match="no records"):
        report.rename_codec(base, "jpeg", "jpeg-old")
    with pytest.raises(ValueError, match="already"):
        report.rename_codec(base, "ours", "webp")
    both = report.copy_codec(base, "ours", "ours-v5")  # the original rows stay, copies follow
    assert [r["codec"] for r in both] == ["ours", "webp", "ours-v5"] and both[0] is base[0]
    assert both[2]["metrics"] == base[0]["metrics"]
    with pytest.raises(ValueError, match="already"):
        report.copy_codec(base, "ours", "webp")
