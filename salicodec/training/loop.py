"""The training loop: resumable, time-budgeted, on CPU, one GPU (mixed precision) or several (DDP).

A run is described by a JSON file holding a `TrainConfig` (see configs/). Checkpoints are written
atomically (temporary file + rename) every `checkpoint_minutes` and when the time budget ends, so
an interrupted run never leaves a corrupt checkpoint; `--resume` continues exactly: the model,
the optimiser and the scheduler are restored, and batches are a function of (seed, step).
"""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import SalicodecError
from ..imageio import shared_dir
from ..models.codec import STAGE1_FACTOR, CodecConfig, SaliCodec
from ..models.grow import GROWABLE, grow_state_dict, growth_summary
from .data import CropSampler, check_no_evaluation_images, list_images
from .losses import LossConfig, codec_loss, entropy_model_loss


@dataclass
class TrainConfig:
    name: str = "model"
    codec: CodecConfig = field(default_factory=CodecConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: list[str] = field(default_factory=lambda: ["{shared}/data/train/photos", "{shared}/data/train/urban100"])
    crop: int = 256
    batch_size: int = 8
    use_saliency: bool = True
    saliency_cache: str = "{cache}/saliency-masks"
    steps: int = 100_000
    lr: float = 4e-3  # paper Sec. 3.5
    lr_decay_every: int = 40_000  # paper: x0.1 every two epochs of ImageNet; here in steps
    lr_decay: float = 0.1
    grad_clip: float = 1.0
    mask_warmup_steps: int = 500  # all channels kept until then (see SaliCodec.forward)
    seed: int = 1
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    # VGG-16 of the DPL in bfloat16 (about 3x faster per step on a CPU with bf16 units, see
    # metrics/lpips.py); float32 where the hardware lacks them (hardware.bf16_is_fast).
    dpl_bf16: bool = False
    init_from: str = ""  # a checkpoint whose model weights start this run (fine-tuning)
    # Train D1 alone, on the latents the coder writes (hard masks, hard quantisation), with E1,
    # E2/D2, the quantisers and the context models frozen: the files a model writes do not change,
    # only their reconstruction (docs/TRAINING.md). Only the distortion terms have a gradient.
    decoder_only: bool = False
    # Train the entropy model alone: the two context models P(z~) and P(y~ | D2(z~)) and D2, whose
    # output conditions P(y~), on the symbols the coder writes (eval mode), with everything that
    # makes the symbols frozen (E1, E2, the quantisers) and D1 untouched. The loss is the plain
    # cross-entropy rate_weight * R + gamma * mse(y~, D2(z~)): no clip at t and no distortion, as
    # Mentzer et al. 2018 train their probability model on the unclipped cross-entropy. Our
    # runs clip (or hold from both sides, rate_two_sided) R for all parameters, so whenever a
    # batch's rate fell under t the context models were pushed to predict worse (two-sided)
    # or not trained at all (clipped). The same symbols then cost fewer bits; the reconstruction
    # is bit for bit the same (docs/TRAINING.md).
    entropy_only: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SalicodecError(f"unknown training config keys: {sorted(unknown)}")
        if "codec" in d:
            d["codec"] = CodecConfig.from_dict(d["codec"])
        if "loss" in d:
            lk = {f.name for f in fields(LossConfig)}
            if set(d["loss"]) - lk:
                raise SalicodecError(f"unknown loss config keys: {sorted(set(d['loss']) - lk)}")
            d["loss"] = LossConfig(**d["loss"])
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as e:
            raise SalicodecError(f"{path}: not a valid training config ({e})") from None

    def to_dict(self) -> dict:
        return asdict(self)


def _expand(p: str) -> Path:
    from ..weights import cache_dir

    return Path(p.replace("{shared}", str(shared_dir())).replace("{cache}", str(cache_dir())))


def atomic_torch_save(obj, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, dest)


def saliency_grid_batch(s: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) probabilities -> the binary /8 mask of Sec. 3.4, exactly as
    `salicodec.saliency.grid_mask` makes it at coding time: block mean >= threshold, dilated."""
    from ..saliency.masks import DEFAULT_DILATE, DEFAULT_THRESHOLD

    cells = (F.avg_pool2d(s, STAGE1_FACTOR) >= DEFAULT_THRESHOLD).float()
    if DEFAULT_DILATE:
        k = 2 * DEFAULT_DILATE + 1
        cells = F.max_pool2d(cells, k, stride=1, padding=DEFAULT_DILATE)
    return cells


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def lr_at(cfg: TrainConfig, step: int) -> float:
    return cfg.lr * (cfg.lr_decay ** (step // cfg.lr_decay_every))


class Trainer:
    def __init__(self, cfg: TrainConfig, out_dir: Path, device: str | None = None, log=print):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.log = log
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.rank = torch.distributed.get_rank()
            local = int(os.environ.get("LOCAL_RANK", "0"))
            if torch.cuda.is_available():
                torch.cuda.set_device(local)
            self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        else:
            self.rank = 0
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.manual_seed(cfg.seed)
        if cfg.decoder_only and cfg.entropy_only:
            raise SalicodecError("decoder_only and entropy_only train disjoint parts: set one")
        self.model = SaliCodec(cfg.codec).to(self.device)
        self.step = 0
        if cfg.init_from:
            from ..models.zoo import read_weights  # a zoo delta file comes back complete

            ck = read_weights(_expand(cfg.init_from))
            source = {k: v.float() for k, v in ck["state_dict"].items()}
            try:  # a training checkpoint keeps the codec's config under "codec", a zoo file at the top
                src_cfg = CodecConfig.from_dict(ck["config"].get("codec", ck["config"]))
            except ValueError as e:
                raise SalicodecError(f"init_from {cfg.init_from}: {e}") from None
            if any(getattr(src_cfg, k) < getattr(cfg.codec, k) for k in GROWABLE):
                # A deeper or wider model started from a trained one: new residual blocks begin as
                # identities and new channels disconnected (models/grow.py), so step 0 codes
                # exactly as init_from does.
                bigger = CodecConfig.from_dict({**src_cfg.to_dict(), **{k: getattr(cfg.codec, k) for k in GROWABLE}})
                try:
                    source = grow_state_dict(source, src_cfg, bigger, seed=cfg.seed)
                except ValueError as e:
                    raise SalicodecError(f"init_from {cfg.init_from}: {e}") from None
                self.log("init_from: grown " + growth_summary(src_cfg, bigger))
            self.init_partial(source)
        self.fresh = not cfg.init_from
        if cfg.decoder_only or cfg.entropy_only:
            which = "decoder_only" if cfg.decoder_only else "entropy_only"
            if self.fresh:
                raise SalicodecError(f"{which} fine-tunes a trained model: set init_from")
            if cfg.entropy_only and not cfg.codec.hierarchical:
                raise SalicodecError("entropy_only needs the hierarchical model (it trains D2 and P(z~))")
            prefixes = ("d1.",) if cfg.decoder_only else ("ctx_y.", "ctx_z.", "d2.")
            for name, p in self.model.named_parameters():
                p.requires_grad_(name.startswith(prefixes))
        self.trained_params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.trained_params, lr=cfg.lr)
        self.dpl = None
        if cfg.loss.dpl_weight > 0 and not cfg.entropy_only:  # entropy_only has no distortion term
            from ..metrics.lpips import DeepPerceptualLoss

            dtype = torch.float32
            if cfg.dpl_bf16:
                from ..hardware import bf16_is_fast

                if bf16_is_fast(self.device):
                    dtype = torch.bfloat16
                else:  # bf16 is there for speed only, and emulated it is ~10x slower
                    self.log(f"dpl_bf16: {self.device.type} has no fast bfloat16; the DPL runs in float32")
            self.dpl = DeepPerceptualLoss(backbone_dtype=dtype).to(self.device)
        self.ddp_model = self.model
        if self.distributed:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def init_partial(self, source: dict) -> None:
        """Start from another model's weights: every tensor whose name and shape match is copied.

        A model of the same configuration loads completely. A different one (the single-level
        ablation started from a hierarchical model) takes what it shares, E1/D1 and the masked
        convolutions of P(y~); the rest keeps its fresh initialisation. What was left out is logged."""
        own = self.model.state_dict()
        matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
        self.model.load_state_dict(matched, strict=False)
        fresh = sorted(set(own) - set(matched))
        unused = sorted(set(source) - set(matched))
        if fresh or unused:
            def names(keys):
                return ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")

            self.log(f"init_from: {len(matched)} tensors loaded; {len(unused)} not used ({names(unused)}); "
                     f"{len(fresh)} keep their initial values ({names(fresh)})")

    # ---------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {"config": self.cfg.to_dict(), "state_dict": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "step": self.step}

    def save(self, name: str = "last.pt") -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        dest = self.out / name
        if self.rank == 0:
            atomic_torch_save(self.state(), dest)
        return dest

    def resume(self, path: str | Path) -> None:
        """Continue from a checkpoint. A light one (`training.parallel`'s export: weights and step,
        no optimiser state) continues the step count and schedule with a fresh Adam."""
        ck = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(ck["state_dict"])
        if "optimizer" in ck:
            self.opt.load_state_dict(ck["optimizer"])
        else:
            self.log(f"{path}: no optimiser state (a light checkpoint); Adam starts afresh")
        self.step = int(ck["step"])

    # ---------------------------------------------------------------- training
    def make_sampler(self) -> CropSampler:
        files = list_images([_expand(d) for d in self.cfg.data])
        check_no_evaluation_images(files)
        return CropSampler(files, self.cfg.crop, self.cfg.use_saliency, _expand(self.cfg.saliency_cache))

    def train_step(self, x: torch.Tensor, s: torch.Tensor | None) -> dict:
        cfg = self.cfg
        for g in self.opt.param_groups:
            g["lr"] = lr_at(cfg, self.step)
        x = x.to(self.device)
        s = s.to(self.device) if s is not None else None
        s_grid = saliency_grid_batch(s) if s is not None else None
        # decoder_only: float32 throughout, so D1 sees the coder's latents (which it computes in
        # float32), not bf16 ones that can fall on another centre.
        coding_path = cfg.decoder_only or cfg.entropy_only
        use_amp = cfg.amp and self.device.type == "cuda" and not coding_path
        # decoder_only: the coding-time path (eval mode: hard channel masks and hard quantisation,
        # exactly what decode() gives D1); D1 has no layer that behaves differently in eval mode.
        # entropy_only: the same, so the context models learn the symbols the coder writes.
        self.model.train(not coding_path)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            slope = torch.ones((), device=self.device) if cfg.loss.entropy_model_unclipped and not coding_path else None
            out = self.ddp_model(x, s_grid, use_masks=self.step >= cfg.mask_warmup_steps,
                                 reconstruct=not cfg.entropy_only, rate_slope=slope)
        # Rate and distortion in float32: cross-entropies and small MSEs lose too much in bf16.
        out = {k: (v.float() if torch.is_tensor(v) else v) for k, v in out.items()}
        if cfg.entropy_only:
            terms = entropy_model_loss(out, x, cfg.loss)
        else:
            terms = codec_loss(out, x, s, cfg.loss, self.dpl)
        self.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if cfg.grad_clip > 0:
            terms["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.trained_params, cfg.grad_clip).detach()
        self.opt.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def data_dependent_init(self, x: torch.Tensor, importance_logit: float = 1.5) -> None:
        """Scale the bottleneck layers of E1 and E2 so that y and z start with unit std.

        With PyTorch's default init y has a std of ~0.03, far inside the centres (linspace(-2, 2)):
        every latent quantises to the same centre, no information reaches D1, and training
        collapses (the importance map goes to 0, then y drifts unboundedly). Data-dependent
        initialisation as in Salimans & Kingma 2016. The importance channel starts at
        sigmoid(1.5) = 0.82, so most channels are on at the start.
        """
        m = self.model
        x = x.to(self.device)
        c = m.cfg.channels

        def rescale(conv: torch.nn.Conv2d, out: torch.Tensor) -> None:
            std = out[:, :c].std().clamp_min(1e-6)
            conv.weight[:c] /= std
            conv.bias[:c] /= std
            conv.weight[c:] *= 0.0
            conv.bias[c:] = importance_logit

        rescale(m.e1.net[-1], m.e1(x))
        if m.cfg.hierarchical:
            y_t, _ = m.q1(m.e1(x)[:, :c])
            rescale(m.e2.net[-1], m.e2(y_t))

    def run(self, sampler: CropSampler, time_budget_min: float | None = None, max_steps: int | None = None) -> dict:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        csv_path = self.out / "log.csv"
        writer = None
        if self.rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(str(self.out / "tb"))
            except ImportError:
                self.log("tensorboard not installed: logging to CSV only")
        start = time.time()
        last_ckpt = start
        deadline = start + 60 * time_budget_min if time_budget_min else math.inf
        world = torch.distributed.get_world_size() if self.distributed else 1
        per_rank = max(cfg.batch_size // world, 1)
        last = {}
        t_prev, step_prev = time.time(), self.step
        if self.step == 0 and self.fresh:
            # A batch no training step uses (steps count from 0; rank 10**6 is never a real rank).
            self.data_dependent_init(sampler.batch(per_rank, cfg.seed, 0, 10**6)[0])
        end_step = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        # SIGTERM / SIGINT finish the current step and write the checkpoint before stopping.
        stop = {"now": False}

        def request_stop(signum, frame):
            stop["now"] = True

        def log_row() -> None:
            nonlocal t_prev, step_prev
            now = time.time()
            last["images_per_s"] = (self.step - step_prev) * cfg.batch_size / max(now - t_prev, 1e-9)
            last["lr"] = lr_at(cfg, self.step - 1)
            t_prev, step_prev = now, self.step
            new = not csv_path.exists()
            with open(csv_path, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["step"] + sorted(last))
                if new:
                    w.writeheader()
                w.writerow({"step": self.step, **last})
            if writer is not None:
                for k, v in last.items():
                    writer.add_scalar(k, v, self.step)
            self.log(f"step {self.step} loss {last['loss']:.4f} bpp {last['bpp']:.3f} "
                     + (f"mse {last['mse']:.5f} " if "mse" in last else "") + f"{last['images_per_s']:.1f} img/s")

        previous = {}
        if threading_main():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, request_stop)
        while self.step < end_step and time.time() < deadline and not stop["now"]:
            x, s = sampler.batch(per_rank, cfg.seed, self.step, self.rank)
            last = self.train_step(x, s)
            if self.rank == 0 and (self.step % cfg.log_every == 0 or self.step == end_step):
                log_row()
            if time.time() - last_ckpt > 60 * cfg.checkpoint_minutes:
                self.save()
                last_ckpt = time.time()
        if self.rank == 0 and last and step_prev != self.step:
            log_row()  # stopped by the time budget or a signal between two log steps: log where it ended
        self.save()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if writer is not None:
            writer.close()
        return last
