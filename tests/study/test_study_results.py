"""`study results`: Fig. 5 win counting, pair preferences, the 2AFC export, metric agreement."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from PIL import Image

from salicodec.cli import main
from salicodec.study import db
from salicodec.study.results import TrialTally, human_agreement, split_images, win_counts, wilson


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


def test_wilson_and_human_agreement():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert human_agreement([{"judge": 1.0}, {"judge": 0.5}]) == pytest.approx(0.75)


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
    # 2AFC export: one sample per pair with votes, image-disjoint splits, paths that resolve
    rows = {s: _rows(res / "twoafc" / f"{s}.csv") for s in ("train", "test")}
    assert len(rows["train"]) + len(rows["test"]) == 12
    assert not {r["image"] for r in rows["train"]} & {r["image"] for r in rows["test"]}
    for r in rows["train"] + rows["test"]:
        for k in ("ref", "p0", "p1"):
            assert (res / "twoafc" / r[k]).resolve().is_file()
        assert r["judge"] == ("1.000000" if r["codec_p1"] == "webp" else r["judge"])
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
