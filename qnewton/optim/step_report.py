"""What an optimizer tells the trainer about the step it just took.

Torch optimizers say nothing beyond the loss; the trainer then measures the step itself. An
optimizer that knows more (the Newton optimizer: stage timings, scheduling decisions, modeled
quantum seconds) implements `ReportsSteps` and leaves a `StepReport` in `last_report` after each
`step(closure)`. An optimizer that evaluates the loss and gradient more than once per step (line
searches, extra gradients for curvature pairs) may instead, or also, set the attribute
`last_gradient_evaluations` (an int) after each step; the trainer otherwise counts the calls of
the closure (at least one per step). MEASURED seconds (wall clock here) and MODELED quantum seconds stay in separate
fields.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import torch

#: The MEASURED stages of a step, in ledger order.
STAGES: tuple[str, ...] = (
    "forward_backward",
    "hessian",
    "regularize_prune",
    "kappa_estimate",
    "decision",
    "solve",
    "update",
)


def empty_stages() -> dict[str, float]:
    """Every stage at 0.0 seconds."""
    return {s: 0.0 for s in STAGES}


@dataclass
class StepReport:
    """One step as the optimizer saw it.

    phase: "sgd" (plain gradient step, e.g. the Newton methods' warm-up), "newton", or another
        word for other optimizers. skipped: None, or why no update was made (non-finite values).
    measured_seconds: MEASURED wall-clock seconds per stage (`STAGES`).
    modeled_quantum_seconds: MODELED quantum seconds of the step's finite-cost quantum inversions;
    infinite_cost_inversions: quantum inversions whose modeled cost is infinite (left out of it).
    emulation_measured_seconds: MEASURED seconds of the classical emulation of quantum solves.
    decision_counts, blocks, safeguards: the Newton step's scheduling record (empty otherwise).
    gradient_evaluations: loss-and-gradient evaluations the step made on its mini-batch (a line
        search or a curvature-pair gradient makes more than one); None = the trainer counts them.
    """

    phase: str
    skipped: str | None = None
    measured_seconds: dict[str, float] = field(default_factory=empty_stages)
    modeled_quantum_seconds: float = 0.0
    infinite_cost_inversions: int = 0
    emulation_measured_seconds: float = 0.0
    decision_counts: dict[str, int] = field(default_factory=lambda: {"quantum": 0, "classical": 0})
    blocks: list[dict[str, Any]] = field(default_factory=list)
    safeguards: int = 0
    gradient_evaluations: int | None = None


@runtime_checkable
class ReportsSteps(Protocol):
    """An optimizer that leaves a StepReport of its last step in `last_report`."""

    last_report: StepReport | None


def gradient_step(closure: Callable[[], torch.Tensor], step: Callable[[], Any], params: Any,
                  phase: str) -> tuple[StepReport, torch.Tensor]:
    """One first-order step, measured: `closure()` (loss and gradient), then `step()` unless the
    loss or a gradient of `params` is not finite (the step is then skipped and says why)."""
    report = StepReport(phase=phase, gradient_evaluations=1)
    t0 = time.perf_counter()
    loss = closure()
    report.measured_seconds["forward_backward"] = time.perf_counter() - t0
    if not math.isfinite(float(loss)):
        report.skipped = "non-finite loss"
    elif not all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params):
        report.skipped = "non-finite gradient"
    else:
        t1 = time.perf_counter()
        step()
        report.measured_seconds["update"] = time.perf_counter() - t1
    return report, loss
