"""S2QN (paper 001 Algorithm 1): the L-BFGS refinement satisfies its secant condition, the
Sherman-Morrison-Woodbury inverse (eq. 13) equals a dense inverse, the Kronecker base inverts like
its dense matrix, and the S4QN step is the dense structured solve with eq. 8 damping."""

from __future__ import annotations

import pytest
import torch

from qnewton.curvature.base import Batch, BatchClosure
from qnewton.curvature.blocks import make_blocks
from qnewton.curvature.hessian import ExactHessian
from qnewton.curvature.kfac import KFAC
from qnewton.optim.curvature_based import S4QN, SKQNL, refinement_matrix, s2qn_damping, smw_solve
from qnewton.optim.curvature_based.s2qn import KroneckerBase, damp_pair

F64 = torch.float64


def spd(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(n, n, generator=g, dtype=F64)
    return M @ M.T / n + 0.1 * torch.eye(n, dtype=F64)


def pairs(n: int, p: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(n, p, generator=g, dtype=F64)
    return U, spd(n, seed + 1) @ U  # u^T v > 0 for every pair


def test_damped_pair_has_positive_curvature_and_is_unchanged_when_it_has_enough():
    u = torch.tensor([1.0, 2.0], dtype=F64)
    v, tau = damp_pair(u, torch.tensor([-1.0, 0.0], dtype=F64), 0.5)
    assert 0 < tau < 1 and float(u @ v) == pytest.approx(0.25 * 0.5 * float(u @ u))
    w = torch.tensor([3.0, 1.0], dtype=F64)
    assert damp_pair(u, w, 0.5) == (w, 1.0)


def test_refinement_satisfies_the_secant_condition_of_its_newest_pair():
    U, V = pairs(7, 3, 0)
    Lam = refinement_matrix(U, V, 0.5)
    assert torch.allclose(Lam @ U[:, -1], V[:, -1], rtol=1e-10, atol=1e-12)
    assert torch.allclose(Lam, Lam.T, atol=1e-12)
    assert float(torch.linalg.eigvalsh(Lam)[0]) > 0  # BFGS keeps it positive definite


@pytest.mark.parametrize("p", [0, 1, 4])
def test_smw_inverse_equals_the_dense_inverse(p):
    n, gamma, lam = 9, 0.3, 0.2
    H = spd(n, 5) - 0.05 * torch.eye(n, dtype=F64)
    U, V = pairs(n, p, 7)
    g = torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(9))
    Ht = H + (gamma + lam) * torch.eye(n, dtype=F64)
    got = smw_solve(lambda X: torch.linalg.solve(Ht, X), U, V, gamma, g)
    B = H + (refinement_matrix(U, V, gamma) if p else gamma * torch.eye(n, dtype=F64))
    assert torch.allclose(got, torch.linalg.solve(B + lam * torch.eye(n, dtype=F64), g), rtol=1e-9, atol=1e-11)


def tiny(seed: int = 0) -> tuple[torch.nn.Module, Batch]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    return model, Batch(torch.randn(30, 4, dtype=F64), torch.randint(0, 3, (30,)))


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def gradient(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    BatchClosure(model, batch)()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_kronecker_base_matches_its_dense_matrix():
    model, batch = tiny()
    blocks = make_blocks(model, "layer")
    curv = KFAC(fisher_type="empirical")(model, batch, blocks)
    n = sum(b.size for b in blocks)
    layers, dense, offset = [], torch.zeros(n, n, dtype=F64), 0
    for b, c in zip(blocks, curv):
        pos = torch.arange(offset, offset + b.size)
        layers.append((pos, c.factors.index, c.factors.A, c.factors.G))
        dense[offset:offset + b.size, offset:offset + b.size] = c.H
        offset += b.size
    base = KroneckerBase(n, layers)
    v = torch.randn(n, dtype=F64)
    assert torch.allclose(base.matvec(v), dense @ v, rtol=1e-9, atol=1e-12)
    X = torch.randn(n, 3, dtype=F64)
    assert torch.allclose(base.solve(X, 0.7), torch.linalg.solve(dense + 0.7 * torch.eye(n, dtype=F64), X),
                          rtol=1e-8, atol=1e-11)


def test_s4qn_steps_solve_the_structured_model_and_keep_the_secant_condition():
    model, batch = tiny()
    gamma, alpha, r1, r2, lr = 1e-3, 5.0, 0.01, 1.0, 0.5
    opt = S4QN(model.parameters(), lr=lr, gamma=gamma, memory=3, alpha=alpha, r1=r1, r2=r2, hessian_fraction=1.0)
    blocks = make_blocks(model, "full")
    thetas, grads = [], []
    for k in range(4):
        theta, g = flat(model), gradient(model, batch)
        H = ExactHessian()(model, batch, blocks)[0].H
        lam_H, Q = torch.linalg.eigh(H)
        H_psd = Q @ torch.diag(lam_H.clamp(min=0)) @ Q.T
        opt.step(BatchClosure(model, batch))
        state = opt.flat_state
        U, V = opt.pairs()
        assert U.shape[1] == min(k, 3)  # every pair is kept once damped
        lam = s2qn_damping(float(grads[-1].norm()) if grads else None, alpha, r1, r2)
        assert state["damping"] == pytest.approx(lam, rel=1e-12)
        Lam = refinement_matrix(U, V, gamma) if U.shape[1] else gamma * torch.eye(H.shape[0], dtype=F64)
        B = H_psd + Lam
        if U.shape[1]:
            u, v_hat = theta - thetas[-1], g - grads[-1]
            assert torch.allclose(U[:, -1], u, rtol=1e-12, atol=1e-14)
            # the refinement's secant condition Lambda_k u = v for the damped v of the newest pair
            assert torch.allclose(Lam @ u, V[:, -1], rtol=1e-7, atol=1e-10), k
            v_expected, tau = damp_pair(u, v_hat - H_psd @ u, gamma)
            assert tau == pytest.approx(state["pair_damping"], rel=1e-9)
            assert torch.allclose(V[:, -1], v_expected, rtol=1e-7, atol=1e-10), k
            if tau == 1.0:  # undamped: eq. 10, (H_k + Lambda_k) u = v^
                assert torch.allclose(B @ u, v_hat, rtol=1e-7, atol=1e-10), k
        expected = -lr * torch.linalg.solve(B + lam * torch.eye(H.shape[0], dtype=F64), g)
        assert torch.allclose(flat(model) - theta, expected, rtol=1e-7, atol=1e-10), k
        assert opt.last_gradient_evaluations == 2
        thetas.append(theta)
        grads.append(g)


def test_skqn_l_learns_a_small_problem_and_round_trips_its_state():
    import io

    model, batch = tiny(2)
    opt = SKQNL(model.parameters(), lr=1.0, gamma=1e-3)
    losses = [float(opt.step(BatchClosure(model, batch))) for _ in range(25)]
    assert losses[-1] < 0.75 * losses[0]
    assert opt.pairs()[0].shape[1] >= 1
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    twin_model, _ = tiny(2)
    twin_model.load_state_dict(model.state_dict())
    twin = SKQNL(twin_model.parameters(), lr=1.0, gamma=1e-3)
    twin.load_state_dict(torch.load(buf, weights_only=True))
    opt.step(BatchClosure(model, batch))
    twin.step(BatchClosure(twin_model, batch))
    assert torch.equal(flat(model), flat(twin_model))


@pytest.mark.parametrize("make, name", [
    (lambda p: S4QN(p, gamma=0.0), "gamma"),
    (lambda p: S4QN(p, memory=-1), "memory"),
    (lambda p: S4QN(p, hessian_fraction=0.0), "hessian_fraction"),
    (lambda p: S4QN(p, max_params=0), "max_params"),
    (lambda p: SKQNL(p, r1=2.0, r2=1.0), "r2"),
    (lambda p: SKQNL(p, eps_B=-1.0), "eps_B"),
    (lambda p: SKQNL(p, lr=0.0), "lr"),
])
def test_bad_hyper_parameters_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        make(torch.nn.Linear(3, 2).parameters())
