"""`QNewton`: the Q-Newton step as a torch.optim.Optimizer (paper Algorithm 2).

The one Newton update of the project: the trainer (`qnewton.train`) and users' own loops both
call `step(closure)`. Each parameter group is one curvature block (`qnewton.curvature.blocks`).
`step(closure)` needs the batch, so `closure` is a `qnewton.curvature.BatchClosure`:

- the first `warmup_steps` steps are plain SGD (paper Sec. IV-B: K steps of SGD before Newton),
  at `warmup_lr` with `momentum`, through an inner `torch.optim.SGD`;
- later steps compute per block the gradient g_B and the curvature H_B (`curvature`, default the
  exact Hessian; any kind of `qnewton.curvature.CURVATURES`), hand them to a
  `qnewton.newton.NewtonStep` (regularize, prune, kappa, schedule, solve, safeguard) and apply
  theta_B <- theta_B - lr x_B (Algorithm 2 line 17). A block with Kronecker factors (K-FAC) goes
  to the step as its two factors, which are inverted separately (two decisions per block); every
  ledger record names the curvature kind that priced it;
- a non-finite loss, gradient or curvature skips the update (recorded in the step report);
- blocks larger than `max_newton_block` parameters (0 = no limit) are never formed or inverted:
  in a Newton step they take the first-order update (SGD at `warmup_lr` with `momentum`, through
  a second inner `torch.optim.SGD` whose state is kept) with the gradient at the same point and on
  the same batch as the Newton blocks, and each gets a ledger record with decision "first-order"
  and reason "first-order: N = n > max m" (`decision_counts["first_order"]` counts them). This is
  how the transformer models keep their embeddings, output layer and feed-forward layers out of
  the dense Newton step (docs/transformers.md).

The emulated QLSA's noise is reseeded per step and block from `noise_seed` + [step, block], so
a step's noise depends on the seed and the step index only; runs and resumed runs repeat bit for
bit. `state_dict()` holds the inner SGD state and the step counter besides the base state.
After each step `last_report` is a `StepReport` (MEASURED stage seconds, MODELED quantum seconds,
decisions, per-block ledger records).
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from torch import nn
from torch.optim import Optimizer

from qnewton.curvature.base import BatchClosure, Curvature
from qnewton.curvature.blocks import Block, make_blocks
from qnewton.curvature.registry import make_curvature
from qnewton.enums import BlockKind, SolverKind
from qnewton.errors import UsageError
from qnewton.newton.step import KroneckerSystem, NewtonStep
from qnewton.optim.step_report import StepReport, empty_stages, gradient_step


def _finite(t: torch.Tensor | None) -> bool:
    """True for None (a factored block without its dense matrix) or an all-finite tensor."""
    return t is None or bool(torch.isfinite(t).all())


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{name}: must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{name}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


class QNewton(Optimizer):
    """Newton's method with Q-Newton's hybrid quantum-classical inversion, one block per group."""

    def __init__(
        self,
        model: nn.Module,
        newton_step: NewtonStep,
        *,
        lr: float = 1.0,
        blocks: BlockKind | str | Sequence[Block] = BlockKind.TENSOR,
        curvature: Curvature | str = "hessian",
        warmup_steps: int = 0,
        warmup_lr: float = 0.1,
        momentum: float = 0.0,
        noise_seed: Sequence[int] | None = None,
        device: Any = None,
        max_newton_block: int = 0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise UsageError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(newton_step, NewtonStep):
            raise UsageError("newton_step: must be a qnewton.newton.NewtonStep")
        lr = _positive("lr", lr)
        warmup_lr = _positive("warmup_lr", warmup_lr)
        momentum = _positive("momentum", momentum, allow_zero=True)
        if momentum >= 1:
            raise UsageError(f"momentum: must lie in [0, 1), got {momentum!r}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise UsageError(f"warmup_steps: must be an integer >= 0, got {warmup_steps!r}")
        if isinstance(max_newton_block, bool) or not isinstance(max_newton_block, int) or max_newton_block < 0:
            raise UsageError(f"max_newton_block: must be an integer >= 0 (0 = no limit), got {max_newton_block!r}")
        self.max_newton_block = max_newton_block
        self.blocks: list[Block] = make_blocks(model, blocks) if isinstance(blocks, str) else list(blocks)
        #: the blocks a Newton step inverts, and those above max_newton_block that take the first-order update
        self.newton_blocks = [b for b in self.blocks if not 0 < max_newton_block < b.size]
        self.first_order_blocks = [b for b in self.blocks if 0 < max_newton_block < b.size]
        self.curvature: Curvature = make_curvature(curvature) if isinstance(curvature, str) else curvature
        check_blocks = getattr(self.curvature, "check_blocks", None)
        if check_blocks is not None:  # e.g. K-FAC: every block must be one Linear layer
            check_blocks(model, self.newton_blocks)
        # device: the curvature and the step's dense work run there in torch (qnewton.newton.torch_path);
        # None keeps the numpy path. The model itself stays where it is.
        self.device = None
        if device is not None:
            from qnewton.newton.step import _check_device

            self.device = _check_device(device, newton_step.scheduler)
            newton_step.device = self.device
            if hasattr(self.curvature, "device"):
                self.curvature.device = self.device  # type: ignore[attr-defined]
        params = dict(model.named_parameters())
        groups = [{"params": [params[n] for n in b.names], "block": b.name} for b in self.newton_blocks]
        first_order = [params[n] for b in self.first_order_blocks for n in b.names]
        if not groups:  # every block is first-order: the base optimizer still needs parameters
            groups = [{"params": first_order, "block": None}]
        super().__init__(groups, {"lr": lr})
        self.model = model
        self.newton_step = newton_step
        self.warmup_steps = warmup_steps
        self.noise_seed = None if noise_seed is None else [int(v) for v in noise_seed]
        self.warmup = torch.optim.SGD(model.parameters(), lr=warmup_lr, momentum=momentum)
        self.first_order = torch.optim.SGD(first_order, lr=warmup_lr, momentum=momentum) if first_order else None
        self.steps_done = 0
        self.last_report: StepReport | None = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """Base optimizer state plus the warm-up SGD state and the number of steps taken."""
        state = {"base": super().state_dict(), "warmup": self.warmup.state_dict(), "steps_done": self.steps_done}
        if self.first_order is not None:
            state["first_order"] = self.first_order.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        """Inverse of `state_dict` (ValueError on a state of another shape)."""
        keys = {"base", "warmup", "steps_done"} | ({"first_order"} if self.first_order is not None else set())
        if not isinstance(state_dict, dict) or set(state_dict) != keys:
            raise ValueError(f"not a QNewton state of this model (expected keys {', '.join(sorted(keys))})")
        steps = state_dict["steps_done"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps_done: must be an integer >= 0, got {steps!r}")
        super().load_state_dict(state_dict["base"])
        self.warmup.load_state_dict(state_dict["warmup"])
        if self.first_order is not None:
            self.first_order.load_state_dict(state_dict["first_order"])
        self.steps_done = steps

    # ------------------------------------------------------------------ the step
    @torch.no_grad()
    def step(self, closure: BatchClosure | None = None) -> torch.Tensor:  # type: ignore[override]
        """One step (warm-up SGD or Algorithm 2) on the batch of `closure`; returns the loss."""
        if not isinstance(closure, BatchClosure):
            raise UsageError("closure: QNewton needs a qnewton.curvature.BatchClosure (model and batch)")
        index = self.steps_done
        self.steps_done += 1
        if index < self.warmup_steps:
            report, loss = self._sgd_step(closure)
        else:
            report, loss = self._newton_step(closure, index)
        self.last_report = report
        return loss

    def _sgd_step(self, closure: BatchClosure) -> tuple[StepReport, torch.Tensor]:
        return gradient_step(closure, self.warmup.step, list(self.model.parameters()), "sgd")

    def _newton_step(self, closure: BatchClosure, index: int) -> tuple[StepReport, torch.Tensor]:
        report = StepReport(phase="newton", measured_seconds=empty_stages())
        seconds = report.measured_seconds
        t0 = time.perf_counter()
        # the first-order blocks need the gradient at this point: one backward pass more
        loss = closure() if self.first_order is not None else closure.forward()
        seconds["forward_backward"] = time.perf_counter() - t0
        if not math.isfinite(float(loss)):
            report.skipped = "non-finite loss"
            return report, loss
        t1 = time.perf_counter()
        with torch.enable_grad():
            curv = self.curvature(self.model, closure.batch, self.newton_blocks) if self.newton_blocks else []
        seconds["hessian"] = time.perf_counter() - t1
        first_order_finite = self.first_order is None or all(
            p.grad is None or bool(torch.isfinite(p.grad).all()) for g in self.first_order.param_groups for p in g["params"])
        if not first_order_finite or not all(
                math.isfinite(c.loss) and _finite(c.H) and bool(torch.isfinite(c.g).all())
                and (c.factors is None or (_finite(c.factors.A) and _finite(c.factors.G))) for c in curv):
            report.skipped = "non-finite Hessian or gradient"
            return report, loss
        noise = None if self.noise_seed is None else [*self.noise_seed, index]
        factored = [None if c.factors is None else
                    KroneckerSystem(c.factors.A.double().numpy(), c.factors.G.double().numpy(),
                                    c.factors.index.numpy()) for c in curv]
        if self.newton_step.device is not None:  # tensors stay on the device
            hessians, gradients = [c.H for c in curv], [c.g for c in curv]
        else:
            hessians = [None if c.factors is not None else c.H.double().numpy() for c in curv]
            gradients = [c.g.double().numpy() for c in curv]
        del curv  # the step releases each H once it is regularized (one copy less at the peak)
        result = self.newton_step.compute(
            hessians, gradients, noise_seed=noise, names=[b.name for b in self.newton_blocks],
            curvature=str(getattr(self.curvature, "kind", type(self.curvature).__name__)),
            factors=factored if any(f is not None for f in factored) else None, release_inputs=True)
        for key, value in result.measured_seconds.items():
            seconds[key] += value
        t2 = time.perf_counter()
        for group, x in zip(self.param_groups if self.newton_blocks else [], result.directions):
            offset = 0
            for p in group["params"]:
                n = p.numel()
                p.sub_(group["lr"] * torch.as_tensor(x[offset:offset + n], dtype=p.dtype).reshape(p.shape))
                offset += n
        if self.first_order is not None:
            self.first_order.step()
        seconds["update"] = time.perf_counter() - t2
        modeled = [b["modeled_quantum_seconds"] for b in result.blocks]
        report.modeled_quantum_seconds = sum(v for v in modeled if math.isfinite(v))
        report.infinite_cost_inversions = sum(1 for v in modeled if not math.isfinite(v))
        report.emulation_measured_seconds = sum(b["solve_measured_seconds"] for b in result.blocks
                                                if b["decision"] == SolverKind.QUANTUM)
        report.decision_counts = dict(result.decision_counts)
        report.blocks = list(result.blocks)
        if self.first_order_blocks:
            report.decision_counts["first_order"] = len(self.first_order_blocks)
            report.blocks += [{"name": b.name, "n": b.size, "decision": "first-order",
                               "reason": f"first-order: N = {b.size} > max {self.max_newton_block}",
                               "modeled_quantum_seconds": 0.0, "solve_measured_seconds": 0.0}
                              for b in self.first_order_blocks]
        report.safeguards = result.safeguards
        return report, loss
