import torch

from salicodec.models.masks import channel_mask, kept_channels, mask_from_counts
from salicodec.models.quantizer import CentreQuantizer


def test_quantizer_hard_forward_soft_gradient():
    q = CentreQuantizer(5)
    q.train()
    y = torch.tensor([-3.0, -0.9, 0.1, 0.7, 5.0], requires_grad=True)
    out, idx = q(y)
    assert torch.equal(idx, torch.tensor([0, 1, 2, 3, 4]))
    assert torch.allclose(out, q.sorted_centres()[idx])
    out.sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    q.eval()
    out_eval, _ = q(y)
    assert torch.equal(out_eval, q.sorted_centres()[idx])


def test_zero_index_is_nearest_to_zero():
    q = CentreQuantizer(6)
    assert abs(float(q.sorted_centres()[q.zero_index()])) == float(q.sorted_centres().abs().min())


def test_channel_mask_definition_and_saliency_monotone():
    C = 8
    imp = torch.tensor([[[[0.0, 0.1, 0.5, 0.99]]]])
    k = kept_channels(imp, None, C)
    assert k.flatten().tolist() == [0, 1, 4, 8]
    s = torch.tensor([[[[1.0, 0.0, 1.0, 0.0]]]])
    ks = kept_channels(imp, s, C)
    assert (ks >= k).all() and ks.flatten().tolist() == [8, 1, 8, 8]
    hard = channel_mask(imp, s, C, mode="hard")
    assert torch.equal(hard.bool(), mask_from_counts(ks[:, 0], C))


def test_channel_mask_straight_through_gradient():
    imp = torch.full((1, 1, 2, 2), 0.4, requires_grad=True)
    m = channel_mask(imp, None, 8, mode="straight_through")
    assert set(m.detach().flatten().tolist()) <= {0.0, 1.0}
    m.sum().backward()
    assert imp.grad.abs().sum() > 0


def test_soft_mask_has_one_fractional_channel():
    imp = torch.full((1, 1, 1, 1), 0.43, requires_grad=True)
    m = channel_mask(imp, None, 8, mode="soft").flatten()
    assert m[:3].tolist() == [1.0, 1.0, 1.0] and 0 < float(m[3].detach()) < 1 and m[4:].abs().sum() == 0
    m.sum().backward()
    assert float(imp.grad) == 8.0
