"""oLNAQ: online limited-memory NAQ (Indrapriyadarsini et al., ECML-PKDD 2019; slides' cost table)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class OLNAQ(AcceleratedQuasiNewton):
    """Online limited-memory Nesterov's accelerated quasi-Newton: oNAQ (slides Algorithm 5) with
    H_k applied by the two-loop recursion over the last `memory` pairs (p_i, q_i), on H_0 = gamma I,
    gamma = p^T q / q^T q of the newest pair when scale_h0, else 1. Storage 2 m d.

    Gradient evaluations per step: 2, on the same mini-batch (the cost table's 2bd + 6md).

    Hyper-parameters (defaults): mu 0.8, memory 10, alpha 0.5, schedule "sqrt" (alpha_k =
    alpha / sqrt(k)), lam 1e-3, scale_h0 true, curvature_tol 1e-10.
    """

    online = True
    limited = True

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, memory: int = 10, alpha: float = 0.5,
                 schedule: str = "sqrt", lam: float = 1e-3, scale_h0: bool = True,
                 curvature_tol: float = 1e-10) -> None:
        super().__init__(params, dict(mu=mu, memory=memory, alpha=alpha, schedule=schedule, lam=lam,
                                      scale_h0=bool(scale_h0), curvature_tol=curvature_tol))
