"""LNAQ: limited-memory NAQ, full batch (slides' cost table; Ninomiya 2017 limited-memory form)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class LNAQ(AcceleratedQuasiNewton):
    """Limited-memory Nesterov's accelerated quasi-Newton (the LNAQ row of the slides' cost table).

    NAQ (slides Eq. 9-10) with H_k g applied by the L-BFGS two-loop recursion over the last
    `memory` pairs (p_i, q_i) built at the Nesterov points (Nocedal & Wright Alg. 7.4; storage 2 m d,
    cost 4 m d per step), on H_0 = gamma I with gamma = p^T q / q^T q of the newest pair when
    scale_h0 (N&W eq. 7.20), else gamma = 1 (then LNAQ equals NAQ with eps = 1 for its first
    `memory` steps). Step size, resets and skip rule as NAQ.

    Gradient evaluations per step: 1 at the Nesterov point + 1 per line-search trial (2 usually).

    Hyper-parameters (defaults): mu 0.8, memory 10, alpha 1.0, line_search "armijo", c1 1e-3,
    backtrack 0.5, max_backtracks 30, scale_h0 true, curvature_tol 1e-10, restart true.

    restart (an addition to the source, after O'Donoghue and Candes' function-value restart): when
    E(w_{k+1}) > E(w_k), both known from the line search, v_{k+1} is set to 0, so momentum cannot
    carry the iterates uphill; restart=false gives the source's iteration.
    """

    limited = True

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, memory: int = 10, alpha: float = 1.0,
                 line_search: str = "armijo", c1: float = 1e-3, backtrack: float = 0.5, max_backtracks: int = 30,
                 scale_h0: bool = True, curvature_tol: float = 1e-10, restart: bool = True) -> None:
        super().__init__(params, dict(mu=mu, memory=memory, alpha=alpha, line_search=line_search, c1=c1,
                                      backtrack=backtrack, max_backtracks=max_backtracks, scale_h0=bool(scale_h0),
                                      curvature_tol=curvature_tol, restart=bool(restart)))
