"""Gauss-Newton / Levenberg-Marquardt with the gradient-norm damping rule of S2QN eq. 8.

The step minimizes the model m(d) = g^T d + 1/2 d^T (GGN + lambda_k I) d of paper 001 eq. 7 with
the generalized Gauss-Newton matrix GGN = J^T H_out J of the mini-batch loss as B_k (the
Gauss-Newton base matrix; for cross-entropy it equals the Fisher, paper 001 Sec. 2):

    d_k = (GGN + lambda_k I)^{-1} g_k   (CG on GGN-vector products, `newton_cg`),
    theta_{k+1} = theta_k - lr d_k      (lr = beta_k),

and the damping lambda_k follows paper 001 eq. 8 from the norm of the previous step's gradient:

    lambda_k = 2 r1 / (||g_{k-1}|| + r1) / alpha     if ||g_{k-1}|| < r1,
             = 2 ||g_{k-1}|| / (||g_{k-1}|| + r2) / alpha   if ||g_{k-1}|| > r2,
             = 1 / alpha                               otherwise (and at the first step),

so lambda_k stays in [1/alpha, 2/alpha): it grows toward 2/alpha when the gradient is very small
or very large (paper 001 relates it to trust-region radius updates; a stochastic
Levenberg-Marquardt method). Hyper-parameters: lr = 1.0 (beta_k), alpha = 10.0 (a constant
alpha_k), r1 = 0.01, r2 = 1.0 (r1 < r2), cg_iters = 50, tol = 1e-8. One gradient evaluation per
step plus up to cg_iters GGN-vector products.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from qnewton.optim.curvature_based.base import model_and_batch
from qnewton.optim.curvature_based.newton_cg import conjugate_gradient, curvature_matvec
from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport


def s2qn_damping(previous_gradient_norm: float | None, alpha: float, r1: float, r2: float) -> float:
    """lambda_k of paper 001 eq. 8 from ||g_{k-1}|| (None at the first step: 1 / alpha)."""
    if previous_gradient_norm is None:
        return 1.0 / alpha
    g = float(previous_gradient_norm)
    if g < r1:
        return 2.0 * r1 / (g + r1) / alpha
    if g > r2:
        return 2.0 * g / (g + r2) / alpha
    return 1.0 / alpha


class LevenbergMarquardt(FlatOptimizer):
    """Gauss-Newton with eq.-8 damping (module docstring). State: the previous gradient norm and
    the last lambda."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, alpha: float = 10.0, r1: float = 0.01,
                 r2: float = 1.0, cg_iters: int = 50, tol: float = 1e-8) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("alpha", alpha, low=0.0, low_open=True)
        check_number("r1", r1, low=0.0, low_open=True)
        check_number("r2", r2, low=0.0, low_open=True)
        if not float(r1) < float(r2):
            raise ValueError(f"r2: must be larger than r1={r1}, got {r2!r}")
        check_int("cg_iters", cg_iters, 1)
        check_number("tol", tol, low=0.0)
        super().__init__(params, dict(lr=float(lr), alpha=float(alpha), r1=float(r1), r2=float(r2),
                                      cg_iters=int(cg_iters), tol=float(tol)))

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="levenberg-marquardt")
        model, batch = model_and_batch(objective.closure, "Levenberg-Marquardt")
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        lam = s2qn_damping(state.get("previous_gradient_norm"), group["alpha"], group["r1"], group["r2"])
        state["damping"] = lam
        state["previous_gradient_norm"] = float(g.norm())
        matvec = curvature_matvec(model, self._params, batch, "ggn")
        d, iters = conjugate_gradient(matvec, g, group["cg_iters"], group["tol"], lam)
        state["cg_iterations"] = iters
        if not finite(0.0, d) or not math.isfinite(lam):
            report.skipped = "non-finite direction"
            return report, loss
        objective.set(objective.x() - group["lr"] * d)
        return report, loss
