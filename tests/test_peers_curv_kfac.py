"""The K-FAC optimizer: its step is the damped Kronecker-factored solve on the factors of
qnewton.curvature.kfac, the factors are running averages refreshed every update_interval steps,
and a model with a non-Linear parameter is refused."""

from __future__ import annotations

import math

import pytest
import torch

from qnewton.curvature.base import Batch, BatchClosure, KroneckerFactors
from qnewton.curvature.blocks import make_blocks
from qnewton.curvature.kfac import KFAC
from qnewton.errors import UsageError
from qnewton.optim.curvature_based import KFACOptimizer, damped_factor_inverses


def tiny(seed: int = 0) -> tuple[torch.nn.Module, list[Batch]]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()
    batches = [Batch(torch.randn(12, 5, dtype=torch.float64), torch.randint(0, 3, (12,))) for _ in range(3)]
    return model, batches


def test_first_step_is_the_damped_kronecker_solve_per_layer():
    model, batches = tiny()
    lr, damping = 0.5, 0.03
    blocks = make_blocks(model, "layer")
    curv = KFAC()(model, batches[0], blocks)
    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    KFACOptimizer(model.parameters(), lr=lr, damping=damping).step(BatchClosure(model, batches[0]))
    theta1 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    offset = 0
    for block, c in zip(blocks, curv):
        A, G = c.factors.A, c.factors.G
        pi = math.sqrt((float(torch.trace(A)) / A.shape[0]) / (float(torch.trace(G)) / G.shape[0]))
        root = math.sqrt(damping)
        damped = KroneckerFactors(A + pi * root * torch.eye(A.shape[0], dtype=A.dtype),
                                  G + root / pi * torch.eye(G.shape[0], dtype=G.dtype), c.factors.index)
        expected = -lr * torch.linalg.solve(damped.dense(), c.g)  # dense (G_d (x) A_d)^{-1} g
        got = theta1[offset:offset + block.size] - theta0[offset:offset + block.size]
        assert torch.allclose(got, expected, rtol=1e-8, atol=1e-12), block.name
        offset += block.size


def test_damped_inverses_use_factored_tikhonov_damping():
    A = torch.diag(torch.tensor([4.0, 2.0], dtype=torch.float64))
    G = torch.diag(torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    A_inv, G_inv = damped_factor_inverses(A, G, 0.04)
    pi = math.sqrt(3.0 / 1.0)
    assert torch.allclose(A_inv, torch.diag(1.0 / torch.tensor([4.0, 2.0], dtype=torch.float64) .add(pi * 0.2)))
    assert torch.allclose(G_inv, torch.eye(3, dtype=torch.float64) / (1.0 + 0.2 / pi))


@pytest.mark.parametrize("interval", [1, 2])
def test_factors_are_running_averages_refreshed_every_interval(interval):
    model, batches = tiny()
    decay = 0.8
    opt = KFACOptimizer(model.parameters(), lr=0.1, decay=decay, update_interval=interval)
    blocks = make_blocks(model, "layer")
    first = KFAC()(model, batches[0], blocks)
    opt.step(BatchClosure(model, batches[0]))
    second = KFAC()(model, batches[1], blocks)  # at the parameters after one step
    opt.step(BatchClosure(model, batches[1]))
    state = opt.flat_state
    for i, (a, b) in enumerate(zip(first, second)):
        if interval == 1:
            expect_A = decay * a.factors.A + (1 - decay) * b.factors.A
            expect_G = decay * a.factors.G + (1 - decay) * b.factors.G
        else:  # the second step reuses the first batch's factors
            expect_A, expect_G = a.factors.A, a.factors.G
        assert torch.allclose(state["A"][i], expect_A, rtol=1e-12, atol=1e-14)
        assert torch.allclose(state["G"][i], expect_G, rtol=1e-12, atol=1e-14)
    assert state["A"][0].dtype == torch.float64


def test_a_parameter_outside_a_linear_layer_is_refused():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    batch = Batch(torch.randn(6, 3), torch.randint(0, 2, (6,)))
    opt = KFACOptimizer(model.parameters())
    with pytest.raises(UsageError, match="Linear"):
        opt.step(BatchClosure(model, batch))


def test_kfac_learns_a_small_problem():
    model, batches = tiny(1)
    batch = Batch(torch.cat([b.inputs for b in batches]), torch.cat([b.targets for b in batches]))
    opt = KFACOptimizer(model.parameters(), lr=0.5, damping=1e-2)
    losses = [float(opt.step(BatchClosure(model, batch))) for _ in range(30)]
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("kwargs, name", [({"lr": 0.0}, "lr"), ({"damping": 0.0}, "damping"), ({"decay": 1.0}, "decay"),
                                          ({"update_interval": 0}, "update_interval"),
                                          ({"momentum": -0.5}, "momentum"), ({"fisher_type": "x"}, "fisher_type")])
def test_bad_hyper_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        KFACOptimizer(torch.nn.Linear(3, 2).parameters(), **kwargs)

