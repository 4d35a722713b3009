"""AdaHessian and Lookahead (pytorch_optimizer) as driven by the trainer's closure: the Hutchinson
diagonal matches the exact Hessian diagonal, the first AdaHessian step is the stated formula,
Lookahead's slow weights interpolate the fast ones, and bad hyper-parameters are ValueErrors."""

from __future__ import annotations

import io

import pytest
import torch
from torch.func import functional_call, hessian

from qnewton.curvature.base import Batch, BatchClosure
from qnewton.optim.curvature_based import AdaHessianOptimizer, hutchinson_diagonal, make_lookahead


def tiny(seed: int = 0) -> tuple[torch.nn.Module, Batch]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    return model, Batch(x, y)


def exact_hessian(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """The dense Hessian of the batch loss in parameter order (float64)."""
    shapes = [p.shape for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat):
        parts = torch.split(flat, [p.numel() for p in model.parameters()])
        ps = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}
        return batch.loss_fn(functional_call(model, ps, (batch.inputs,)), batch.targets)

    return hessian(loss)(theta)


def test_hutchinson_diagonal_estimates_the_hessian_diagonal():
    model, batch = tiny()
    params = list(model.parameters())
    H = exact_hessian(model, batch)
    exact = torch.diagonal(H)
    samples = 2000
    torch.manual_seed(1)
    est = torch.cat([d.reshape(-1) for d in hutchinson_diagonal(model, batch, params, samples, "rademacher")])
    # unbiased: z_i (H z)_i = H_ii + sum_{j != i} H_ij z_i z_j, variance sum_{j != i} H_ij^2 per sample
    sigma = ((H ** 2).sum(1) - exact ** 2).clamp(min=0).sqrt() / samples ** 0.5
    assert bool(((est - exact).abs() <= 5 * sigma + 1e-12).all())
    assert float((est - exact).abs().max()) < 0.2 * float(exact.abs().max())


def test_first_adahessian_step_is_gradient_over_hessian_diagonal():
    model, batch = tiny()
    p0 = [p.detach().clone() for p in model.parameters()]
    opt = AdaHessianOptimizer(model.parameters(), lr=0.1, eps=1e-4)
    closure = BatchClosure(model, batch)
    closure()
    g = [p.grad.detach().clone() for p in model.parameters()]
    torch.manual_seed(5)
    D = hutchinson_diagonal(model, batch, list(model.parameters()), 1, "rademacher")
    torch.manual_seed(5)
    opt.step(closure)
    # bias-corrected first step: m_hat = g, v_hat = D^2, so theta1 = theta0 - lr g / (|D| + eps)
    for p, a, gi, d in zip(model.parameters(), p0, g, D):
        assert torch.allclose(p.detach(), a - 0.1 * gi / (d.abs() + 1e-4), rtol=1e-10, atol=1e-12)
    assert opt.last_gradient_evaluations == 1


def test_adahessian_state_round_trips_weights_only():
    model, batch = tiny()
    opt = AdaHessianOptimizer(model.parameters(), update_period=2)
    for _ in range(3):
        opt.step(BatchClosure(model, batch))
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    twin_model, _ = tiny()
    twin_model.load_state_dict(model.state_dict())
    twin = AdaHessianOptimizer(twin_model.parameters(), update_period=2)
    twin.load_state_dict(torch.load(buf, weights_only=True))
    torch.manual_seed(3)
    opt.step(BatchClosure(model, batch))
    torch.manual_seed(3)
    twin.step(BatchClosure(twin_model, batch))
    for p, q in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(p, q)


def test_adahessian_refuses_a_plain_closure():
    model, batch = tiny()
    opt = AdaHessianOptimizer(model.parameters())
    with pytest.raises(ValueError, match="^closure:"):
        opt.step(lambda: torch.tensor(0.0))


def test_lookahead_slow_weights_interpolate_k_sgd_steps():
    model, batch = tiny()
    theta0 = [p.detach().clone() for p in model.parameters()]
    twin, _ = tiny()
    twin.load_state_dict(model.state_dict())
    opt = make_lookahead(model.parameters(), optimizer="sgd", lr=0.2, k=3, alpha=0.25, momentum=0.0)
    plain = torch.optim.SGD(twin.parameters(), lr=0.2)
    for _ in range(3):
        BatchClosure(model, batch)()
        opt.step()
        BatchClosure(twin, batch)()
        plain.step()
    # after k fast steps: phi = theta0 + alpha (theta_k - theta0), and the fast weights restart there
    for p, a, fast in zip(model.parameters(), theta0, twin.parameters()):
        assert torch.allclose(p.detach(), a + 0.25 * (fast.detach() - a), rtol=1e-12, atol=1e-14)
        assert not torch.allclose(p.detach(), fast.detach())


@pytest.mark.parametrize("make, message", [
    (lambda p: AdaHessianOptimizer(p, lr=0.0), "lr"),
    (lambda p: AdaHessianOptimizer(p, beta1=1.0), "beta1"),
    (lambda p: AdaHessianOptimizer(p, beta2=-0.1), "beta2"),
    (lambda p: AdaHessianOptimizer(p, hessian_power=0.0), "hessian_power"),
    (lambda p: AdaHessianOptimizer(p, update_period=0), "update_period"),
    (lambda p: AdaHessianOptimizer(p, num_samples=0), "num_samples"),
    (lambda p: AdaHessianOptimizer(p, hessian_distribution="x"), "hessian_distribution"),
    (lambda p: make_lookahead(p, optimizer="lbfgs"), "optimizer"),
    (lambda p: make_lookahead(p, k=0), "k"),
    (lambda p: make_lookahead(p, alpha=-0.1), "alpha"),
    (lambda p: make_lookahead(p, lr=-1.0), "lr"),
    (lambda p: make_lookahead(p, pullback_momentum="pullback"), "pullback_momentum"),
])
def test_bad_hyper_parameters_are_value_errors_naming_the_parameter(make, message):
    with pytest.raises(ValueError, match=rf"^{message}:"):
        make(torch.nn.Linear(4, 3).parameters())
