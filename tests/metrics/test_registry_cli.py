"""metrics.compute and the `salicodec metric` command on tiny real images."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from salicodec import weights
from salicodec.cli import main
from salicodec.errors import SalicodecError
from salicodec.metrics import METRICS, compute


NO_DEEP = ["psnr", "psnr-y", "ssim", "ms-ssim", "psnr-hvs", "psnr-hvs-m", "vifp"]
needs_weights = pytest.mark.skipif(
    not all(weights.is_cached(n) for n in ("vgg16", "lpips-vgg", "alexnet", "lpips-alex")),
    reason="weights not cached: run `salicodec weights fetch`",
)


@pytest.fixture(scope="module")
def big_pair(astronaut, jpeg):
    ref = np.ascontiguousarray(astronaut[:192, :192])  # MS-SSIM needs a short side above 160
    return ref, jpeg(ref, 10), jpeg(ref, 90)


@needs_weights
def test_every_metric_ranks_q90_closer_and_identical_is_perfect(big_pair):
    ref, q10, q90 = big_pair
    names = NO_DEEP + ["lpips", "lpips-alex", "psnr-s"]
    mask = np.zeros(ref.shape[:2])
    mask[40:150, 40:150] = 1
    a = compute(ref, q10, names, saliency=mask)
    b = compute(ref, q90, names, saliency=mask)
    for n in names:
        better = b[n] > a[n] if METRICS[n].higher_is_better else b[n] < a[n]
        assert better, n
    same = compute(ref, ref.copy(), names, saliency=mask)
    for n in ("psnr", "psnr-y", "psnr-hvs", "psnr-hvs-m", "psnr-s"):
        assert same[n] == math.inf
    assert same["lpips"] == 0.0 and same["lpips-alex"] == 0.0
    assert same["ssim"] == pytest.approx(1.0) and same["vifp"] == pytest.approx(1.0)


def test_compute_errors(big_pair, tmp_path, monkeypatch):
    ref, q10, _ = big_pair
    with pytest.raises(SalicodecError, match="unknown metric"):
        compute(ref, q10, ["psnr", "nope"])
    with pytest.raises(SalicodecError, match="saliency"):
        compute(ref, q10, ["psnr-s"])
    with pytest.raises(SalicodecError, match="differ in size"):
        compute(ref, q10[:-8], ["psnr"])
    monkeypatch.setenv("SALICODEC_LPIPS_COMP", str(tmp_path / "missing.pth"))
    with pytest.raises(SalicodecError, match="train-2afc"):
        compute(ref, q10, ["lpips-comp"])


@needs_weights
def test_lpips_comp_weights_given_to_compute_override_the_environment(big_pair, tmp_path, monkeypatch):
    """LPIPS-Comp is Σ_l ⟨w_l, D_l⟩ (linear in w): all-ones weights give twice what all-halves give,
    and the file given to compute() wins over $SALICODEC_LPIPS_COMP."""
    import torch

    from salicodec.metrics.lpips import save_lin_weights

    ref, q10, _ = big_pair
    channels = (64, 128, 256, 512, 512)
    ones, halves = tmp_path / "ones.pth", tmp_path / "halves.pth"
    save_lin_weights([torch.ones(c) for c in channels], ones)
    save_lin_weights([torch.full((c,), 0.5) for c in channels], halves)
    monkeypatch.setenv("SALICODEC_LPIPS_COMP", str(tmp_path / "missing.pth"))
    d1 = compute(ref, q10, ["lpips-comp"], lpips_comp_weights=ones)["lpips-comp"]
    d_half = compute(ref, q10, ["lpips-comp"], lpips_comp_weights=halves)["lpips-comp"]
    assert d1 > 0 and d1 == pytest.approx(2 * d_half, rel=1e-5)


@pytest.fixture
def files(tmp_path, big_pair):
    ref, q10, q90 = big_pair
    for name, a in (("ref.png", ref), ("q10.png", q10), ("q90.png", q90), ("small.png", ref[:100])):
        Image.fromarray(a).save(tmp_path / name)
    mask = np.zeros(ref.shape[:2], dtype=np.uint8)
    mask[50:120, 50:120] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path


def test_cli_json_and_text(files, capsys):
    assert main(["metric", str(files / "ref.png"), str(files / "ref.png"), "--metrics", "psnr,ssim", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["psnr"] == "inf" and out["ssim"] == pytest.approx(1.0)
    args = ["metric", str(files / "ref.png"), str(files / "q90.png"), "--metrics", "psnr,psnr-s", "--saliency"]
    assert main(args + [str(files / "mask.png")]) == 0
    text = capsys.readouterr().out.split()
    assert text[0] == "psnr" and text[2] == "psnr-s" and float(text[3]) > 20


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{d}/ref.png", "{d}/small.png"], "differ in size"),
        (["{d}/ref.png", "{d}/missing.png"], "no such file"),
        (["{d}/ref.png", "{d}/q10.png", "--metrics", "psnr,bogus"], "unknown metric"),
        (["{d}/ref.png", "{d}/q10.png", "--metrics", "psnr-s", "--saliency", "{d}/small.png"], "saliency mask"),
        (["{d}/ref.png"], "usage"),
        (["train-2afc", "{d}/none.csv"], "-o"),
        (["score-2afc", "{d}/none.csv", "--metric", "psnr"], "no such 2AFC file"),
    ],
)
def test_cli_errors_exit_2(files, capsys, argv, message):
    assert main(["metric", *[a.format(d=files) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("salicodec: error:") and message in err and err.count("\n") == 1
