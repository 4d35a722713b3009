"""The scheduling decision: for one Hessian inversion, quantum or classical solver?

Q-Newton, Sec. IV-C and Algorithm 2 lines 4-6: R_c = C * N^3 against R_q = t_g * Q(H);
the cheaper solver gets the inversion. `Decision` is the record of one such choice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
        """JSON-ready dict; infinities become the string "inf"."""
        out = asdict(self)
        for key, value in list(out.items()):
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = "inf" if value > 0 else ("-inf" if value < 0 else "nan")
        return out
