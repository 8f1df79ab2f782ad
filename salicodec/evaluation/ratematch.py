"""Rate matching: find, per image, the codec setting whose real file has the target bits per pixel.

Method (documented in the report): bisection on the codec's quality knob, per image.
- Continuous knobs (JPEG 2000 requested rate, JPEG XL distance, WebP quality) are bisected (in log
  space where the knob spans decades) until the file is within `tolerance` (1 %) of the target,
  at most MAX_CONTINUOUS_STEPS times; the closest file seen wins.
- Integer knobs (JPEG, mozjpeg, HEIC, AVIF quality) are bisected down to two neighbouring values
  that bracket the target; the one whose rate is closer (in log ratio) wins. The achieved rate can
  then differ from the target by up to half a quality step: that is the codec's granularity, and
  the achieved bpp is what the report records and plots.
- A target outside the codec's reach (e.g. JPEG 4:2:0 below ~0.25 bpp on detailed images) gives
  the extreme setting, flagged `reachable=False`.
Every encode is memoised per knob value; matching several targets on one image starts each search
from the tightest bracket the earlier files give.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ..baselines.base import QualityParameter

MAX_ENCODES = 40
MAX_CONTINUOUS_STEPS = 24


@dataclass
class Match:
    value: float  # the chosen knob value
    data: bytes  # the real file at that value
    bpp: float
    reachable: bool  # False when the target lies beyond the knob's range
    encodes: int  # how many encodes this target needed beyond those already memoised


@dataclass
class RateMatcher:
    """Memoised encoder for one (image, codec): value -> file bytes."""

    encode: Callable[[float], bytes]
    parameter: QualityParameter
    num_pixels: int
    tolerance: float = 0.01  # relative rate error at which a continuous search stops
    cache: dict = field(default_factory=dict)

    def file(self, value: float) -> bytes:
        key = int(value) if self.parameter.integer else float(value)
        if key not in self.cache:
            self.cache[key] = self.encode(key)
        return self.cache[key]

    def bpp(self, value: float) -> float:
        return 8.0 * len(self.file(value)) / self.num_pixels

    def match(self, target_bpp: float) -> Match:
        """The file closest to `target_bpp`. The knob's ends are only encoded when the search
        reaches them (an extreme setting can be slow, e.g. HEIC at quality 100)."""
        if target_bpp <= 0:
            raise ValueError("target bpp must be positive")
        before = len(self.cache)
        p = self.parameter
        # Orient the knob so that moving from `lo` to `hi` spends more bits.
        lo, hi = (p.low, p.high) if p.more_bits_when_higher else (p.high, p.low)
        lo, hi = self._narrow(lo, hi, target_bpp)
        if p.integer:
            lo, hi = int(lo), int(hi)
            while abs(hi - lo) > 1 and len(self.cache) - before < MAX_ENCODES:
                mid = lo + (hi - lo) // 2 if hi > lo else hi + (lo - hi) // 2
                b = self.bpp(mid)
                if b == target_bpp:
                    lo = hi = mid
                    break
                lo, hi = (mid, hi) if b < target_bpp else (lo, mid)
            best = None
        else:
            best = None
            for _ in range(MAX_CONTINUOUS_STEPS):
                mid = math.sqrt(lo * hi) if p.log_scale else 0.5 * (lo + hi)
                b = self.bpp(mid)
                if best is None or self._error(mid, target_bpp) < self._error(best, target_bpp):
                    best = mid
                if abs(b / target_bpp - 1.0) <= self.tolerance:
                    break
                lo, hi = (mid, hi) if b < target_bpp else (lo, mid)
            if self._error(best, target_bpp) <= math.log1p(self.tolerance):
                return self._result(best, True, before)
        # The target lies between the bracket's ends (or beyond an end of the knob's range).
        candidates = [v for v in (lo, hi, best) if v is not None]
        value = min(candidates, key=lambda v: self._error(v, target_bpp))
        slack = 1.0 + self.tolerance
        reachable = self.bpp(lo) <= target_bpp * slack and self.bpp(hi) * slack >= target_bpp
        return self._result(value, reachable, before)

    def _narrow(self, lo: float, hi: float, target: float) -> tuple[float, float]:
        """Start from the tightest bracket that files already encoded for this image give."""
        up = self.parameter.more_bits_when_higher
        for value, data in self.cache.items():
            b = 8.0 * len(data) / self.num_pixels
            inside = (lo < value < hi) if up else (hi < value < lo)
            if inside and b < target:
                lo = value
            elif inside and b > target:
                hi = value
        return lo, hi

    def _error(self, value: float, target: float) -> float:
        return abs(math.log(self.bpp(value) / target))

    def _result(self, value: float, reachable: bool, before: int) -> Match:
        data = self.file(value)
        return Match(value=value, data=data, bpp=8.0 * len(data) / self.num_pixels,
                     reachable=reachable, encodes=len(self.cache) - before)
