import numpy as np

from salicodec import entropy


def test_quantize_pmf_sums_and_floor():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6) * 0.1, size=500).astype(np.float32)
    f = entropy.quantize_pmf(p)
    assert (f.sum(1) == entropy.TOTAL).all() and f.min() >= 1


def test_symbols_roundtrip_and_length_matches_ideal():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(6), size=20000)
    sym = np.array([rng.choice(6, p=row) for row in p])
    f = entropy.quantize_pmf(p)
    enc = entropy.SymbolEncoder()
    for a in range(0, len(sym), 1000):
        enc.encode(sym[a:a + 1000], f[a:a + 1000])
    data = enc.finish()
    dec = entropy.SymbolDecoder(data)
    out = np.concatenate([dec.decode(f[a:a + 1000]) for a in range(0, len(sym), 1000)])
    assert np.array_equal(out, sym)
    ideal = entropy.code_length_bits(f, sym)
    assert abs(8 * len(data) - ideal) < 0.01 * ideal + 64


def test_count_map_roundtrip():
    rng = np.random.default_rng(2)
    k = np.clip(np.cumsum(rng.integers(-1, 2, size=(12, 17)), axis=1) + 4, 0, 8)
    data, bits = entropy.encode_count_map(k, 8)
    assert np.array_equal(entropy.decode_count_map(data, k.shape, 8), k)
    assert 8 * len(data) <= bits + 64
