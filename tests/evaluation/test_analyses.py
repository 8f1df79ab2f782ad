"""The split encoder (evaluation/analyses.py, SaliCodec.encode_indices): symbols chosen in one
place, coded in another, into exactly the file the one-piece encoder writes."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from salicodec import api, cli
from salicodec.baselines import CodecUnavailable, Salicodec
from salicodec.errors import SalicodecError
from salicodec.evaluation.analyses import (FORMAT, AnalysisSet, analyse_image, compress_from_analysis,
                                           image_key, set_path)
from tests.conftest import make_tiny_model, photo


def _saliency(h: int, w: int) -> np.ndarray:
    s = np.zeros((h, w), np.float32)
    s[h // 4 : 3 * h // 4, w // 3 : w] = 1.0
    return s


@pytest.mark.parametrize("refine", [0, 2])
def test_coding_given_symbols_writes_the_one_piece_encoders_bytes(tiny_model, refine):
    rgb = photo(72, 100, seed=3)
    x = api.pad_to_multiple(rgb)
    s = api.saliency_tensor(_saliency(72, 100), rgb, (x.shape[2] // 8, x.shape[3] // 8))
    whole = tiny_model.encode_latents(x, s, refine_steps=refine, valid=(72, 100))
    with torch.no_grad():
        a = tiny_model._analysis(x, s, refine, valid=(72, 100))
    split = tiny_model.encode_indices(a["y_idx"], a["k1"])  # z derived again from y~
    assert split.sections == whole.sections
    assert split.y_shape == whole.y_shape


def test_a_saved_analysis_codes_into_the_same_file_as_compress(tmp_path):
    model = make_tiny_model(seed=1)
    rgb, sal = photo(64, 96, seed=5), _saliency(64, 96)
    y_idx, k1, info = analyse_image(model, rgb, sal, refine=3)
    assert info["width"] == 96 and info["height"] == 64 and "distortion_after" in info
    aset = AnalysisSet.new("tiny", model.weights_hash(), 3, False, "cpu")
    aset.add(image_key(rgb), y_idx, k1, {**info, "name": "x.png"})
    aset.save(set_path(tmp_path, "tiny"))
    back = AnalysisSet.load(set_path(tmp_path, "tiny"))
    assert back.meta["refine"] == 3 and back.meta["format"] == FORMAT
    data = compress_from_analysis(rgb, back, model=model)
    assert data == api.compress(rgb, model, saliency=sal, refine=3)
    out = np.asarray(api.decompress(data, model))
    assert out.shape == rgb.shape
    # Another image, or another model's weights, is refused rather than coded wrongly.
    with pytest.raises(SalicodecError, match="no analysis of this image"):
        compress_from_analysis(photo(64, 96, seed=6), back, model=model)
    with pytest.raises(SalicodecError, match="other weights"):
        compress_from_analysis(rgb, back, model=make_tiny_model(seed=2))


def test_inconsistent_symbols_are_refused(tiny_model):
    rgb = photo(64, 64, seed=7)
    x = api.pad_to_multiple(rgb)
    with torch.no_grad():
        a = tiny_model._analysis(x, None)
    y_idx, k1 = a["y_idx"].clone(), a["k1"].clone()
    masked = ~torch.arange(8).view(1, 8, 1, 1).lt(k1.unsqueeze(1))
    assert masked.any()
    bad = y_idx.clone()
    bad[masked] = (tiny_model.q1.zero_index() + 1) % tiny_model.q1.num_centres
    with pytest.raises(ValueError, match="outside the channel mask"):
        tiny_model.encode_indices(bad, k1)
    with pytest.raises(ValueError, match="symbol indices"):
        tiny_model.encode_indices(y_idx + tiny_model.q1.num_centres, k1)
    with pytest.raises(ValueError, match="channel counts must be from"):
        tiny_model.encode_indices(y_idx, k1 + 9)
    with pytest.raises(ValueError, match="shape"):
        tiny_model.encode_indices(y_idx[:, :4], k1)
    with pytest.raises(ValueError, match="integers"):
        tiny_model.encode_indices(y_idx.float(), k1)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _meta(**over) -> np.ndarray:
    m = {"format": FORMAT, "model": "m", "weights_hash": "00", "refine": 1, "refine_dpl": False,
         "images": {"0123456789abcdef": {}}, **over}
    return np.frombuffer(json.dumps(m).encode(), np.uint8)


def test_an_analysis_set_claiming_a_huge_array_is_refused_before_inflating(tmp_path, monkeypatch):
    import salicodec.evaluation.analyses as analyses

    monkeypatch.setattr(analyses, "MAX_ARRAY_BYTES", 1000)
    p = tmp_path / "m.npz"
    p.write_bytes(_npz(meta=_meta(), big=np.zeros(2000, np.uint8)))
    with pytest.raises(SalicodecError, match="larger than"):
        AnalysisSet.load(p)


@pytest.mark.parametrize("content", [
    b"not a zip at all",
    _npz(x=np.zeros(3)),                                                    # no meta
    _npz(meta=_meta(format="other")),                                       # another format
    _npz(meta=_meta()),                                                     # an image without arrays
    _npz(meta=_meta(refine="1")),                                           # a field of the wrong type
    _npz(meta=_meta(), **{"0123456789abcdef.y_idx": np.zeros((2, 3, 4)),    # float arrays
                          "0123456789abcdef.k1": np.zeros((3, 4))}),
    _npz(meta=_meta(), **{"0123456789abcdef.y_idx": np.zeros((2, 3, 4), np.uint8),  # shapes disagree
                          "0123456789abcdef.k1": np.zeros((3, 5), np.uint8)}),
    _npz(meta=np.array([{"a": 1}], dtype=object)),                          # a pickle
])
def test_malformed_analysis_sets_are_one_clear_error(tmp_path, content):
    p = tmp_path / "m.npz"
    p.write_bytes(content)
    with pytest.raises(SalicodecError, match="not a readable analysis set"):
        AnalysisSet.load(p)


def test_the_eval_entry_checks_its_sets_before_running(tmp_path):
    name = "sali-gpu-0.67-v5"
    entry = Salicodec(model=name, refine=2, refine_dpl=True, analyses=tmp_path)
    with pytest.raises(CodecUnavailable, match="no analysis set"):
        entry.check_available()
    AnalysisSet.new(name, b"\0" * 8, 3, True, "cuda").save(set_path(tmp_path, name))
    with pytest.raises(CodecUnavailable, match="refine=3"):
        Salicodec(model=name, refine=2, refine_dpl=True, analyses=tmp_path).check_available()
    ok = Salicodec(model=name, refine=3, refine_dpl=True, analyses=tmp_path)
    ok.check_available()
    assert "searched on cuda" in ok.describe()["settings"]
    # Without refinement there is nothing to take from a set.
    assert Salicodec(model=name, analyses=tmp_path).analyses is None


def test_eval_refuses_an_analyses_path_that_is_not_a_folder(tmp_path, capsys):
    rc = cli.main(["eval", str(tmp_path), "--codecs", "ours-refine2", "--analyses", str(tmp_path / "none"),
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--analyses" in err
    assert not (tmp_path / "out").exists()
