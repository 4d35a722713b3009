"""LMoQ: limited-memory MoQ, full batch (slides' cost table; Mahboubi et al. 2019)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class LMoQ(AcceleratedQuasiNewton):
    """Limited-memory momentum quasi-Newton (the LMoQ row of the slides' cost table).

    MoQ (slides Eq. 11-13: Nesterov's gradient approximated by (1 + mu) grad E(w_k) - mu grad
    E(w_{k-1})) with H_k applied by the two-loop recursion over the last `memory` pairs on
    H_0 = gamma I (gamma = p^T q / q^T q of the newest pair when scale_h0, else 1). Storage
    (2m + 1) d: the pairs and the previous gradient. Line search and skip rule as MoQ.

    Gradient evaluations per step: 1 per line-search trial (1 usually; the accepted trial's gradient
    is the next step's grad E(w_k), full batch assumed).

    Hyper-parameters (defaults): mu 0.8, memory 10, alpha 1.0, line_search "armijo", c1 1e-3,
    backtrack 0.5, max_backtracks 30, scale_h0 true, curvature_tol 1e-10, restart true.

    restart (an addition to the source, after O'Donoghue and Candes' function-value restart): when
    E(w_{k+1}) > E(w_k), both known from the line search, v_{k+1} is set to 0, so momentum cannot
    carry the iterates uphill; restart=false gives the source's iteration.
    """

    nesterov = False
    limited = True

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, memory: int = 10, alpha: float = 1.0,
                 line_search: str = "armijo", c1: float = 1e-3, backtrack: float = 0.5, max_backtracks: int = 30,
                 scale_h0: bool = True, curvature_tol: float = 1e-10, restart: bool = True) -> None:
        super().__init__(params, dict(mu=mu, memory=memory, alpha=alpha, line_search=line_search, c1=c1,
                                      backtrack=backtrack, max_backtracks=max_backtracks, scale_h0=bool(scale_h0),
                                      curvature_tol=curvature_tol, restart=bool(restart)))
