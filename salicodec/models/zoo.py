"""The registry of shipped models: name -> architecture, weights file, checksum, measured figures.

`salicodec/zoo/registry.json` is the one list the CLI, the evaluation and the Pillow plugin read.
Each weights file is a torch checkpoint (loaded with weights_only=True) holding the config dict,
an fp16 state dict and training metadata; the file's sha256 is checked on load.

A model replaced by a better one at the same target keeps shipping with `superseded_by` set:
files it wrote still decode (and `--model NAME` still names it), but it is no longer part of the
family that `--bpp`, `salicodec models` and the evaluation choose from. `superseded_by` names
the current member at its target (not the next in a chain: sali-cpu-0.23 -> sali-cpu-0.23-v4).

A decoder-only fine-tune (docs/MODELS.md) changes D1 and nothing else, so its weights file can be
a *delta*: the tensors that differ from a base file in the zoo (D1: 0.8 of 2.55 MB), plus the
base's file name and sha256. Loading folds the base in and checks its digest; the model, its
weights hash (the file header's) and every file it writes are the same as with a full copy.
A base is always a full file (no chains), and a base cannot leave the zoo while a delta names it
(tests/test_api_cli.py checks).

An entry may also be an *operating point* of another entry's weights: `weights_of` names that
entry (whose file, sha256 and base it repeats) and `coding` sets the channel-mask weights
lambda1 / lambda2 of m1 = lambda1 s + lambda2 i (Sec. 3.4) its encoder uses. The mask is an
encoder-side choice whose channel counts travel in the file, so such an entry costs no bytes in
the zoo: a better-trained model coded with fewer channels can serve a lower target better than
that target's own model (docs/MODELS.md, "Operating points"). Its files carry its own name and
the shared weights hash; both entries decode them.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import SalicodecError
from .codec import CodecConfig, SaliCodec, check_mask_weight, with_mask_weights

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
    base: str = ""  # a delta file's base model (module docstring); "" for a full file
    weights_of: str = ""  # an operating point's source entry (module docstring); "" for its own weights
    coding: dict = field(default_factory=dict, hash=False, compare=False)  # lambda1/lambda2 overrides


CODING_KEYS = ("saliency_weight", "importance_weight")


def check_coding(name: str, coding: dict) -> dict:
    """An entry's `coding` as {key: float}, or SalicodecError: only the mask weights, each as
    `compress` takes it (check_mask_weight)."""
    if not isinstance(coding, dict) or set(coding) - set(CODING_KEYS):
        raise SalicodecError(f"model {name!r}: 'coding' may set only {', '.join(CODING_KEYS)}")
    return {k: check_mask_weight(f"model {name!r}: coding {k}", v) for k, v in coding.items()}


def list_models(include_superseded: bool = False, registry: Path | None = None) -> list[ModelInfo]:
    """The current family (one model per target), or every shipped model; of the package's
    registry, or of another registry file (e.g. an earlier commit's, for benchmarks)."""
    registry = REGISTRY if registry is None else Path(registry)
    if not registry.is_file():
        return []
    entries = json.loads(registry.read_text())["models"]
    models = [ModelInfo(e["name"], e["file"], e["sha256"], float(e["target_bpp"]),
                        e.get("measured", {}), e.get("description", ""), e.get("superseded_by", ""), e.get("base", ""),
                        e.get("weights_of", ""), check_coding(e["name"], e.get("coding", {})))
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_base(base: Path) -> tuple[dict, str]:
    """A delta's base file and its sha256, read once; a base must be a full file (no chains)."""
    data = Path(base).read_bytes()
    ck = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if "base" in ck:
        raise SalicodecError(f"{Path(base).name} is itself a delta file; a base must be a full file")
    return ck, hashlib.sha256(data).hexdigest()


def save_checkpoint(model: SaliCodec, dest: Path, meta: dict | None = None, half: bool = True,
                    base: Path | None = None) -> str:
    """Write a shippable weights file; returns its sha256.

    With `base` (a full weights file in the same folder), only the tensors that differ from the
    base's are stored, with the base's name and digest: a delta file (module docstring)."""
    sd = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    ck = {"config": model.cfg.to_dict(), "state_dict": sd, "meta": meta or {}}
    if base is not None:
        base = Path(base)
        if base.resolve().parent != Path(dest).resolve().parent:
            raise SalicodecError(f"a delta's base must sit in the same folder: {base}")
        base_ck, base_sha = _read_base(base)
        base_sd = base_ck["state_dict"]
        if base_sd.keys() != sd.keys() or any(base_sd[k].shape != v.shape for k, v in sd.items()):
            raise SalicodecError(f"{base.name} is not the same architecture")
        ck["state_dict"] = {k: v for k, v in sd.items()
                            if base_sd[k].dtype != v.dtype or not torch.equal(base_sd[k], v)}
        ck["base"] = {"file": base.name, "sha256": base_sha}
    tmp = Path(dest).with_suffix(".pt.tmp")
    torch.save(ck, tmp)
    tmp.replace(dest)  # never a half-written weights file under the final name
    return _sha256(dest)


def read_weights(path: Path) -> dict:
    """A weights file (zoo file or training checkpoint) as torch.load gives it; a delta file comes
    back with its base's tensors folded in, so the state dict is always complete."""
    path = Path(path)
    ck = torch.load(path, map_location="cpu", weights_only=True)
    base = ck.get("base")
    if base is None:
        return ck
    base_path = path.parent / str(base.get("file", ""))
    if not base_path.is_file():
        raise SalicodecError(f"{path.name} is a delta of {base.get('file')!r}, which is missing")
    base_ck, base_sha = _read_base(base_path)
    if base_sha != base.get("sha256"):
        raise SalicodecError(f"{path.name} is a delta of {base_path.name}, which has changed (sha256 mismatch)")
    sd = dict(base_ck["state_dict"])
    for k, v in ck["state_dict"].items():
        if k not in sd or sd[k].shape != v.shape:
            raise SalicodecError(f"{path.name}: tensor {k!r} does not fit its base {base_path.name}")
        sd[k] = v
    return {**ck, "state_dict": sd}


def load_checkpoint(path: Path) -> tuple[SaliCodec, dict]:
    ck = read_weights(path)
    model = SaliCodec(CodecConfig.from_dict(ck["config"]))
    model.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    model.eval()
    return model, ck.get("meta", {})


@lru_cache(maxsize=None)  # bounded by the zoo (~5 MB a model in float32)
def _load_file(file: str, sha256: str) -> SaliCodec:
    """A zoo weights file, checked against its digest; loaded once however many entries use it."""
    path = ZOO_DIR / file
    if not path.is_file():
        raise SalicodecError(f"weights file {file} is missing: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise SalicodecError(f"weights file {file} is damaged (sha256 mismatch)")
    model, _ = load_checkpoint(path)
    return model


@lru_cache(maxsize=16)
def load_model(name: str) -> SaliCodec:
    """The zoo model `name`: its weights, with its entry's coding weights (an operating point's
    lambda1 / lambda2) in its config. Entries that share a file share its parameters."""
    info = model_info(name)
    weights = _load_file(info.file, info.sha256)
    model = with_mask_weights(weights, **info.coding)  # shallow: the parameters stay the file's
    if model is weights:  # no coding weights: still a view of its own, for the name below
        model = copy.copy(weights)
    model.zoo_name = name
    return model
