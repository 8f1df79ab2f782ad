"""Entropy coding: a thin layer over constriction's range coder.

The context models give float probabilities; both encoder and decoder turn them into integer
frequencies with the same integer-only rule (`quantize_pmf`), so the coder sees identical
tables on both sides as long as the float probabilities are identical (see models/context.py for
why they are). Frequencies sum to 2**PRECISION and are all >= 1, so every symbol stays codable.
"""
from __future__ import annotations

import constriction
import numpy as np

PRECISION = 16
TOTAL = 1 << PRECISION

_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def quantize_pmf(probs: np.ndarray) -> np.ndarray:
    """(P, L) float probabilities -> (P, L) int64 frequencies summing to TOTAL, each >= 1.

    freq = floor(p * (TOTAL - L)) + 1, and what is left of TOTAL goes to the most probable symbol.
    """
    p = np.asarray(probs, dtype=np.float64)
    n, L = p.shape
    freq = np.floor(p * float(TOTAL - L)).astype(np.int64) + 1
    rest = TOTAL - freq.sum(axis=1)
    freq[np.arange(n), np.argmax(p, axis=1)] += rest
    return freq


def code_length_bits(freq: np.ndarray, symbols: np.ndarray) -> float:
    """Ideal code length of `symbols` under the quantised tables, in bits."""
    f = freq[np.arange(len(symbols)), symbols].astype(np.float64)
    return float(np.sum(PRECISION - np.log2(f)))


class SymbolEncoder:
    def __init__(self):
        self._enc = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, freq: np.ndarray) -> None:
        if len(symbols) == 0:
            return
        self._enc.encode(np.ascontiguousarray(symbols, dtype=np.int32), _CATEGORICAL,
                         freq.astype(np.float64) / TOTAL)

    def finish(self) -> bytes:
        return self._enc.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    def __init__(self, data: bytes):
        if len(data) % 4:
            raise ValueError("entropy-coded section length is not a multiple of 4")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._dec = constriction.stream.queue.RangeDecoder(words)

    def decode(self, freq: np.ndarray) -> np.ndarray:
        if len(freq) == 0:
            return np.zeros(0, dtype=np.int64)
        out = self._dec.decode(_CATEGORICAL, freq.astype(np.float64) / TOTAL)
        return np.asarray(out, dtype=np.int64)


class AdaptiveCountModel:
    """An adaptive frequency model with one table per context, in integer arithmetic only.

    Used for the channel-count map k (one symbol per /8 position): counts start at 1, grow by
    INCREMENT on each use, and are halved when a table's total would pass 2**PRECISION.
    """

    INCREMENT = 24

    def __init__(self, num_contexts: int, num_symbols: int):
        self.counts = np.ones((num_contexts, num_symbols), dtype=np.int64)
        self.totals = np.full(num_contexts, num_symbols, dtype=np.int64)

    def table(self, ctx: int) -> np.ndarray:
        return self.counts[ctx]

    def update(self, ctx: int, symbol: int) -> None:
        self.counts[ctx, symbol] += self.INCREMENT
        self.totals[ctx] += self.INCREMENT
        if self.totals[ctx] > TOTAL // 2:
            self.counts[ctx] = (self.counts[ctx] + 1) // 2
            self.totals[ctx] = int(self.counts[ctx].sum())


def _counts_to_freq(counts: np.ndarray) -> np.ndarray:
    """Counts (sum <= TOTAL/2) scaled to frequencies summing to TOTAL exactly, each >= 1."""
    total = int(counts.sum())
    L = counts.shape[-1]
    freq = (counts * (TOTAL - L)) // total + 1
    freq[int(np.argmax(counts))] += TOTAL - int(freq.sum())
    return freq.reshape(1, -1)


def count_map_context(k: np.ndarray, row: int, col: int, channels: int) -> int:
    """Context for k[row, col]: rounded mean of the left and upper neighbours (C + 1 if none)."""
    left = k[row, col - 1] if col > 0 else None
    up = k[row - 1, col] if row > 0 else None
    if left is None and up is None:
        return channels + 1
    if left is None:
        return int(up)
    if up is None:
        return int(left)
    return int((left + up + 1) // 2)


def encode_count_map(k: np.ndarray, channels: int) -> tuple[bytes, float]:
    """Code a (H, W) map of integers in 0..channels; returns (bytes, ideal bits)."""
    model = AdaptiveCountModel(channels + 2, channels + 1)
    enc = SymbolEncoder()
    bits = 0.0
    h, w = k.shape
    for r in range(h):
        for c in range(w):
            ctx = count_map_context(k, r, c, channels)
            freq = _counts_to_freq(model.table(ctx))
            sym = np.array([int(k[r, c])])
            enc.encode(sym, freq)
            bits += code_length_bits(freq, sym)
            model.update(ctx, int(k[r, c]))
    return enc.finish(), bits


def decode_count_map(data: bytes, shape: tuple[int, int], channels: int) -> np.ndarray:
    model = AdaptiveCountModel(channels + 2, channels + 1)
    dec = SymbolDecoder(data)
    h, w = shape
    k = np.zeros((h, w), dtype=np.int64)
    for r in range(h):
        for c in range(w):
            ctx = count_map_context(k, r, c, channels)
            sym = int(dec.decode(_counts_to_freq(model.table(ctx)))[0])
            k[r, c] = sym
            model.update(ctx, sym)
    return k
