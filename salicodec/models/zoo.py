"""The registry of shipped models: name -> architecture, weights file, checksum, measured figures.

`salicodec/zoo/registry.json` is the one list the CLI, the evaluation and the Pillow plugin read.
Each weights file is a torch checkpoint (loaded with weights_only=True) holding the config dict,
an fp16 state dict and training metadata; the file's sha256 is checked on load.

A model replaced by a better one at the same target keeps shipping with `superseded_by` set:
files it wrote still decode (and `--model NAME` still names it), but it is no longer part of the
family that `--bpp`, `salicodec models` and the evaluation choose from. `superseded_by` names
the current member at its target (not the next in a chain: sali-cpu-0.23 -> sali-cpu-0.23-v4).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import SalicodecError
from .codec import CodecConfig, SaliCodec

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
REGISTRY = ZOO_DIR / "registry.json"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    file: str
    sha256: str
    target_bpp: float
    measured: dict = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    superseded_by: str = ""


def list_models(include_superseded: bool = False) -> list[ModelInfo]:
    """The current family (one model per target), or every shipped model."""
    if not REGISTRY.is_file():
        return []
    entries = json.loads(REGISTRY.read_text())["models"]
    models = [ModelInfo(e["name"], e["file"], e["sha256"], float(e["target_bpp"]),
                        e.get("measured", {}), e.get("description", ""), e.get("superseded_by", ""))
              for e in entries]
    return models if include_superseded else [m for m in models if not m.superseded_by]


def default_model() -> ModelInfo:
    models = list_models()
    if not models:
        raise SalicodecError("no shipped model in salicodec/zoo/registry.json")
    data = json.loads(REGISTRY.read_text())
    name = data.get("default", models[0].name)
    return next(m for m in models if m.name == name)


def model_info(name: str) -> ModelInfo:
    for m in list_models(include_superseded=True):
        if m.name == name:
            return m
    known = ", ".join(m.name for m in list_models()) or "none"
    raise SalicodecError(f"unknown model {name!r} (shipped: {known})")


def nearest_model(bpp: float) -> ModelInfo:
    models = list_models()
    if not models:
        raise SalicodecError("no shipped model in salicodec/zoo/registry.json")
    return min(models, key=lambda m: (abs(m.target_bpp - bpp), m.target_bpp))


def save_checkpoint(model: SaliCodec, dest: Path, meta: dict | None = None, half: bool = True) -> str:
    """Write a shippable weights file; returns its sha256."""
    sd = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg.to_dict(), "state_dict": sd, "meta": meta or {}}, dest)
    return hashlib.sha256(Path(dest).read_bytes()).hexdigest()


def load_checkpoint(path: Path) -> tuple[SaliCodec, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = SaliCodec(CodecConfig.from_dict(ck["config"]))
    model.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    model.eval()
    return model, ck.get("meta", {})


@lru_cache(maxsize=8)
def load_model(name: str) -> SaliCodec:
    info = model_info(name)
    path = ZOO_DIR / info.file
    if not path.is_file():
        raise SalicodecError(f"weights file of model {name!r} is missing: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != info.sha256:
        raise SalicodecError(f"weights file of model {name!r} is damaged (sha256 mismatch)")
    model, _ = load_checkpoint(path)
    model.zoo_name = name
    return model
