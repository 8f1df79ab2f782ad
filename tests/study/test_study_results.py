"""`study results`: Fig. 5 win counting, pair preferences, the 2AFC export, metric agreement."""
from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from study_helpers import BPPS, CODECS, make_dataset

from salicodec import weights
from salicodec.cli import main
from salicodec.imageio import load_rgb
from salicodec.metrics import compute
from salicodec.study import db
from salicodec.study.create import create_study
from salicodec.study.layout import StudyConfig
from salicodec.metrics import twoafc
from salicodec.metrics.lpips import load_lin_weights
from salicodec.study.results import TrialTally, split_images, win_counts, wilson


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _t(image, bpp, a, b, va, vb, tid=[0]):
    tid[0] += 1
    return TrialTally(db.Trial(tid[0], image, bpp, a, b), va, vb)


def test_win_counts_majority_ties_and_incomplete_cells():
    codecs = ["A", "B", "C"]
    tallies = [
        # img1: A beats B and C -> A best
        _t("img1", 0.5, "A", "B", 4, 1), _t("img1", 0.5, "A", "C", 3, 2), _t("img1", 0.5, "B", "C", 0, 5),
        # img2: a cycle A>B, B>C, C>A -> three-way tie, a third each
        _t("img2", 0.5, "A", "B", 5, 0), _t("img2", 0.5, "A", "C", 1, 4), _t("img2", 0.5, "B", "C", 3, 2),
        # img3: tied pair A-B (half a win each), C beats A and B -> C best
        _t("img3", 0.5, "A", "B", 2, 2), _t("img3", 0.5, "A", "C", 0, 4), _t("img3", 0.5, "B", "C", 1, 3),
        # img4: a pair without votes -> not counted
        _t("img4", 0.5, "A", "B", 5, 0), _t("img4", 0.5, "A", "C", 0, 0), _t("img4", 0.5, "B", "C", 3, 2),
    ]
    best, counted, skipped = win_counts(tallies, codecs, [0.5])
    assert best[0.5] == pytest.approx({"A": 1 + 1 / 3, "B": 1 / 3, "C": 1 + 1 / 3})
    assert counted == {0.5: 3} and skipped == {0.5: 1}
    assert sum(best[0.5].values()) == pytest.approx(3)


def test_wilson():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)


def test_split_is_by_image_and_deterministic():
    images = [f"im{i}" for i in range(10)]
    train, test = split_images(images, 0.2, seed=0)
    assert len(test) == 2 and not train & test and train | test == set(images)
    assert split_images(images, 0.2, seed=0) == (train, test)
    assert split_images(["a", "b"], 0.2, seed=0)[1]  # at least one test image when asked for


def _simulate_votes(study_dir: Path, preferred: str, n_participants: int = 3) -> None:
    """Participants who pick `preferred` whenever it is shown, and a coin flip otherwise."""
    conn = db.connect(study_dir / "study.sqlite")
    rng = random.Random(1)
    for tok in db.add_participants(conn, n_participants):
        pid = db.participant_id(conn, tok)
        while (p := db.next_presentation(conn, pid, votes_per_trial=3, quota=100, rng=rng)) is not None:
            if preferred in (p.left_codec, p.right_codec):
                side = "left" if p.left_codec == preferred else "right"
            else:
                side = rng.choice(["left", "right"])
            db.record_vote(conn, pid, p.id, side, 800.0)
    conn.close()


def test_results_cli_end_to_end(study_dir, capsys):
    assert main(["study", "results", str(study_dir)]) == 2
    assert "no votes yet" in capsys.readouterr().err
    _simulate_votes(study_dir, preferred="webp")
    assert main(["study", "results", str(study_dir), "--metrics", "psnr"]) == 0
    out = capsys.readouterr().out
    assert "36 votes from 3 participants on 12 of 12 pairs" in out
    res = study_dir / "results"
    wins = _rows(res / "win_counts.csv")
    # webp wins every pair it is in, so it is best on both images at both rates
    assert {(r["bpp"], r["codec"]): float(r["images_best"]) for r in wins if r["codec"] == "webp"} == {
        ("0.5", "webp"): 2.0, ("1", "webp"): 2.0}
    with Image.open(res / "win_counts.png") as im:
        assert im.size[0] > 400
    prefs = _rows(res / "pair_preferences.csv")
    assert len(prefs) == 6
    for r in prefs:
        if r["codec_b"] == "webp":
            assert float(r["prefer_a"]) == 0.0 and int(r["votes"]) == 6
    # 2AFC export in the metric trainer's format: one judgement per pair with votes,
    # image-disjoint splits, paths that resolve (images/<image>/<bpp>/<codec>.png)
    assert _rows(res / "twoafc" / "train.csv")[0].keys() == {"ref", "p0", "p1", "h", "votes"}
    data = {s: twoafc.load_2afc(res / "twoafc" / f"{s}.csv") for s in ("train", "test")}
    assert len(data["train"]) + len(data["test"]) == 12
    assert not {t.ref.resolve() for t in data["train"]} & {t.ref.resolve() for t in data["test"]}
    for t in data["train"] + data["test"]:
        assert all(p.resolve().is_file() for p in (t.ref, t.p0, t.p1))
        assert t.votes == 3
        if t.p1.stem == "webp":
            assert t.h == 1.0
        elif t.p0.stem == "webp":
            assert t.h == 0.0
    agreement = {r["metric"]: r for r in _rows(res / "metric_agreement.csv")}
    assert set(agreement) == {"human", "psnr"}
    assert 0.0 <= float(agreement["psnr"]["2afc_score"]) <= 1.0
    # results are not overwritten without --force
    before = (res / "summary.txt").read_bytes()
    assert main(["study", "results", str(study_dir)]) == 2
    assert (res / "summary.txt").read_bytes() == before
    assert main(["study", "results", str(study_dir), "--metrics", "nosuch", "--force"]) == 2
    assert "unknown metric 'nosuch'" in capsys.readouterr().err
    assert (res / "summary.txt").read_bytes() == before


needs_vgg = pytest.mark.skipif(
    not (weights.is_cached("vgg16") and weights.is_cached("lpips-vgg")),
    reason="VGG-16 / LPIPS weights not cached (run: salicodec weights fetch)",
)


@needs_vgg
def test_votes_to_lpips_comp_weights(tmp_path, capsys, monkeypatch):
    """Simulated votes -> `study results` export -> `metric train-2afc` -> LPIPS-Comp weights that
    the metric registry loads, `score-2afc` scores, and `study results --lpips-comp` reports."""
    monkeypatch.delenv("SALICODEC_LPIPS_COMP", raising=False)
    # A study of its own with 64x48 crops: VGG-16 passes dominate this test's time, and they scale
    # with the pixel count (half that of the shared template's 96x64 crops).
    study_dir = tmp_path / "study"
    create_study(make_dataset(tmp_path / "dataset", n=2, size=(64, 48)), study_dir,
                 StudyConfig(codecs=CODECS, bpps=BPPS, votes_per_trial=3), progress=False)
    _simulate_votes(study_dir, preferred="webp")
    res = study_dir / "results"
    # every pair in the training file: 2 images x 2 rates x 3 pairs = 12 judgements
    assert main(["study", "results", str(study_dir), "--test-fraction", "0", "--metrics", "psnr"]) == 0
    train_csv = res / "twoafc" / "train.csv"
    assert len(twoafc.load_2afc(train_csv)) == 12 and not (res / "twoafc" / "test.csv").exists()
    capsys.readouterr()

    w_file = tmp_path / "lpips_comp.pth"
    assert main(["metric", "train-2afc", str(train_csv), "-o", str(w_file), "--epochs", "20"]) == 0
    ws = load_lin_weights(str(w_file), "vgg")
    flat = torch.cat(ws)
    assert (flat >= 0).all() and not torch.allclose(flat, torch.ones_like(flat))  # learned, not the baseline

    # the registry's lpips-comp reads the file
    monkeypatch.setenv("SALICODEC_LPIPS_COMP", str(w_file))
    t = twoafc.load_2afc(train_csv)[0]
    ref, dist = np.array(load_rgb(t.ref)), np.array(load_rgb(t.p0))
    assert compute(ref, ref, ["lpips-comp"])["lpips-comp"] == pytest.approx(0.0, abs=1e-6)
    assert compute(ref, dist, ["lpips-comp"])["lpips-comp"] > 0.0
    capsys.readouterr()

    assert main(["metric", "score-2afc", str(train_csv), "--metric", "lpips-comp", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["judgements"] == 12 and 0.0 <= scored["2afc"] <= 1.0

    # Fig. 3 analogue with LPIPS-Comp, weights given on the command line (not from the environment)
    monkeypatch.delenv("SALICODEC_LPIPS_COMP")
    assert main(["study", "results", str(study_dir), "--force", "--test-fraction", "0", "--metrics", "psnr,lpips",
                 "--lpips-comp", str(w_file)]) == 0
    assert "SALICODEC_LPIPS_COMP" not in os.environ  # restored
    agreement = {r["metric"]: r for r in _rows(res / "metric_agreement.csv")}
    assert set(agreement) == {"human", "psnr", "lpips", "lpips-comp"}
    # the same judgements, the same definition: `study results` and `metric score-2afc` agree
    assert float(agreement["lpips-comp"]["2afc_score"]) == pytest.approx(scored["2afc"], abs=1e-4)
    assert float(agreement["human"]["2afc_score"]) == pytest.approx(scored["human"], abs=1e-4)
    assert 0.0 <= float(agreement["lpips"]["2afc_score"]) <= 1.0


def test_results_refuses_bad_metric_options(study_dir, tmp_path, capsys):
    _simulate_votes(study_dir, preferred="webp")
    assert main(["study", "results", str(study_dir), "--lpips-comp", str(tmp_path / "nosuch.pth")]) == 2
    assert "no such weights file" in capsys.readouterr().err
    assert main(["study", "results", str(study_dir), "--metrics", "psnr-s"]) == 2
    assert "saliency" in capsys.readouterr().err
    assert not (study_dir / "results").exists()
