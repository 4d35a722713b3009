"""Subsampled Newton: the exact Hessian of a subsample of the mini-batch, dense per block,
regularized and solved exactly.

Survey 003 (Sec. 4, subsampled Newton methods; Byrd, Chin, Neveitt and Nocedal 2011;
Roosta-Khorasani and Mahoney 2019) take the gradient g on the whole mini-batch S_g and the
Hessian on a smaller subsample S_H of it, since the Hessian costs far more per example. Here S_H is
ceil(hessian_fraction |S_g|) examples of the step's mini-batch drawn without replacement by a
generator seeded from (seed, step number), so a run is reproducible and a checkpoint resumes it.
For each block B (`blocks`: "layer" (default), "full" or "tensor"; `qnewton.curvature.blocks`)
the dense block Hessian H_B on S_H (`qnewton.curvature.hessian`, float64) is regularized
spectrally, so that the step is a descent direction even where H_B is indefinite:

    H_B = V diag(lam) V^T,   d_B = V diag(1 / (max(lam, 0) + damping)) V^T g_B,
    theta_B <- theta_B - lr d_B,

which is (H_B + damping I)^{-1} g_B whenever H_B is positive semi-definite. Hyper-parameters:
lr = 1.0, damping = 0.3, hessian_fraction = 0.25, blocks = "layer", max_block = 4096 (largest block
dense; larger is a ValueError), seed = 0. One gradient evaluation per step plus the subsample's
block Hessians (one forward-over-reverse pass per block).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from qnewton.curvature.base import Batch
from qnewton.curvature.hessian import ExactHessian
from qnewton.optim.curvature_based.base import flat_blocks, model_and_batch
from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport

BLOCK_MODES: tuple[str, ...] = ("layer", "full", "tensor")


def subsample_indices(n: int, fraction: float, seed: int, step: int) -> torch.Tensor:
    """ceil(fraction n) distinct indices of range(n) (at least one), drawn by a generator seeded
    with (seed, step), sorted."""
    size = max(1, min(n, math.ceil(fraction * n)))
    generator = torch.Generator()
    generator.manual_seed(int(seed) * 1_000_003 + int(step))
    return torch.randperm(n, generator=generator)[:size].sort().values


def regularized_solve(H: torch.Tensor, g: torch.Tensor, damping: float) -> torch.Tensor:
    """V diag(1 / (max(lam, 0) + damping)) V^T g for H = V diag(lam) V^T (module docstring)."""
    lam, V = torch.linalg.eigh(H)
    return V @ ((V.T @ g) / (lam.clamp(min=0.0) + damping))


class SubsampledNewton(FlatOptimizer):
    """Subsampled Newton (module docstring)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, damping: float = 0.3,
                 hessian_fraction: float = 0.25, blocks: str = "layer", max_block: int = 4096, seed: int = 0) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("damping", damping, low=0.0, low_open=True)
        check_number("hessian_fraction", hessian_fraction, low=0.0, high=1.0, low_open=True)
        if blocks not in BLOCK_MODES:
            raise ValueError(f"blocks: must be one of {', '.join(BLOCK_MODES)}, got {blocks!r}")
        check_int("max_block", max_block, 1)
        check_int("seed", seed, 0)
        super().__init__(params, dict(lr=float(lr), damping=float(damping), hessian_fraction=float(hessian_fraction),
                                      blocks=blocks, max_block=int(max_block), seed=int(seed)))

    def check_model(self, model: torch.nn.Module) -> list:
        """The model's blocks with their flat positions; ValueError naming max_block when a block is
        larger (the factory calls it, so a run refuses such a model before it starts)."""
        group = self.param_groups[0]
        blocks = flat_blocks(model, self._params, group["blocks"])
        for block, _ in blocks:
            if block.size > group["max_block"]:
                raise ValueError(f"max_block: block {block.name!r} has {block.size} parameters, more than "
                                 f"max_block={group['max_block']} (use blocks=layer or tensor, or raise max_block)")
        return blocks

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="subsampled-newton")
        model, batch = model_and_batch(objective.closure, "subsampled Newton")
        blocks = self.check_model(model)
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        t = int(state.get("t", 0))
        state["t"] = t + 1
        idx = subsample_indices(batch.inputs.shape[0], group["hessian_fraction"], group["seed"], t)
        sub = Batch(batch.inputs[idx], batch.targets[idx], batch.loss_fn)
        curv = ExactHessian(dtype=torch.float64)(model, sub, [b for b, _ in blocks])
        direction = torch.zeros_like(g)
        for (_, pos), c in zip(blocks, curv):
            direction[pos] = regularized_solve(c.H, g[pos], group["damping"])
        if not finite(0.0, direction):
            report.skipped = "non-finite direction"
            return report, loss
        objective.set(objective.x() - group["lr"] * direction)
        return report, loss
