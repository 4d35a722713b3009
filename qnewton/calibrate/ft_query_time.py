"""Per-query time on error-corrected hardware: logical counts priced by the resource estimator.

A fault-tolerant profile (``kind: "fault-tolerant"``) names a qubit model, a QEC scheme and an
error budget of Microsoft's resource estimator and the options of our logical model. One run of
the solver at (N, d, kappa, eps, alpha) is priced as follows:

1. Q* = Jennings et al.'s query count (Theorem 1, `qnewton.costs.quantum.query_count`);
2. the run is counted with Q_b block-encoding queries, Q_b = Q* rounded *up* to the grid
   2^(j/4) (j integer), so that blocks of nearby kappa share one estimate (the cache) and the
   price is never below the exact one by more than the few percent a larger code distance costs;
3. the logical counts of a run of Q_b queries (`qnewton.costs.ft_logical.solve_counts_for_queries`:
   Toffolis, rotations, measurements, logical qubits) go to the estimator
   (`qnewton.calibrate.ft_estimate.estimate_counts`): physical qubits, code distance, runtime;
   (a run beyond `ft_estimate.MAX_OPERATIONS` gates is priced from the longest grid run within
   it, flagged `extrapolated`);
4. the per-query time is runtime(Q_b) / Q_b. The cost model multiplies it by the expected
   queries Q* / (0.39 - 0.201 eps), so the solve time is (Q* / Q_b) x runtime / p: the expected
   number of runs times the time of one.

The per-query time therefore depends on kappa (and eps, alpha) through Q_b: the code distance and
the number of T factories grow with the length of the run. The cost model passes kappa through
`seconds_per_solve_query` (see `qnewton.costs.query_time.seconds_per_query_at`); a caller that
only knows (N, d) gets `seconds_per_query(n, d)`, quoted at the profile's reference kappa and
epsilon with alpha = d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qnewton.calibrate.ft_estimate import MAX_OPERATIONS, PhysicalEstimate, describe, estimate_counts, operations
from qnewton.calibrate.profiles import CalibrationProfile, FaultTolerantSpec
from qnewton.costs.ft_logical import SolveLogicalCounts, solve_counts_for_queries
from qnewton.costs.quantum import check_alpha, check_epsilon, check_kappa, query_count
from qnewton.errors import UsageError

#: Grid steps per doubling of the query count (Q_b = 2^(j / QUERY_GRID)).
QUERY_GRID = 4


def priced_queries(q: float) -> int:
    """Q_b: Q* rounded up to the grid 2^(j/4), as an integer number of queries (>= 1)."""
    if not (math.isfinite(q) and q > 0):
        raise UsageError(f"queries: must be positive and finite, got {q!r}")
    j = math.ceil(QUERY_GRID * math.log2(q) - 1e-12)
    return max(1, int(math.ceil(2.0 ** (j / QUERY_GRID) - 1e-9)), int(math.ceil(q)))


@dataclass(frozen=True)
class FaultTolerantSolve:
    """One priced run: the logical counts of Q_b queries and their physical estimate (MODELED).

    extrapolated: the run was too long to hand to the estimator (`ft_estimate.MAX_OPERATIONS`);
    Q_b is then the longest grid run within the limit and the per-query time, code distance and
    physical qubits are those of that shorter run (a lower bound: a longer run needs a code
    distance at least as large)."""

    query_count: float
    priced_queries: int
    counts: SolveLogicalCounts
    physical: PhysicalEstimate
    extrapolated: bool = False

    @property
    def seconds_per_query(self) -> float:
        """runtime(Q_b) / Q_b."""
        return self.physical.runtime_seconds / self.priced_queries

    def summary(self) -> dict[str, Any]:
        """The numbers `qnewton cost --json` shows."""
        p = self.physical
        return {
            "physical_qubits": p.physical_qubits,
            "code_distance": p.code_distance,
            "estimator": p.estimator,
            "ft_logical_qubits": self.counts.logical_qubits,
            "ft_toffolis_per_query": self.counts.per_query.toffolis,
            "ft_t_count_per_run": self.counts.t_equivalent,
            "ft_priced_queries": self.priced_queries,
            "ft_run_seconds": p.runtime_seconds,
            "ft_logical_cycle_seconds": p.logical_cycle_seconds,
            "ft_t_factories": p.t_factories,
            "ft_extrapolated": self.extrapolated,
        }


class FaultTolerantQueryTimeModel:
    """`QueryTimeModel` of a fault-tolerant profile (module docstring).

    label: the profile's name; estimator: what prices it (qdk.estimator version, qubit model,
    QEC scheme, error budget).
    """

    def __init__(self, profile: CalibrationProfile | FaultTolerantSpec, label: str | None = None) -> None:
        if isinstance(profile, CalibrationProfile):
            if profile.fault_tolerant is None:
                raise UsageError(f"calibration: {profile.name!r} is not a fault-tolerant profile")
            self.spec = profile.fault_tolerant
            self.label = label or profile.name
        elif isinstance(profile, FaultTolerantSpec):
            self.spec = profile
            self.label = label or f"ft:{profile.qubit_model}/{profile.qec_scheme}"
        else:
            raise UsageError(f"calibration: expected a fault-tolerant profile, got {type(profile).__name__}")
        self.estimator = describe(self.spec.qubit_model, self.spec.qec_scheme, self.spec.error_budget)

    def __repr__(self) -> str:
        return f"FaultTolerantQueryTimeModel({self.label!r}, {self.estimator!r})"

    def solve(self, n: int, sparsity: int, kappa: float, epsilon: float, alpha: float | None = None) -> FaultTolerantSolve:
        """The priced run at (N, d, kappa, eps, alpha); alpha = d when not given; kappa below
        sqrt(12) is raised to sqrt(12), as the cost model does."""
        k, _ = check_kappa(kappa, clamp=True)
        eps = check_epsilon(epsilon)
        a = float(sparsity) if alpha is None else check_alpha(alpha)
        q = query_count(k, eps, a)
        if not math.isfinite(q):
            raise UsageError(f"kappa: the query count is infinite at kappa = {kappa!r}")
        qb = priced_queries(q)
        counts = solve_counts_for_queries(n, sparsity, qb, self.spec.logical_model)
        extrapolated = False
        if operations(counts.to_estimator()) > MAX_OPERATIONS:
            one = operations(solve_counts_for_queries(n, sparsity, 1, self.spec.logical_model).to_estimator())
            cap = 2.0 ** (math.floor(QUERY_GRID * math.log2(max(MAX_OPERATIONS // one, 1))) / QUERY_GRID)
            qb = max(1, int(cap))
            counts = solve_counts_for_queries(n, sparsity, qb, self.spec.logical_model)
            extrapolated = True
        physical = estimate_counts(counts.to_estimator(), self.spec.qubit_model, self.spec.qec_scheme,
                                   self.spec.error_budget)
        return FaultTolerantSolve(query_count=q, priced_queries=qb, counts=counts, physical=physical,
                                  extrapolated=extrapolated)

    def seconds_per_solve_query(self, n: int, sparsity: int, *, kappa: float, epsilon: float,
                                alpha: float | None = None) -> float:
        """runtime(Q_b) / Q_b at this (N, d, kappa, eps, alpha); at kappa = inf the reference value
        (the solve time is infinite anyway)."""
        if math.isinf(float(kappa)):
            return self.seconds_per_query(n, sparsity)
        return self.solve(n, sparsity, kappa, epsilon, alpha).seconds_per_query

    def seconds_per_query(self, n: int, sparsity: int) -> float:
        """The per-query time at the profile's reference kappa and epsilon, alpha = d."""
        return self.solve(n, sparsity, self.spec.reference_kappa, self.spec.reference_epsilon).seconds_per_query
