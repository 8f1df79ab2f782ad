"""The public API, the CLI and the Pillow plugin with the shipped default model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import salicodec
from salicodec import api, cli
from salicodec.errors import SalicodecError
from salicodec.metrics.classic import psnr_rgb
from salicodec.models import zoo
from tests.conftest import photo


@pytest.fixture(scope="module")
def default_name() -> str:
    models = zoo.list_models()
    assert models, "the package must ship at least one model"
    return zoo.default_model().name


def test_list_models_reads_another_registry_file(tmp_path):
    """benchmarks/family_at_rate.py --registry: the family of an earlier registry, superseded
    entries left out as in the package's."""
    import json

    entries = [{"name": n, "file": f"{n}.pt", "sha256": "0", "target_bpp": t, "measured": {"bpp": t}} for n, t in
               (("a", 0.37), ("b", 0.67))]
    entries[0]["superseded_by"] = "b"
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": entries, "default": "b"}))
    assert [m.name for m in zoo.list_models(registry=path)] == ["b"]
    assert [m.name for m in zoo.list_models(include_superseded=True, registry=path)] == ["a", "b"]
    assert zoo.list_models(registry=tmp_path / "missing.json") == []


def test_family_at_rate_refuses_a_registry_that_is_not_a_file(tmp_path):
    """A pipe such as <(git show …) is not a regular file: list_models gives no family, so the
    script must say why in one line rather than 'need … two measured members'."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "family_at_rate.py"
    r = subprocess.run([sys.executable, str(script), "0.5", "--registry", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "not a regular file" in r.stderr and "Traceback" not in r.stderr


def test_registry_files_exist_and_match(default_name):
    import torch

    shipped = {m.name: m for m in zoo.list_models(include_superseded=True)}
    for m in shipped.values():
        model = zoo.load_model(m.name)  # checks the sha256 (and a delta's base's)
        assert model.cfg.channels > 0
        stored = torch.load(zoo.ZOO_DIR / m.file, map_location="cpu", weights_only=True)
        if not m.base:
            assert "base" not in stored, f"{m.name}: a delta file without 'base' in the registry"
            continue
        # a delta's base ships, is a full file, and is the very file the delta was made against
        base = shipped[m.base]
        assert not base.base and stored["base"] == {"file": base.file, "sha256": base.sha256}
        # only what a fine-tune that leaves the encoders alone changes (decoder_only: D1;
        # entropy_only: D2 and the context models), and only tensors that differ from the base's
        base_sd = torch.load(zoo.ZOO_DIR / base.file, map_location="cpu", weights_only=True)["state_dict"]
        assert stored["state_dict"] and all(k.startswith(("d1.", "d2.", "ctx_y.", "ctx_z.")) for k in stored["state_dict"])
        assert not any(torch.equal(v, base_sd[k]) for k, v in stored["state_dict"].items()), m.name
    # an operating point repeats its source's file, digest and base, and adds only mask weights
    for m in shipped.values():
        if m.weights_of:
            src = shipped[m.weights_of]
            assert not src.weights_of and (m.file, m.sha256, m.base) == (src.file, src.sha256, src.base), m.name
            assert m.coding, f"{m.name}: an operating point without coding weights is its source"
    assert sum((zoo.ZOO_DIR / f).stat().st_size for f in {m.file for m in shipped.values()}) <= 40e6


def test_api_roundtrip_default_model(default_name):
    img = Image.fromarray(photo(70, 90))
    data = salicodec.compress(img)
    out = salicodec.decompress(data)
    assert out.size == (90, 70) and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), api.reconstruct(img))


def test_bpp_picks_nearest_model():
    models = zoo.list_models()
    for m in models:
        assert zoo.nearest_model(m.target_bpp).name == m.name


def test_pillow_plugin_opens_sali(tmp_path, default_name):
    img = photo(40, 56)
    p = tmp_path / "x.sali"
    p.write_bytes(salicodec.compress(img))
    with Image.open(p) as im:
        assert im.format == "SALI" and im.size == (56, 40) and im.mode == "RGB"
        assert np.array_equal(np.asarray(im), api.reconstruct(img))


def test_cli_compress_decompress_info(tmp_path, capsys, default_name):
    src, sali, png = tmp_path / "in.png", tmp_path / "a.sali", tmp_path / "out.png"
    Image.fromarray(photo(64, 80)).save(src)
    assert cli.main(["compress", str(src), "-o", str(sali), "--saliency", "none"]) == 0
    assert cli.main(["decompress", str(sali), "-o", str(png)]) == 0
    capsys.readouterr()
    assert cli.main(["info", str(sali)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["width"] == 80 and info["height"] == 64 and info["model"] == default_name
    assert info["bytes"] == sali.stat().st_size and info["format_version"] == 1
    out = np.asarray(Image.open(png))
    assert np.array_equal(out, api.reconstruct(Image.open(src)))


def test_cli_compress_with_refinement_decodes_with_the_plain_decoder(tmp_path, kodak_dir):
    src, sali, png = tmp_path / "in.png", tmp_path / "a.sali", tmp_path / "out.png"
    rgb = np.asarray(Image.open(kodak_dir / "kodim19.png").convert("RGB"))[300:396, 200:328]
    Image.fromarray(rgb).save(src)
    assert cli.main(["compress", str(src), "-o", str(sali), "--saliency", "none", "--refine", "15"]) == 0
    assert cli.main(["decompress", str(sali), "-o", str(png)]) == 0
    plain = np.asarray(api.decompress(api.compress(rgb, saliency="none")))
    refined = np.asarray(Image.open(png))
    assert psnr_rgb(rgb, refined) > psnr_rgb(rgb, plain)


def test_file_of_other_weights_under_a_shipped_name_is_refused(tmp_path, capsys, default_name):
    """A file written by earlier weights of a model name that now ships other weights (the first
    sali-cpu-0.37 was replaced by the family): one line, exit 2, no output file."""
    import dataclasses

    from salicodec import container

    src, sali, png = tmp_path / "in.png", tmp_path / "old.sali", tmp_path / "out.png"
    Image.fromarray(photo(48, 48)).save(src)
    assert cli.main(["compress", str(src), "-o", str(sali), "--saliency", "none"]) == 0
    f = container.unpack(sali.read_bytes())
    old = bytes(b ^ 0xFF for b in f.weights_hash)
    sali.write_bytes(container.pack(dataclasses.replace(f, weights_hash=old)))  # valid CRCs
    capsys.readouterr()
    assert cli.main(["decompress", str(sali), "-o", str(png)]) == 2
    err = capsys.readouterr().err
    assert "different weights" in err and default_name in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not png.exists()


def test_cli_saliency_roi_box_spends_more_bits(tmp_path, default_name):
    src = tmp_path / "in.png"
    Image.fromarray(photo(128, 128)).save(src)
    a, b = tmp_path / "a.sali", tmp_path / "b.sali"
    assert cli.main(["compress", str(src), "-o", str(a), "--saliency", "none"]) == 0
    assert cli.main(["compress", str(src), "-o", str(b), "--saliency", "none", "--roi-box", "0,0,64,64"]) == 0
    assert b.stat().st_size >= a.stat().st_size


def test_exif_orientation_applied(tmp_path):
    img = Image.fromarray(photo(40, 64))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    from salicodec.imageio import load_image

    assert load_image(p).rgb.shape == (64, 40, 3)


def test_16bit_reduced_with_warning(tmp_path):
    a = (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)  # mode I;16
    from salicodec.imageio import load_image

    with pytest.warns(UserWarning, match="16-bit"):
        img = load_image(p)
    assert img.greyscale and img.rgb.dtype == np.uint8 and img.rgb.shape == (30, 40, 3)


def test_superseded_models_still_decode_but_leave_the_family(tmp_path, capsys):
    """A model replaced at its target keeps shipping: `--model NAME` encodes with it and its
    files decode, but `--bpp`, `salicodec models` and the evaluation use the current family."""
    old = [m for m in zoo.list_models(include_superseded=True) if m.superseded_by]
    if not old:
        pytest.skip("no superseded model ships")
    family = {m.name for m in zoo.list_models()}
    for m in old:
        assert m.name not in family and m.superseded_by in family
        assert zoo.nearest_model(m.target_bpp).name == m.superseded_by
    m = old[0]
    src, sali, png = tmp_path / "in.png", tmp_path / "old.sali", tmp_path / "out.png"
    Image.fromarray(photo(48, 64)).save(src)
    assert cli.main(["compress", str(src), "-o", str(sali), "--model", m.name, "--saliency", "none"]) == 0
    assert cli.main(["decompress", str(sali), "-o", str(png)]) == 0
    capsys.readouterr()
    assert cli.main(["info", str(sali)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == m.name
    assert cli.main(["models"]) == 0
    listing = capsys.readouterr().out
    assert f"{m.name} -> {m.superseded_by}" in listing


def test_channel_mask_weights_are_an_encoder_knob_that_every_decoder_reads(tmp_path, capsys, kodak_dir):
    """lambda1 / lambda2 (Sec. 3.4) set at coding time: lambda1 = 0 is coding without the
    salient-object mask, a larger lambda2 keeps more channels (more bits), and the
    files decode with the plain model; the zoo model itself is left as it was."""
    rgb = np.asarray(Image.open(kodak_dir / "kodim04.png").convert("RGB"))[64:320, 128:384]
    mask = np.zeros(rgb.shape[:2], np.float32)
    mask[64:192, 64:192] = 1.0
    model = zoo.load_model("sali-gpu-0.67-v5")
    cfg = model.cfg
    plain = api.compress(rgb, "sali-gpu-0.67-v5", saliency=mask)
    assert api.compress(rgb, "sali-gpu-0.67-v5", saliency=mask, saliency_weight=0) == \
        api.compress(rgb, "sali-gpu-0.67-v5", saliency="none")
    more = api.compress(rgb, "sali-gpu-0.67-v5", saliency=mask, importance_weight=cfg.importance_weight * 1.5)
    assert len(more) > len(plain)
    # (more channels need not mean less distortion: the decoder learned the masks of lambda2 = its own)
    assert 20 < psnr_rgb(rgb, np.asarray(api.decompress(more))) < 60
    assert zoo.load_model("sali-gpu-0.67-v5").cfg == cfg  # the shared model is untouched
    for bad in (-0.5, float("nan"), 1e9, True, "1"):
        with pytest.raises(SalicodecError, match="weight"):
            api.compress(rgb[:32, :32], "sali-gpu-0.67-v5", saliency="none", importance_weight=bad)
    src, out = tmp_path / "in.png", tmp_path / "a.sali"
    Image.fromarray(rgb).save(src)
    capsys.readouterr()
    assert cli.main(["compress", str(src), "-o", str(out), "--saliency-weight", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--saliency-weight" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    assert cli.main(["compress", str(src), "-o", str(out), "--model", "sali-gpu-0.67-v5", "--saliency", "none",
                     "--importance-weight", str(cfg.importance_weight * 1.5)]) == 0
    assert out.read_bytes() == api.compress(rgb, "sali-gpu-0.67-v5", saliency="none",
                                            importance_weight=cfg.importance_weight * 1.5)


def test_an_operating_point_codes_with_its_source_weights_and_its_own_mask_weights(kodak_dir):
    """An entry with `weights_of` shares its source's parameters (loaded once) and weights hash,
    codes with its own lambda1 / lambda2, and names itself in its files; decoding needs nothing
    else, and the source's own model is untouched."""
    points = [m for m in zoo.list_models(include_superseded=True) if m.weights_of]
    if not points:
        pytest.skip("no operating point ships")
    from salicodec import container

    rgb = np.asarray(Image.open(kodak_dir / "kodim23.png").convert("RGB"))[96:352, 256:512]
    for m in points:
        point, source = zoo.load_model(m.name), zoo.load_model(m.weights_of)
        assert next(point.parameters()) is next(source.parameters())
        assert point.weights_hash() == source.weights_hash()
        for key, v in m.coding.items():
            assert getattr(point.cfg, key) == v
        data = api.compress(rgb, m.name)
        f = container.unpack(data)
        assert f.model == m.name
        again = api.compress(rgb, m.weights_of, **m.coding)  # the same symbols under the source's name
        assert container.unpack(again).sections == f.sections and container.unpack(again).model == m.weights_of
        assert np.array_equal(np.asarray(api.decompress(data)), np.asarray(api.decompress(again)))
        assert zoo.load_model(m.weights_of).cfg == source.cfg != point.cfg


def test_cli_lambda1_zero_skips_the_detector_and_named_regions_still_get_bits(tmp_path, capsys, monkeypatch, kodak_dir):
    """With a lambda1 = 0 model the detector's mask cannot change the file, so `--saliency auto`
    does not run it; a region the user names (--roi-box, a mask) is coded with lambda1 = 1."""
    name = next((m.name for m in zoo.list_models() if zoo.load_model(m.name).cfg.saliency_weight == 0), None)
    if name is None:
        pytest.skip("no lambda1 = 0 model in the family")
    rgb = np.asarray(Image.open(kodak_dir / "kodim04.png").convert("RGB"))[64:320, 128:384]
    src = tmp_path / "in.png"
    Image.fromarray(rgb).save(src)
    import salicodec.saliency as saliency_pkg

    def no_detector(*a, **k):
        raise AssertionError("the salient-object model ran")

    monkeypatch.setattr(saliency_pkg, "saliency_map", no_detector)
    out = {k: tmp_path / f"{k}.sali" for k in ("auto", "none", "box", "box0")}
    assert cli.main(["compress", str(src), "-o", str(out["auto"]), "--model", name]) == 0
    assert cli.main(["compress", str(src), "-o", str(out["none"]), "--model", name, "--saliency", "none"]) == 0
    assert out["auto"].read_bytes() == out["none"].read_bytes() == api.compress(rgb, name, saliency="auto")
    box = ["--saliency", "none", "--roi-box", "64,64,192,192"]
    assert cli.main(["compress", str(src), "-o", str(out["box"]), "--model", name] + box) == 0
    assert cli.main(["compress", str(src), "-o", str(out["box0"]), "--model", name, "--saliency-weight", "0"] + box) == 0
    mask = np.zeros(rgb.shape[:2], np.float32)
    mask[64:192, 64:192] = 1.0
    assert out["box"].read_bytes() == api.compress(rgb, name, saliency=mask, saliency_weight=1.0)
    assert len(out["box"].read_bytes()) > len(out["none"].read_bytes())
    assert out["box0"].read_bytes() == out["none"].read_bytes()
    capsys.readouterr()


def test_export_adds_an_operating_point_and_refuses_bad_ones(tmp_path, monkeypatch):
    import shutil

    from salicodec.training import export

    reg = tmp_path / "registry.json"
    shutil.copy(zoo.REGISTRY, reg)
    monkeypatch.setattr(export, "REGISTRY", reg)
    source = next(m for m in zoo.list_models(include_superseded=True) if not m.weights_of)
    e = export.add_operating_point("test-point", source.name, 0.5, 0, 0.8, "a test")
    assert (e["file"], e["sha256"], e.get("base", "")) == (source.file, source.sha256, source.base)
    assert e["coding"] == {"saliency_weight": 0.0, "importance_weight": 0.8}
    stored = json.loads(reg.read_text())
    assert [m["name"] for m in stored["models"]].count("test-point") == 1
    assert stored["default"] == json.loads(zoo.REGISTRY.read_text())["default"]
    for args, match in ((("p2", "no-such-model", 0.5, 0, 0.8), "not in the registry"),
                        (("p2", "test-point", 0.5, 0, 0.8), "itself an operating point"),
                        (("p2", source.name, 0.5, None, None), "needs"),
                        (("p2", source.name, 0.5, -1, 0.8), "from 0 to"),
                        (("p2", source.name, 0.5, 0, float("nan")), "from 0 to"),
                        ((source.name, source.name, 0.5, 0, 0.8), "weights of its own")):
        with pytest.raises(SalicodecError, match=match):
            export.add_operating_point(*args)
    assert json.loads(reg.read_text()) == stored  # a refused entry changes nothing
