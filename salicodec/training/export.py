"""Export a training checkpoint into the package's model zoo (fp16 weights + registry entry).

    python -m salicodec.training.export runs/NAME/last.pt --name sali-0.37 --target-bpp 0.37
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..models.codec import CodecConfig, SaliCodec
from ..models.zoo import REGISTRY, ZOO_DIR, save_checkpoint


def export(ckpt: Path, name: str, target_bpp: float, description: str = "", make_default: bool = False,
           importance_weight: float | None = None) -> dict:
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
    sha = save_checkpoint(model, dest, meta, half=True)
    reg = json.loads(REGISTRY.read_text()) if REGISTRY.is_file() else {"models": []}
    old = next((m for m in reg["models"] if m["name"] == name), None)
    entry = {"name": name, "file": dest.name, "sha256": sha, "target_bpp": target_bpp,
             "description": description, "steps": meta["steps"],
             "measured": {}}  # filled by benchmarks/codec_kodak.py --update-registry
    if old is not None:
        reg["models"][reg["models"].index(old)] = entry
    else:
        reg["models"].append(entry)
    reg["models"].sort(key=lambda m: m["target_bpp"])
    if make_default or "default" not in reg:
        reg["default"] = name
    REGISTRY.write_text(json.dumps(reg, indent=2) + "\n")
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--target-bpp", type=float, required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--default", action="store_true", help="make it the default model")
    ap.add_argument("--importance-weight", type=float, default=None,
                    help="λ2 of the channel mask at coding time (default: the trained config's, 1)")
    a = ap.parse_args()
    print(json.dumps(export(a.checkpoint, a.name, a.target_bpp, a.description, a.default,
                            a.importance_weight), indent=2))


if __name__ == "__main__":
    main()
