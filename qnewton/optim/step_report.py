"""What an optimizer tells the trainer about the step it just took.

Torch optimizers say nothing beyond the loss; the trainer then measures the step itself. An
optimizer that knows more (the Newton optimizer: stage timings, scheduling decisions, modeled
quantum seconds) implements `ReportsSteps` and leaves a `StepReport` in `last_report` after each
`step(closure)`. MEASURED seconds (wall clock here) and MODELED quantum seconds stay in separate
fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class ReportsSteps(Protocol):
    """An optimizer that leaves a StepReport of its last step in `last_report`."""

    last_report: StepReport | None
