"""The contracts between the Newton core and the parts plugged into it.

The core (`qnewton.newton.scheduler`, `qnewton.newton.step`) never imports a concrete solver or
a measuring module: it talks to

- a quantum cost model (`QuantumCostModel`): prices one QLSA solve, e.g.
  `qnewton.costs.quantum.QuantumCostModel` (Jennings et al. query count x per-query time);
- a classical cost model (`ClassicalCostModel`): predicts the seconds of one classical solve,
  e.g. `qnewton.costs.classical.LUCostModel` (R_c = C N^3, paper Sec. IV-C); a model that picks
  among several (`ChoosingClassicalCostModel`) also says which one priced;
- a linear solver (`LinearSolver`): solves A x = b and returns a `SolveResult`, with MEASURED
  seconds (wall clock here) and MODELED quantum seconds in separate fields; a solver with random
  noise can be reseeded (`Reseedable`) so that runs and resumed runs repeat bit for bit.

All are `typing.Protocol`s checked with isinstance at construction, so a wrong object is a
one-line error there rather than an AttributeError in the middle of a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from qnewton.newton.decision import Decision

SolverKindName = Literal["classical", "quantum"]


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
    kind: SolverKindName
    measured_seconds: float
    modeled_quantum_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LinearSolver(Protocol):
    """Solves A x = b. `decision` (the scheduler's `Decision`, optional) carries the modeled cost,
    which quantum solvers report as their modeled time."""

    name: str
    kind: SolverKindName

    def solve(self, A: np.ndarray, b: np.ndarray, decision: "Decision | None" = None) -> SolveResult: ...


@runtime_checkable
class Reseedable(Protocol):
    """A solver whose random noise stream can be restarted from a seed sequence."""

    def reseed(self, seed: int | Sequence[int]) -> None: ...


@runtime_checkable
class QuantumCostModel(Protocol):
    """Prices one quantum linear-system solve of an N x N, d-sparse system with condition number
    kappa. `alpha` is a fixed block-encoding subnormalization, or None when the model derives it
    from max|A_ij| and ||A||_2 (which the scheduler then supplies)."""

    alpha: float | None

    def estimate(self, n: int, sparsity: int, kappa: float, *, max_entry: float | None = None,
                 norm: float | None = None) -> Any: ...


@runtime_checkable
class ClassicalCostModel(Protocol):
    """Predicts the seconds of one classical solve of an N x N, d-sparse system."""

    name: str

    def seconds(self, n: int, sparsity: int, kappa: float) -> float: ...


@runtime_checkable
class ChoosingClassicalCostModel(ClassicalCostModel, Protocol):
    """A classical model that prices several solvers and picks the cheapest: `choose` returns
    (seconds, name of the model that priced them)."""

    def choose(self, n: int, sparsity: int, kappa: float) -> tuple[float, str]: ...
