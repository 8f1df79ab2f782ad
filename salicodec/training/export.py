"""Export a training checkpoint into the package's model zoo (fp16 weights + registry entry).

    python -m salicodec.training.export runs/NAME/last.pt --name sali-0.37 --target-bpp 0.37

A decoder-only fine-tune ships as a delta of the model it started from (`--base NAME`: only the
tensors that differ, D1, are stored; salicodec/models/zoo.py). `--rebase NAME --base BASE`
rewrites a model already in the zoo as such a delta, after checking that it loads bit-identical.
`--operating-point NAME --weights-of MODEL --saliency-weight L1 --importance-weight L2` adds an
entry that codes with MODEL's weights file and other channel-mask weights (no new file;
salicodec/models/zoo.py).

`--supersedes OLD` (with a checkpoint) makes the new model the current member at OLD's target:
OLD keeps shipping with `superseded_by` set (its files still decode), and every entry that named
OLD as its successor now names the new model. `--retire NAME` takes a superseded model out of the
package (registry entry and weights file), refusing while another entry needs its file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..errors import SalicodecError
from ..models.codec import CodecConfig, SaliCodec
from ..models.zoo import REGISTRY, ZOO_DIR, check_coding, load_checkpoint, save_checkpoint


def _entry(reg: dict, name: str) -> dict | None:
    return next((m for m in reg["models"] if m["name"] == name), None)


def _save_registry(reg: dict) -> None:
    REGISTRY.write_text(json.dumps(reg, indent=2) + "\n")


def _base_file(reg: dict, base: str) -> Path:
    entry = _entry(reg, base)
    if entry is None:
        raise SalicodecError(f"--base {base!r} is not in the registry")
    if entry.get("base"):
        raise SalicodecError(f"--base {base!r} is itself a delta; name its base, {entry['base']!r}")
    return ZOO_DIR / entry["file"]


def _check_supersedes(reg: dict, old_names: list[str], new: str) -> None:
    names = {m["name"] for m in reg["models"]}
    for old in old_names:
        if old == new:
            raise SalicodecError(f"--supersedes {old!r}: that is the new model itself")
        if old not in names:
            raise SalicodecError(f"--supersedes {old!r} is not in the registry")


def _supersede(reg: dict, old_names: list[str], new: str) -> None:
    """Point `old_names`, and every entry that named one of them as successor, at `new` (in place):
    `superseded_by` always names a current member, never the next link of a chain (zoo.py)."""
    for m in reg["models"]:
        if m["name"] in old_names or m.get("superseded_by") in old_names:
            m["superseded_by"] = new
    if reg.get("default") in old_names:
        reg["default"] = new


def export(ckpt: Path, name: str, target_bpp: float, description: str = "", make_default: bool = False,
           importance_weight: float | None = None, base: str | None = None,
           supersedes: list[str] | None = None) -> dict:
    """importance_weight sets λ2 of m1 = λ1·s + λ2·i (Sec. 3.4) in the shipped config: a
    coding-time knob on the rate of the non-salient cells (k = ceil(C·λ2·i) there), used to land a
    member within its target band without retraining. The decoder reads the channel counts from
    the file, so it does not depend on λ2."""
    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = ck["config"]
    codec_cfg = CodecConfig.from_dict(cfg["codec"])
    meta = {"train_config": cfg, "steps": int(ck.get("step", 0)), "source": str(ckpt)}
    if importance_weight is not None:
        if not importance_weight > 0:
            raise ValueError("importance_weight must be positive")
        # in the config (what the encoder uses) and in meta (why it differs from train_config)
        codec_cfg.importance_weight = meta["importance_weight"] = float(importance_weight)
    model = SaliCodec(codec_cfg)
    model.load_state_dict(ck["state_dict"])
    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    dest = ZOO_DIR / f"{name}.pt"
    reg = json.loads(REGISTRY.read_text()) if REGISTRY.is_file() else {"models": []}
    base_file = _base_file(reg, base) if base else None
    supersedes = list(supersedes or [])
    _check_supersedes(reg, supersedes, name)  # before anything is written
    sha = save_checkpoint(model, dest, meta, half=True, base=base_file)
    old = _entry(reg, name)
    entry = {"name": name, "file": dest.name, "sha256": sha, "target_bpp": target_bpp,
             "description": description, "steps": meta["steps"],
             "measured": {}}  # filled by benchmarks/codec_kodak.py --update-registry
    if base:
        entry["base"] = base
    if old is not None:
        reg["models"][reg["models"].index(old)] = entry
    else:
        reg["models"].append(entry)
    reg["models"].sort(key=lambda m: m["target_bpp"])
    if make_default or "default" not in reg:
        reg["default"] = name
    _supersede(reg, supersedes, name)
    _save_registry(reg)
    return entry


def retire(name: str) -> dict:
    """Take superseded model `name` out of the package: its registry entry, then its weights file.
    Files it wrote no longer decode with this package (`git show` restores the file). Refused for a
    current member (export its successor with --supersedes first) and while another entry uses its
    file (a delta naming it as `base`, an operating point naming it in `weights_of`). An operating
    point leaves alone: its file belongs to its source."""
    reg = json.loads(REGISTRY.read_text())
    entry = _entry(reg, name)
    if entry is None:
        raise SalicodecError(f"{name!r} is not in the registry")
    if not entry.get("superseded_by"):
        raise SalicodecError(f"{name!r} is a current member; export its successor with --supersedes {name} first")
    reg["models"].remove(entry)
    if entry.get("weights_of"):  # an operating point: the file is its source's, which stays
        _save_registry(reg)
        return entry
    # operating points repeat their source's file; deltas name their base
    users = [m["name"] for m in reg["models"] if m.get("base") == name or m["file"] == entry["file"]]
    if users:
        raise SalicodecError(f"{name!r} cannot leave: {', '.join(users)} use its weights file")
    # registry first: a crash between the two leaves an unlisted file, never an entry without a file
    _save_registry(reg)
    (ZOO_DIR / entry["file"]).unlink(missing_ok=True)
    return entry


def add_operating_point(name: str, weights_of: str, target_bpp: float, saliency_weight: float | None,
                        importance_weight: float | None, description: str = "", make_default: bool = False) -> dict:
    """A registry entry that codes with zoo model `weights_of`'s file (its name, sha256 and base
    repeated) and the channel-mask weights given (`coding`); the zoo gains no bytes."""
    reg = json.loads(REGISTRY.read_text())
    src = _entry(reg, weights_of)
    if src is None:
        raise SalicodecError(f"--weights-of {weights_of!r} is not in the registry")
    if src.get("weights_of"):
        raise SalicodecError(f"--weights-of {weights_of!r} is itself an operating point; name {src['weights_of']!r}")
    if any(m["name"] == name for m in reg["models"] if m.get("weights_of") != weights_of):
        raise SalicodecError(f"{name!r} is already a model with weights of its own")
    coding = {k: v for k, v in (("saliency_weight", saliency_weight), ("importance_weight", importance_weight))
              if v is not None}
    if not coding:
        raise SalicodecError("an operating point needs --saliency-weight and/or --importance-weight")
    coding = check_coding(name, coding)
    entry = {"name": name, "file": src["file"], "sha256": src["sha256"], "target_bpp": target_bpp,
             "description": description, "steps": src.get("steps", 0), "weights_of": weights_of,
             "coding": coding, "measured": {}}  # filled by benchmarks/codec_kodak.py --update-registry
    if src.get("base"):
        entry["base"] = src["base"]
    reg["models"] = [m for m in reg["models"] if m["name"] != name] + [entry]
    reg["models"].sort(key=lambda m: m["target_bpp"])
    if make_default:
        reg["default"] = name
    _save_registry(reg)
    return entry


def rebase(name: str, base: str) -> dict:
    """Rewrite zoo model `name` as a delta of zoo model `base`; the loaded weights (and so its
    weights hash and every file it writes) must come out bit-identical, or nothing changes."""
    reg = json.loads(REGISTRY.read_text())
    entry = _entry(reg, name)
    if entry is None:
        raise SalicodecError(f"{name!r} is not in the registry")
    base_file = _base_file(reg, base)
    src = ZOO_DIR / entry["file"]
    model, meta = load_checkpoint(src)
    before = model.state_dict()
    tmp = ZOO_DIR / f"{name}.delta-check.pt"
    try:
        sha = save_checkpoint(model, tmp, meta, half=True, base=base_file)
        again, _ = load_checkpoint(tmp)
        # equal state dicts mean an equal weights hash, so files it wrote still decode
        after = again.state_dict()
        same = after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())
        if not same or again.cfg.to_dict() != model.cfg.to_dict():
            raise SalicodecError(f"{name} does not load bit-identical as a delta of {base}; left as it is")
        tmp.replace(src)
    finally:
        tmp.unlink(missing_ok=True)
    entry["sha256"] = sha
    entry["base"] = base
    _save_registry(reg)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, nargs="?", help="training checkpoint (not with --rebase)")
    ap.add_argument("--rebase", metavar="NAME", help="rewrite zoo model NAME as a delta of --base")
    ap.add_argument("--base", metavar="NAME", help="store only the tensors that differ from zoo model NAME")
    ap.add_argument("--name")
    ap.add_argument("--target-bpp", type=float)
    ap.add_argument("--description", default="")
    ap.add_argument("--default", action="store_true", help="make it the default model")
    ap.add_argument("--supersedes", metavar="OLD", action="append", default=[],
                    help="the new model replaces zoo model OLD at its target; OLD's files still decode (repeatable)")
    ap.add_argument("--retire", metavar="NAME", help="remove superseded zoo model NAME (registry entry and file)")
    ap.add_argument("--importance-weight", type=float, default=None,
                    help="λ2 of the channel mask at coding time (default: the trained config's, 1)")
    ap.add_argument("--operating-point", metavar="NAME",
                    help="add entry NAME coding with --weights-of MODEL's file and other mask weights")
    ap.add_argument("--weights-of", metavar="MODEL", help="with --operating-point: the zoo model whose file it uses")
    ap.add_argument("--saliency-weight", type=float, default=None,
                    help="with --operating-point: λ1 of the channel mask at coding time")
    a = ap.parse_args()
    try:
        if a.retire:
            if a.checkpoint or a.rebase or a.operating_point or a.supersedes:
                ap.error("--retire NAME takes no checkpoint and no other action")
            print(json.dumps(retire(a.retire), indent=2))
            return
        if a.operating_point:
            if not a.weights_of or a.target_bpp is None or a.checkpoint or a.rebase:
                ap.error("--operating-point NAME needs --weights-of MODEL and --target-bpp, and no checkpoint")
            print(json.dumps(add_operating_point(a.operating_point, a.weights_of, a.target_bpp, a.saliency_weight,
                                                 a.importance_weight, a.description, a.default), indent=2))
            return
        if a.rebase:
            if not a.base or a.checkpoint:
                ap.error("--rebase NAME needs --base BASE and no checkpoint")
            print(json.dumps(rebase(a.rebase, a.base), indent=2))
            return
        if a.checkpoint is None or not a.name or a.target_bpp is None:
            ap.error("a checkpoint, --name and --target-bpp are required")
        print(json.dumps(export(a.checkpoint, a.name, a.target_bpp, a.description, a.default,
                                a.importance_weight, a.base, a.supersedes), indent=2))
    except SalicodecError as e:
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
