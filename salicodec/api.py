"""Python API: `compress(image) -> bytes` and `decompress(data) -> PIL.Image.Image`."""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import container
from .errors import FormatError, SalicodecError
from .imageio import LoadedImage, to_rgb_array
from .models import zoo
from .models.codec import (MAX_MASK_WEIGHT, STAGE1_FACTOR, TOTAL_FACTOR, SaliCodec,  # noqa: F401
                           check_mask_weight, with_mask_weights)
from .models.masks import ceil_div


MAX_REFINE_STEPS = 10_000


def resolve_model(model, bpp) -> tuple[SaliCodec, str]:
    """The model `compress` codes with, and the name its files carry: a SaliCodec as given, a
    shipped model's name, the model nearest `bpp`, or the default."""
    if isinstance(model, SaliCodec):
        return model, getattr(model, "zoo_name", "custom")
    if model is not None and bpp is not None:
        raise SalicodecError("give either a model or a target bpp, not both")
    if model is None:
        info = zoo.nearest_model(bpp) if bpp is not None else zoo.default_model()
        model = info.name
    return zoo.load_model(model), model


def _as_loaded(image) -> LoadedImage:
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, Image.Image):
        return to_rgb_array(image)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise SalicodecError("image array must be uint8")
    if a.ndim == 2:
        return LoadedImage(np.repeat(a[:, :, None], 3, axis=2), True)
    if a.ndim == 3 and a.shape[2] == 3:
        return LoadedImage(np.ascontiguousarray(a), False)
    raise SalicodecError("image array must be (H, W) or (H, W, 3)")


def pad_to_multiple(rgb: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H', W') in [0, 1], edge-padded to multiples of 32."""
    h, w = rgb.shape[:2]
    x = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    ph, pw = ceil_div(h, TOTAL_FACTOR) * TOTAL_FACTOR - h, ceil_div(w, TOTAL_FACTOR) * TOTAL_FACTOR - w
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


def latent_grid(h: int, w: int) -> tuple[int, int]:
    """(H/8, W/8) of the y~ grid of an h x w image: its padded size (multiples of 32) over 8."""
    return (ceil_div(h, TOTAL_FACTOR) * TOTAL_FACTOR // STAGE1_FACTOR,
            ceil_div(w, TOTAL_FACTOR) * TOTAL_FACTOR // STAGE1_FACTOR)


def encoder_input(rgb: np.ndarray, saliency) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What the encoder's analysis takes: the padded image x (1, 3, H', W') and the binary grid
    saliency mask (1, 1, H'/8, W'/8) or None (`saliency` as `compress` takes it)."""
    return pad_to_multiple(rgb), saliency_tensor(saliency, rgb, latent_grid(*rgb.shape[:2]))


def pack_file(net: SaliCodec, name: str, code, loaded: LoadedImage) -> bytes:
    """The .sali container of an image's coded latents (docs/FORMAT.md)."""
    h, w = loaded.rgb.shape[:2]
    return container.pack(container.SaliFile(w, h, name, net.weights_hash(), code.sections,
                                             greyscale=loaded.greyscale))


def saliency_map_for(rgb: np.ndarray, saliency):
    """'auto' -> the salient-object model's map; 'none'/None -> None; an array is returned as is."""
    if isinstance(saliency, str):
        if saliency == "auto":
            from .saliency import saliency_map

            return saliency_map(rgb)
        if saliency == "none":
            return None
        raise SalicodecError(f"saliency must be 'auto', 'none' or a mask array, not {saliency!r}")
    return saliency


def saliency_tensor(saliency, rgb: np.ndarray, grid: tuple[int, int]) -> torch.Tensor | None:
    """saliency: None / 'none' / 'auto' / float map (H, W) in [0, 1] -> (1, 1, gh, gw) in {0, 1}."""
    saliency = saliency_map_for(rgb, saliency)
    if saliency is None:
        return None
    prob = np.asarray(saliency, dtype=np.float32)
    if prob.shape != rgb.shape[:2]:
        raise SalicodecError(
            f"saliency mask is {prob.shape[1]}x{prob.shape[0]}, image is {rgb.shape[1]}x{rgb.shape[0]}")
    from .saliency import grid_mask

    cells = grid_mask(prob, STAGE1_FACTOR)  # (ceil(H/8), ceil(W/8)); the padding is not salient
    g = torch.zeros(1, 1, grid[0], grid[1])
    g[0, 0, : cells.shape[0], : cells.shape[1]] = torch.from_numpy(cells.astype("float32"))
    return g


def to_uint8(x_hat: torch.Tensor, h: int, w: int) -> np.ndarray:
    """(1, 3, H', W') float -> uint8 (h, w, 3), cropping the padding."""
    x = (x_hat[0, :, :h, :w].clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return x.permute(1, 2, 0).contiguous().numpy()


@functools.lru_cache(maxsize=1)
def _perceptual_loss():
    """The DPL of the training loss (LPIPS-VGG weights, float32), loaded once per process."""
    from .metrics.lpips import DeepPerceptualLoss

    return DeepPerceptualLoss()


def compress(image, model=None, *, bpp: float | None = None, saliency="auto", refine: int = 0,
             refine_dpl: bool = False, on_refine_step=None, return_stats: bool = False,
             saliency_weight: float | None = None, importance_weight: float | None = None):
    """Compress an image (PIL image, or uint8 array (H, W) / (H, W, 3)) into .sali bytes.

    model: a shipped model name, a SaliCodec instance, or None (the default model, or the one
    nearest `bpp`). saliency: 'auto' (the salient-object model), 'none', or a float mask (H, W).
    refine: steps of encoder-side latent refinement (models/refine.py; 0 = none): a slower
    encoder, the same decoder, less distortion for no more bits; on_refine_step(n), if given, is
    called after each of its steps (e.g. to update a progress bar). refine_dpl: the search's
    distortion is the paper's MSE + DPL (Eq. 13) instead of MSE alone: lower LPIPS, a step ~14x
    slower on a CPU (VGG-16); needs the weights of `salicodec weights fetch`.
    saliency_weight / importance_weight: lambda1 / lambda2 of the channel mask (default: the
    model's; with_mask_weights): how many channels salient positions and the importance map keep,
    an encoder-side rate knob that every decoder of the model reads. The family's lower members
    have lambda1 = 0 (`salicodec models`): a mask of yours then changes nothing unless you pass
    saliency_weight (1: its positions keep every channel, as the CLI does for --roi / --roi-box).
    """
    if isinstance(refine, bool) or not isinstance(refine, int) or not 0 <= refine <= MAX_REFINE_STEPS:
        raise SalicodecError(f"refine must be an integer from 0 to {MAX_REFINE_STEPS}, not {refine!r}")
    if refine_dpl and not refine:
        raise SalicodecError("refine_dpl changes the latent search's objective: it needs refine > 0")
    loaded = _as_loaded(image)
    rgb = loaded.rgb
    h, w = rgb.shape[:2]
    container.check_dimensions(w, h)
    net, name = resolve_model(model, bpp)
    net = with_mask_weights(net, saliency_weight, importance_weight)
    if isinstance(saliency, str) and saliency == "auto" and net.cfg.saliency_weight == 0 and not refine:
        # lambda1 = 0 (the family's lower operating points): m1 = lambda2 i whatever the mask says,
        # so the file is the same without it; skip the salient-object model. (A latent search
        # still weights its distortion by the mask, Eq. 13, so refine keeps it.)
        saliency = None
    x, s = encoder_input(rgb, saliency)
    code = net.encode_latents(x, s, refine_steps=refine, valid=(h, w), on_refine_step=on_refine_step,
                              refine_perceptual=_perceptual_loss() if refine_dpl else None)
    data = pack_file(net, name, code, loaded)
    if return_stats:
        return data, code
    return data


def decompress(data: bytes, model: SaliCodec | None = None) -> Image.Image:
    """Decode .sali bytes into a PIL image (mode 'RGB', or 'L' if the source was greyscale)."""
    f = container.unpack(data)
    if model is None:
        model = zoo.load_model(f.model)
    if model.weights_hash() != f.weights_hash:
        raise FormatError(f"file was written by different weights of model {f.model!r}")
    gh, gw = latent_grid(f.height, f.width)
    try:
        with torch.no_grad():
            y_idx = model.decode_latents(f.sections, (gh, gw))
            x_hat = model.reconstruct_from_indices(y_idx.unsqueeze(0))
    except (ValueError, RuntimeError, OverflowError) as e:
        raise FormatError(f"corrupt data ({e})") from None
    rgb = to_uint8(x_hat, f.height, f.width)
    img = Image.fromarray(rgb, "RGB")
    return img.convert("L") if f.greyscale else img


def reconstruct(image, model=None, *, bpp: float | None = None, saliency="auto") -> np.ndarray:
    """The model's own forward reconstruction with hard quantisation (no entropy coding)."""
    loaded = _as_loaded(image)
    rgb = loaded.rgb
    h, w = rgb.shape[:2]
    net, _ = resolve_model(model, bpp)
    x, s = encoder_input(rgb, saliency)
    with torch.no_grad():
        a = net._analysis(x, s)
        return to_uint8(net.reconstruct_from_indices(a["y_idx"]), h, w)
