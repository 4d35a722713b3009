"""MoQ: momentum quasi-Newton, full batch, dense inverse Hessian (Mahboubi et al., PRICAI 2019;
slides "Momentum quasi-Newton method", Eq. 11-13)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class MoQ(AcceleratedQuasiNewton):
    """Momentum quasi-Newton (slides Eq. 11-13; Mahboubi, Indrapriyadarsini, Ninomiya, Asai, PRICAI 2019).

    NAQ's update with Nesterov's gradient replaced by its linear approximation (Eq. 12)

        grad E(w_k + mu v_k) ~ g_k = (1 + mu) grad E(w_k) - mu grad E(w_{k-1}),

    so only one new gradient is needed per step: d_k = -H_k g_k, w_{k+1} = w_k + mu v_k + alpha_k d_k,
    p_k = w_{k+1} - (w_k + mu v_k), q_k = grad E(w_{k+1}) - g_k (Eq. 13), H by BFGS (dense float64,
    H_0 = eps I). The first step uses g_0 = grad E(w_0).

    Assumed where the slides are silent: the Armijo test compares with the loss at the current
    point, E(w_k + mu v_k + alpha d) <= E(w_k) + c1 alpha g_k^T d (E at the Nesterov point is never
    computed by MoQ), which makes the full-batch iteration monotone; line_search="none" takes the
    fixed step alpha.

    Gradient evaluations per step: one per line-search trial; the accepted trial's gradient is
    grad E(w_{k+1}), reused as the next step's grad E(w_k) (this assumes the closure evaluates the
    same objective every step, i.e. full batch), so 1 when the first trial is accepted (2 on the
    first step).

    Hyper-parameters (defaults): mu 0.8, alpha 1.0, line_search "armijo", c1 1e-3, backtrack 0.5,
    max_backtracks 30, eps 1.0, curvature_tol 1e-10, restart true.

    restart (an addition to the source, after O'Donoghue and Candes' function-value restart): when
    E(w_{k+1}) > E(w_k), both known from the line search, v_{k+1} is set to 0, so momentum cannot
    carry the iterates uphill; restart=false gives the source's iteration.
    """

    nesterov = False

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, alpha: float = 1.0,
                 line_search: str = "armijo", c1: float = 1e-3, backtrack: float = 0.5, max_backtracks: int = 30,
                 eps: float = 1.0, curvature_tol: float = 1e-10, restart: bool = True) -> None:
        super().__init__(params, dict(mu=mu, alpha=alpha, line_search=line_search, c1=c1, backtrack=backtrack,
                                      max_backtracks=max_backtracks, eps=eps, curvature_tol=curvature_tol,
                                      restart=bool(restart)))
