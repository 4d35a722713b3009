"""mNAQ: modified NAQ without line search (Indrapriyadarsini, Mahboubi, Ninomiya, Asai, ICMLA 2018;
slides "Modified Nesterov's Accelerated quasi-Newton - mNAQ", Eq. 10-12 of that part)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton, check_choice, check_number

STEP_RULES = ("explicit", "armijo")
Q_NORMS = ("identity", "model")


class MNAQ(AcceleratedQuasiNewton):
    """Modified Nesterov's accelerated quasi-Newton (mNAQ; ICMLA 2018), full batch, dense H.

    NAQ (slides Eq. 9) with two changes:

    1. the modified secant pair (mNAQ Eq. 10), which keeps q^T p > 0 and gives global convergence:
           eps_k = grad E(w_{k+1}) - grad E(w_hat),   q_k = eps_k + xi_k p_k,
           xi_k = omega ||grad E(w_hat)|| + max(-eps_k^T p_k / ||p_k||^2, 0),
       with omega = `omega` (2) while ||grad E(w_hat)||^2 > 10^-2 and `omega_small` (100) below;
       H by BFGS on (p_k, q_k) (Eq. 11), so H_{k+1} q_k = p_k;
    2. no line search: the explicit step size (Eq. 12, after Sun and Zhang's step rule)
           alpha_k = -delta grad E(w_hat)^T g_k / ||g_k||_Q^2,   g_k = -H_k grad E(w_hat).
       The slides do not say which positive definite Q_k they use; q_norm="model" takes
       Q_k = H_k^{-1} (the quasi-Newton model's own metric, which makes alpha_k = delta), and
       q_norm="identity" takes Q_k = I (alpha_k = delta g^T H g / ||H g||^2). step_rule="armijo"
       replaces the explicit step by NAQ's Armijo backtracking (alpha, c1, backtrack, max_backtracks).

    Gradient evaluations per step: 2 (Nesterov point and new point) with the explicit step.

    Hyper-parameters (defaults): mu 0.8, delta 1.0, q_norm "model", step_rule "explicit",
    omega 2.0, omega_small 100.0, alpha 1.0, c1 1e-3, backtrack 0.5, max_backtracks 30, eps 1.0,
    curvature_tol 1e-10, restart true.

    restart (an addition to the source, after O'Donoghue and Candes' function-value restart): when
    E(w_{k+1}) > E(w_k), both known from the line search, v_{k+1} is set to 0, so momentum cannot
    carry the iterates uphill; restart=false gives the source's iteration.
    """

    modified = True

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, delta: float = 1.0, q_norm: str = "model",
                 step_rule: str = "explicit", omega: float = 2.0, omega_small: float = 100.0, alpha: float = 1.0,
                 c1: float = 1e-3, backtrack: float = 0.5, max_backtracks: int = 30, eps: float = 1.0,
                 curvature_tol: float = 1e-10, restart: bool = True) -> None:
        check_number("delta", delta, low=0.0, low_open=True)
        check_choice("q_norm", q_norm, Q_NORMS)
        check_choice("step_rule", step_rule, STEP_RULES)
        check_number("omega", omega, low=0.0)
        check_number("omega_small", omega_small, low=0.0)
        super().__init__(params, dict(mu=mu, delta=delta, q_norm=q_norm, step_rule=step_rule, omega=omega,
                                      omega_small=omega_small, alpha=alpha, line_search="armijo", c1=c1,
                                      backtrack=backtrack, max_backtracks=max_backtracks, eps=eps,
                                      curvature_tol=curvature_tol, restart=bool(restart)))

    def explicit_step(self, g: torch.Tensor, d: torch.Tensor) -> float:
        """alpha_k = -delta g^T d / ||d||_Q^2 (mNAQ Eq. 12)."""
        delta = float(self.hyper["delta"])
        if self.hyper["q_norm"] == "model":
            return delta  # ||d||^2_{H^-1} = g^T H g = -g^T d
        return -delta * float(torch.dot(g, d)) / float(torch.dot(d, d))

    def modified_q(self, g: torch.Tensor, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """q_k = eps_k + xi_k p_k (mNAQ Eq. 10)."""
        gnorm2 = float(torch.dot(g, g))
        omega = float(self.hyper["omega"]) if gnorm2 > 1e-2 else float(self.hyper["omega_small"])
        xi = omega * gnorm2 ** 0.5 + max(-float(torch.dot(q, p)) / float(torch.dot(p, p)), 0.0)
        return q + xi * p
