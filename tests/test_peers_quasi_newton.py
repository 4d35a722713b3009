"""BFGS, SLIM-QN and nonlinear CG against independent computations: quadratic termination, the
secant equation, the L-BFGS direction, linear CG, and the optimum of logistic regression found by
scipy's L-BFGS-B."""

import math

import numpy as np
import pytest
import torch

from qnewton.optim.quasi_newton import BFGS, SLIMQN, NonlinearCG, bfgs_update, damping_tau
from qnewton.optim.two_loop import flat


def spd_quadratic(n: int, kappa: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A (n x n SPD, eigenvalues from 1 to kappa) and b, float64."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.logspace(0, math.log10(kappa), n, dtype=torch.float64)) @ q.T
    return (a + a.T) / 2, torch.randn(n, generator=g, dtype=torch.float64)


class Quadratic:
    """f(x) = x^T A x / 2 - b^T x on one float64 parameter vector, with a closure."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, x0: torch.Tensor | None = None) -> None:
        self.a, self.b = a, b
        self.x = torch.nn.Parameter(torch.zeros_like(b) if x0 is None else x0.clone())

    def closure(self) -> torch.Tensor:
        self.x.grad = None
        with torch.enable_grad():
            loss = 0.5 * self.x @ self.a @ self.x - self.b @ self.x
            loss.backward()
        return loss.detach()


EXACT = dict(line_search="strong_wolfe", c1=1e-10, c2=1e-9, max_evals=50)  # exact on a quadratic


def test_bfgs_with_exact_line_search_terminates_in_n_steps_on_a_quadratic():
    n = 8
    a, b = spd_quadratic(n, 100.0, seed=1)
    xstar = torch.linalg.solve(a, b)
    q = Quadratic(a, b)
    opt = BFGS([q.x], **EXACT)
    errors = []
    for _ in range(n):
        opt.step(q.closure)
        errors.append(float((q.x.detach() - xstar).norm() / xstar.norm()))
    assert errors[-1] < 1e-8, errors
    assert errors[n // 2] > 1e-4  # not solved early by accident: it is the n-step property at work
    # with exact line searches H_n is the inverse Hessian itself (N&W Theorem 6.4 / Sec. 6.1)
    h = opt.inverse_hessian()
    assert torch.allclose(h, torch.linalg.inv(a), rtol=1e-5, atol=1e-7)


def test_bfgs_update_satisfies_the_secant_equation_and_matches_the_product_form():
    g = torch.Generator().manual_seed(3)
    n = 6
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    h = m @ m.T + torch.eye(n, dtype=torch.float64)
    s = torch.randn(n, generator=g, dtype=torch.float64)
    y = s + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    assert float(y @ s) > 0
    new = bfgs_update(h, s, y)
    assert torch.allclose(new @ y, s, atol=1e-12)  # H_{k+1} y_k = s_k
    rho = 1.0 / float(y @ s)
    eye = torch.eye(n, dtype=torch.float64)
    product = (eye - rho * torch.outer(s, y)) @ h @ (eye - rho * torch.outer(y, s)) + rho * torch.outer(s, s)
    assert torch.allclose(new, product, atol=1e-10)
    assert torch.allclose(new, new.T, atol=1e-12) and float(torch.linalg.eigvalsh(new).min()) > 0


def test_bfgs_steps_keep_the_secant_equation_on_a_nonquadratic_loss():
    torch.manual_seed(0)
    x = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    target = torch.linspace(-1, 1, 5, dtype=torch.float64)

    def loss_and_grad(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = v.detach().requires_grad_(True)
        f = ((v - target) ** 2).sum() + 0.1 * (v ** 4).sum()
        (grad,) = torch.autograd.grad(f, v)
        return f.detach(), grad

    def closure() -> torch.Tensor:
        f, grad = loss_and_grad(x)
        x.grad = grad.clone()
        return f

    opt = BFGS([x])
    for _ in range(3):
        before = x.detach().clone()
        g_before = loss_and_grad(before)[1]
        opt.step(closure)
        s = x.detach() - before
        y = loss_and_grad(x.detach())[1] - g_before
        assert torch.allclose(opt.inverse_hessian() @ y, s, atol=1e-10)


def dense_lbfgs_matrix(s_list: list[torch.Tensor], y_list: list[torch.Tensor]) -> torch.Tensor:
    """The L-BFGS inverse Hessian as a dense matrix: H_0 = (s^T y / y^T y) I of the newest pair,
    then the BFGS update by each pair, oldest first (written out with matrices)."""
    n = s_list[0].numel()
    eye = torch.eye(n, dtype=torch.float64)
    h = eye * float(s_list[-1] @ y_list[-1]) / float(y_list[-1] @ y_list[-1])
    for s, y in zip(s_list, y_list):
        rho = 1.0 / float(y @ s)
        h = (eye - rho * torch.outer(s, y)) @ h @ (eye - rho * torch.outer(y, s)) + rho * torch.outer(s, s)
    return h


def test_slimqn_without_momentum_or_damping_takes_the_lbfgs_step_of_its_history():
    torch.manual_seed(0)
    n, memory, lr = 6, 3, 0.3
    target = torch.linspace(-1, 2, n, dtype=torch.float64)
    x = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    thetas, grads = [], []

    def closure() -> torch.Tensor:
        x.grad = None
        with torch.enable_grad():
            f = ((x - target) ** 2 * torch.arange(1, n + 1) / n).sum() + 0.05 * (x ** 4).sum()
            f.backward()
        thetas.append(x.detach().clone())
        grads.append(x.grad.detach().clone())
        return f.detach()

    opt = SLIMQN([x], lr=lr, momentum=0.0, beta1=0.0, beta2=0.0, L=1, M=memory, tau0=1.0, sigma_L=0.0,
                 sigma_H=math.inf)
    for t in range(1, 9):
        before = x.detach().clone()
        opt.step(closure)
        step = x.detach() - before
        if t <= 2:  # warm-up: t <= 2L steps of SGD
            assert torch.allclose(step, -lr * grads[-1])
            continue
        # independent pairs from the recorded iterates: s_i = theta_{i+1} - theta_i, y_i = g_{i+1} - g_i
        pairs = [(thetas[i + 1] - thetas[i], grads[i + 1] - grads[i]) for i in range(len(thetas) - 2)][-memory:]
        h = dense_lbfgs_matrix([p[0] for p in pairs], [p[1] for p in pairs])
        assert torch.allclose(step, -lr * h @ grads[-1], atol=1e-10), t
        assert float(step.norm()) > 1e-3  # a real step, not a skipped one


def test_slimqn_damping_moves_the_rayleigh_quotient_into_its_band():
    # eq. 4: below sigma_L the damped quotient tau mu + 1 - tau equals sigma_L, above sigma_H it equals sigma_H
    for mu in (-3.0, 0.0, 0.005):
        tau = damping_tau(mu, 1.0, 0.01, 5.0)
        assert tau * mu + 1 - tau == pytest.approx(0.01)
    for mu in (7.0, 100.0):
        tau = damping_tau(mu, 1.0, 0.01, 5.0)
        assert tau * mu + 1 - tau == pytest.approx(5.0)
    assert damping_tau(2.0, 0.95, 0.01, 5.0) == 0.95  # inside the band: tau0
    assert damping_tau(100.0, 0.01, 0.01, 5.0) == 0.01  # capped by tau0


def linear_cg_iterates(a: torch.Tensor, b: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Linear CG on A x = b from x = 0 (N&W Algorithm 5.2), the iterates x_1 .. x_steps."""
    x = torch.zeros_like(b)
    r = a @ x - b
    p = -r
    out = []
    for _ in range(steps):
        alpha = float(r @ r) / float(p @ a @ p)
        x = x + alpha * p
        r_new = r + alpha * (a @ p)
        p = -r_new + float(r_new @ r_new) / float(r @ r) * p
        r = r_new
        out.append(x.clone())
    return out


@pytest.mark.parametrize("beta_type", ["FR", "PR+"])
def test_ncg_with_exact_line_search_equals_linear_cg_on_a_quadratic(beta_type):
    n = 7
    a, b = spd_quadratic(n, 50.0, seed=5)
    reference = linear_cg_iterates(a, b, n)
    q = Quadratic(a, b)
    opt = NonlinearCG([q.x], beta_type=beta_type, **EXACT)
    for k in range(n):
        opt.step(q.closure)
        assert torch.allclose(q.x.detach(), reference[k], rtol=1e-7, atol=1e-9), k
    xstar = torch.linalg.solve(a, b)
    assert float((q.x.detach() - xstar).norm() / xstar.norm()) < 1e-8


# ----------------------------------------------------------------- logistic regression on breast cancer
L2 = 1e-2


@pytest.fixture(scope="module")
def logistic():
    """Standardized breast-cancer training split (float64), and the optimum of the L2-regularized
    softmax cross-entropy of a 30 -> 2 linear model found by scipy's L-BFGS-B."""
    from scipy.optimize import minimize

    from qnewton.train.data import load_dataset

    data = load_dataset("breast-cancer")
    x, y = data.x_train, data.y_train

    def f_and_g(w: np.ndarray) -> tuple[float, np.ndarray]:
        weight, bias = w[:60].reshape(2, 30), w[60:]
        z = x @ weight.T + bias
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        p = np.exp(z - lse[:, None])
        f = float(np.mean(lse - z[np.arange(len(y)), y])) + 0.5 * L2 * float(w @ w)
        p[np.arange(len(y)), y] -= 1.0
        p /= len(y)
        return f, np.concatenate([(p.T @ x).ravel(), p.sum(axis=0)]) + L2 * w

    res = minimize(f_and_g, np.zeros(62), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-16, "maxiter": 10000})
    assert res.success or np.linalg.norm(res.jac) < 1e-8
    return torch.as_tensor(x), torch.as_tensor(y), float(res.fun)


FULL_BATCH = {
    "bfgs": (lambda p: BFGS(p), 150),
    "bfgs-wolfe": (lambda p: BFGS(p, line_search="strong_wolfe"), 150),
    "ncg": (lambda p: NonlinearCG(p), 200),
    "ncg-fr": (lambda p: NonlinearCG(p, beta_type="FR"), 200),
    "lbfgs": (lambda p: torch.optim.LBFGS(p, max_iter=4, line_search_fn="strong_wolfe"), 60),
    # SLIM-QN in full-batch mode: no momentum (the gradients are exact), a pair every step, no damping
    "slimqn": (lambda p: SLIMQN(p, lr=1.0, momentum=0.0, beta1=0.0, beta2=0.0, L=1, M=10, tau0=1.0, sigma_L=0.0,
                                sigma_H=math.inf), 200),
}
TOLERANCE = 1e-9  # on f - f*, with f* about 0.077


@pytest.mark.parametrize("name", list(FULL_BATCH))
def test_full_batch_methods_reach_the_logistic_regression_optimum(logistic, name):
    x, y, fstar = logistic
    make, max_steps = FULL_BATCH[name]
    torch.manual_seed(0)
    model = torch.nn.Linear(30, 2).double()
    opt = make(model.parameters())

    def objective() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(model(x), y) + 0.5 * L2 * sum((p * p).sum() for p in model.parameters())

    def closure() -> torch.Tensor:
        opt.zero_grad()
        with torch.enable_grad():
            loss = objective()
            loss.backward()
        return loss.detach()

    gap0 = float(objective().detach()) - fstar
    for _ in range(max_steps):
        opt.step(closure)
        with torch.no_grad():
            gap = float(objective()) - fstar
        if gap < TOLERANCE:
            break
    assert gap0 > 0.1
    assert -1e-12 < gap < TOLERANCE, (name, gap)
    assert math.isfinite(float(flat(p.detach() for p in model.parameters()).norm()))
