"""The benchmark run: every (image, codec) pair, rate-matched at every target, measured, cached.

Layout of the output folder (one record per (image, codec, setting)):
  cache/<codec>/<image>@<target>.json  the measured record; a rerun reuses it (resume)
  files/<codec>/<image>@<target>.<ext> the real compressed file
  recon/<codec>/<image>@<target>.png   its decoded reconstruction
  saliency/<image>.npy                 saliency mask (for PSNR-S), computed once per image
A record is reused when the codec's version and settings are unchanged; metrics added later are
computed from the stored reconstruction without encoding again.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..baselines import CodecUnavailable, Salicodec, make_codec
from ..errors import SalicodecError
from ..imageio import atomic_write_bytes, load_rgb
from . import metrics as metric_table
from .ratematch import RateMatcher
from .resources import measure

from ..imageio import IMAGE_SUFFIXES  # noqa: E402
MARKER = "salicodec-eval.json"


@dataclass
class EvalConfig:
    dataset: Path
    codecs: list[str]
    targets: list[float]
    metrics: list[str]
    out: Path
    jobs: int = 1
    limit: int | None = None  # first N images only (quick runs)
    force: bool = False
    memory: bool = True  # probe peak memory per (codec, target) in fresh processes
    report_only: bool = False  # build the reports from cached records only; encode nothing
    command: str = ""


@dataclass
class RunState:
    """What the run found before working: the codecs and metrics it can use, and why not others."""

    images: list[Path]
    codecs: dict[str, dict] = field(default_factory=dict)  # name -> describe()
    skipped_codecs: dict[str, str] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    skipped_metrics: dict[str, str] = field(default_factory=dict)


def list_images(dataset: Path, limit: int | None) -> list[Path]:
    if not dataset.is_dir():
        raise SalicodecError(f"{dataset}: not a directory of images")
    images = sorted(p for p in dataset.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise SalicodecError(f"{dataset}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images[:limit] if limit else images


def target_label(target) -> str:
    return f"{target:.3f}" if isinstance(target, float) else str(target)


def prepare_out(out: Path, force: bool) -> None:
    """An existing folder is resumed only if an earlier eval made it; anything else needs --force."""
    if out.exists() and not out.is_dir():
        raise SalicodecError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists() and not force:
        raise SalicodecError(f"{out}: not empty and not an eval output folder (use --force)")
    out.mkdir(parents=True, exist_ok=True)


def resolve(config: EvalConfig) -> RunState:
    state = RunState(images=list_images(config.dataset, config.limit))
    for name in config.codecs:
        codec = make_codec(name)
        try:
            codec.check_available()
            state.codecs[name] = codec.describe()
        except CodecUnavailable as e:
            state.skipped_codecs[name] = str(e)
    state.metrics, state.skipped_metrics = metric_table.probe(config.metrics, saliency_available() is not None)
    return state


def saliency_available():
    try:
        from ..saliency import saliency_map

        return saliency_map
    except (ImportError, AttributeError):
        return None


def saliency_for(image: Path, out: Path) -> np.ndarray | None:
    """The image's saliency mask, computed once and cached as .npy."""
    fn = saliency_available()
    if fn is None:
        return None
    path = out / "saliency" / f"{image.stem}.npy"
    if path.exists():
        return np.load(path)
    mask = np.asarray(fn(load_rgb(image)), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, mask)
    os.replace(tmp, path)
    return mask


# --------------------------------------------------------------------------------------------
# one (image, codec) task; runs in a worker process


@dataclass(frozen=True)
class Task:
    image: str
    codec: str
    targets: tuple  # floats (bpp) for standard codecs; ignored for ours (its models are its points)
    metrics: tuple
    out: str
    codec_info_json: str  # describe(): a cached record is valid only for the same version/settings


def _paths(out: Path, codec: str, stem: str, label: str, ext: str):
    safe = codec.replace(":", "_")
    return (out / "cache" / safe / f"{stem}@{label}.json", out / "files" / safe / f"{stem}@{label}.{ext}",
            out / "recon" / safe / f"{stem}@{label}.png")


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode(), force=True)


def _load_cached(path: Path, info: dict) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("codec_version") != info["version"] or rec.get("settings") != info["settings"]:
        return None
    return rec


def task_points(codec, targets) -> list[tuple[float, str | None, str]]:
    """(target bpp, setting, cache label) per record of a task: our codec has one point per
    shipped model, labelled by its name; the others one per target, found by rate matching
    (setting None), labelled by the target."""
    if isinstance(codec, Salicodec):
        return [(p.nominal_bpp, p.setting, p.setting) for p in codec.rate_points()]
    return [(t, None, target_label(t)) for t in targets]


def run_task(task: Task) -> list[dict]:
    from ..imageio import save_image
    from PIL import Image

    out, image = Path(task.out), Path(task.image)
    info = json.loads(task.codec_info_json)
    codec = make_codec(task.codec)
    rgb = None
    records = []
    matcher = None
    for target, setting, label in task_points(codec, task.targets):
        cache_path, file_path, recon_path = _paths(out, task.codec, image.stem, label, info["extension"])
        rec = _load_cached(cache_path, info)
        if rec is not None and recon_path.exists() and all(m in rec["metrics"] for m in task.metrics):
            records.append(rec)
            continue
        if rgb is None:
            rgb = load_rgb(image)
        h, w = rgb.shape[:2]
        if rec is None or not recon_path.exists():
            if setting is None:
                if matcher is None:
                    matcher = RateMatcher(lambda v: codec.encode(rgb, v), codec.parameter, h * w)
                match = matcher.match(target)
                value, reachable, search_encodes = match.value, match.reachable, match.encodes
            else:
                value, reachable, search_encodes = setting, True, 0
            # Timed once more at the chosen setting, apart from the search.
            data, enc_s = measure(codec.encode, rgb, value)
            recon, dec_s = measure(codec.decode, data)
            if recon.shape != rgb.shape:
                raise SalicodecError(f"{task.codec} decoded {image.name} to {recon.shape}, not {rgb.shape}")
            file_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(file_path, data, force=True)
            recon_path.parent.mkdir(parents=True, exist_ok=True)
            save_image(Image.fromarray(recon), recon_path, force=True)
            bpp = 8.0 * len(data) / (h * w)
            rec = {
                "image": image.name, "codec": task.codec, "target_bpp": float(target),
                "setting": value if isinstance(value, str) else float(value),
                "parameter": info["parameter"], "bytes": len(data), "bpp": bpp,
                "rate_error_pct": 100.0 * (bpp / float(target) - 1.0), "reachable": bool(reachable),
                "search_encodes": int(search_encodes), "encode_s": enc_s, "decode_s": dec_s,
                "width": w, "height": h,
                "codec_version": info["version"], "settings": info["settings"],
                "file": str(file_path.relative_to(out)), "recon": str(recon_path.relative_to(out)),
                "metrics": {},
            }
        else:
            recon = load_rgb(recon_path)
        missing = [m for m in task.metrics if m not in rec["metrics"]]
        if missing:
            saliency = saliency_for(image, out) if any(m in metric_table.NEEDS_SALIENCY for m in missing) else None
            rec["metrics"].update(metric_table.compute(rgb, recon, missing, saliency=saliency))
        _write_json(cache_path, rec)
        records.append(rec)
    return records


def _init_worker() -> None:
    # One torch thread per process: on a shared machine, MS-SSIM with 2 threads ran 3x slower
    # than with one; parallelism comes from --jobs instead.
    import torch

    torch.set_num_threads(1)


def run(config: EvalConfig, state: RunState, progress=True) -> list[dict]:
    """Run every (image, codec) task (in `config.jobs` worker processes); return all records."""
    from tqdm import tqdm

    if any(m in metric_table.NEEDS_SALIENCY for m in state.metrics):
        for image in tqdm(state.images, desc="saliency", disable=not progress, file=sys.stderr):
            saliency_for(image, config.out)
    tasks = [Task(str(image), name, tuple(config.targets), tuple(state.metrics), str(config.out),
                  json.dumps(info))
             for image in state.images for name, info in state.codecs.items()]  # image-major: a
    # partial run still compares every codec on the same images
    records: list[dict] = []
    if config.report_only:
        return cached_records(tasks)
    bar = tqdm(total=len(tasks), desc="eval (image x codec)", unit="task", disable=not progress, file=sys.stderr)
    if config.jobs <= 1:
        _init_worker()
        for t in tasks:
            records += run_task(t)
            bar.update(1)
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork after torch started threads
        with ctx.Pool(config.jobs, initializer=_init_worker) as pool:
            for recs in pool.imap_unordered(run_task, tasks):
                records += recs
                bar.update(1)
    bar.close()
    records.sort(key=lambda r: (r["codec"], r["image"], r["target_bpp"]))
    return records


def cached_records(tasks: list[Task]) -> list[dict]:
    """The records already measured for these tasks (standard codecs: one per target; ours: one
    per shipped model)."""
    records = []
    for t in tasks:
        info = json.loads(t.codec_info_json)
        for _, _, label in task_points(make_codec(t.codec), t.targets):
            cache_path, _, recon_path = _paths(Path(t.out), t.codec, Path(t.image).stem, label, info["extension"])
            rec = _load_cached(cache_path, info)
            if rec is not None and recon_path.exists():
                records.append(rec)
    records.sort(key=lambda r: (r["codec"], r["image"], r["target_bpp"]))
    return records


def metric_value(rec: dict, name: str) -> float:
    v = rec["metrics"].get(name)
    return math.nan if v is None else float(v)


def probe_memory(records: list[dict], state: RunState, config: EvalConfig, progress=True) -> dict:
    """Peak memory of encode and decode per (codec, target), each in a fresh process, on the first
    image (salicodec.baselines.memprobe explains why not in the workers). Cached in memory/."""
    from tqdm import tqdm

    from ..baselines.memprobe import probe

    first = state.images[0].name
    chosen = [r for r in records if r["image"] == first]
    result = {}
    for r in tqdm(chosen, desc="peak memory", disable=not progress, file=sys.stderr):
        info = state.codecs[r["codec"]]
        path = config.out / "memory" / f"{r['codec'].replace(':', '_')}@{r['target_bpp']:.3f}.json"
        cached = _load_cached(path, info)
        if cached is None or cached.get("setting") != r["setting"]:
            image = config.dataset / first
            cached = {"codec_version": info["version"], "settings": info["settings"], "setting": r["setting"],
                      "image": first,
                      "encode_peak_mib": probe(r["codec"], r["setting"], image, "encode"),
                      "decode_peak_mib": probe(r["codec"], r["setting"], image, "decode", config.out / r["file"])}
            _write_json(path, cached)
        result[(r["codec"], r["target_bpp"])] = cached
    return result
