"""A study folder: what `study create` writes and what `serve` and `results` read.

    STUDY_DIR/
      study.json                       the manifest (StudyConfig + images + reconstructions)
      study.sqlite                     trials, participants, presentations, votes (db.py)
      images/<image>/original.png
      images/<image>/<bpp>/<codec>.png   one reconstruction per codec and target bpp

Every path in the manifest is relative to STUDY_DIR and is checked to stay inside it when read, so
the server only ever opens files of the study.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SalicodecError

MANIFEST = "study.json"
DATABASE = "study.sqlite"
FORMAT_VERSION = 1
IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CODEC_NAME = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")  # "ours:<model>" names a shipped model


def bpp_key(bpp: float) -> str:
    """The folder / JSON key of a target rate: 0.23 -> "0.23"."""
    return f"{bpp:g}"


@dataclass
class StudyConfig:
    codecs: list[str]
    bpps: list[float]
    votes_per_trial: int = 5  # the paper collected 5 (Fig. 5 study) or 6 (metric data) per pair
    trials_per_participant: int = 0  # 0: as many as the participant is willing to answer
    seed: int = 0


@dataclass
class Study:
    root: Path
    config: StudyConfig
    # image id -> {"original": relpath, "width", "height", "reconstructions": {bpp_key: {codec: {...}}}}
    images: dict[str, dict] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.root / DATABASE

    def file(self, relpath: str) -> Path:
        """A file of the study; refuses anything that resolves outside the study folder."""
        root = self.root.resolve()
        p = (root / relpath).resolve()
        if root not in p.parents:
            raise SalicodecError(f"{relpath}: outside the study folder")
        return p

    def original(self, image: str) -> Path:
        return self.file(self.images[image]["original"])

    def reconstruction(self, image: str, bpp: float, codec: str) -> Path:
        return self.file(self.images[image]["reconstructions"][bpp_key(bpp)][codec]["file"])

    def reconstruction_bpp(self, image: str, bpp: float, codec: str) -> float:
        return float(self.images[image]["reconstructions"][bpp_key(bpp)][codec]["bpp"])

    def quota(self, n_trials: int) -> int:
        q = self.config.trials_per_participant
        return n_trials if q <= 0 else min(q, n_trials)

    def manifest_json(self) -> str:
        data = {"format_version": FORMAT_VERSION, "config": asdict(self.config), "images": self.images}
        return json.dumps(data, indent=1, sort_keys=True)


def load(study_dir: str | Path) -> Study:
    root = Path(study_dir)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise SalicodecError(f"{root}: not a study folder (no {MANIFEST}; make one with: salicodec study create)")
    try:
        data = json.loads(mpath.read_text())
        if data.get("format_version") != FORMAT_VERSION:
            raise SalicodecError(f"{mpath}: unknown format version {data.get('format_version')!r}")
        config = StudyConfig(**data["config"])
        images = data["images"]
    except (ValueError, KeyError, TypeError) as e:
        raise SalicodecError(f"{mpath}: not a valid study manifest ({e})") from None
    if not (root / DATABASE).is_file():
        raise SalicodecError(f"{root}: study database {DATABASE} is missing")
    return Study(root, config, images)
