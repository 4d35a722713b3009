"""NAQ: Nesterov's accelerated quasi-Newton method, full batch, dense inverse Hessian (Ninomiya 2017;
slides "Nesterov's accelerated quasi-Newton method", Eq. 9-10)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class NAQ(AcceleratedQuasiNewton):
    """Nesterov's accelerated quasi-Newton method (slides Eq. 9-10; Ninomiya, IEICE NOLTA 2017).

        w_hat = w_k + mu v_k,   g_k = grad E(w_hat),   d_k = -H_k g_k,
        w_{k+1} = w_hat + alpha_k d_k,   v_{k+1} = w_{k+1} - w_k = mu v_k + alpha_k d_k,
        p_k = w_{k+1} - w_hat,   q_k = grad E(w_{k+1}) - grad E(w_hat),

    and H_{k+1} by the BFGS formula on (p_k, q_k) (Eq. 10), so H_{k+1} q_k = p_k. H is a dense
    float64 d x d matrix starting at eps I. With mu = 0 the method is BFGS (Eq. 6-8).

    alpha_k: Armijo backtracking from the Nesterov point (line_search="armijo", the source's choice):
    the first of alpha, alpha*backtrack, alpha*backtrack^2, ... (at most max_backtracks trials) with
    E(w_hat + alpha d) <= E(w_hat) + c1 alpha g^T d; line_search="none" takes the fixed step alpha.
    When no trial is accepted the step is undone and momentum and H are reset; when -H g is not a
    descent direction H is reset. Pairs with q^T p <= curvature_tol ||p|| ||q|| are skipped.

    Gradient evaluations per step: one at the Nesterov point plus one per line-search trial (the
    accepted trial's gradient is grad E(w_{k+1})): 2 when the first trial is accepted. With mu = 0
    the gradient at w_{k+1} is reused by the next step (one evaluation saved), which assumes the
    closure evaluates the same objective every step (full batch).

    Hyper-parameters (defaults): mu 0.8, alpha 1.0, line_search "armijo", c1 1e-3, backtrack 0.5,
    max_backtracks 30, eps 1.0 (H_0 = eps I), curvature_tol 1e-10, restart true.

    restart (an addition to the source, after O'Donoghue and Candes' function-value restart): when
    E(w_{k+1}) > E(w_k), both known from the line search, v_{k+1} is set to 0, so momentum cannot
    carry the iterates uphill; restart=false gives the source's iteration.
    """

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, alpha: float = 1.0,
                 line_search: str = "armijo", c1: float = 1e-3, backtrack: float = 0.5, max_backtracks: int = 30,
                 eps: float = 1.0, curvature_tol: float = 1e-10, restart: bool = True) -> None:
        super().__init__(params, dict(mu=mu, alpha=alpha, line_search=line_search, c1=c1, backtrack=backtrack,
                                      max_backtracks=max_backtracks, eps=eps, curvature_tol=curvature_tol,
                                      restart=bool(restart)))
