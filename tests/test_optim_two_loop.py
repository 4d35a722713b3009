"""The two-loop recursion equals the dense BFGS inverse-Hessian update it stands for."""

import pytest
import torch

from qnewton.optim.two_loop import add_flat, assign_flat, flat, flat_grad, initial_scaling, two_loop


def _dense_bfgs_inverse(s_list, y_list, gamma, n):
    h = gamma * torch.eye(n, dtype=torch.float64)
    eye = torch.eye(n, dtype=torch.float64)
    for s, y in zip(s_list, y_list):
        rho = 1.0 / torch.dot(y, s)
        h = (eye - rho * torch.outer(s, y)) @ h @ (eye - rho * torch.outer(y, s)) + rho * torch.outer(s, s)
    return h


def test_two_loop_equals_dense_bfgs_and_satisfies_the_secant_equation():
    gen = torch.Generator().manual_seed(3)
    n, m = 12, 5
    a = torch.randn(n, n, dtype=torch.float64, generator=gen)
    hess = a @ a.T + n * torch.eye(n, dtype=torch.float64)  # SPD, so y^T s > 0 for y = H s
    s_list = [torch.randn(n, dtype=torch.float64, generator=gen) for _ in range(m)]
    y_list = [hess @ s for s in s_list]
    gamma = float(initial_scaling(s_list[-1], y_list[-1]))
    v = torch.randn(n, dtype=torch.float64, generator=gen)
    dense = _dense_bfgs_inverse(s_list, y_list, gamma, n)
    assert torch.allclose(two_loop(v, s_list, y_list, gamma), dense @ v, rtol=1e-10, atol=1e-12)
    # the newest pair's secant equation H y = s holds exactly
    assert torch.allclose(two_loop(y_list[-1], s_list, y_list, gamma), s_list[-1], rtol=1e-10, atol=1e-12)
    # no pairs: gamma * v
    assert torch.equal(two_loop(v, [], [], 2.0), 2.0 * v)


def test_two_loop_refuses_bad_pairs():
    s = torch.tensor([1.0, 0.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="y\\^T s must be > 0"):
        two_loop(s, [s], [-s])
    with pytest.raises(ValueError, match="same length"):
        two_loop(s, [s], [])


def test_flat_views_round_trip():
    params = [torch.zeros(2, 3), torch.zeros(4)]
    v = torch.arange(10, dtype=torch.float32)
    assign_flat(params, v)
    assert torch.equal(flat(params), v)
    add_flat(params, torch.ones(10), alpha=2.0)
    assert torch.equal(flat(params), v + 2.0)
    params[0].grad = torch.ones(2, 3)
    assert torch.equal(flat_grad(params), torch.cat([torch.ones(6), torch.zeros(4)]))
    with pytest.raises(ValueError, match="has 3 entries"):
        assign_flat(params, torch.zeros(3))
