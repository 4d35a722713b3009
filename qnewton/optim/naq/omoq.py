"""oMoQ: online (stochastic) MoQ on mini-batches, dense inverse Hessian (Indrapriyadarsini et al.,
AAAI 2022 student abstract; slides Algorithm 1)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class OMoQ(AcceleratedQuasiNewton):
    """Stochastic momentum quasi-Newton, slides Algorithm 1 ("Stochastic MoQ"; Indrapriyadarsini
    et al., AAAI 2022). With one gradient per step, on the step's mini-batch X_k:

        grad E_1 = (1 + mu) grad E(w_k, X_k) - mu grad E(w_{k-1}, X_{k-1}),
        g = -H_k grad E_1 / ||H_k grad E_1||,   v_{k+1} = mu v_k + alpha_k g,   w_{k+1} = w_k + v_{k+1},
        s_k = w_{k+1} - (w_k + mu v_k),   y_k = grad E(w_{k+1}, X_{k+1}) - grad E_1 + lam s_k,

    H by BFGS on (s_k, y_k) (dense float64, H_0 = eps I). y_k needs the next mini-batch's gradient,
    so the pair of step k is stored at the start of step k + 1, when that gradient is computed
    (Algorithm 1 lines 9-14 straddle the two iterations the same way).

    alpha_k: alpha / sqrt(k) (schedule="sqrt") or alpha ("constant"); the slides leave the schedule
    open ("Determine learning rate alpha_k").

    Gradient evaluations per step: 1 (the cost table's bd + d^2).

    Hyper-parameters (defaults): mu 0.8, alpha 0.5, schedule "sqrt", lam 1e-3, eps 1.0,
    curvature_tol 1e-10.
    """

    online = True
    nesterov = False

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, alpha: float = 0.5, schedule: str = "sqrt",
                 lam: float = 1e-3, eps: float = 1.0, curvature_tol: float = 1e-10) -> None:
        super().__init__(params, dict(mu=mu, alpha=alpha, schedule=schedule, lam=lam, eps=eps,
                                      curvature_tol=curvature_tol))
