"""The hierarchical auto-regressive codec of Patel et al. (WACV 2021, Sec. 3, Fig. 4a).

    x --E1--> [y | i] --mask m1(i, s)--> y_m --Q1--> y~ --E2--> [z | i2] --mask m2(i2)--> z_m --Q2--> z~
    P(z~) by a 3D PixelCNN (Eq. 10); P(y~ | D2(z~)) by a second one conditioned on D2(z~) (Eq. 7)
    x^ = D1(y~);  D2(z~) is also trained to predict y~ (the stage-two reconstruction loss, Sec. 3.3)

`forward` is the training path (whole volumes, masked convolutions). `encode_latents` and
`decode_latents` are the coding path: they visit symbols wavefront by wavefront through
`IncrementalContext`, the same code for encoder and decoder, and run every computation that
feeds a probability (D2 and both context models) single-threaded on the CPU in float32, so the
decoder reproduces the encoder's tables exactly whatever torch's thread count is.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import entropy
from ..errors import SalicodecError
from .context import ContextModel, IncrementalContext
from .layers import NonLocalBlock, ResidualBlock, Upsample2x
from .masks import channel_mask, kept_channels, mask_from_counts
from .quantizer import CentreQuantizer

STAGE1_FACTOR = 8
TOTAL_FACTOR = 32  # E1 (/8) then E2 (/4)


@dataclass
class CodecConfig:
    channels: int = 32  # C1 = C2 (paper Sec. 3.1); the main rate knob together with the target t
    num_centres: int = 6  # L, per stage
    width: int = 96  # feature width of E1/D1
    e1_blocks: int = 3  # residual blocks (paper: 15)
    e1_nonlocal: int = 1  # non-local blocks at /8 (paper: 3)
    width2: int = 64  # feature width of E2/D2
    e2_blocks: int = 2  # residual blocks (paper: 5)
    e2_nonlocal: int = 1  # non-local blocks (paper: 1)
    context_width: int = 24  # feature width of the 3D PixelCNNs
    saliency_weight: float = 1.0  # lambda1 in m1 = lambda1 s + lambda2 i (paper: 1)
    importance_weight: float = 1.0  # lambda2 (paper: 1)
    hierarchical: bool = True  # False: single level, P(y~) alone (Mentzer et al. 2018), for ablation
    quantizer_sigma: float = 1.0  # sigma of the soft assignment, Eq. 6

    @classmethod
    def from_dict(cls, d: dict) -> "CodecConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown codec config keys: {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class AnalysisE1(nn.Module):
    """x -> (C+1) maps at /8: convolutions to /4, residual blocks, to /8, non-local attention."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv2d(3, w // 2, 5, 2, 2), nn.ReLU(), nn.Conv2d(w // 2, w, 5, 2, 2), nn.ReLU()]
        layers += [ResidualBlock(w) for _ in range(cfg.e1_blocks)]
        layers += [nn.Conv2d(w, w, 5, 2, 2)]
        layers += [NonLocalBlock(w) for _ in range(cfg.e1_nonlocal)]
        layers += [nn.Conv2d(w, cfg.channels + 1, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


class SynthesisD1(nn.Module):
    """Mirror of E1: y~ (C maps at /8) -> image."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, w, 3, 1, 1)]
        layers += [NonLocalBlock(w) for _ in range(cfg.e1_nonlocal)]
        layers += [Upsample2x(w, w), nn.ReLU()]
        layers += [ResidualBlock(w) for _ in range(cfg.e1_blocks)]
        layers += [Upsample2x(w, w // 2), nn.ReLU(), Upsample2x(w // 2, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y) + 0.5


class AnalysisE2(nn.Module):
    """y~ -> (C2+1) maps at /32: residual blocks, two stride-2 convolutions, non-local attention."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        w = cfg.width2
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, w, 3, 1, 1), nn.ReLU()]
        layers += [ResidualBlock(w) for _ in range(cfg.e2_blocks)]
        layers += [nn.Conv2d(w, w, 5, 2, 2), nn.ReLU()]
        layers += [NonLocalBlock(w) for _ in range(cfg.e2_nonlocal)]
        layers += [nn.Conv2d(w, cfg.channels + 1, 5, 2, 2)]
        self.net = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


class SynthesisD2(nn.Module):
    """Mirror of E2: z~ -> a prediction of y~ (C maps at /8), used to condition P(y~)."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        w = cfg.width2
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, w, 3, 1, 1)]
        layers += [NonLocalBlock(w) for _ in range(cfg.e2_nonlocal)]
        layers += [Upsample2x(w, w), nn.ReLU()]
        layers += [ResidualBlock(w) for _ in range(cfg.e2_blocks)]
        layers += [Upsample2x(w, w), nn.ReLU(), nn.Conv2d(w, cfg.channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@contextlib.contextmanager
def single_thread():
    """Run the probability path on one thread: results then do not depend on the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bit_map(logits: torch.Tensor, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Masked cross-entropy in bits per spatial position, summed over channels: (N, H, W)."""
    ce = F.cross_entropy(logits, idx, reduction="none")  # nats, (N, C, H, W)
    return (ce * weight).sum(1) / np.log(2.0)


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by `scale`, a 0-d tensor read at
    backward time (the loss sets it after the forward pass, from the batch rate)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        ctx.scale = scale  # not save_for_backward: the loss fills it in place after this
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale.to(grad.dtype), None


def _bits(logits: torch.Tensor, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Masked cross-entropy in bits per image (Eq. 9 / 11 weighted as in Eq. 12): (N,)."""
    return _bit_map(logits, idx, weight).flatten(1).sum(1)


@dataclass
class LatentCode:
    """Everything the encoder produced for one image, before the container wraps it."""

    sections: list[bytes]
    y_shape: tuple[int, int, int]
    z_shape: tuple[int, int, int] | None
    predicted_bits: dict  # section name -> ideal bits under the float probabilities
    table_bits: dict  # section name -> ideal bits under the quantised tables
    refine: object = None  # refine.RefineStats when the encoder refined the latents


class SaliCodec(nn.Module):
    def __init__(self, cfg: CodecConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CodecConfig()
        self.e1 = AnalysisE1(cfg)
        self.d1 = SynthesisD1(cfg)
        self.q1 = CentreQuantizer(cfg.num_centres, sigma=cfg.quantizer_sigma)
        self.ctx_y = ContextModel(cfg.num_centres, cfg.context_width, conditional=cfg.hierarchical)
        if cfg.hierarchical:
            self.e2 = AnalysisE2(cfg)
            self.d2 = SynthesisD2(cfg)
            self.q2 = CentreQuantizer(cfg.num_centres, sigma=cfg.quantizer_sigma)
            self.ctx_z = ContextModel(cfg.num_centres, cfg.context_width, conditional=False)

    # ------------------------------------------------------------------ training path
    def forward(self, x: torch.Tensor, saliency: torch.Tensor | None = None, use_masks: bool = True,
                bit_maps: bool = False, reconstruct: bool = True, rate_slope: torch.Tensor | None = None) -> dict:
        """x (N, 3, H, W) in [0, 1] with H, W multiples of 32; saliency (N, 1, H/8, W/8) in {0, 1}.

        Returns x_hat, bits per image for each stage (Eq. 12), the stage-two reconstruction
        error mse(y~, D2(z~)), and the hard masks (for statistics). bit_maps=True adds where the
        bits go: "bit_map_y" (N, H/8, W/8) and "bit_map_z" (N, H/32, W/32). reconstruct=False
        skips D1 (no "x_hat"): training the entropy model alone needs only the bits.

        rate_slope (a 0-d tensor, set by the loss before backward) scales the rate's gradient on
        the way back into y~ and its channel mask, i.e. into E1 and the y centres, and nowhere
        else: the clip of the rate term (Sec. 3.5) steers what makes the symbols, while the
        entropy model (E2, D2, both context models) learns the plain cross-entropy
        (losses.LossConfig.entropy_model_unclipped).
        """
        cfg = self.cfg
        e = self.e1(x)
        y, importance = e[:, : cfg.channels], torch.sigmoid(e[:, cfg.channels :])
        mode = "soft" if self.training else "hard"
        m1 = channel_mask(importance, saliency, cfg.channels, cfg.saliency_weight,
                          cfg.importance_weight, mode=mode)
        if not use_masks:
            m1 = torch.ones_like(m1)
        y_t, y_idx = self.q1(y * m1)
        out = {"importance": importance, "mask_y": m1}
        y_r, m1_r = y_t, m1  # y~ and its mask as the rate sees them
        if rate_slope is not None:
            y_r, m1_r = _ScaleGradient.apply(y_t, rate_slope), _ScaleGradient.apply(m1, rate_slope)
            out["rate_slope"] = rate_slope
        if cfg.hierarchical:
            # The second stage learns from y~ but does not shape it: mse(y~, D2(z~)) and the rate
            # of z~ train E2/D2 (Sec. 3.3). Without the detach the easiest way to lower
            # mse(y~, D2(z~)) is a constant y~, and training collapsed to exactly that.
            ez = self.e2(y_t.detach())
            z, imp2 = ez[:, : cfg.channels], torch.sigmoid(ez[:, cfg.channels :])
            m2 = channel_mask(imp2, None, cfg.channels, 0.0, 1.0, mode=mode)
            if not use_masks:
                m2 = torch.ones_like(m2)
            z_t, z_idx = self.q2(z * m2)
            d = self.d2(z_t)
            logits_y = self.ctx_y(y_r, d)
            logits_z = self.ctx_z(z_t)
            out["bits_z"] = _bits(logits_z, z_idx, m2)
            if bit_maps:
                out["bit_map_z"] = _bit_map(logits_z, z_idx, m2)
            out["mse_y_d2"] = F.mse_loss(d, y_t.detach())
            out["mask_z"] = m2
        else:
            logits_y = self.ctx_y(y_r)
            out["bits_z"] = torch.zeros(x.shape[0], device=x.device)
            out["mse_y_d2"] = torch.zeros((), device=x.device)
        out["bits_y"] = _bits(logits_y, y_idx, m1_r)
        if bit_maps:
            out["bit_map_y"] = _bit_map(logits_y, y_idx, m1)
        if reconstruct:
            out["x_hat"] = self.d1(y_t)
        return out

    # ------------------------------------------------------------------ identity
    def weights_hash(self) -> bytes:
        """8 bytes identifying the weights, stored in every file this model writes."""
        h = hashlib.sha256()
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().float().numpy().tobytes())
        return h.digest()[:8]

    # ------------------------------------------------------------------ coding path
    def _analysis(self, x: torch.Tensor, saliency: torch.Tensor | None, refine_steps: int = 0,
                  valid: tuple[int, int] | None = None, on_refine_step=None, refine_perceptual=None):
        """Encoder side, hard quantisation: symbol indices, channel counts and latent values.

        refine_steps > 0 searches, for this image, latents that E1 did not find (models/refine.py):
        the same channel counts, no more bits, less distortion. valid = (h, w), the image inside
        its padding (default: all of x); on_refine_step(n) follows the search's progress;
        refine_perceptual, a DeepPerceptualLoss, adds Eq. 13's DPL to the search's distortion."""
        cfg = self.cfg
        e = self.e1(x)
        y, importance = e[:, : cfg.channels], torch.sigmoid(e[:, cfg.channels :])
        k1 = kept_channels(importance, saliency, cfg.channels, cfg.saliency_weight, cfg.importance_weight)[:, 0]
        res = {"k1": k1}
        if refine_steps:
            from .refine import refine_latents

            y, res["refine"] = refine_latents(self, x, y, k1, saliency, valid or tuple(x.shape[2:]), refine_steps,
                                              on_step=on_refine_step, perceptual=refine_perceptual)
        y_idx = self.q1.indices(y * mask_from_counts(k1, cfg.channels))
        res["y_idx"] = y_idx
        if cfg.hierarchical:
            res["k2"], res["z_idx"] = self.analysis_z(self.q1.sorted_centres()[y_idx])
        return res

    def analysis_z(self, y_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Second stage of the encoder, hard: y~ -> (k2 channel counts, z~ symbol indices)."""
        cfg = self.cfg
        ez = self.e2(y_t)
        z, imp2 = ez[:, : cfg.channels], torch.sigmoid(ez[:, cfg.channels :])
        k2 = kept_channels(imp2, None, cfg.channels, 0.0, 1.0)[:, 0]
        return k2, self.q2.indices(z * mask_from_counts(k2, cfg.channels))

    def reconstruct_from_indices(self, y_idx: torch.Tensor) -> torch.Tensor:
        """D1 applied to the hard latents: the reconstruction both forward() and the decoder give."""
        return self.d1(self.q1.sorted_centres()[y_idx])

    @torch.no_grad()
    def encode_latents(self, x: torch.Tensor, saliency: torch.Tensor | None = None, refine_steps: int = 0,
                       valid: tuple[int, int] | None = None, on_refine_step=None,
                       refine_perceptual=None) -> LatentCode:
        """x (1, 3, H, W) in [0, 1], H and W multiples of 32 -> entropy-coded sections.

        Sections: [k2 counts, z symbols, k1 counts, y symbols] (z first, as the decoder needs
        D2(z~) before y~), or [k1 counts, y symbols] for a single-level model.
        """
        if x.shape[0] != 1:
            raise ValueError("encode_latents codes one image at a time")
        a = self._analysis(x, saliency, refine_steps, valid, on_refine_step, refine_perceptual)
        z = (a["k2"], a["z_idx"]) if self.cfg.hierarchical else None
        return self.encode_indices(a["y_idx"], a["k1"], refine=a.get("refine"), _z=z)

    @torch.no_grad()
    def encode_indices(self, y_idx: torch.Tensor, k1: torch.Tensor, refine=None, _z=None) -> LatentCode:
        """Code the hard symbols of an analysis: y_idx (1, C, H/8, W/8) indices into the sorted
        centres, k1 (1, H/8, W/8) channel counts -> entropy-coded sections (see encode_latents).

        The encoder splits here: everything before (saliency, E1, k1, the latent search) only
        chooses symbols, everything after (E2 -> z~, both context models, the range coder) must
        run as the decoder will. So an analysis made on another machine (a GPU without the
        range coder, docs/TRAINING.md) codes here into a file that decodes exactly. The z stage
        is derived from y~ here, as `_analysis` does (`_z`, its result, saves recomputing it).
        Inconsistent input (shapes, ranges, a symbol under the channel mask that is not the
        centre nearest 0, which the decoder would not reproduce) raises ValueError.
        """
        cfg = self.cfg
        if y_idx.dim() != 4 or y_idx.shape[:2] != (1, cfg.channels):
            raise ValueError(f"y indices must have shape (1, {cfg.channels}, H/8, W/8), not {tuple(y_idx.shape)}")
        if k1.shape != (1, *y_idx.shape[2:]):
            raise ValueError(f"channel counts must have shape (1, {y_idx.shape[2]}, {y_idx.shape[3]}), not {tuple(k1.shape)}")
        if y_idx.dtype.is_floating_point or k1.dtype.is_floating_point:
            raise ValueError("symbol indices and channel counts must be integers")
        y_idx, k1 = y_idx.long(), k1.long()
        if int(k1.min()) < 0 or int(k1.max()) > cfg.channels:
            raise ValueError(f"channel counts must be from 0 to {cfg.channels}")
        if int(y_idx.min()) < 0 or int(y_idx.max()) >= self.q1.num_centres:
            raise ValueError(f"symbol indices must be from 0 to {self.q1.num_centres - 1}")
        coded = mask_from_counts(k1, cfg.channels).bool()
        if bool((y_idx[~coded] != self.q1.zero_index()).any()):
            raise ValueError("a symbol outside the channel mask is not the centre nearest 0")
        sections, pred, table = [], {}, {}
        cond = None
        z_shape = None
        if cfg.hierarchical:
            k2_all, z_idx_all = _z if _z is not None else self.analysis_z(self.q1.sorted_centres()[y_idx])
            k2 = k2_all[0].cpu().numpy()
            data, bits = entropy.encode_count_map(k2, cfg.channels)
            sections.append(data)
            pred["k2"] = table["k2"] = bits
            z_idx = z_idx_all[0]
            z_shape = tuple(z_idx.shape)
            data, pred["z"], table["z"], z_vals = self._code_volume(
                self.ctx_z, self.q2, z_idx, k2_all[0], None, encoder=True)
            sections.append(data)
            with single_thread():
                cond = self.d2(z_vals.unsqueeze(0).float())[0]
        data, bits = entropy.encode_count_map(k1[0].cpu().numpy(), cfg.channels)
        sections.append(data)
        pred["k1"] = table["k1"] = bits
        data, pred["y"], table["y"], _ = self._code_volume(
            self.ctx_y, self.q1, y_idx[0], k1[0], cond, encoder=True)
        sections.append(data)
        return LatentCode(sections, tuple(y_idx.shape[1:]), z_shape, pred, table, refine)

    @torch.no_grad()
    def decode_latents(self, sections: list[bytes], y_grid: tuple[int, int]) -> torch.Tensor:
        """Sections -> y~ symbol indices (C, H/8, W/8). Raises ValueError on inconsistent data."""
        cfg = self.cfg
        gh, gw = y_grid
        expected = 4 if cfg.hierarchical else 2
        if len(sections) != expected:
            raise ValueError(f"expected {expected} sections, found {len(sections)}")
        cond = None
        s = 0
        if cfg.hierarchical:
            zh, zw = gh // 4, gw // 4
            k2 = torch.from_numpy(entropy.decode_count_map(sections[0], (zh, zw), cfg.channels))
            _, _, _, z_vals = self._code_volume(self.ctx_z, self.q2, None, k2, None, encoder=False,
                                                data=sections[1], shape=(cfg.channels, zh, zw))
            with single_thread():
                cond = self.d2(z_vals.unsqueeze(0).float())[0]
            s = 2
        k1 = torch.from_numpy(entropy.decode_count_map(sections[s], (gh, gw), cfg.channels))
        y_idx, _, _, _ = self._code_volume(self.ctx_y, self.q1, None, k1, cond, encoder=False,
                                           data=sections[s + 1], shape=(cfg.channels, gh, gw))
        return y_idx

    def _code_volume(self, ctx_model: ContextModel, quantizer: CentreQuantizer,
                     idx: torch.Tensor | None, k: torch.Tensor, cond: torch.Tensor | None,
                     *, encoder: bool, data: bytes | None = None, shape=None):
        """Encode (idx given) or decode (data given) one latent volume, wavefront by wavefront.

        Positions outside the channel mask are not coded: both sides fill them with the centre
        nearest 0, which is what a masked latent quantises to. Returns, for the encoder,
        (bytes, float-probability bits, table bits, latent values); for the decoder
        (symbol indices, None, None, latent values).
        """
        c, h, w = shape if shape is not None else tuple(idx.shape)
        centres = quantizer.sorted_centres().float().cpu()
        zero = quantizer.zero_index()
        coded = mask_from_counts(k.view(1, h, w).cpu(), c)[0].reshape(-1).numpy()
        if encoder:
            symbols_all = idx.cpu().reshape(-1).numpy().astype(np.int64)
            coder = entropy.SymbolEncoder()
        else:
            symbols_all = np.full(c * h * w, zero, dtype=np.int64)
            coder = entropy.SymbolDecoder(data)
        pred_bits = table_bits = 0.0
        with single_thread():
            inc = IncrementalContext(ctx_model, centres, (c, h, w), cond)
            for t in range(inc.num_waves):
                plain, padded = inc.wave(t)
                sel = coded[plain]
                if sel.any():
                    probs = inc.predict(padded).numpy()[sel]
                    freq = entropy.quantize_pmf(probs)
                    if encoder:
                        sym = symbols_all[plain[sel]]
                        coder.encode(sym, freq)
                        p = probs[np.arange(len(sym)), sym].astype(np.float64)
                        pred_bits += float(-np.log2(np.maximum(p, 1e-30)).sum())
                        table_bits += entropy.code_length_bits(freq, sym)
                    else:
                        sym = coder.decode(freq)
                        if sym.min(initial=0) < 0 or sym.max(initial=0) >= quantizer.num_centres:
                            raise ValueError("decoded symbol out of range")
                        symbols_all[plain[sel]] = sym
                else:
                    # Nothing coded here, but the hidden layers still need these positions.
                    inc.predict(padded)
                inc.commit(padded, torch.from_numpy(symbols_all[plain]))
        vals = centres[torch.from_numpy(symbols_all)].view(c, h, w)
        if encoder:
            return coder.finish(), pred_bits, table_bits, vals
        return torch.from_numpy(symbols_all).view(c, h, w), None, None, vals


MAX_MASK_WEIGHT = 100.0  # lambda1 / lambda2 beyond this keep every channel everywhere anyway


def check_mask_weight(name: str, v) -> float:
    """A channel-mask weight (lambda1 or lambda2) as a float, or SalicodecError naming `name`."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= MAX_MASK_WEIGHT:  # refuses nan
        raise SalicodecError(f"{name} must be a number from 0 to {MAX_MASK_WEIGHT:g}, not {v!r}")
    return float(v)


def with_mask_weights(net: SaliCodec, saliency_weight: float | None = None,
                      importance_weight: float | None = None) -> SaliCodec:
    """The model with other channel-mask weights m1 = lambda1 s + lambda2 i (Sec. 3.4) for its
    encoder: the same parameters (shared, not copied), so the same weights hash and model name in
    the files, which any decoder of the model reads (the channel counts travel in the file)."""
    changes = {key: check_mask_weight(key, v)
               for key, v in (("saliency_weight", saliency_weight), ("importance_weight", importance_weight))
               if v is not None}
    if not changes:
        return net
    other = copy.copy(net)  # a shallow copy: parameters and submodules are the model's own
    other.cfg = dataclasses.replace(net.cfg, **changes)
    return other
