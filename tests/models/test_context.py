import torch

from salicodec.models.context import ContextModel, IncrementalContext, wavefront_decode_order
from salicodec.models.layers import causal_offsets


def test_causal_offsets_counts():
    assert len(causal_offsets(False)) == 13 and len(causal_offsets(True)) == 14


def test_prediction_ignores_later_symbols():
    torch.manual_seed(0)
    m = ContextModel(5, 8, conditional=False).eval()
    v = torch.randn(1, 4, 6, 7)
    base = m(v)
    c, h, w = 2, 3, 4
    v2 = v.clone()
    v2[0, c, h, w + 1 :] = 9.0  # later in the same row
    v2[0, c, h + 1 :] = 9.0  # later rows
    v2[0, c + 1 :] = 9.0  # later channels
    v2[0, c, h, w] = 9.0  # the symbol itself (mask A)
    assert torch.equal(m(v2)[0, :, c, h, w], base[0, :, c, h, w])
    v3 = v.clone()
    v3[0, c, h, w - 1] = 9.0  # an earlier symbol does matter
    assert not torch.equal(m(v3)[0, :, c, h, w], base[0, :, c, h, w])


def test_wavefront_dependencies_precede():
    order = wavefront_decode_order(3, 4, 5)
    wave_of = {}
    for t in range(len(order.starts) - 1):
        for p in order.plain_index[order.starts[t]:order.starts[t + 1]]:
            wave_of[int(p)] = t
    assert len(wave_of) == 60
    for c in range(3):
        for h in range(4):
            for w in range(5):
                for dc, dh, dw in causal_offsets(False):
                    cc, hh, ww = c + dc, h + dh, w + dw
                    if 0 <= cc < 3 and 0 <= hh < 4 and 0 <= ww < 5:
                        assert wave_of[(cc * 4 + hh) * 5 + ww] < wave_of[(c * 4 + h) * 5 + w]


def test_incremental_equals_full_volume():
    torch.manual_seed(1)
    m = ContextModel(6, 8, conditional=True).eval()
    centres = torch.linspace(-2, 2, 6)
    idx = torch.randint(0, 6, (5, 6, 7))
    vals = centres[idx]
    cond = torch.randn(5, 6, 7)
    with torch.no_grad():
        full = torch.softmax(m(vals[None], cond[None])[0], dim=0)  # (L, C, H, W)
    inc = IncrementalContext(m, centres, (5, 6, 7), cond)
    got = torch.zeros_like(full)
    for t in range(inc.num_waves):
        plain, padded = inc.wave(t)
        p = inc.predict(padded)
        got.view(6, -1)[:, torch.from_numpy(plain)] = p.t()
        inc.commit(padded, idx.view(-1)[torch.from_numpy(plain)])
    assert torch.allclose(got, full, atol=1e-5)
