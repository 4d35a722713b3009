"""Nonlinear conjugate gradients: Fletcher-Reeves and Polak-Ribiere+, with restarts and a line search.

Survey 003 (Kashyap 2022), Sec. 3.2: each direction is the negative gradient plus a multiple of
the previous direction, d_k = -g_k + beta_k d_{k-1} (d_0 = -g_0), with (Nocedal & Wright eqs. 5.41a
and 5.45)

    Fletcher-Reeves:   beta_k = g_k^T g_k / g_{k-1}^T g_{k-1}
    Polak-Ribiere+:    beta_k = max(0, g_k^T (g_k - g_{k-1}) / g_{k-1}^T g_{k-1})

followed by a line search along d_k (strong Wolfe by default with c2 = 0.1 < 1/2, which keeps the
Fletcher-Reeves directions descent directions, N&W Lemma 5.6; Armijo backtracking optional).
Restarts (d_k = -g_k): every `restart` steps (0 = every n steps, n the number of parameters), when
two consecutive gradients are far from orthogonal, |g_k^T g_{k-1}| >= nu g_k^T g_k (N&W eq. 5.52),
and whenever d_k is not a descent direction. The first trial step is lr * min(1, 1 / ||g||_1) after
a restart and alpha_{k-1} g_{k-1}^T d_{k-1} / g_k^T d_k otherwise (N&W eq. 3.60).

On a strictly convex quadratic with exact line searches both formulas generate the iterates of
linear CG and reach the minimizer in at most n steps (N&W Sec. 5.2); the tests check this against
an independent linear CG. On mini-batches g_k and g_{k-1} come from different batches (each step
uses the trainer's batch, as every method does); the line search stays on the step's batch.

Hyper-parameters (defaults): lr = 1.0, beta_type = "PR+" ("FR" or "PR+"), restart = 0, nu = 0.1
(set nu >= 1 to switch the orthogonality restart off), line_search = "strong_wolfe", c1 = 1e-4,
c2 = 0.1, shrink = 0.5, max_evals = 20.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.quasi_newton.line_search import LINE_SEARCHES, Trial, search
from qnewton.optim.step_report import StepReport

BETA_TYPES = ("FR", "PR+")


def conjugacy_beta(kind: str, g: torch.Tensor, g_prev: torch.Tensor) -> float:
    """beta_k of Fletcher-Reeves or Polak-Ribiere+ (N&W eqs. 5.41a, 5.45)."""
    denom = float(g_prev @ g_prev)
    if not denom > 0:
        return 0.0
    if kind == "FR":
        return float(g @ g) / denom
    return max(0.0, float(g @ (g - g_prev)) / denom)


class NonlinearCG(FlatOptimizer):
    """Nonlinear CG with restarts and a line search (survey 003 Sec. 3.2; N&W Sec. 5.2)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, beta_type: str = "PR+", restart: int = 0,
                 nu: float = 0.1, line_search: str = "strong_wolfe", c1: float = 1e-4, c2: float = 0.1,
                 shrink: float = 0.5, max_evals: int = 20) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        if beta_type not in BETA_TYPES:
            raise ValueError(f"beta_type: must be one of {', '.join(BETA_TYPES)}, got {beta_type!r}")
        check_int("restart", restart, 0)
        check_number("nu", nu, low=0.0, low_open=True)
        if line_search not in LINE_SEARCHES:
            raise ValueError(f"line_search: must be one of {', '.join(LINE_SEARCHES)}, got {line_search!r}")
        check_number("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
        check_number("c2", c2, low=float(c1), high=1.0, low_open=True, high_open=True)
        check_number("shrink", shrink, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int("max_evals", max_evals, 1)
        super().__init__(params, dict(lr=float(lr), beta_type=beta_type, restart=int(restart), nu=float(nu),
                                      line_search=line_search, c1=float(c1), c2=float(c2), shrink=float(shrink),
                                      max_evals=int(max_evals)))

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="quasi-newton")
        x = objective.x()
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        period = group["restart"] or self.numel
        since = int(state.get("since_restart", 0))
        g_prev, d_prev = state.get("g"), state.get("d")
        restart = g_prev is None or since >= period or abs(float(g @ g_prev)) >= group["nu"] * float(g @ g)
        d = -g
        if not restart:
            d = -g + conjugacy_beta(group["beta_type"], g, g_prev) * d_prev
            if not float(g @ d) < 0:
                d, restart = -g, True
        slope = float(g @ d)
        if restart:
            since = 0
            alpha0 = group["lr"] * min(1.0, 1.0 / max(float(g.abs().sum()), 1e-300))
        else:
            alpha0 = float(state["alpha"]) * float(state["slope"]) / slope
        trial, _ = search(group["line_search"], objective, x, d, Trial(0.0, loss, g, slope), alpha0, c1=group["c1"],
                          c2=group["c2"], shrink=group["shrink"], max_evals=group["max_evals"])
        if trial.step == 0.0:
            report.skipped = "line search found no decrease"
            for key in ("g", "d"):
                state.pop(key, None)
            state["since_restart"] = 0
            return report, loss
        state.update(g=g, d=d, alpha=trial.step, slope=slope, since_restart=since + 1)
        state["restarts"] = int(state.get("restarts", 0)) + int(restart)
        return report, loss
