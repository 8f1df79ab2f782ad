"""The saliency-adaptive JPEG: standard files, the requantisation rule, size control, and the CLI."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salicodec.baselines import msroi_jpeg as M
from salicodec.cli import main
from salicodec.imageio import load_rgb

ASTRONAUT = Path(__file__).resolve().parents[2] / "salicodec" / "data" / "astronaut.png"
jpeglib = pytest.importorskip("jpeglib", reason="jpeglib (extra 'codecs') is needed for the saliency JPEG")
imagecodecs = pytest.importorskip("imagecodecs", reason="imagecodecs (extra 'codecs') is the second decoder")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.ascontiguousarray(load_rgb(ASTRONAUT)[:200, 100:356])  # 256x200: not a multiple of 16


@pytest.fixture(scope="module")
def box_saliency(image) -> np.ndarray:
    prob = np.zeros(image.shape[:2], np.float32)
    prob[30:130, 80:180] = 1.0  # the astronaut's face
    return prob


def coefficients(data: bytes, tmp_path: Path):
    p = tmp_path / "c.jpg"
    p.write_bytes(data)
    return jpeglib.read_dct(str(p))


def psnr(a, b, mask=None):
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    return 10 * math.log10(255.0**2 / (d[mask] if mask is not None else d).mean())


@pytest.mark.parametrize("quality", [10, 37, 50, 85, 100])
def test_ijg_tables_are_libjpegs_at_integer_quality(image, quality, tmp_path):
    jpeg = coefficients(M.standard_jpeg(image, quality), tmp_path)
    luma, chroma = M.ijg_tables(quality)
    assert np.array_equal(jpeg.qt[0], luma) and np.array_equal(jpeg.qt[1], chroma)


@pytest.mark.parametrize("method", ["amplitude", "threshold", "multiple"])
def test_files_are_standard_and_decoders_agree(image, box_saliency, method, tmp_path):
    config = M.MsroiJpegConfig(method=method, strength=6)
    result = M.encode(image, box_saliency, quality=70, config=config)
    assert result.data[:2] == b"\xff\xd8" and result.data[-2:] == b"\xff\xd9"
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.format == "JPEG" and img.size == (256, 200)
        assert not img.info.get("progressive")
    pillow = M.decode(result.data)
    turbo = imagecodecs.jpeg8_decode(result.data)  # imagecodecs' own libjpeg-turbo build
    assert pillow.shape == turbo.shape == image.shape
    assert np.array_equal(pillow, turbo)


@pytest.mark.parametrize("method", ["amplitude", "threshold"])
def test_requantisation_keeps_salient_blocks_and_thins_the_rest(image, box_saliency, method, tmp_path):
    config = M.MsroiJpegConfig(strength=8, method=method)
    result = M.encode(image, box_saliency, quality=75, config=config)
    out = coefficients(result.data, tmp_path)
    base = coefficients(M._encode_with_tables(image, *M.ijg_tables(75)), tmp_path)
    # the file's own tables are those of the base quality: every value stays a multiple of them
    assert np.array_equal(out.qt[0], M.ijg_tables(75)[0])
    levels = result.luma_levels
    m = config.multipliers()[levels][:, :, None, None]
    assert levels.shape == out.Y.shape[:2] and (levels == 0).any() and (levels == 3).any()
    # salient blocks: untouched; others: exactly the large enough coefficients survive, unchanged
    assert np.array_equal(out.Y[levels == 0], base.Y[levels == 0])
    if method == "amplitude":  # |c q| >= 4 (m - 1), q the table entry of the coefficient
        survives = np.abs(base.Y) * out.qt[0][None, None] >= 4.0 * (m - 1)
    else:  # |c| >= m / 2 table steps
        survives = np.abs(base.Y) >= m / 2.0
    assert np.array_equal(out.Y, np.where(survives, base.Y, 0))
    assert np.count_nonzero(out.Y) < np.count_nonzero(base.Y)


def test_multiple_method_gives_multiples_of_the_level_step(image, box_saliency, tmp_path):
    config = M.MsroiJpegConfig(method="multiple", strength=8)
    result = M.encode(image, box_saliency, quality=75, config=config)
    out = coefficients(result.data, tmp_path)
    m = config.multipliers()[result.luma_levels][:, :, None, None]
    assert np.all(out.Y % m == 0)


def test_no_saliency_is_plain_jpeg_at_the_base_quality(image):
    none = np.zeros(image.shape[:2], np.float32)
    result = M.encode(image, none, quality=60)
    assert (result.luma_levels == 0).all()
    plain = M.decode(M._encode_with_tables(image, *M.ijg_tables(60)))
    assert np.array_equal(M.decode(result.data), plain)


def test_size_of_quality_50_within_one_percent_and_salient_region_gains(image, box_saliency):
    target = len(M.standard_jpeg(image, 50))
    result = M.encode(image, box_saliency, target_bytes=target)
    assert abs(len(result.data) / target - 1.0) <= 0.01
    std = M.decode(M.standard_jpeg(image, 50))
    ours = M.decode(result.data)
    salient = box_saliency >= 0.5
    assert psnr(image, ours, salient) > psnr(image, std, salient)
    assert psnr(image, ours, ~salient) < psnr(image, std, ~salient)


def test_block_levels_fall_off_in_rings():
    prob = np.zeros((80, 80), np.float32)
    prob[32:40, 32:40] = 1.0  # one salient 8x8 block at (4, 4)
    levels = M.block_levels(prob, (10, 10), (8, 8), M.MsroiJpegConfig(levels=4, ring=1))
    assert levels[4, 4] == 0 and levels[4, 5] == 1 and levels[6, 6] == 2 and levels[0, 0] == 3
    plain = M.block_levels(prob, (10, 10), (8, 8), M.MsroiJpegConfig(levels=4, ring=0))
    assert plain[4, 4] == 0 and plain[4, 5] == 3


# ---------------------------------------------------------------------------------------------
# the CLI
def one_line_error(capsys, expected: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("salicodec: error: ") and err.count("\n") == 1, err
    assert expected in err, err


def test_cli_size_of_quality(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(load_rgb(ASTRONAUT)[:128, :192]).save(src)
    out = tmp_path / "out.jpg"
    args = ["jpeg", str(src), "-o", str(out), "--size-of-quality", "50", "--saliency", "none",
            "--roi-box", "40,20,120,100"]
    assert main(args) == 0
    target = len(M.standard_jpeg(load_rgb(src), 50))
    assert abs(out.stat().st_size / target - 1) <= 0.01
    assert f"target {target} bytes" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(args) == 2
    one_line_error(capsys, "exists (use --force")
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--quality", "0"], "--quality must be in 1..100"),
        (["--bpp", "-1"], "--bpp must be in (0, 24]"),
        (["--bpp", "0.0001"], "cannot reach"),
        (["--quality", "50", "--roi-box", "0,0,999,10"], "is not inside"),
        (["--quality", "50", "--strength", "0.5"], "strength must be in 1..64"),
    ],
)
def test_cli_bad_input_exit_2_without_output(tmp_path, capsys, extra, message):
    src = tmp_path / "in.png"
    Image.fromarray(load_rgb(ASTRONAUT)[:64, :64]).save(src)
    out = tmp_path / "out.jpg"
    assert main(["jpeg", str(src), "-o", str(out), "--saliency", "none", *extra]) == 2
    one_line_error(capsys, message)
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_cli_missing_input(tmp_path, capsys):
    assert main(["jpeg", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.jpg"), "--quality", "50"]) == 2
    one_line_error(capsys, "no such file")


def test_benchmark_adapter_rate_matches(image):
    from salicodec import weights
    from salicodec.baselines import make_codec
    from salicodec.evaluation.ratematch import RateMatcher

    if not weights.is_cached("u2netp"):
        pytest.skip("U^2-Net-p weights not cached; run: salicodec weights fetch u2netp (make test does)")
    codec = make_codec("msroi-jpeg")
    codec.check_available()
    matcher = RateMatcher(lambda v: codec.encode(image, v), codec.parameter, image.shape[0] * image.shape[1])
    match = matcher.match(0.8)
    assert match.reachable and abs(match.bpp / 0.8 - 1) <= 0.01
    assert codec.decode(match.data).shape == image.shape
