"""`salicodec saliency`: one image, a batch folder with its content-keyed cache, and bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salicodec.cli import main
from salicodec.saliency import load_cached_mask, mask_path_for, saliency_map



def one_line_error(capsys, expected: str, after_progress_bar: bool = False) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if after_progress_bar:  # tqdm's bar (and per-file warnings) come first on stderr
        err = err.rstrip("\n").split("\n")[-1].split("\r")[-1] + "\n"
    assert err.startswith("salicodec: error: ") and err.count("\n") == 1, err
    assert expected in err, err


def test_single_image_writes_mask_overlay_and_grid(astronaut_path, u2netp_weights, tmp_path, capsys):
    out, ov, grid = tmp_path / "m.png", tmp_path / "ov.png", tmp_path / "g.png"
    assert main(["saliency", str(astronaut_path), "-o", str(out), "--overlay", str(ov), "--grid", str(grid)]) == 0
    assert "salient fraction" in capsys.readouterr().out
    with Image.open(out) as m:
        assert m.mode == "L" and m.size == (512, 512)
        mask = np.asarray(m)
    assert mask[40:140, 180:280].mean() > 230 and mask[0:100, 0:60].mean() < 25
    with Image.open(ov) as o:
        assert o.mode == "RGB" and o.size == (512, 512)
    with Image.open(grid) as g:
        assert g.size == (64, 64) and set(np.unique(np.asarray(g))) <= {0, 255}

    before = out.read_bytes()
    assert main(["saliency", str(astronaut_path), "-o", str(out)]) == 2
    one_line_error(capsys, "exists (use --force")
    assert out.read_bytes() == before
    assert main(["saliency", str(astronaut_path), "-o", str(out), "--force", "--saliency", "none"]) == 0
    assert not np.asarray(Image.open(out)).any()


def test_saliency_none_with_a_box(astronaut_path, tmp_path):
    out = tmp_path / "m.png"
    assert main(["saliency", str(astronaut_path), "-o", str(out), "--saliency", "none", "--roi-box", "10,20,30,25"]) == 0
    mask = np.asarray(Image.open(out))
    assert mask[20:25, 10:30].min() == 255 and mask.sum() == 255 * 20 * 5


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--roi-box", "0,0,513,10"], "not inside the 512x512 image"),
        (["--roi-box", "0,0,10"], "four integers"),
        (["--saliency", "missing.png"], "expected auto, none or the path"),
        (["--threshold", "1.5"], "--threshold"),
        (["--overlay", "nowhere/ov.png"], "nowhere: no such directory"),
        (["--overlay", "ov.jpg"], "outputs are PNG files"),
    ],
)
def test_bad_options_exit_2_with_one_line(astronaut_path, tmp_path, capsys, monkeypatch, extra, expected):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "m.png"
    assert main(["saliency", str(astronaut_path), "-o", str(out), *extra]) == 2
    one_line_error(capsys, expected)
    assert not out.exists()


def test_bad_images_and_masks_exit_2(astronaut_path, tmp_path, capsys):
    out = tmp_path / "m.png"
    assert main(["saliency", str(tmp_path / "absent.png"), "-o", str(out)]) == 2
    one_line_error(capsys, "no such file")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG junk")
    assert main(["saliency", str(tmp_path / "junk.png"), "-o", str(out)]) == 2
    one_line_error(capsys, "not a readable image")
    Image.new("L", (100, 50)).save(tmp_path / "small.png")
    assert main(["saliency", str(astronaut_path), "-o", str(out), "--roi", str(tmp_path / "small.png")]) == 2
    one_line_error(capsys, "mask is 100x50 but the image is 512x512")
    assert not out.exists()


def test_missing_weights_exit_2(astronaut_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SALICODEC_HOME", str(tmp_path / "empty-cache"))
    out = tmp_path / "m.png"
    assert main(["saliency", str(astronaut_path), "-o", str(out)]) == 2
    one_line_error(capsys, "run: salicodec weights fetch u2netp")
    assert not out.exists()


def _small_images(folder, astronaut_path):
    folder.mkdir()
    rgb = np.asarray(Image.open(astronaut_path))
    Image.fromarray(rgb[20:100, 150:270]).save(folder / "face.png")
    Image.fromarray(rgb[300:340, 0:56]).save(folder / "corner.jpg", quality=95)
    (folder / "sub").mkdir()
    shutil.copy(folder / "face.png", folder / "sub" / "face_copy.png")  # same content, same key
    (folder / "notes.txt").write_text("not an image")


def test_batch_is_cached_by_content(astronaut_path, u2netp_weights, tmp_path, capsys):
    src, out = tmp_path / "imgs", tmp_path / "masks"
    _small_images(src, astronaut_path)
    assert main(["saliency", "--batch", str(src), "--out", str(out)]) == 0
    assert "2 computed, 1 cached, 0 unreadable" in capsys.readouterr().out
    assert len(list(out.glob("*.png"))) == 2
    rows = (out / "index.tsv").read_text().splitlines()
    assert rows[0].startswith("path\tsha256") and len(rows) == 4
    assert {r.split("\t")[0] for r in rows[1:]} == {"corner.jpg", "face.png", "sub/face_copy.png"}

    face = np.asarray(Image.open(src / "face.png"))
    cached = load_cached_mask(src / "sub" / "face_copy.png", out)
    assert cached.shape == (80, 120)
    np.testing.assert_allclose(cached, saliency_map(face), atol=0.5 / 255 + 1e-6)

    stamp = mask_path_for(src / "face.png", out).stat().st_mtime_ns
    assert main(["saliency", "--batch", str(src), "--out", str(out)]) == 0
    assert "0 computed, 3 cached" in capsys.readouterr().out
    assert mask_path_for(src / "face.png", out).stat().st_mtime_ns == stamp


def test_batch_bad_input(astronaut_path, u2netp_weights, tmp_path, capsys):
    src, out = tmp_path / "imgs", tmp_path / "masks"
    _small_images(src, astronaut_path)
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning, match="skipped broken.png"):
        assert main(["saliency", "--batch", str(src), "--out", str(out)]) == 2
    one_line_error(capsys, "1 image(s) could not be read, first: ", after_progress_bar=True)
    assert len(list(out.glob("*.png"))) == 2  # the readable ones are done

    (out / "saliency-cache.json").write_text('{"model": "another"}')
    assert main(["saliency", "--batch", str(src), "--out", str(out)]) == 2
    one_line_error(capsys, "holds masks of another model")

    assert main(["saliency", "--batch", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    one_line_error(capsys, "no such directory")
    assert main(["saliency", "--batch", str(src)]) == 2
    one_line_error(capsys, "--out DIR is required")


def test_batch_out_inside_in_and_a_damaged_cached_mask(astronaut_path, u2netp_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = Path("imgs")  # relative paths, as typed on a command line
    src.mkdir()
    Image.fromarray(np.asarray(Image.open(astronaut_path))[0:40, 0:40]).save(src / "a.png")
    out = src / "masks"  # inside the input, so the masks must not be taken for images
    assert main(["saliency", "--batch", str(src), "--out", str(out)]) == 0
    assert "1 computed, 0 cached" in capsys.readouterr().out
    mask_path_for(src / "a.png", out).write_bytes(b"damaged")
    assert main(["saliency", "--batch", str(src), "--out", str(out)]) == 0
    assert "1 computed, 0 cached, 0 unreadable" in capsys.readouterr().out
    assert load_cached_mask(src / "a.png", out).shape == (40, 40)
