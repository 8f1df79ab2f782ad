"""Entropy coding: a thin layer over constriction's range coder.

The context models give float probabilities; both encoder and decoder turn them into integer
frequencies with the same integer-only rule (`quantize_pmf`), so the coder sees identical
tables on both sides as long as the float probabilities are identical (see models/context.py for
why they are). Frequencies sum to 2**PRECISION and are all >= 1, so every symbol stays codable.
"""
from __future__ import annotations

import functools

import numpy as np

PRECISION = 16
TOTAL = 1 << PRECISION


@functools.cache
def _constriction():
    """The range coder, imported on first use: training and the forward pass never code
    symbols, so they run where constriction is not installed (the lent GPU machine)."""
    import constriction

    return constriction


@functools.cache
def _categorical():
    return _constriction().stream.model.Categorical(perfect=False)


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
        self._enc = _constriction().stream.queue.RangeEncoder()
        self._model = _categorical()

    def encode(self, symbols: np.ndarray, freq: np.ndarray) -> None:
        if len(symbols) == 0:
            return
        self._enc.encode(np.ascontiguousarray(symbols, dtype=np.int32), self._model,
                         freq.astype(np.float64) / TOTAL)

    def finish(self) -> bytes:
        return self._enc.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    def __init__(self, data: bytes):
        if len(data) % 4:
            raise ValueError("entropy-coded section length is not a multiple of 4")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._dec = _constriction().stream.queue.RangeDecoder(words)
        self._model = _categorical()

    def decode(self, freq: np.ndarray) -> np.ndarray:
        if len(freq) == 0:
            return np.zeros(0, dtype=np.int64)
        out = self._dec.decode(self._model, freq.astype(np.float64) / TOTAL)
        return np.asarray(out, dtype=np.int64)


class RowAdaptiveModel:
    """Adaptive frequency tables for the channel-count map k (one symbol per /8 position).

    The context of k[r, c] is the count above it, k[r-1, c] (row 0 has its own context), so a
    whole row can be coded in one call; the tables adapt after each row, in integer arithmetic:
    counts start at 1, grow by INCREMENT per occurrence, and are halved when a table's total
    passes LIMIT. Importance maps are smooth, so the count above predicts well.
    """

    INCREMENT = 24
    LIMIT = TOTAL // 2

    def __init__(self, channels: int):
        self.first_row_ctx = channels + 1
        self.counts = np.ones((channels + 2, channels + 1), dtype=np.int64)

    def contexts(self, previous_row: np.ndarray | None, width: int) -> np.ndarray:
        if previous_row is None:
            return np.full(width, self.first_row_ctx, dtype=np.int64)
        return previous_row.astype(np.int64)

    def freq(self, ctx: np.ndarray) -> np.ndarray:
        """(P,) contexts -> (P, C+1) frequencies summing to TOTAL, each >= 1."""
        counts = self.counts[ctx]
        L = counts.shape[1]
        freq = (counts * (TOTAL - L)) // counts.sum(axis=1, keepdims=True) + 1
        freq[np.arange(len(ctx)), np.argmax(counts, axis=1)] += TOTAL - freq.sum(axis=1)
        return freq

    def update(self, ctx: np.ndarray, symbols: np.ndarray) -> None:
        np.add.at(self.counts, (ctx, symbols), self.INCREMENT)
        over = self.counts.sum(axis=1) > self.LIMIT
        while over.any():
            self.counts[over] = (self.counts[over] + 1) // 2
            over = self.counts.sum(axis=1) > self.LIMIT


def encode_count_map(k: np.ndarray, channels: int) -> tuple[bytes, float]:
    """Code a (H, W) map of integers in 0..channels; returns (bytes, ideal bits)."""
    model = RowAdaptiveModel(channels)
    enc = SymbolEncoder()
    bits = 0.0
    prev = None
    for row in np.asarray(k, dtype=np.int64):
        ctx = model.contexts(prev, len(row))
        freq = model.freq(ctx)
        enc.encode(row, freq)
        bits += code_length_bits(freq, row)
        model.update(ctx, row)
        prev = row
    return enc.finish(), bits


def decode_count_map(data: bytes, shape: tuple[int, int], channels: int) -> np.ndarray:
    model = RowAdaptiveModel(channels)
    dec = SymbolDecoder(data)
    h, w = shape
    k = np.zeros((h, w), dtype=np.int64)
    prev = None
    for r in range(h):
        ctx = model.contexts(prev, w)
        row = dec.decode(model.freq(ctx))
        if row.min(initial=0) < 0 or row.max(initial=0) > channels:
            raise ValueError("decoded channel count out of range")
        k[r] = row
        model.update(ctx, row)
        prev = row
    return k
