"""2AFC data, score and the LPIPS-Comp trainer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from salicodec import weights
from salicodec.cli import main
from salicodec.errors import SalicodecError
from salicodec.metrics.twoafc import TrainConfig, human_2afc, load_2afc, score_2afc, train_lin_weights



def test_score_formula():
    # p1 closer by the metric (lower distance): scores h; p0 closer: 1 - h; tie: 1/2.
    assert score_2afc([2.0, 1.0, 1.0], [1.0, 2.0, 1.0], [0.8, 0.8, 0.8]) == pytest.approx((0.8 + 0.2 + 0.5) / 3)
    assert score_2afc([30.0], [40.0], [0.9], higher_is_better=True) == pytest.approx(0.9)
    assert human_2afc([1.0, 0.5]) == pytest.approx((1.0 + 0.5) / 2)


def test_trainer_recovers_hidden_weights_from_features():
    # Features with a hidden non-negative weighting: the learned weights must rank held-out pairs
    # nearly as well as the oracle (the image-level version is benchmarks/twoafc_synthetic.py).
    g = torch.Generator().manual_seed(0)
    n, c = 1200, 40
    D0 = torch.rand(n, c, generator=g) ** 3
    D1 = torch.rand(n, c, generator=g) ** 3
    oracle = torch.zeros(c)
    oracle[:6] = torch.tensor([5.0, 3.0, 2.0, 1.0, 1.0, 0.5])
    margin = (D0 - D1) @ oracle
    h = (torch.rand(n, 5, generator=g) < torch.sigmoid(margin / (0.1 * margin.std()))[:, None]).float().mean(1)
    tr, te = slice(0, 800), slice(800, n)
    w = train_lin_weights(D0[tr], D1[tr], h[tr], TrainConfig(epochs=60, seed=0))
    assert (w >= 0).all()
    learned = score_2afc(D0[te] @ w, D1[te] @ w, h[te])
    best = score_2afc(D0[te] @ oracle, D1[te] @ oracle, h[te])
    uniform = score_2afc(D0[te].sum(1), D1[te].sum(1), h[te])
    assert uniform < 0.9 * best  # the task is not solved by the unweighted distance
    assert learned >= 0.95 * best


def _write_set(tmp_path, astronaut, jpeg, n=12):
    rows = ["ref,p0,p1,h,votes"]
    rng = np.random.default_rng(0)
    for i in range(n):
        y, x = rng.integers(0, 400, 2)
        ref = np.ascontiguousarray(astronaut[y : y + 32, x : x + 32])
        Image.fromarray(ref).save(tmp_path / f"r{i}.png")
        Image.fromarray(jpeg(ref, 10)).save(tmp_path / f"a{i}.png")
        Image.fromarray(jpeg(ref, 70)).save(tmp_path / f"b{i}.png")
        rows.append(f"r{i}.png,a{i}.png,b{i}.png,{0.8 if i % 4 else 0.6},5")
    (tmp_path / "set.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "set.csv"


@pytest.mark.skipif(not weights.is_cached("vgg16"), reason="VGG-16 weights not cached")
def test_cli_train_and_score(tmp_path, astronaut, jpeg, capsys, monkeypatch):
    data = _write_set(tmp_path, astronaut, jpeg)
    out = tmp_path / "comp.pth"
    assert main(["metric", "train-2afc", str(data), "-o", str(out), "--epochs", "3"]) == 0
    assert out.is_file()
    assert main(["metric", "train-2afc", str(data), "-o", str(out)]) == 2  # no overwrite without --force
    capsys.readouterr()
    monkeypatch.setenv("SALICODEC_LPIPS_COMP", str(out))
    assert main(["metric", "score-2afc", str(data), "--metric", "psnr", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    # PSNR always prefers the q70 version p1: score = mean h.
    assert res["2afc"] == pytest.approx(np.mean([0.8 if i % 4 else 0.6 for i in range(12)]))
    assert main(["metric", "score-2afc", str(data), "--metric", "lpips-comp"]) == 0


def test_load_errors(tmp_path):
    (tmp_path / "a.csv").write_text("ref,p0,h\nx,y,0.5\n")
    with pytest.raises(SalicodecError, match="missing column"):
        load_2afc(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("ref,p0,p1,h\nx,y,z,1.5\n")
    with pytest.raises(SalicodecError, match="not a fraction"):
        load_2afc(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("ref,p0,p1,h\n")
    with pytest.raises(SalicodecError, match="no judgements"):
        load_2afc(tmp_path / "c.csv")
