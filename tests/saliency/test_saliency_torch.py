"""The PyTorch port of U^2-Net-p agrees with the ONNX model run by onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from salicodec.saliency import grid_mask, saliency_map
from salicodec.saliency import u2netp
from salicodec.saliency.onnx_graph import read_graph
from salicodec.saliency.u2netp_torch import TorchSaliency, load_u2netp


@pytest.fixture(scope="module")
def torch_model(u2netp_weights):
    return load_u2netp(u2netp_weights)


def test_onnx_reader_finds_the_u2netp_graph(u2netp_weights):
    graph = read_graph(u2netp_weights)
    ops = [n.op_type for n in graph.nodes]
    assert ops.count("Conv") == 119 and ops.count("Sigmoid") == 7
    assert graph.initializers["outconv.weight"].shape == (1, 6, 1, 1)
    n_params = sum(a.size for a in graph.initializers.values() if a.ndim in (1, 4))
    assert 1.0e6 < n_params < 1.2e6  # U^2-Net-p: 1.1 M parameters


def test_network_agrees_with_onnxruntime(torch_model, astronaut):
    # One 320x320 forward pass on the CPU costs seconds: one image, the network alone.
    x = u2netp.preprocess(astronaut)
    expected = u2netp.run_network(x)
    with torch.no_grad():
        got = torch_model(torch.from_numpy(x.copy()))[0, 0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_batch_pipeline_agrees_with_saliency_map(u2netp_weights, astronaut):
    model = TorchSaliency(u2netp_weights)
    batch = torch.from_numpy(astronaut.copy()).permute(2, 0, 1)[None].float() / 255.0
    prob = model(batch)
    assert prob.shape == (1, 1, 512, 512)
    reference = saliency_map(astronaut)
    got = prob[0, 0].numpy()
    # The resize to 320x320 differs slightly (PIL rounds to uint8): close, not identical.
    assert np.abs(got - reference).mean() < 0.005
    assert (grid_mask(got) == grid_mask(reference)).mean() > 0.99
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_port_runs_on_cuda(u2netp_weights, astronaut):
    model = TorchSaliency(u2netp_weights, device="cuda")
    batch = torch.from_numpy(astronaut.copy()).permute(2, 0, 1)[None].float().cuda() / 255.0
    got = model(batch)[0, 0].cpu().numpy()
    assert np.abs(got - saliency_map(astronaut)).mean() < 0.005
