"""Saliency-adaptive standard JPEG (after Prakash et al., "Semantic Perceptual Image Compression",
DCC 2018), done in the DCT domain.

Prakash et al. encode the image at ten JPEG qualities, blend the decoded pixels by saliency and
re-encode the blend once more at a single quality; the last encode re-quantises every block with
the same table, so most of the saliency allocation is undone and the file pays twice for the
blend's artefacts (see docs/JPEG.md). Here the allocation happens where JPEG spends its bits:

1. encode the image once with libjpeg (4:2:0) with the IJG tables of a *base quality* q_b (a real
   number: the IJG scaling formula is evaluated without rounding q, so the rate is continuous);
2. read the quantised DCT coefficients back (jpeglib);
3. give every 8x8 block a level k in 0..L-1 from the saliency map (0 = most salient, see
   block_levels) and an integer m_k >= 1 (m_0 = 1), then requantise its coefficients c (integers in
   units of the table's step q):
   - "amplitude" (default): c is set to 0 where its amplitude |c q| is below T_k = 4 (m_k - 1), and
     kept exactly otherwise. c q is the orthonormal DCT amplitude, so zeroing it adds (c q)^2 / 64
     to the block's MSE whatever the frequency: one amplitude threshold is the MSE-optimal
     zeroing rule when every coefficient's bits cost about the same (the idea of RDOQ);
   - "threshold": c is set to 0 where |c| < m_k / 2 (in table steps) and kept otherwise;
   - "multiple": c becomes m_k * round(c / m_k), i.e. the block is quantised with step m_k * q.
   On Kodak at equal size "amplitude" loses the least PSNR for a given PSNR-S gain and "multiple"
   the most (docs/BENCHMARKS.md): a coarser step multiplies every surviving coefficient by m_k,
   which costs log2(m_k) extra magnitude bits each in the Huffman code, while zeroing removes whole
   symbols and keeps the survivors exact.
   Either way every value c * q stays a multiple of the file's own table entry q, so the file is an
   ordinary baseline JPEG that every decoder reads;
4. write the coefficients back losslessly with optimised Huffman tables (jpeglib / libjpeg).

Rate control is a bisection on q_b with the saliency strength fixed.
"""
from __future__ import annotations

import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .. import jpegtables
from ..errors import SalicodecError

# ITU-T T.81 Annex K, Tables K.1 and K.2: the tables libjpeg scales by quality.
IJG_LUMA = jpegtables.LUMA
IJG_CHROMA = jpegtables.CHROMA

MIN_QUALITY = 1.0
MAX_QUALITY = 100.0
SIZE_TOLERANCE = 0.01  # --size-of-quality and --bpp: the file is within 1 % of the target
MAX_RATE_STEPS = 30


def ijg_tables(quality: float) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's jpeg_quality_scaling + jpeg_add_quant_table for a real-valued quality.

    At an integer quality this is exactly libjpeg's table (force_baseline: entries in 1..255).
    """
    q = float(np.clip(quality, MIN_QUALITY, MAX_QUALITY))
    if q < 50.0:
        # libjpeg divides in integers (5000 / quality); keep that at integer qualities
        scale = 5000.0 / q if q != int(q) else float(5000 // int(q))
    else:
        scale = 200.0 - 2.0 * q
    tables = []
    for base in (IJG_LUMA, IJG_CHROMA):
        t = np.floor((base * scale + 50.0) / 100.0)
        tables.append(np.clip(t, 1, 255).astype(np.int32))
    return tables[0], tables[1]


@dataclass(frozen=True)
class MsroiJpegConfig:
    """How saliency becomes quantisation. Defaults chosen on Kodak (docs/BENCHMARKS.md, the
    trade-off curve): they favour the salient region strongly while the overall PSNR drops little."""

    levels: int = 4  # quantisation levels: the salient blocks, then L-1 coarser steps
    strength: float = 6.0  # m of the least salient level; levels are geometric 1..strength
    ring: int = 1  # blocks per level of the transition around the salient region (0: none)
    rounding: float = 0.5  # requantisation offset: 0.5 rounds to nearest, less widens the dead zone
    dc_requantise: bool = True  # also requantise the DC coefficient (False: only the AC)
    method: str = "amplitude"  # "amplitude": zero |c q| < unit (m-1); "threshold": zero |c| < m/2; "multiple": step m q
    amplitude_unit: float = 4.0  # of the "amplitude" method, in orthonormal DCT amplitude (grey levels x 8 at DC)

    def __post_init__(self):
        if not 1 <= self.levels <= 16:
            raise SalicodecError(f"levels must be in 1..16, got {self.levels}")
        if not 1.0 <= self.strength <= 64.0:
            raise SalicodecError(f"saliency strength must be in 1..64, got {self.strength}")
        if self.method not in ("amplitude", "threshold", "multiple"):
            raise SalicodecError(f"method must be amplitude, threshold or multiple, got {self.method!r}")
        if not self.amplitude_unit > 0:
            raise SalicodecError("amplitude_unit must be positive")
        if self.ring < 0 or not 0.0 < self.rounding <= 0.5:
            raise SalicodecError("ring must be >= 0 and rounding in (0, 0.5]")

    def multipliers(self) -> np.ndarray:
        """m_k = round(strength ** (k / (L - 1))), k = 0..L-1: 1 for the salient blocks."""
        if self.levels == 1:
            return np.ones(1, dtype=np.int32)
        k = np.arange(self.levels) / (self.levels - 1)
        return np.maximum(1, np.round(self.strength ** k)).astype(np.int32)


@dataclass
class MsroiJpegResult:
    data: bytes  # the JPEG file
    base_quality: float  # q_b: the IJG quality of the file's own tables
    multipliers: np.ndarray  # m_k per level
    luma_levels: np.ndarray  # (blocks_y, blocks_x) level of each luma block
    level_fraction: list[float] = field(default_factory=list)  # share of luma blocks per level


# --------------------------------------------------------------------------------------------
# saliency -> block levels
def _pool_max(prob: np.ndarray, blocks_hw: tuple[int, int], block_px: tuple[int, int]) -> np.ndarray:
    """Max of the saliency over each block's pixels (edge-replicated to the padded MCU grid).

    Maximum, not mean: a block that holds any of the salient object keeps its full precision,
    so the object's outline is coded as finely as its inside."""
    bh, bw = blocks_hw
    py, px = block_px
    h, w = prob.shape
    padded = np.pad(prob, ((0, max(0, bh * py - h)), (0, max(0, bw * px - w))), mode="edge")
    padded = padded[: bh * py, : bw * px]
    return padded.reshape(bh, py, bw, px).max(axis=(1, 3))


def block_levels(prob: np.ndarray, blocks_hw: tuple[int, int], block_px: tuple[int, int],
                 config: MsroiJpegConfig) -> np.ndarray:
    """Level 0..L-1 of each block (0 = most salient), relative to the most salient block present.

    A block's own level is floor((1 - s) * L) for its max-pooled saliency s (clipped to L-1); then
    levels spread outwards, one level per `ring` blocks, so that quality falls off in steps around
    the object instead of at one hard edge (Prakash et al.'s multi-level map does the same with
    saliency percentiles). Levels are shifted so that the most salient block present has level 0:
    an image without any salient block is coded as plain JPEG at the base quality.
    """
    L = config.levels
    s = _pool_max(np.asarray(prob, dtype=np.float32), blocks_hw, block_px)
    own = np.clip(np.floor((1.0 - s) * L), 0, L - 1).astype(np.int32)
    levels = own.copy()
    if config.ring > 0 and L > 1:
        reach = (L - 1) * config.ring
        for lev in range(L - 1):
            dist = _chebyshev_distance(own <= lev, reach)
            levels = np.minimum(levels, lev + -(-dist // config.ring))
    return levels - levels.min()


def _chebyshev_distance(src: np.ndarray, reach: int) -> np.ndarray:
    """Max-norm distance in blocks from each cell to the nearest True cell, capped at reach + 1."""
    h, w = src.shape
    dist = np.where(src, 0, reach + 1).astype(np.int32)
    covered = src.copy()
    for step in range(1, reach + 1):
        padded = np.pad(covered, 1)
        grown = np.zeros_like(covered)
        for dy in range(3):
            for dx in range(3):
                grown |= padded[dy : dy + h, dx : dx + w]
        dist[grown & ~covered] = step
        covered = grown
    return dist


# --------------------------------------------------------------------------------------------
# JPEG files
def standard_jpeg(rgb: np.ndarray, quality: int, *, optimize: bool = False) -> bytes:
    """Standard JPEG as libjpeg writes it by default: IJG tables at `quality`, YCbCr 4:2:0, baseline,
    the standard Huffman tables unless `optimize` (the reference of --size-of-quality)."""
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=int(quality), subsampling="4:2:0", optimize=optimize)
    return buf.getvalue()


def _encode_with_tables(rgb: np.ndarray, luma: np.ndarray, chroma: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(
        buf, "JPEG", qtables=[luma.reshape(-1).tolist(), chroma.reshape(-1).tolist()], subsampling="4:2:0"
    )
    return buf.getvalue()


def requantise(coefs: np.ndarray, levels: np.ndarray, multipliers: np.ndarray, config: MsroiJpegConfig,
               table: np.ndarray) -> np.ndarray:
    """coefs (by, bx, 8, 8) quantised DCT indices of one component, `table` its 8x8 quantisation
    table -> the requantised indices (see the module doc; level-0 blocks are unchanged)."""
    m = multipliers[levels].astype(np.float64)[:, :, None, None]
    c = coefs.astype(np.float64)
    if config.method == "amplitude":
        # c * q is the orthonormal DCT amplitude (T.81's FDCT is orthonormal): zeroing it adds
        # (c q)^2 / 64 to the block's pixel MSE. Zeroing below one amplitude for every frequency is
        # the MSE-optimal rule when a coefficient's bits cost about the same everywhere (RDOQ).
        threshold = config.amplitude_unit * (m - 1.0)
        out = np.where(np.abs(c) * table[None, None].astype(np.float64) >= threshold, c, 0.0)
    elif config.method == "threshold":
        # keep the base precision, zero what is smaller than the level's step in table units
        out = np.where(np.abs(c) / m + config.rounding >= 1.0, c, 0.0)
    else:
        # ties go towards zero: c = 1 with m = 2 becomes 0, not 2 (which would cost more bits)
        out = np.sign(c) * np.maximum(0.0, np.ceil(np.abs(c) / m + config.rounding - 1.0)) * m
    if not config.dc_requantise:
        out[:, :, 0, 0] = c[:, :, 0, 0]
    return out.astype(np.int16)


def _jpeglib():
    try:
        import jpeglib
    except ImportError:
        raise SalicodecError(
            "the saliency JPEG needs jpeglib: pip install 'salicodec[codecs]' (jpeglib==1.0.2)"
        ) from None
    return jpeglib


class MsroiEncoder:
    """One image + saliency map: encodes at any base quality (jpeglib works on files: a temp dir)."""

    def __init__(self, rgb: np.ndarray, prob: np.ndarray, config: MsroiJpegConfig, workdir: Path):
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
            raise SalicodecError("the saliency JPEG needs an RGB uint8 image (H, W, 3)")
        if prob.shape != rgb.shape[:2]:
            raise SalicodecError(f"saliency map {prob.shape} does not match the image {rgb.shape[:2]}")
        self.rgb, self.prob, self.config, self.workdir = rgb, np.asarray(prob, np.float32), config, workdir
        self.multipliers = config.multipliers()
        self.jpeglib = _jpeglib()
        self._levels: dict[tuple, np.ndarray] = {}
        self.cache: dict[float, MsroiJpegResult] = {}

    def _levels_for(self, blocks_hw: tuple[int, int], block_px: tuple[int, int]) -> np.ndarray:
        key = (blocks_hw, block_px)
        if key not in self._levels:
            self._levels[key] = block_levels(self.prob, blocks_hw, block_px, self.config)
        return self._levels[key]

    def encode(self, base_quality: float, mix: tuple[float, int] | None = None) -> MsroiJpegResult:
        """At base quality q_b; `mix` = (q_hi, j) takes the first j entries (row-major, luma table
        first) that differ between the tables of q_b and q_hi from q_hi's table: a
        finer rate step than any change of q_b where many entries change at once."""
        base_quality = float(np.clip(base_quality, MIN_QUALITY, MAX_QUALITY))
        key = (base_quality, mix)
        if key in self.cache:
            return self.cache[key]
        tables = ijg_tables(base_quality)
        if mix is not None:
            flat = np.concatenate([t.reshape(-1) for t in tables])
            fine = np.concatenate([t.reshape(-1) for t in ijg_tables(mix[0])])
            differ = np.flatnonzero(flat != fine)
            flat[differ[: mix[1]]] = fine[differ[: mix[1]]]
            tables = (flat[:64].reshape(8, 8), flat[64:].reshape(8, 8))
        src, dst = self.workdir / "base.jpg", self.workdir / "out.jpg"
        src.write_bytes(_encode_with_tables(self.rgb, *tables))
        jpeg = self.jpeglib.read_dct(str(src))
        y_levels = self._levels_for(jpeg.Y.shape[:2], (8, 8))
        tables = [jpeg.qt[int(n)] for n in jpeg.quant_tbl_no]
        jpeg.Y = requantise(jpeg.Y, y_levels, self.multipliers, self.config, tables[0])
        # chroma blocks cover (8 * subsampling) pixels: 16x16 in 4:2:0
        fy = jpeg.Y.shape[0] // jpeg.Cb.shape[0] if jpeg.Cb.shape[0] else 1
        fx = jpeg.Y.shape[1] // jpeg.Cb.shape[1] if jpeg.Cb.shape[1] else 1
        c_levels = self._levels_for(jpeg.Cb.shape[:2], (8 * max(fy, 1), 8 * max(fx, 1)))
        jpeg.Cb = requantise(jpeg.Cb, c_levels, self.multipliers, self.config, tables[1])
        jpeg.Cr = requantise(jpeg.Cr, c_levels, self.multipliers, self.config, tables[2])
        jpeg.write_dct(str(dst), flags=["+OPTIMIZE_CODING"])
        data = dst.read_bytes()
        fractions = [float(np.mean(y_levels == k)) for k in range(self.config.levels)]
        result = MsroiJpegResult(data, base_quality, self.multipliers, y_levels, fractions)
        self.cache[key] = result
        return result

    def match_bytes(self, target_bytes: int) -> MsroiJpegResult:
        """Bisection on the base quality for a file within SIZE_TOLERANCE of target_bytes; prefers a
        file not larger than the target. The closest file seen is returned if none is close enough
        (the caller checks; e.g. a target below the size at quality 1)."""
        lo, hi = MIN_QUALITY, MAX_QUALITY
        best = None

        def err(r):
            return abs(len(r.data) / target_bytes - 1.0)

        for _ in range(MAX_RATE_STEPS):
            mid = 0.5 * (lo + hi)
            r = self.encode(mid)
            n = len(r.data)
            if best is None or err(r) < err(best) or (err(r) <= SIZE_TOLERANCE and n <= target_bytes < len(best.data)):
                best = r
            if target_bytes * (1.0 - SIZE_TOLERANCE) <= n <= target_bytes:
                return r
            lo, hi = (mid, hi) if n < target_bytes else (lo, mid)
            if hi - lo < 1e-3:
                break
        if err(best) > SIZE_TOLERANCE and MIN_QUALITY < lo < hi < MAX_QUALITY:
            # a jump in size between two qualities 0.001 apart: move table entries one by one
            flat_lo = np.concatenate([t.reshape(-1) for t in ijg_tables(lo)])
            flat_hi = np.concatenate([t.reshape(-1) for t in ijg_tables(hi)])
            a, b = 0, int(np.count_nonzero(flat_lo != flat_hi))
            while b - a > 1:
                j = (a + b) // 2
                r = self.encode(lo, (hi, j))
                if err(r) < err(best):
                    best = r
                if target_bytes * (1.0 - SIZE_TOLERANCE) <= len(r.data) <= target_bytes:
                    return r
                a, b = (j, b) if len(r.data) < target_bytes else (a, j)
        for q in (MIN_QUALITY, MAX_QUALITY):  # the ends of the knob, when the target lies beyond them
            r = self.encode(q)
            if err(r) < err(best):
                best = r
        return best


def encode(
    rgb: np.ndarray,
    saliency: np.ndarray,
    *,
    quality: float | None = None,
    target_bytes: int | None = None,
    config: MsroiJpegConfig = MsroiJpegConfig(),
) -> MsroiJpegResult:
    """A saliency-adaptive baseline JPEG of `rgb` (uint8 (H, W, 3)) driven by `saliency` ((H, W) in
    [0, 1]): either at base quality `quality` (the salient blocks are coded as JPEG at that quality,
    the others coarser) or with a file size matched to `target_bytes` (see match_bytes)."""
    if (quality is None) == (target_bytes is None):
        raise SalicodecError("give exactly one of quality or target size")
    with tempfile.TemporaryDirectory(prefix="salicodec-jpeg-") as tmp:
        enc = MsroiEncoder(rgb, saliency, config, Path(tmp))
        if quality is not None:
            if not MIN_QUALITY <= quality <= MAX_QUALITY:
                raise SalicodecError(f"quality must be in 1..100, got {quality:g}")
            return enc.encode(quality)
        if target_bytes <= 0:
            raise SalicodecError("target size must be positive")
        return enc.match_bytes(int(target_bytes))


def within_tolerance(size: int, target: int) -> bool:
    return abs(size / target - 1.0) <= SIZE_TOLERANCE


def decode(data: bytes) -> np.ndarray:
    """Decode with Pillow (libjpeg-turbo) to RGB uint8."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return np.ascontiguousarray(np.asarray(img.convert("RGB")))


# --------------------------------------------------------------------------------------------
# the `salicodec jpeg` command
@dataclass
class JpegRequest:
    quality: float | None = None  # --quality Q: salient blocks at IJG quality Q, the rest coarser
    size_of_quality: int | None = None  # --size-of-quality Q: the size of standard JPEG q Q (4:2:0)
    bpp: float | None = None  # --bpp B


def target_bytes_for(rgb: np.ndarray, request: JpegRequest) -> int | None:
    if request.size_of_quality is not None:
        if not 1 <= request.size_of_quality <= 100:
            raise SalicodecError(f"--size-of-quality must be in 1..100, got {request.size_of_quality}")
        return len(standard_jpeg(rgb, request.size_of_quality))
    if request.bpp is not None:
        if not (math.isfinite(request.bpp) and 0.0 < request.bpp <= 24.0):
            raise SalicodecError(f"--bpp must be in (0, 24], got {request.bpp:g}")
        return max(1, int(round(request.bpp * rgb.shape[0] * rgb.shape[1] / 8.0)))
    return None


def run_command(rgb: np.ndarray, saliency: np.ndarray, request: JpegRequest,
                config: MsroiJpegConfig = MsroiJpegConfig()) -> tuple[MsroiJpegResult, int | None]:
    """Encode as the CLI asks; a size target that cannot be met within 1 % is an error."""
    target = target_bytes_for(rgb, request)
    if target is None:
        return encode(rgb, saliency, quality=request.quality, config=config), None
    result = encode(rgb, saliency, target_bytes=target, config=config)
    if not within_tolerance(len(result.data), target):
        raise SalicodecError(
            f"cannot reach {target} bytes within 1 % (closest: {len(result.data)} bytes at base "
            f"quality {result.base_quality:.2f}); the target is outside this image's range"
        )
    return result, target
