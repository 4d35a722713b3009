"""K-FAC factors against curvlinops' KFACLinearOperator, and the factor layout.

The dense product G (x) A of our factors (placed in block order by the factor layout) must equal
curvlinops' K-FAC matrix to 1e-10 relative in float64, for every Fisher type and both
weight-sharing approximations, on a small MLP and on a model with sequence inputs to a Linear
layer; a whole-layer block corresponds to curvlinops' joint weight-and-bias factors, separate
weight / bias blocks to its separate ones.
"""

import pytest
import torch
from curvlinops import KFACLinearOperator
from torch import nn

from qnewton.curvature import KFAC, Batch, make_blocks
from qnewton.errors import UsageError
from tests.test_curvature_kinds import mlp, relative_error, sequence_model


def curvlinops_kfac(model, x, y, *, fisher_type, kfac_approx, separate, seed=7, mc_samples=1):
    params = list(model.parameters())
    op = KFACLinearOperator(model, nn.CrossEntropyLoss(), params, [(x, y)], fisher_type=fisher_type,
                            kfac_approx=kfac_approx, separate_weight_and_bias=separate, seed=seed,
                            mc_samples=mc_samples, check_deterministic=False)
    n = sum(p.numel() for p in params)
    return op @ torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize("make_model", [mlp, sequence_model])
@pytest.mark.parametrize("fisher_type", ["type-2", "mc", "empirical"])
@pytest.mark.parametrize("kfac_approx", ["expand", "reduce"])
def test_factors_reproduce_curvlinops_kfac(make_model, fisher_type, kfac_approx):
    model, x, y = make_model()
    samples = 2 if fisher_type == "mc" else 1
    kfac = KFAC(fisher_type=fisher_type, kfac_approx=kfac_approx, seed=7, mc_samples=samples)
    for mode, separate in (("layer", False), ("tensor", True)):
        ref = curvlinops_kfac(model, x, y, fisher_type=fisher_type, kfac_approx=kfac_approx, separate=separate,
                              mc_samples=samples)
        curv = kfac(model, Batch(x, y), make_blocks(model, mode))
        assert ref.abs().max() > 1e-3
        H = torch.block_diag(*[c.H for c in curv])
        assert relative_error(H, ref) < 1e-10, mode
        for c in curv:
            assert torch.equal(c.H, c.H.T)
            assert torch.allclose(c.factors.dense(), c.H, rtol=0, atol=0)


def test_expand_and_reduce_differ_with_sequence_inputs_only():
    for make_model, differ in ((mlp, False), (sequence_model, True)):
        model, x, y = make_model()
        blocks = make_blocks(model, "layer")
        e = KFAC(kfac_approx="expand")(model, Batch(x, y), blocks)[0].H
        r = KFAC(kfac_approx="reduce")(model, Batch(x, y), blocks)[0].H
        assert (relative_error(e, r) > 1e-3) == differ


def test_layer_block_layout_and_matvec():
    model, x, y = mlp()  # layers.0: Linear(5, 4) -> block [W (20), b (4)]
    (c, _) = KFAC(fisher_type="empirical")(model, Batch(x, y), make_blocks(model, "layer"))
    f = c.factors
    assert f.A.shape == (6, 6) and f.G.shape == (4, 4)
    assert f.index[1, 2].item() == 1 * 5 + 2  # weight entry W[1, 2]
    assert f.index[3, 5].item() == 20 + 3  # the bias is the last column
    assert f.A[5, 5].item() == pytest.approx(1.0)  # the ones entry of the input
    v = torch.randn(24, dtype=torch.float64)
    assert torch.allclose(f.matvec(v), c.H @ v, atol=1e-14)
    assert torch.equal(f.as_vector(f.as_matrix(v)), v)
    gradient = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.layers[0].parameters()))
    assert torch.allclose(c.g, torch.cat([t.reshape(-1) for t in gradient]), atol=1e-14)


def test_large_blocks_keep_only_the_factors():
    model, x, y = mlp()
    curv = KFAC(dense_max_n=10)(model, Batch(x, y), make_blocks(model, "layer"))
    assert curv[0].H is None and curv[0].factors is not None  # 24 parameters > 10
    assert curv[1].H is None
    (small,) = KFAC(dense_max_n=10)(model, Batch(x, y), make_blocks(model, "tensor"))[1:2]  # bias of layer 0: 4
    assert small.H is not None


def test_blocks_and_options_are_checked():
    model, x, y = mlp()
    with pytest.raises(UsageError, match="one Linear"):
        KFAC().check_blocks(model, make_blocks(model, "full"))
    with pytest.raises(ValueError, match="fisher_type"):
        KFAC(fisher_type="exact")
    with pytest.raises(ValueError, match="kfac_approx"):
        KFAC(kfac_approx="mean")
    with pytest.raises(ValueError, match="mc_samples"):
        KFAC(fisher_type="empirical", mc_samples=3)
    seq = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3), nn.Linear(3, 2)).double()
    with pytest.raises(UsageError, match="LayerNorm"):
        KFAC().check_blocks(seq, make_blocks(seq, "layer"))
