"""The Kronecker (first-layer) Hessian of a plain MLP equals the generic torch.func Hessian and the
double-backward reference, for every block kind, both activations and deeper nets; float32."""

import pytest
import torch

from qnewton.curvature import make_blocks
from qnewton.curvature.hessian import (block_curvature, dense_reference_hessian, kronecker_applies,
                                       kronecker_block_hessian)
from qnewton.train.models import MLP


@pytest.mark.parametrize("sizes,activation", [((12, 5, 4), "tanh"), ((12, 5, 4), "relu"), ((9, 4, 3, 5), "relu"),
                                              ((9, 4, 3, 5), "tanh")])
@pytest.mark.parametrize("mode", ["full", "layer", "tensor"])
def test_kronecker_hessian_equals_generic(sizes, activation, mode):
    torch.manual_seed(1)
    model = MLP(sizes[0], sizes[1:-1], sizes[-1], activation=activation)
    x = torch.randn(17, sizes[0])
    y = torch.randint(0, sizes[-1], (17,))
    used = 0
    for block in make_blocks(model, mode):
        fast = block_curvature(model, block, x, y, structured=True)
        slow = block_curvature(model, block, x, y, structured=False)
        used += kronecker_applies(model, block, x)
        scale = float(slow.H.abs().max())
        assert float((fast.H - slow.H).abs().max()) <= 1e-13 * scale
        assert float((fast.g - slow.g).abs().max()) <= 1e-13 * float(slow.g.abs().max())
        assert fast.loss == pytest.approx(slow.loss, rel=1e-14)
        assert torch.equal(fast.H, fast.H.T)  # exactly symmetric
        assert fast.H.dtype == torch.float64
    assert used >= 1  # the first layer's block(s) went through the Kronecker path


def test_kronecker_hessian_matches_double_backward_reference():
    torch.manual_seed(2)
    model = MLP(10, [6], 3)
    x = torch.randn(8, 10)
    y = torch.randint(0, 3, (8,))
    (block,) = make_blocks(model, "full")
    ref = dense_reference_hessian(model, x, y)
    fast = kronecker_block_hessian(model, block, x, y)
    assert torch.allclose(fast.H, ref, rtol=0, atol=1e-13 * float(ref.abs().max()))


def test_float32_kronecker_hessian_is_close_to_float64():
    torch.manual_seed(3)
    model = MLP(30, [8], 5)
    x = torch.randn(64, 30)
    y = torch.randint(0, 5, (64,))
    (block,) = make_blocks(model, "full")
    h64 = block_curvature(model, block, x, y, dtype=torch.float64).H
    h32 = block_curvature(model, block, x, y, dtype=torch.float32).H
    assert h32.dtype == torch.float32 and torch.equal(h32, h32.T)
    err = float((h32.double() - h64).abs().max()) / float(h64.abs().max())
    assert 0 < err < 1e-5


def test_other_models_and_losses_take_the_generic_path():
    torch.manual_seed(4)
    model = MLP(6, [3], 2)
    x = torch.randn(5, 6)
    (block,) = make_blocks(model, "full")
    assert kronecker_applies(model, block, x)
    assert not kronecker_applies(model, block, x, loss_fn=lambda logits, t: logits.pow(2).mean())
    seq = torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    (sblock,) = make_blocks(seq, "full")
    assert not kronecker_applies(seq, sblock, x)
    last = make_blocks(model, "layer")[1]  # no first-layer tensor in the block
    assert not kronecker_applies(model, last, x)
