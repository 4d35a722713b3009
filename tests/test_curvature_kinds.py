"""GGN, empirical Fisher, Monte-Carlo Fisher and the exact Hessian against curvlinops' operators.

Each kind's dense float64 matrix must equal the matrix curvlinops' linear operator gives (applied
to the identity) to 1e-10 relative, on a small MLP and on a model whose first Linear layer gets
sequence inputs (batch, sequence, features), for whole-model and per-layer blocks.
"""

import pytest
import torch
from curvlinops import EFLinearOperator, FisherMCLinearOperator, GGNLinearOperator, HessianLinearOperator
from torch import nn

from qnewton.curvature import (CURVATURES, Batch, EmpiricalFisher, GGN, MonteCarloFisher, curvature_kinds,
                               make_blocks, make_curvature)
from qnewton.errors import UsageError
from qnewton.train.models import MLP


class SequenceMean(nn.Module):
    """Averages over the sequence axis: (batch, sequence, features) -> (batch, features)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


def mlp():
    torch.manual_seed(3)
    model = MLP(5, [4], 3).double()
    return model, torch.randn(7, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 1])


def sequence_model():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), SequenceMean(), nn.Linear(4, 3)).double()
    return model, torch.randn(5, 4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])


MODELS = [mlp, sequence_model]
OPERATORS = {"hessian": (HessianLinearOperator, {}), "ggn": (GGNLinearOperator, {}), "ef": (EFLinearOperator, {}),
             "mc-fisher": (FisherMCLinearOperator, {"seed": 5, "mc_samples": 3})}


def reference(kind, model, x, y):
    op_class, kwargs = OPERATORS[kind]
    params = list(model.parameters())
    op = op_class(model, nn.CrossEntropyLoss(), params, [(x, y)], check_deterministic=False, **kwargs)
    n = sum(p.numel() for p in params)
    return op @ torch.eye(n, dtype=torch.float64)


def ours(kind, model, x, y, mode):
    options = {"samples": 3, "seed": 5} if kind == "mc-fisher" else {}
    curv = make_curvature(kind, **options)(model, Batch(x, y), make_blocks(model, mode))
    return curv, torch.block_diag(*[c.H for c in curv])


def relative_error(A, B):
    return float((A - B).abs().max() / B.abs().max())


@pytest.mark.parametrize("make_model", MODELS)
@pytest.mark.parametrize("kind", sorted(OPERATORS))
def test_kind_matches_curvlinops_on_the_full_block(kind, make_model):
    model, x, y = make_model()
    ref = reference(kind, model, x, y)
    curv, H = ours(kind, model, x, y, "full")
    assert ref.abs().max() > 1e-2  # a real matrix, not zeros
    assert relative_error(H, ref) < 1e-10
    assert torch.equal(H, H.T)
    loss = nn.functional.cross_entropy(model(x), y)
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, list(model.parameters()))])
    assert torch.allclose(curv[0].g, g, atol=1e-13)
    assert curv[0].loss == pytest.approx(float(loss.detach()), abs=1e-14)


@pytest.mark.parametrize("make_model", MODELS)
@pytest.mark.parametrize("kind", ["ggn", "ef"])
def test_layer_blocks_are_the_diagonal_blocks_of_curvlinops_matrix(kind, make_model):
    model, x, y = make_model()
    ref = reference(kind, model, x, y)
    curv, _ = ours(kind, model, x, y, "layer")
    start = 0
    for c in curv:
        n = c.block.size
        assert relative_error(c.H, ref[start:start + n, start:start + n]) < 1e-10
        start += n
    assert start == ref.shape[0] and len(curv) == 2


def test_sequence_gradient_sums_positions_in_weight_order():
    """The per-example gradient of a Linear weight fed a sequence is sum_t delta_t a_t^T (out x in),
    so the EF built from it has the (out, in) index order; the transposed sum_t a_t delta_t^T
    gives a different matrix."""
    model, x, y = sequence_model()
    (c,) = EmpiricalFisher()(model, Batch(x, y), make_blocks(model, "tensor")[:1])
    rows = []
    for n in range(x.shape[0]):
        a = x[n].clone()
        s = model[0](a).detach().requires_grad_(True)
        out = model[3](torch.tanh(s).mean(0))
        (delta,) = torch.autograd.grad(nn.functional.cross_entropy(out[None], y[n:n + 1]), s)
        rows.append(torch.einsum("to,ti->oi", delta, a).reshape(-1))
    G = torch.stack(rows)
    expected = G.T @ G / x.shape[0]
    assert relative_error(c.H, expected) < 1e-12
    transposed = torch.stack([r.reshape(4, 3).T.reshape(-1) for r in rows])
    assert relative_error(c.H, transposed.T @ transposed / x.shape[0]) > 1e-2


def test_ggn_equals_hessian_for_a_linear_model_and_is_psd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3)).double()
    x, y = torch.randn(9, 4, dtype=torch.float64), torch.randint(0, 3, (9,))
    blocks = make_blocks(model, "full")
    (h,) = make_curvature("hessian")(model, Batch(x, y), blocks)
    (g,) = GGN()(model, Batch(x, y), blocks)
    assert relative_error(g.H, h.H) < 1e-12  # no network curvature term for a linear model
    model, x, y = mlp()
    (g,) = GGN()(model, Batch(x, y), make_blocks(model, "full"))
    (h,) = make_curvature("hessian")(model, Batch(x, y), make_blocks(model, "full"))
    assert torch.linalg.eigvalsh(g.H).min() > -1e-12
    assert torch.linalg.eigvalsh(h.H).min() < -1e-4  # the tanh network's Hessian is indefinite here


def test_mc_fisher_tends_to_the_ggn():
    model, x, y = mlp()
    blocks = make_blocks(model, "full")
    (ggn,) = GGN()(model, Batch(x, y), blocks)
    errors = {}
    for samples in (1, 4000):
        (mc,) = MonteCarloFisher(samples=samples, seed=11)(model, Batch(x, y), blocks)
        errors[samples] = float(torch.linalg.matrix_norm(mc.H - ggn.H) / torch.linalg.matrix_norm(ggn.H))
    assert errors[4000] < 0.05
    assert errors[1] > 4 * errors[4000]
    # the same seed draws the same labels: the matrix repeats bit for bit
    (a,) = MonteCarloFisher(samples=2, seed=3)(model, Batch(x, y), blocks)
    (b,) = MonteCarloFisher(samples=2, seed=3)(model, Batch(x, y), blocks)
    assert torch.equal(a.H, b.H)


def test_float32_and_options_are_checked():
    model, x, y = mlp()
    (c32,) = GGN(dtype=torch.float32)(model, Batch(x, y), make_blocks(model, "full"))
    (c64,) = GGN()(model, Batch(x, y), make_blocks(model, "full"))
    assert c32.H.dtype == torch.float32 and torch.allclose(c32.H.double(), c64.H, atol=1e-6)
    with pytest.raises(ValueError, match="dtype"):
        EmpiricalFisher(dtype=torch.int64)
    with pytest.raises(ValueError, match="samples"):
        MonteCarloFisher(samples=0)
    with pytest.raises(ValueError, match="mean-reduced"):
        GGN()(model, Batch(x, y, lambda z, t: nn.functional.cross_entropy(z, t, reduction="sum")),
              make_blocks(model, "full"))
    with pytest.raises(ValueError, match="cross-entropy"):
        MonteCarloFisher()(model, Batch(x, y.double(), lambda z, t: ((z[:, 0] - t) ** 2).mean()),
                           make_blocks(model, "full"))


def test_registry_lists_every_kind():
    assert curvature_kinds() == ("hessian", "ggn", "ef", "mc-fisher", "kfac")
    assert set(CURVATURES) == set(curvature_kinds())
    for kind in curvature_kinds():
        assert make_curvature(kind).kind == kind
    with pytest.raises(UsageError, match="curvature: must be one of"):
        make_curvature("fisher")
