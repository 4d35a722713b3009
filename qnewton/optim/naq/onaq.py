"""oNAQ: online (stochastic) NAQ on mini-batches, dense inverse Hessian (Indrapriyadarsini et al.,
ECML-PKDD 2019; slides Algorithm 5)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class ONAQ(AcceleratedQuasiNewton):
    """Stochastic Nesterov's accelerated quasi-Newton, slides Algorithm 5 (Indrapriyadarsini,
    Mahboubi, Ninomiya, Asai, ECML-PKDD 2019). On the step's mini-batch X_k:

        grad E_1 = grad E(w_k + mu v_k, X_k),   g_hat = -H_k grad E_1,   g_hat <- g_hat / ||g_hat||_2,
        v_{k+1} = mu v_k + alpha_k g_hat,   w_{k+1} = w_k + v_{k+1},
        grad E_2 = grad E(w_{k+1}, X_k),   p_k = w_{k+1} - (w_k + mu v_k),
        q_k = grad E_2 - grad E_1 + lam p_k,

    and H by BFGS on (p_k, q_k) (dense float64, H_0 = eps I). Both gradients use the same
    mini-batch, so the pair carries no sampling noise between batches.

    alpha_k (the slides' "(17)", not reproduced there): assumed alpha_k = alpha / sqrt(k)
    (schedule="sqrt", k = 1, 2, ...), or alpha (schedule="constant"). Since the direction has unit
    length, alpha_k is the length of the quasi-Newton part of the step. Pairs with
    q^T p <= curvature_tol ||p|| ||q|| are skipped; a non-descent -H g resets H.

    Gradient evaluations per step: 2 (the cost table's 2bd + d^2).

    Hyper-parameters (defaults): mu 0.8, alpha 0.5, schedule "sqrt", lam 1e-3, eps 1.0,
    curvature_tol 1e-10.
    """

    online = True

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, alpha: float = 0.5, schedule: str = "sqrt",
                 lam: float = 1e-3, eps: float = 1.0, curvature_tol: float = 1e-10) -> None:
        super().__init__(params, dict(mu=mu, alpha=alpha, schedule=schedule, lam=lam, eps=eps,
                                      curvature_tol=curvature_tol))
