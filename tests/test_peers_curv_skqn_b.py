"""SKQN-B1 / SKQN-B2 (paper 001 Secs. 4.1-4.2): the block BFGS refinement satisfies its
multi-secant condition (damped where the pair lacks curvature), and each optimizer's first step
and refinement update are the stated formulas (eqs. 18-22)."""

from __future__ import annotations

import math

import pytest
import torch

from qnewton.curvature.base import Batch, BatchClosure, KroneckerFactors
from qnewton.curvature.blocks import make_blocks
from qnewton.curvature.kfac import KFAC
from qnewton.optim.curvature_based import SKQNB1, SKQNB2, block_bfgs_update, s2qn_damping
from qnewton.optim.curvature_based.skqn_b import layer_signals, sketch

F64 = torch.float64


def spd(n: int, seed: int, floor: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(n, n, generator=g, dtype=F64)
    return M @ M.T / n + floor * torch.eye(n, dtype=F64)


@pytest.mark.parametrize("q", [1, 3])
def test_block_bfgs_update_satisfies_the_multi_secant_condition(q):
    n = 5
    Lam = spd(n, 0, 0.5)
    U = torch.randn(n, q, dtype=F64, generator=torch.Generator().manual_seed(1))
    V = spd(n, 2, 1.0) @ U  # V^T U symmetric positive definite
    new, tau = block_bfgs_update(Lam, U, V, "sym")
    assert tau == 1.0
    assert torch.allclose(new @ U, V, rtol=1e-9, atol=1e-11)
    assert torch.equal(new, new.T) and float(torch.linalg.eigvalsh(new)[0]) > 0


def test_block_bfgs_damps_a_pair_without_curvature():
    n = 4
    Lam = torch.eye(n, dtype=F64)
    U = torch.randn(n, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    V = -0.5 * U  # negative curvature
    new, tau = block_bfgs_update(Lam, U, V, "sym")
    # mu = -0.5, tau = 0.75 / 1.5; the damped pair is tau V + (1 - tau) Lam U = 0.25 U
    assert tau == pytest.approx(0.5)
    assert torch.allclose(new @ U, 0.25 * U, rtol=1e-9, atol=1e-11)
    assert float(torch.linalg.eigvalsh(new)[0]) > 0
    trace_new, trace_tau = block_bfgs_update(Lam, U, V, "trace")
    assert trace_tau == pytest.approx(0.5) and float(torch.linalg.eigvalsh(trace_new)[0]) > 0


def tiny(seed: int = 0) -> tuple[torch.nn.Module, Batch]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    return model, Batch(torch.randn(16, 4, dtype=F64), torch.randint(0, 3, (16,)))


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def gradient(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    BatchClosure(model, batch)()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("cls", [SKQNB1, SKQNB2])
def test_first_step_and_refinement_update_follow_eqs_18_to_22(cls):
    model, batch = tiny()
    gamma, lr, k = 0.7, 0.5, 2
    blocks = make_blocks(model, "layer")
    curv = KFAC(fisher_type="empirical")(model, batch, blocks)
    theta0, g0 = flat(model), gradient(model, batch)
    modules = ["0", "2"]
    before = layer_signals(model, batch, modules)
    opt = cls(model.parameters(), lr=lr, gamma=gamma, sketch_size=k)
    opt.step(BatchClosure(model, batch))
    theta1, g1 = flat(model), gradient(model, batch)
    after = layer_signals(model, batch, modules)
    lam = s2qn_damping(None, 10.0, 0.01, 1.0)
    offset = 0
    for i, (block, c) in enumerate(zip(blocks, curv)):
        A, G, index = c.factors.A, c.factors.G, c.factors.index
        sl = slice(offset, offset + block.size)
        # eq. 18 with Lam_0 = gamma I: (A (x) (G + gamma I) + lambda I)^{-1} g, per layer
        dense = KroneckerFactors(A, G + gamma * torch.eye(G.shape[0], dtype=F64), index).dense()
        expected = -lr * torch.linalg.solve(dense + lam * torch.eye(block.size, dtype=F64), g0[sl])
        assert torch.allclose(theta1[sl] - theta0[sl], expected, rtol=1e-8, atol=1e-11)
        if cls is SKQNB1:  # eq. 19
            U = (theta1 - theta0)[sl][index]
            V = (g1 - g0)[sl][index] - G @ U @ A
        else:  # eq. 20
            U = after[i][0] - before[i][0]
            V = (after[i][1] - before[i][1]) - G @ U
        q = min(k, U.shape[0], U.shape[1])
        Xi = sketch(U.shape[1], q, 0, 0, i)
        want, _ = block_bfgs_update(gamma * torch.eye(G.shape[0], dtype=F64), U @ Xi, V @ Xi, "sym")
        assert torch.allclose(opt.refinements()[i], want, rtol=1e-7, atol=1e-10), (cls.__name__, i)
        assert not torch.allclose(want, gamma * torch.eye(G.shape[0], dtype=F64))
        offset += block.size
    assert opt.last_gradient_evaluations == (2 if cls is SKQNB1 else 3)


def test_layer_signals_are_per_example_output_gradients():
    model, batch = tiny()
    (s, delta), = layer_signals(model, batch, ["2"])
    z = model(batch.inputs).detach().requires_grad_(True)
    (dz,) = torch.autograd.grad(torch.nn.functional.cross_entropy(z, batch.targets, reduction="sum"), z)
    assert torch.allclose(s, z.detach().T) and torch.allclose(delta, dz.T)


@pytest.mark.parametrize("make, name", [
    (lambda p: SKQNB1(p, gamma=0.0), "gamma"),
    (lambda p: SKQNB1(p, sketch_size=0), "sketch_size"),
    (lambda p: SKQNB2(p, P_type="diag"), "P_type"),
    (lambda p: SKQNB2(p, r1=3.0, r2=1.0), "r2"),
])
def test_bad_hyper_parameters_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        make(torch.nn.Linear(3, 2).parameters())
