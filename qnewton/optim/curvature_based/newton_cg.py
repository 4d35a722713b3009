"""Newton-CG (Hessian-free / truncated Newton): CG on curvature-vector products, no dense matrix.

Survey 003 (Sec. 4, Hessian-free optimization; Martens 2010) solves the damped Newton system

    (C + damping I) d = g,     theta <- theta - lr d,

on each mini-batch with at most `cg_iters` conjugate-gradient iterations (Nocedal and Wright
Alg. 5.2), C the Hessian of the mini-batch loss ("hessian") or its generalized Gauss-Newton
matrix J^T H_out J ("ggn", positive semi-definite for cross-entropy). The products C v are
computed with torch.func in float64: the Hessian as forward-over-reverse, jvp(grad J)(v); the
GGN as J^T (H_out (J v)) with a jvp through the model, the output Hessian of the loss, and a vjp.
CG stops when the residual norm falls below tol * ||g||, and truncates at a direction of
non-positive curvature (p^T (C + damping I) p <= 0: the iterate so far, or g itself at the first
iteration), so d is always a descent direction for a positive damping.

Hyper-parameters: lr = 1.0, damping = 0.1, cg_iters = 20, tol = 1e-6, curvature = "ggn".
One gradient evaluation per step plus up to cg_iters curvature-vector products (each about two
more passes through the network).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp

from qnewton.curvature.base import Batch
from qnewton.optim.curvature_based.base import model_and_batch
from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport

CURVATURES: tuple[str, ...] = ("ggn", "hessian")

MatVec = Callable[[torch.Tensor], torch.Tensor]


def flat_functions(model: nn.Module, params: list[torch.Tensor], batch: Batch,
                   dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, Callable, Callable]:
    """(theta, outputs(theta), loss_of_outputs(z)) for the flat vector of `params` (the optimizer's
    order), in `dtype`; the model's own parameters are not modified."""
    names = {id(p): n for n, p in model.named_parameters()}
    missing = [i for i, p in enumerate(params) if id(p) not in names]
    if missing:
        raise ValueError("params: the optimizer's parameters must belong to the closure's model")
    keys = [names[id(p)] for p in params]
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    frozen = {n: p.detach().to(dtype) for n, p in model.named_parameters() if n not in set(keys)}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    x = batch.inputs.detach().to(dtype) if batch.inputs.is_floating_point() else batch.inputs.detach()
    y = batch.targets.detach()
    theta = torch.cat([p.detach().to(dtype).reshape(-1) for p in params])

    def outputs(flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, sizes)
        own = {k: part.reshape(s) for k, part, s in zip(keys, parts, shapes)}
        return functional_call(model, ({**frozen, **own}, buffers), (x,))

    def loss_of_outputs(z: torch.Tensor) -> torch.Tensor:
        return batch.loss_fn(z, y)

    return theta, outputs, loss_of_outputs


def curvature_matvec(model: nn.Module, params: list[torch.Tensor], batch: Batch, curvature: str,
                     dtype: torch.dtype = torch.float64) -> MatVec:
    """v -> C v for the mini-batch loss J(theta) = loss(f(theta)): C = Hessian of J, or the GGN
    J_f^T (d^2 loss / dz^2) J_f (module docstring)."""
    theta, outputs, loss_of_outputs = flat_functions(model, params, batch, dtype)
    if curvature == "hessian":
        gradient = grad(lambda t: loss_of_outputs(outputs(t)))

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return jvp(gradient, (theta,), (v,))[1].detach()
        return hvp
    z, pullback = vjp(outputs, theta)
    z = z.detach()
    output_grad = grad(loss_of_outputs)

    def ggn(v: torch.Tensor) -> torch.Tensor:
        jv = jvp(outputs, (theta,), (v,))[1]
        hjv = jvp(output_grad, (z,), (jv,))[1]
        return pullback(hjv)[0].detach()
    return ggn


def conjugate_gradient(matvec: MatVec, b: torch.Tensor, max_iter: int, tol: float = 1e-6,
                       shift: float = 0.0) -> tuple[torch.Tensor, int]:
    """Approximate solution d of (C + shift I) d = b by at most max_iter CG iterations (Nocedal and
    Wright Alg. 5.2, from d = 0), stopping at ||r|| <= tol ||b|| or at non-positive curvature
    (then the iterate so far, or b at the first iteration). Returns (d, iterations)."""
    d = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = float(r @ r)
    stop = tol * float(b.norm())
    it = 0
    for it in range(1, max_iter + 1):
        if rr ** 0.5 <= stop:
            return d, it - 1
        cp = matvec(p) + shift * p
        curv = float(p @ cp)
        if not curv > 0:
            return (b.clone() if it == 1 else d), it - 1
        alpha = rr / curv
        d = d + alpha * p
        r = r - alpha * cp
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return d, it


class NewtonCG(FlatOptimizer):
    """Truncated Newton with CG on Hessian or GGN products (module docstring)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, damping: float = 0.1, cg_iters: int = 20,
                 tol: float = 1e-6, curvature: str = "ggn") -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("damping", damping, low=0.0)
        check_int("cg_iters", cg_iters, 1)
        check_number("tol", tol, low=0.0)
        if curvature not in CURVATURES:
            raise ValueError(f"curvature: must be one of {', '.join(CURVATURES)}, got {curvature!r}")
        super().__init__(params, dict(lr=float(lr), damping=float(damping), cg_iters=int(cg_iters), tol=float(tol),
                                      curvature=curvature))

    def direction(self, model: nn.Module, batch: Batch, g: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(d, CG iterations) with d ~ (C + damping I)^{-1} g on `batch`."""
        group = self.param_groups[0]
        matvec = curvature_matvec(model, self._params, batch, group["curvature"])
        return conjugate_gradient(matvec, g, group["cg_iters"], group["tol"], group["damping"])

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="newton-cg")
        model, batch = model_and_batch(objective.closure, "Newton-CG")
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        d, iters = self.direction(model, batch, g)
        state["cg_iterations"] = iters
        if not finite(0.0, d):
            report.skipped = "non-finite direction"
            return report, loss
        objective.set(objective.x() - group["lr"] * d)
        return report, loss
