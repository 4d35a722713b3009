"""The interface every linear solver implements.

A solver takes a real symmetric system A x = b (float64 numpy) and returns a `SolveResult`.
Measured time (wall clock spent on this machine) and modeled quantum time (what a quantum
computer would take according to a cost model) are separate fields and are never added here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

SolverKind = Literal["classical", "quantum"]


@dataclass
class SolveResult:
    """Outcome of one solve.

    x: solution of A x = b, float64, un-normalized (the scale of A^-1 b).
    method: what actually ran ("cholesky", "lu", "emulated-qlsa", "circuit-hhl", ...).
    kind: "classical" or "quantum".
    measured_seconds: wall-clock seconds of the solve on this machine.
    modeled_quantum_seconds: seconds a quantum device would take by the cost model (0.0 for
        classical solves). Never mixed into measured_seconds.
    info: solver-specific details for the ledger (qubits, shots, fidelity, ...); JSON-serializable.
    """

    x: np.ndarray
    method: str
    kind: SolverKind
    measured_seconds: float
    modeled_quantum_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LinearSolver(Protocol):
    """Solves A x = b. `decision` (a `qnewton.scheduler.Decision`, optional) carries the
    scheduler's modeled cost, which quantum solvers report as their modeled time."""

    name: str
    kind: SolverKind

    def solve(self, A: np.ndarray, b: np.ndarray, decision: Any | None = None) -> SolveResult: ...
