"""oLMoQ: online limited-memory MoQ (Indrapriyadarsini et al., AAAI 2022; slides' cost table)."""

from __future__ import annotations

from typing import Iterable

import torch

from qnewton.optim.naq.core import AcceleratedQuasiNewton


class OLMoQ(AcceleratedQuasiNewton):
    """Online limited-memory momentum quasi-Newton: oMoQ (slides Algorithm 1, one gradient per
    step, the pair of step k stored when step k + 1's gradient arrives) with H_k applied by the
    two-loop recursion over the last `memory` pairs on H_0 = gamma I (gamma = s^T y / y^T y of the
    newest pair when scale_h0, else 1). Storage (2m + 1) d.

    Gradient evaluations per step: 1 (the cost table's bd + 6md).

    Hyper-parameters (defaults): mu 0.8, memory 10, alpha 0.5, schedule "sqrt", lam 1e-3,
    scale_h0 true, curvature_tol 1e-10.
    """

    online = True
    limited = True
    nesterov = False

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, memory: int = 10, alpha: float = 0.5,
                 schedule: str = "sqrt", lam: float = 1e-3, scale_h0: bool = True,
                 curvature_tol: float = 1e-10) -> None:
        super().__init__(params, dict(mu=mu, memory=memory, alpha=alpha, schedule=schedule, lam=lam,
                                      scale_h0=bool(scale_h0), curvature_tol=curvature_tol))
