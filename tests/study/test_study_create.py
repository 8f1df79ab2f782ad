"""`study create`: layout, rate matching through the eval suite, all pairs, atomic output, bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salicodec.cli import main
from salicodec.study import db
from salicodec.study.layout import load

from study_helpers import BPPS, CODECS, make_dataset


def test_layout_pairs_and_rates(study_template):
    study = load(study_template)
    assert sorted(study.images) == ["crop0", "crop1"]
    conn = db.connect(study.db_path)
    trials = db.all_trials(conn)
    conn.close()
    # every image x rate x unordered codec pair, each exactly once
    assert len(trials) == 2 * len(BPPS) * 3
    assert len({(t.image, t.bpp, t.codec_a, t.codec_b) for t in trials}) == len(trials)
    assert all(t.codec_a < t.codec_b for t in trials)
    for image in study.images:
        original = np.asarray(Image.open(study.original(image)))
        for bpp in BPPS:
            for codec in CODECS:
                rec = np.asarray(Image.open(study.reconstruction(image, bpp, codec)))
                assert rec.shape == original.shape
                assert not np.array_equal(rec, original)  # really compressed
                # the eval suite's rate matching lands near the target on these tiny crops
                assert study.reconstruction_bpp(image, bpp, codec) == pytest.approx(bpp, rel=0.35)


def test_cli_create_and_refuse_overwrite(tmp_path, capsys):
    ds = make_dataset(tmp_path / "ds", n=1, size=(64, 48))
    out = tmp_path / "st"
    args = ["study", "create", str(ds), "--codecs", "jpeg-420,webp", "--bpp", "1.0", "--out", str(out),
            "--votes-per-trial", "6"]
    assert main(args) == 0
    assert "1 images x 1 rates x 1 pairs = 1 trials, 6 votes each" in capsys.readouterr().out
    assert json.loads((out / "study.json").read_text())["config"]["votes_per_trial"] == 6
    before = (out / "study.json").read_bytes()
    assert main(args) == 2
    assert "exists (use --force" in capsys.readouterr().err
    assert (out / "study.json").read_bytes() == before
    # --force replaces a study without votes, but never one that holds votes
    assert main(args + ["--force"]) == 0
    conn = db.connect(out / "study.sqlite")
    tok = db.add_participants(conn, 1)[0]
    pid = db.participant_id(conn, tok)
    import random

    pres = db.next_presentation(conn, pid, votes_per_trial=6, quota=1, rng=random.Random(0))
    assert db.record_vote(conn, pid, pres.id, "left", 500.0) == "recorded"
    conn.close()
    assert main(args + ["--force"]) == 2
    assert "holds 1 votes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--codecs", "webp", "--bpp", "1"], "at least two codecs"),
        (["--codecs", "webp,nosuch", "--bpp", "1"], "unknown codec 'nosuch'"),
        (["--codecs", "webp,jpeg-420", "--bpp", "1,x"], "--bpp: not a comma-separated list"),
        (["--codecs", "webp,jpeg-420", "--bpp", "-1"], "outside (0, 24]"),
        (["--codecs", "webp,webp", "--bpp", "1"], "listed twice"),
    ],
)
def test_cli_create_bad_arguments(tmp_path, capsys, extra, message):
    ds = make_dataset(tmp_path / "ds", n=1, size=(64, 48))
    out = tmp_path / "st"
    assert main(["study", "create", str(ds), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("salicodec: error:") and message in err and err.count("\n") == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".st.tmp")]  # nothing half-made


def test_cli_create_bad_dataset(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    r = subprocess.run([sys.executable, "-m", "salicodec.cli", "study", "create", str(empty), "--codecs",
                        "webp,jpeg-420", "--bpp", "1", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no images" in r.stderr and "Traceback" not in r.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    r = subprocess.run([sys.executable, "-m", "salicodec.cli", "study", "create", str(broken), "--codecs",
                        "webp,jpeg-420", "--bpp", "1", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not a readable image" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
