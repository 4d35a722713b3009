"""Subsampled Newton and Levenberg-Marquardt: the subsampled step is the exact regularized solve
on the subsample's dense block Hessians, and the LM damping follows S2QN eq. 8 on a constructed
sequence of gradient norms."""

from __future__ import annotations

import pytest
import torch

from qnewton.curvature.base import Batch, BatchClosure
from qnewton.curvature.blocks import make_blocks
from qnewton.curvature.ggn import GGN
from qnewton.curvature.hessian import ExactHessian
from qnewton.optim.curvature_based import (LevenbergMarquardt, SubsampledNewton, regularized_solve, s2qn_damping,
                                           subsample_indices)


def tiny(seed: int = 0, n: int = 24) -> tuple[torch.nn.Module, Batch]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    return model, Batch(torch.randn(n, 4, dtype=torch.float64), torch.randint(0, 3, (n,)))


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def gradient(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    BatchClosure(model, batch)()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_subsample_is_reproducible_distinct_and_sized():
    a = subsample_indices(64, 0.25, 3, 7)
    assert torch.equal(a, subsample_indices(64, 0.25, 3, 7))
    assert a.numel() == 16 and a.unique().numel() == 16 and int(a.max()) < 64
    assert not torch.equal(a, subsample_indices(64, 0.25, 3, 8))
    assert subsample_indices(3, 0.01, 0, 0).numel() == 1


@pytest.mark.parametrize("mode", ["layer", "full"])
def test_ssn_step_is_the_regularized_solve_on_the_subsample_hessian(mode):
    model, batch = tiny()
    g = gradient(model, batch)
    theta0 = flat(model)
    idx = subsample_indices(24, 0.5, 0, 0)
    sub = Batch(batch.inputs[idx], batch.targets[idx])
    blocks = make_blocks(model, mode)
    curv = ExactHessian()(model, sub, blocks)
    SubsampledNewton(model.parameters(), lr=0.5, damping=0.2, hessian_fraction=0.5, blocks=mode).step(
        BatchClosure(model, batch))
    step = flat(model) - theta0
    offset = 0
    for block, c in zip(blocks, curv):
        gb = g[offset:offset + block.size]
        lam, V = torch.linalg.eigh(c.H)
        expected = -0.5 * V @ ((V.T @ gb) / (lam.clamp(min=0) + 0.2))
        assert torch.allclose(step[offset:offset + block.size], expected, rtol=1e-8, atol=1e-12)
        offset += block.size


def test_regularized_solve_is_the_damped_inverse_on_a_positive_definite_matrix():
    torch.manual_seed(0)
    M = torch.randn(6, 6, dtype=torch.float64)
    H = M @ M.T
    g = torch.randn(6, dtype=torch.float64)
    assert torch.allclose(regularized_solve(H, g, 0.1), torch.linalg.solve(H + 0.1 * torch.eye(6, dtype=torch.float64), g))
    # an indefinite matrix: negative curvature is dropped, so the step still descends
    H2 = torch.diag(torch.tensor([-3.0, 1.0], dtype=torch.float64))
    d = regularized_solve(H2, torch.tensor([1.0, 1.0], dtype=torch.float64), 0.5)
    assert torch.allclose(d, torch.tensor([2.0, 1.0 / 1.5], dtype=torch.float64))


def test_ssn_refuses_a_block_above_max_block():
    model, batch = tiny()
    opt = SubsampledNewton(model.parameters(), blocks="full", max_block=10)
    with pytest.raises(ValueError, match="^max_block:"):
        opt.step(BatchClosure(model, batch))


def test_eq8_damping_cases():
    alpha, r1, r2 = 4.0, 0.1, 2.0
    assert s2qn_damping(None, alpha, r1, r2) == 0.25
    assert s2qn_damping(0.05, alpha, r1, r2) == pytest.approx(2 * 0.1 / 0.15 / 4.0)  # ||g|| < r1
    assert s2qn_damping(0.1, alpha, r1, r2) == pytest.approx(0.25)  # at r1: the middle case
    assert s2qn_damping(1.0, alpha, r1, r2) == pytest.approx(0.25)
    assert s2qn_damping(6.0, alpha, r1, r2) == pytest.approx(2 * 6.0 / 8.0 / 4.0)  # ||g|| > r2
    assert s2qn_damping(0.0, alpha, r1, r2) == pytest.approx(2.0 / alpha)  # the supremum 2 / alpha


def test_lm_damping_follows_eq8_over_a_sequence_of_gradient_norms():
    """Scaled copies of one batch loss give gradients of chosen norms; each step's lambda must be
    eq. 8 of the PREVIOUS step's gradient norm, and the step (GGN + lambda I)^{-1} g."""
    model, batch = tiny(1)
    alpha, r1, r2 = 2.0, 0.05, 0.5
    opt = LevenbergMarquardt(model.parameters(), lr=1e-3, alpha=alpha, r1=r1, r2=r2, cg_iters=200, tol=1e-14)
    scales = [1.0, 0.01, 100.0, 1.0, 0.001]
    norms: list[float] = []
    for k, scale in enumerate(scales):
        scaled = Batch(batch.inputs, batch.targets, lambda z, y, s=scale: s * torch.nn.functional.cross_entropy(z, y))
        g = gradient(model, scaled)
        C = GGN()(model, scaled, make_blocks(model, "full"))[0].H
        theta0 = flat(model)
        opt.step(BatchClosure(model, scaled))
        lam = s2qn_damping(norms[-1] if norms else None, alpha, r1, r2)
        assert opt.flat_state["damping"] == pytest.approx(lam, rel=1e-12), k
        expected = -1e-3 * torch.linalg.solve(C + lam * torch.eye(C.shape[0], dtype=torch.float64), g)
        assert torch.allclose(flat(model) - theta0, expected, rtol=1e-6, atol=1e-12), k
        norms.append(float(g.norm()))
    # the constructed norms visit every case of eq. 8
    assert min(norms) < r1 and max(norms) > r2 and any(r1 <= n <= r2 for n in norms)


@pytest.mark.parametrize("make, name", [
    (lambda p: SubsampledNewton(p, lr=0.0), "lr"),
    (lambda p: SubsampledNewton(p, damping=0.0), "damping"),
    (lambda p: SubsampledNewton(p, hessian_fraction=1.5), "hessian_fraction"),
    (lambda p: SubsampledNewton(p, blocks="diag"), "blocks"),
    (lambda p: SubsampledNewton(p, max_block=0), "max_block"),
    (lambda p: LevenbergMarquardt(p, alpha=0.0), "alpha"),
    (lambda p: LevenbergMarquardt(p, r1=1.0, r2=0.5), "r2"),
    (lambda p: LevenbergMarquardt(p, r1=-1.0), "r1"),
    (lambda p: LevenbergMarquardt(p, cg_iters=0), "cg_iters"),
])
def test_bad_hyper_parameters_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        make(torch.nn.Linear(3, 2).parameters())
