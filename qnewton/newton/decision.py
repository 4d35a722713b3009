"""`Decision`: the record of one scheduling choice (Q-Newton Sec. IV-C, Algorithm 2 lines 4-7).

It is what the scheduler hands to the solver it picked and what the ledger stores: the costs of
both sides (MODELED quantum seconds, predicted classical seconds), the condition-number estimate
behind them, and the MEASURED seconds spent deciding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from qnewton.jsonutil import json_ready

SolverChoice = Literal["quantum", "classical"]


@dataclass(frozen=True)
class Decision:
    """One scheduling decision.

    solver: the chosen solver, "quantum" or "classical".
    policy: the policy that chose ("hybrid", "classical-only", "quantum-only").
    n, sparsity: matrix size N and oracle sparsity d (max nonzeros per row) the cost used.
    kappa, log_kappa, kappa_method: the condition-number estimate (natural log too, since the
        determinant bound can exceed float range) and the estimator that produced it.
    quantum_seconds: MODELED quantum seconds (expected queries x per-query time + readout).
    classical_seconds: classical seconds predicted by the classical cost model (C * N^3 with C
        fitted from measurements, or the CG model).
    classical_model: "lu", "cg" or "best" (which one priced classical_seconds).
    expected_queries: expected block-encoding queries, Q* / (0.39 - 0.201 eps).
    readout_seconds: MODELED seconds of reading the solution out (0 for the paper's free readout).
    reason: one human sentence saying why this solver was chosen.
    timings: MEASURED seconds spent making the decision, by stage ("kappa_estimate", "decision").
    """

    solver: SolverChoice
    policy: str
    n: int
    sparsity: int
    kappa: float
    log_kappa: float
    kappa_method: str
    quantum_seconds: float
    classical_seconds: float
    classical_model: str
    expected_queries: float
    readout_seconds: float = 0.0
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (`qnewton.jsonutil.json_ready`); infinities become the string "inf"."""
        return json_ready(asdict(self))
