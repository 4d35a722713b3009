"""K-FAC: natural-gradient steps with Kronecker-factored curvature per Linear layer.

Martens and Grosse 2015 ("Optimizing neural networks with Kronecker-factored approximate
curvature", Secs. 3-6) approximate the curvature block of a Linear layer by G (x) A, A the second
moment of the layer's (bias-augmented) input and G that of the back-propagated output gradients
(`qnewton.curvature.kfac`, which computes them for the step's mini-batch). This optimizer keeps
running averages of the factors (Sec. 5: A <- decay A + (1 - decay) A_batch, the same for G,
refreshed every `update_interval` steps; the first refresh takes the batch factors as they are)
and preconditions each layer's gradient, written as the matrix M = [dW | db], with factored
Tikhonov damping (Sec. 6.3):

    pi = sqrt((tr A / dim A) / (tr G / dim G)),
    Delta = (G + sqrt(damping) / pi I)^{-1} M (A + pi sqrt(damping) I)^{-1},
    theta <- theta - lr Delta            (plus heavy-ball momentum if momentum > 0).

Hyper-parameters: lr = 0.1, damping = 1e-2 (lambda), decay = 0.95 (the running-average factor),
update_interval = 1 (steps between factor refreshes), momentum = 0.0, fisher_type = "type-2" (the
K-FAC of the GGN; "mc" and "empirical" as in `qnewton.curvature.kfac`). Every trainable parameter
must belong to an nn.Linear. One gradient evaluation per step, plus, on refresh steps, the factor
computation (one forward pass and one backward per output class for "type-2").
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from qnewton.curvature.kfac import FISHER_TYPES, KFAC, linear_layout
from qnewton.optim.curvature_based.base import flat_blocks, model_and_batch
from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport


def damped_factor_inverses(A: torch.Tensor, G: torch.Tensor, damping: float) -> tuple[torch.Tensor, torch.Tensor]:
    """((A + pi sqrt(damping) I)^{-1}, (G + sqrt(damping)/pi I)^{-1}) with pi of factored Tikhonov
    damping (Martens and Grosse 2015, Sec. 6.3); pi = 1 when a trace vanishes."""
    ta, tg = float(torch.trace(A)) / A.shape[0], float(torch.trace(G)) / G.shape[0]
    pi = math.sqrt(ta / tg) if ta > 0 and tg > 0 and math.isfinite(ta / tg) else 1.0
    root = math.sqrt(damping)
    eye_a = torch.eye(A.shape[0], dtype=A.dtype)
    eye_g = torch.eye(G.shape[0], dtype=G.dtype)
    return torch.linalg.inv(A + pi * root * eye_a), torch.linalg.inv(G + root / pi * eye_g)


class KFACOptimizer(FlatOptimizer):
    """K-FAC (module docstring). State: per layer the running factors A_i, G_i (float64)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.1, damping: float = 1e-2, decay: float = 0.95,
                 update_interval: int = 1, momentum: float = 0.0, fisher_type: str = "type-2") -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("damping", damping, low=0.0, low_open=True)
        check_number("decay", decay, low=0.0, high=1.0, high_open=True)
        check_int("update_interval", update_interval, 1)
        check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if fisher_type not in FISHER_TYPES:
            raise ValueError(f"fisher_type: must be one of {', '.join(FISHER_TYPES)}, got {fisher_type!r}")
        super().__init__(params, dict(lr=float(lr), damping=float(damping), decay=float(decay),
                                      update_interval=int(update_interval), momentum=float(momentum),
                                      fisher_type=fisher_type))

    def check_model(self, model: torch.nn.Module) -> list:
        """The model's layer blocks with their flat positions; UsageError unless each is one nn.Linear
        (the factory calls it, so a run refuses such a model before it starts)."""
        blocks = flat_blocks(model, self._params, "layer")
        for block, _ in blocks:
            linear_layout(model, block)
        return blocks

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="kfac")
        model, batch = model_and_batch(objective.closure, "K-FAC")
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        blocks = self.check_model(model)
        t = int(state.get("t", 0))
        state["t"] = t + 1
        if t % group["update_interval"] == 0 or "A" not in state:
            curv = KFAC(fisher_type=group["fisher_type"], dense_max_n=0)(model, batch, [b for b, _ in blocks])
            decay = group["decay"]
            if "A" not in state:
                state["A"] = [c.factors.A.clone() for c in curv]
                state["G"] = [c.factors.G.clone() for c in curv]
            else:
                state["A"] = [decay * a + (1 - decay) * c.factors.A for a, c in zip(state["A"], curv)]
                state["G"] = [decay * gg + (1 - decay) * c.factors.G for gg, c in zip(state["G"], curv)]
        direction = torch.zeros_like(g)
        for (block, idx), A, G in zip(blocks, state["A"], state["G"]):
            _, _, _, index = linear_layout(model, block)
            A_inv, G_inv = damped_factor_inverses(A, G, group["damping"])
            M = g[idx][index]
            step_block = (G_inv @ M @ A_inv).reshape(-1)
            local = torch.empty_like(step_block)
            local[index.reshape(-1)] = step_block
            direction[idx] = local
        if group["momentum"]:
            buf = state.get("buffer")
            direction = direction if buf is None else group["momentum"] * buf + direction
            state["buffer"] = direction.clone()
        if not finite(0.0, direction):
            report.skipped = "non-finite direction"
            return report, loss
        objective.set(objective.x() - group["lr"] * direction)
        return report, loss
