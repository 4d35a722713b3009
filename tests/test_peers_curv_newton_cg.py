"""Newton-CG: with enough CG iterations its direction is the dense damped Newton direction
(H + damping I)^{-1} g (Hessian) or (GGN + damping I)^{-1} g, the products match dense matrices,
and CG truncates at non-positive curvature."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, hessian

from qnewton.curvature.base import Batch, BatchClosure
from qnewton.curvature.blocks import make_blocks
from qnewton.curvature.ggn import GGN
from qnewton.optim.curvature_based import NewtonCG, conjugate_gradient, curvature_matvec


def tiny(seed: int = 0) -> tuple[torch.nn.Module, Batch]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    return model, Batch(torch.randn(20, 4, dtype=torch.float64), torch.randint(0, 3, (20,)))


def dense_hessian(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat):
        parts = torch.split(flat, [p.numel() for p in model.parameters()])
        return batch.loss_fn(functional_call(model, {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)},
                                             (batch.inputs,)), batch.targets)

    return hessian(loss)(theta)


def gradient(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    BatchClosure(model, batch)()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double()


@pytest.mark.parametrize("curvature", ["hessian", "ggn"])
def test_products_match_the_dense_matrices(curvature):
    model, batch = tiny()
    if curvature == "hessian":
        C = dense_hessian(model, batch)
    else:
        C = GGN()(model, batch, make_blocks(model, "full"))[0].H
    matvec = curvature_matvec(model, list(model.parameters()), batch, curvature)
    v = torch.randn(C.shape[0], dtype=torch.float64)
    assert torch.allclose(matvec(v), C @ v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("curvature", ["hessian", "ggn"])
def test_with_enough_cg_iterations_the_step_is_the_dense_damped_newton_step(curvature):
    model, batch = tiny()
    C = dense_hessian(model, batch) if curvature == "hessian" else GGN()(model, batch, make_blocks(model, "full"))[0].H
    n = C.shape[0]
    # damping above the most negative eigenvalue keeps C + damping I positive definite
    damping = max(0.0, -float(torch.linalg.eigvalsh(C)[0])) + 0.05
    g = gradient(model, batch)
    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    opt = NewtonCG(model.parameters(), lr=0.7, damping=damping, cg_iters=4 * n, tol=1e-13, curvature=curvature)
    opt.step(BatchClosure(model, batch))
    theta1 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    expected = -0.7 * torch.linalg.solve(C + damping * torch.eye(n, dtype=torch.float64), g)
    assert torch.allclose(theta1 - theta0, expected, rtol=1e-6, atol=1e-9)
    assert opt.flat_state["cg_iterations"] <= 4 * n


def test_a_small_cg_budget_truncates_and_still_descends():
    model, batch = tiny()
    g = gradient(model, batch)
    matvec = curvature_matvec(model, list(model.parameters()), batch, "ggn")
    d, iters = conjugate_gradient(matvec, g, 2, 0.0, 0.1)
    assert iters == 2
    assert float(g @ d) > 0  # -d is a descent direction


def test_cg_stops_at_non_positive_curvature():
    b = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    d, iters = conjugate_gradient(lambda v: -v, b, 10)
    assert iters == 0 and torch.equal(d, b)
    A = torch.diag(torch.tensor([2.0, 1.0, 4.0], dtype=torch.float64))
    d, _ = conjugate_gradient(lambda v: A @ v, b, 10, tol=1e-14)
    assert torch.allclose(d, torch.linalg.solve(A, b))


@pytest.mark.parametrize("kwargs, name", [({"lr": 0.0}, "lr"), ({"damping": -1.0}, "damping"), ({"cg_iters": 0}, "cg_iters"),
                                          ({"tol": -1.0}, "tol"), ({"curvature": "fisher"}, "curvature")])
def test_bad_hyper_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        NewtonCG(torch.nn.Linear(3, 2).parameters(), **kwargs)
