"""`QNewton`: the Q-Newton step as a torch.optim.Optimizer (paper Algorithm 2).

Each parameter group is one Hessian block. `step(closure)` calls the closure (which must return
the loss with its autograd graph, without calling backward), computes per group the gradient g
and the exact Hessian H (double backward: the rows of H are Hessian-vector products with the
unit vectors, batched with `is_grads_batched`), symmetrizes H <- (H + H^T)/2, hands (H, g) to a
`qnewton.train.newton.NewtonStep` (regularize, prune, kappa, schedule, solve, safeguard) and
applies theta <- theta - lr * x. The trainer (`qnewton.train.runner`) drives the same NewtonStep
directly with the torch.func curvature; this class is for using Q-Newton in one's own loop.

`state_dict()` / `load_state_dict()` round-trip the step counter and the last step's decision
counts (the base class handles the rest).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch.optim import Optimizer

from qnewton.errors import UsageError
from qnewton.train.newton import NewtonResult, NewtonStep


def group_hessian(loss: torch.Tensor, params: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (N,) and exactly symmetric Hessian (N, N) of `loss` over `params`, float64."""
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    n = flat.numel()
    eye = torch.eye(n, dtype=flat.dtype, device=flat.device)
    rows = torch.autograd.grad(flat, params, grad_outputs=eye, retain_graph=True, is_grads_batched=True,
                               allow_unused=True)
    H = torch.cat([(r if r is not None else torch.zeros((n, *p.shape), dtype=flat.dtype)).reshape(n, -1)
                   for r, p in zip(rows, params)], dim=1).detach().double()
    return flat.detach().double(), (H + H.T) * 0.5


class QNewton(Optimizer):
    """Newton's method with Q-Newton's hybrid quantum-classical inversion, one block per group."""

    def __init__(self, params: Iterable[Any], newton_step: NewtonStep, lr: float = 1.0) -> None:
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
            raise UsageError(f"lr: must be a positive number, got {lr!r}")
        if not isinstance(newton_step, NewtonStep):
            raise UsageError("newton_step: must be a qnewton.train.newton.NewtonStep")
        super().__init__(params, {"lr": float(lr)})
        self.newton_step = newton_step
        self.last_result: NewtonResult | None = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        """One Q-Newton step on every parameter group; `closure` returns the loss with its graph. Returns the loss."""
        if closure is None:
            raise UsageError("closure: QNewton needs a closure that returns the loss (with graph)")
        with torch.enable_grad():
            loss = closure()
            curv = [group_hessian(loss, [p for p in group["params"] if p.requires_grad]) for group in self.param_groups]
        result = self.newton_step.compute([H.numpy() for _, H in curv], [g.numpy() for g, _ in curv])
        for group, x in zip(self.param_groups, result.directions):
            offset = 0
            for p in group["params"]:
                if not p.requires_grad:
                    continue
                n = p.numel()
                p.sub_(group["lr"] * torch.as_tensor(x[offset:offset + n], dtype=p.dtype).reshape(p.shape))
                offset += n
        state = self.state.setdefault("qnewton", {})  # type: ignore[call-overload]
        state["steps"] = int(state.get("steps", 0)) + 1
        for k, v in result.decision_counts.items():
            state[f"decisions_{k}"] = int(state.get(f"decisions_{k}", 0)) + v
        self.last_result = result
        return loss.detach()
