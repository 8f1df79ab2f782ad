"""Decoder-only fine-tunes ship as delta files: only the tensors that differ from a base model in
the zoo, folded back in on load (salicodec/models/zoo.py)."""
from __future__ import annotations

import json
import sys

import pytest
import torch
from PIL import Image

from salicodec.api import compress, decompress
from salicodec.errors import SalicodecError
from salicodec.models.zoo import load_checkpoint
from salicodec.training import export as export_mod
from tests.conftest import make_tiny_model, photo


@pytest.fixture()
def zoo_dir(tmp_path, monkeypatch):
    d = tmp_path / "zoo"
    monkeypatch.setattr(export_mod, "ZOO_DIR", d)
    monkeypatch.setattr(export_mod, "REGISTRY", d / "registry.json")
    torch.set_num_threads(1)
    return d


def _checkpoint(path, model, step=5):
    torch.save({"config": {"codec": model.cfg.to_dict()}, "state_dict": model.state_dict(), "step": step}, path)
    return path


def _decoder_tuned(seed: int = 3):
    """A model and the same model with D1 changed, as a decoder-only fine-tune leaves it."""
    base = make_tiny_model(seed=seed)
    tuned = make_tiny_model(seed=seed)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if name.startswith("d1."):
                p.add_(0.05 * torch.randn_like(p))
    return base, tuned


def test_delta_export_loads_bit_identical_and_codes_the_same_files(tmp_path, zoo_dir):
    base, tuned = _decoder_tuned()
    export_mod.export(_checkpoint(tmp_path / "base.pt", base), "m-base", 0.3)
    ck = _checkpoint(tmp_path / "tuned.pt", tuned)
    full = export_mod.export(ck, "m-full", 0.3)
    delta = export_mod.export(ck, "m-dec", 0.3, base="m-base")
    assert delta["base"] == "m-base" and "base" not in full

    stored = torch.load(zoo_dir / "m-dec.pt", weights_only=True)
    assert stored["state_dict"] and all(k.startswith("d1.") for k in stored["state_dict"])
    assert stored["base"]["file"] == "m-base.pt"
    assert (zoo_dir / "m-dec.pt").stat().st_size < 0.7 * (zoo_dir / "m-full.pt").stat().st_size

    m_full, _ = load_checkpoint(zoo_dir / "m-full.pt")
    m_dec, meta = load_checkpoint(zoo_dir / "m-dec.pt")
    assert meta["steps"] == 5
    assert m_dec.weights_hash() == m_full.weights_hash()
    for k, v in m_full.state_dict().items():
        assert torch.equal(m_dec.state_dict()[k], v), k
    m_base, _ = load_checkpoint(zoo_dir / "m-base.pt")
    assert m_base.weights_hash() != m_dec.weights_hash()

    img = Image.fromarray(photo(64, 80, seed=2))
    data = compress(img, model=m_dec, saliency=None)
    assert data == compress(img, model=m_full, saliency=None)
    assert decompress(data, model=m_dec).tobytes() == decompress(data, model=m_full).tobytes()


def test_a_delta_refuses_a_changed_or_missing_base_and_chains(tmp_path, zoo_dir):
    base, tuned = _decoder_tuned()
    export_mod.export(_checkpoint(tmp_path / "base.pt", base), "m-base", 0.3)
    ck = _checkpoint(tmp_path / "tuned.pt", tuned)
    export_mod.export(ck, "m-dec", 0.3, base="m-base")
    with pytest.raises(SalicodecError, match="itself a delta"):
        export_mod.export(ck, "m-dec2", 0.3, base="m-dec")
    with pytest.raises(SalicodecError, match="not in the registry"):
        export_mod.export(ck, "m-dec2", 0.3, base="nope")

    other = make_tiny_model(seed=9)  # the base file replaced by other weights
    export_mod.export(_checkpoint(tmp_path / "other.pt", other), "m-base", 0.3)
    with pytest.raises(SalicodecError, match="has changed"):
        load_checkpoint(zoo_dir / "m-dec.pt")
    (zoo_dir / "m-base.pt").unlink()
    with pytest.raises(SalicodecError, match="missing"):
        load_checkpoint(zoo_dir / "m-dec.pt")


def test_rebase_rewrites_a_zoo_model_as_a_delta(tmp_path, zoo_dir, monkeypatch, capsys):
    base, tuned = _decoder_tuned()
    export_mod.export(_checkpoint(tmp_path / "base.pt", base), "m-base", 0.3)
    export_mod.export(_checkpoint(tmp_path / "tuned.pt", tuned), "m-dec", 0.3)
    before, _ = load_checkpoint(zoo_dir / "m-dec.pt")
    size = (zoo_dir / "m-dec.pt").stat().st_size

    monkeypatch.setattr(sys, "argv", ["export", "--rebase", "m-dec", "--base", "m-base"])
    export_mod.main()
    entry = json.loads(capsys.readouterr().out)
    assert entry["base"] == "m-base"
    reg = json.loads((zoo_dir / "registry.json").read_text())
    assert next(m for m in reg["models"] if m["name"] == "m-dec") == entry
    assert (zoo_dir / "m-dec.pt").stat().st_size < 0.7 * size
    after, _ = load_checkpoint(zoo_dir / "m-dec.pt")
    assert after.weights_hash() == before.weights_hash()
    assert not list(zoo_dir.glob("*.tmp")) and not list(zoo_dir.glob("*delta-check*"))

    # a model that differs from the base beyond D1 still loads exactly (more tensors are stored)
    export_mod.export(_checkpoint(tmp_path / "x.pt", make_tiny_model(seed=11)), "m-x", 0.3)
    want, _ = load_checkpoint(zoo_dir / "m-x.pt")
    export_mod.rebase("m-x", "m-base")
    got, _ = load_checkpoint(zoo_dir / "m-x.pt")
    assert got.weights_hash() == want.weights_hash()

    monkeypatch.setattr(sys, "argv", ["export", "--rebase", "nope", "--base", "m-base"])
    with pytest.raises(SystemExit, match="error: 'nope' is not in the registry"):
        export_mod.main()


def test_supersedes_repoints_the_chain_and_retire_removes_only_unused_files(tmp_path, zoo_dir, monkeypatch, capsys):
    ck = {s: _checkpoint(tmp_path / f"m{s}.pt", make_tiny_model(seed=s)) for s in (1, 2, 3)}
    export_mod.export(ck[1], "m-v1", 0.3, make_default=True)
    export_mod.export(ck[2], "m-v2", 0.3, supersedes=["m-v1"])
    export_mod.add_operating_point("m-op", "m-v1", 0.2, None, 2.0)  # codes with m-v1's file
    reg = json.loads((zoo_dir / "registry.json").read_text())
    by = {m["name"]: m for m in reg["models"]}
    assert by["m-v1"]["superseded_by"] == "m-v2" and "superseded_by" not in by["m-v2"]
    assert reg["default"] == "m-v2"  # the default moves with its target

    with pytest.raises(SalicodecError, match="not in the registry"):
        export_mod.export(ck[3], "m-v3", 0.3, supersedes=["nope"])
    with pytest.raises(SalicodecError, match="itself"):
        export_mod.export(ck[3], "m-v3", 0.3, supersedes=["m-v3"])
    assert not (zoo_dir / "m-v3.pt").exists()  # refused before anything was written

    monkeypatch.setattr(sys, "argv", ["export", str(ck[3]), "--name", "m-v3", "--target-bpp", "0.3",
                                      "--supersedes", "m-v2"])
    export_mod.main()
    capsys.readouterr()
    by = {m["name"]: m for m in json.loads((zoo_dir / "registry.json").read_text())["models"]}
    # m-v1 named m-v2, which is no longer current: it now names the current member, not a chain
    assert by["m-v1"]["superseded_by"] == by["m-v2"]["superseded_by"] == "m-v3"

    with pytest.raises(SalicodecError, match="current member"):
        export_mod.retire("m-v3")
    with pytest.raises(SalicodecError, match="m-op use its weights file"):
        export_mod.retire("m-v1")
    assert (zoo_dir / "m-v1.pt").is_file()
    monkeypatch.setattr(sys, "argv", ["export", "--retire", "m-v2"])
    export_mod.main()
    assert json.loads(capsys.readouterr().out)["name"] == "m-v2"
    names = {m["name"] for m in json.loads((zoo_dir / "registry.json").read_text())["models"]}
    assert names == {"m-v1", "m-op", "m-v3"} and not (zoo_dir / "m-v2.pt").exists()
    assert (zoo_dir / "m-v1.pt").is_file() and (zoo_dir / "m-v3.pt").is_file()
    monkeypatch.setattr(sys, "argv", ["export", "--retire", "m-v2"])
    with pytest.raises(SystemExit, match="error: 'm-v2' is not in the registry"):
        export_mod.main()

    # an operating point leaves without its source's file; then the source can go
    export_mod.export(ck[1], "m-v4", 0.2, supersedes=["m-op"])
    export_mod.retire("m-op")
    assert (zoo_dir / "m-v1.pt").is_file()
    export_mod.retire("m-v1")
    assert not (zoo_dir / "m-v1.pt").exists()
    names = {m["name"] for m in json.loads((zoo_dir / "registry.json").read_text())["models"]}
    assert names == {"m-v3", "m-v4"}
