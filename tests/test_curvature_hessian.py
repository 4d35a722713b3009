"""Exact Hessian (torch.func) against a dense float64 double-backward reference; exact symmetry."""

import numpy as np
import pytest
import torch

from qnewton.curvature import curvature, dense_reference_hessian, make_blocks
from qnewton.train.models import MLP


def _tiny(activation="tanh"):
    torch.manual_seed(3)
    model = MLP(5, [4], 3, activation)
    x = torch.randn(7, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    return model, x, y


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_full_hessian_matches_dense_reference(activation):
    model, x, y = _tiny(activation)
    (c,) = curvature(model, make_blocks(model, "full"), x, y, dtype=torch.float64)
    ref = dense_reference_hessian(model, x, y)
    n = sum(p.numel() for p in model.parameters())
    assert c.H.shape == (n, n) == ref.shape
    assert c.H.dtype == torch.float64
    scale = ref.abs().max().item()
    assert scale > 1e-3  # a real, non-trivial Hessian
    assert torch.allclose(c.H, ref, rtol=0, atol=1e-12 * max(1.0, scale))
    # gradient agrees with plain autograd
    loss = torch.nn.functional.cross_entropy(model.double()(x.double()), y)
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, list(model.parameters()))])
    assert torch.allclose(c.g, g, atol=1e-13)
    assert c.loss == pytest.approx(float(loss), abs=1e-14)


def test_hessian_is_exactly_symmetric():
    model, x, y = _tiny()
    for mode in ("full", "layer", "tensor"):
        for c in curvature(model, make_blocks(model, mode), x, y):
            assert torch.equal(c.H, c.H.T), mode


def test_layer_and_tensor_blocks_are_diagonal_blocks_of_the_full_hessian():
    model, x, y = _tiny()
    ref = dense_reference_hessian(model, x, y)
    for mode, sizes in (("layer", [24, 15]), ("tensor", [20, 4, 12, 3])):
        blocks = make_blocks(model, mode)
        assert [b.size for b in blocks] == sizes
        start = 0
        for c in curvature(model, blocks, x, y):
            n = c.block.size
            assert torch.allclose(c.H, ref[start:start + n, start:start + n], atol=1e-12)
            start += n


def test_float32_option_is_close_to_float64():
    model, x, y = _tiny()
    blocks = make_blocks(model, "full")
    (c64,) = curvature(model, blocks, x, y, dtype=torch.float64)
    (c32,) = curvature(model, blocks, x, y, dtype=torch.float32)
    assert c32.H.dtype == torch.float32
    assert torch.equal(c32.H, c32.H.T)
    assert np.allclose(c32.H.double().numpy(), c64.H.numpy(), atol=1e-5)


def test_default_model_has_1210_parameters_and_two_layer_blocks():
    model = MLP(64, [16], 10)
    assert model.num_parameters() == 1210
    assert [b.size for b in make_blocks(model, "layer")] == [1040, 170]
    assert MLP(784, [16], 10).num_parameters() == 12730


def test_chunked_reverse_over_reverse_equals_forward_over_reverse():
    model, x, y = _tiny()
    blocks = make_blocks(model, "full")
    (a,) = curvature(model, blocks, x, y)
    (b,) = curvature(model, blocks, x, y, chunk_size=5)
    assert torch.allclose(a.H, b.H, atol=1e-13)
    assert torch.equal(b.H, b.H.T)


def test_auto_chunk_switches_on_block_size(monkeypatch):
    import qnewton.curvature.hessian as hm

    model, x, y = _tiny()
    (ref,) = curvature(model, make_blocks(model, "full"), x, y)
    monkeypatch.setattr(hm, "AUTO_CHUNK_THRESHOLD", 10)
    monkeypatch.setattr(hm, "AUTO_CHUNK_SIZE", 7)
    def no_forward_mode(*a, **k):
        raise AssertionError("forward-over-reverse used for a block above the threshold")

    monkeypatch.setattr(hm, "jacfwd", no_forward_mode)
    (auto,) = curvature(model, make_blocks(model, "full"), x, y, chunk_size="auto")
    assert torch.allclose(ref.H, auto.H, atol=1e-13) and torch.equal(auto.H, auto.H.T)
    with pytest.raises(AssertionError, match="forward-over-reverse"):  # a 3-parameter block stays unchunked
        curvature(model, make_blocks(model, "tensor")[-1:], x, y, chunk_size="auto")
