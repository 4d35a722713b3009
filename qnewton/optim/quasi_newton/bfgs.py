"""BFGS with a dense inverse-Hessian approximation and a line search.

Survey 003 (Kashyap 2022), Sec. 3.3: BFGS builds an approximation H_k of the INVERSE Hessian from
gradient changes only, through the secant equation H_{k+1} y_k = s_k with s_k = theta_{k+1} -
theta_k and y_k = g_{k+1} - g_k, and the rank-two update (Nocedal & Wright eq. 6.17)

    H_{k+1} = (I - rho_k s_k y_k^T) H_k (I - rho_k y_k s_k^T) + rho_k s_k s_k^T,   rho_k = 1 / (y_k^T s_k).

Each step: g = gradient on the step's mini-batch, direction d = -H_k g, a line search along d on
the SAME mini-batch (Armijo backtracking by default, strong Wolfe optional; see
`qnewton.optim.quasi_newton.line_search`), then the pair (s, y) with y taken on that mini-batch
too, so the pair describes one function. Before the first update H_0 = (y^T s / y^T y) I
(N&W eq. 6.20); the very first direction is -g with trial step lr * min(1, 1 / ||g||_1). A pair
with y^T s <= curvature_eps * ||s|| ||y|| (possible with Armijo on a non-convex loss) is skipped,
which keeps H positive definite. H is n x n float64: O(n^2) memory and work per step, fine for the
small models of this project (the constructor refuses n > max_params).

Hyper-parameters (defaults): lr = 1.0 (the first trial step alpha_0 of every line search, N&W
Sec. 3.1: quasi-Newton methods should try the unit step first), line_search = "armijo",
c1 = 1e-4 (sufficient decrease), c2 = 0.9 (curvature, strong Wolfe only), shrink = 0.5
(backtracking factor rho of N&W Alg. 3.1), max_evals = 20 (loss evaluations per line search),
curvature_eps = 1e-10, max_params = 20000.

With an exact line search on a strictly convex quadratic in n variables BFGS reaches the minimizer
in at most n steps (N&W Theorem 6.4 / the quadratic-termination property); the tests check it with
the strong Wolfe search, which is exact on quadratics.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.quasi_newton.line_search import LINE_SEARCHES, Trial, search
from qnewton.optim.step_report import StepReport


def bfgs_update(h: torch.Tensor, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The BFGS inverse update of `h` by the pair (s, y) (N&W eq. 6.17), as
    H - rho (s (H y)^T + (H y) s^T) + (rho^2 y^T H y + rho) s s^T; needs y^T s > 0."""
    rho = 1.0 / torch.dot(y, s)
    hy = h @ y
    return h - rho * (torch.outer(s, hy) + torch.outer(hy, s)) + (rho * rho * torch.dot(y, hy) + rho) * torch.outer(s, s)


class BFGS(FlatOptimizer):
    """Dense BFGS with a line search on each mini-batch (survey 003 Sec. 3.3; N&W eq. 6.17)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, line_search: str = "armijo", c1: float = 1e-4,
                 c2: float = 0.9, shrink: float = 0.5, max_evals: int = 20, curvature_eps: float = 1e-10,
                 max_params: int = 20000) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        if line_search not in LINE_SEARCHES:
            raise ValueError(f"line_search: must be one of {', '.join(LINE_SEARCHES)}, got {line_search!r}")
        check_number("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
        check_number("c2", c2, low=float(c1), high=1.0, low_open=True, high_open=True)
        check_number("shrink", shrink, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int("max_evals", max_evals, 1)
        check_number("curvature_eps", curvature_eps, low=0.0)
        check_int("max_params", max_params, 1)
        super().__init__(params, dict(lr=float(lr), line_search=line_search, c1=float(c1), c2=float(c2),
                                      shrink=float(shrink), max_evals=int(max_evals), curvature_eps=float(curvature_eps),
                                      max_params=int(max_params)))
        if self.numel > max_params:
            raise ValueError(f"max_params: the model has {self.numel} parameters; dense BFGS stores an n x n matrix "
                             f"and is limited to {max_params} (raise max_params or use lbfgs/slimqn)")

    def inverse_hessian(self) -> torch.Tensor | None:
        """The current H_k (float64, n x n), or None before the first curvature pair."""
        return self.flat_state.get("H")

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="quasi-newton")
        state["step"] = int(state.get("step", 0)) + 1
        x = objective.x()
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        h = state.get("H")
        if h is None:
            d = -g
            alpha0 = group["lr"] * min(1.0, 1.0 / max(float(g.abs().sum()), 1e-300))
        else:
            d = -(h @ g)
            alpha0 = group["lr"]
        slope = float(g @ d)
        if not slope < 0:  # H lost definiteness through round-off: restart from the gradient
            state.pop("H", None)
            d, slope = -g, -float(g @ g)
        start = Trial(0.0, loss, g, slope)
        trial, _ = search(group["line_search"], objective, x, d, start, alpha0, c1=group["c1"], c2=group["c2"],
                          shrink=group["shrink"], max_evals=group["max_evals"])
        if trial.step == 0.0:
            report.skipped = "line search found no decrease"
            state.pop("H", None)
            return report, loss
        s = trial.step * d
        y = trial.grad - g
        ys = float(y @ s)
        if ys > group["curvature_eps"] * float(s.norm() * y.norm()):
            if state.get("H") is None:
                state["H"] = torch.eye(s.numel(), dtype=torch.float64) * (ys / float(y @ y))
            state["H"] = bfgs_update(state["H"], s, y)
        else:
            state["skipped_pairs"] = int(state.get("skipped_pairs", 0)) + 1
        return report, loss
