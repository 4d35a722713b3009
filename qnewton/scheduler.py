"""The scheduling decision: for one Hessian inversion, quantum or classical solver?

Q-Newton, Sec. IV-C and Algorithm 2 lines 4-6: R_c = C * N^3 against R_q = t_g * Q(H);
the cheaper solver gets the inversion. `Decision` is the record of one such choice.
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


SchedulerPolicy = Literal["hybrid", "classical-only", "quantum-only"]
POLICIES: tuple[str, ...] = ("hybrid", "classical-only", "quantum-only")


class Scheduler:
    """Chooses the solver for one Hessian inversion (Q-Newton Sec. IV-C, Algorithm 2 lines 4-7).

    R_c comes from the classical model (default LU, R_c = C N^3 with C measured on this machine;
    "cg" or "best" available through `classical`); R_q = per-query time x expected queries
    (+ readout) from `quantum`. Policy "hybrid" picks quantum when R_q <= R_c (the paper's
    Algorithm 2 sends ties to the quantum solver), "classical-only" / "quantum-only" always pick
    one side but still price both. The scheduler keeps no state beyond this configuration.

    kappa_method: "bound" (the paper's determinant bound), "lanczos" or "exact"; kappa_options
    are passed to `qnewton.analysis.kappa.estimate_kappa`.
    quantum: a `QuantumCostModel` (default: gate time 1e-18 s, eps 0.01, free readout,
    alpha = d max|A_ij| / ||A||_2, kappa < sqrt(12) clamped and recorded).
    classical: a classical model (`LUCostModel`, `CGCostModel`, `BestClassicalCostModel`), or
    None for `classical_cost_model(classical_kind)` (saved profile, else a quick fit).
    """

    def __init__(
        self,
        policy: SchedulerPolicy = "hybrid",
        kappa_method: str = "bound",
        quantum: Any | None = None,
        classical: Any | None = None,
        *,
        classical_kind: str = "lu",
        kappa_options: dict[str, Any] | None = None,
    ) -> None:
        from qnewton.analysis.kappa import KAPPA_METHODS
        from qnewton.costs.classical import classical_cost_model
        from qnewton.costs.quantum import QuantumCostModel
        from qnewton.errors import UsageError

        if policy not in POLICIES:
            raise UsageError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
        if kappa_method not in KAPPA_METHODS:
            raise UsageError(f"kappa_method: must be one of {', '.join(KAPPA_METHODS)}, got {kappa_method!r}")
        self.policy: str = policy
        self.kappa_method: str = kappa_method
        self.kappa_options: dict[str, Any] = dict(kappa_options or {})
        self.quantum = quantum if quantum is not None else QuantumCostModel()
        if not hasattr(self.quantum, "estimate"):
            raise UsageError("quantum: must be a QuantumCostModel (with .estimate)")
        self.classical = classical if classical is not None else classical_cost_model(classical_kind)  # type: ignore[arg-type]
        if not hasattr(self.classical, "seconds"):
            raise UsageError("classical: must be a classical cost model (with .seconds)")

    def __repr__(self) -> str:
        return (
            f"Scheduler(policy={self.policy!r}, kappa_method={self.kappa_method!r}, "
            f"quantum={self.quantum!r}, classical={getattr(self.classical, 'name', self.classical)!r})"
        )

    def decide(self, A: Any, g: Any | None = None, *, sparsity: int | None = None) -> Decision:
        """Price both solvers for the system A x = g and choose one.

        A: dense float64 symmetric ndarray (already regularized and pruned), a scipy.sparse
        matrix, or a scipy LinearOperator (then kappa_method must be "lanczos" and `sparsity`
        given). sparsity: the oracle sparsity d; default the largest number of nonzeros in a
        row of A. g: the right-hand side; only its length is checked (the costs do not depend
        on it). Decision.timings holds MEASURED seconds: "kappa_estimate" and "decision" (the
        rest of this call).
        """
        import time

        import numpy as np
        import scipy.sparse as sp
        from scipy.sparse.linalg import LinearOperator

        from qnewton.analysis.kappa import estimate_kappa, lanczos_extremes
        from qnewton.analysis.sparsity import row_nonzeros
        from qnewton.errors import UsageError

        t_start = time.perf_counter()
        is_operator = isinstance(A, LinearOperator)
        if is_operator:
            if self.kappa_method != "lanczos":
                raise UsageError(f"kappa_method: a LinearOperator needs 'lanczos', scheduler has {self.kappa_method!r}")
            if sparsity is None:
                raise UsageError("sparsity: must be given when A is a LinearOperator")
            n = int(A.shape[0])
            if A.shape[0] != A.shape[1]:
                raise UsageError(f"A: operator must be square, got shape {A.shape}")
            matrix = None
        elif sp.issparse(A):
            matrix = sp.csr_matrix(A, dtype=np.float64)
            n = int(matrix.shape[0])
            if matrix.shape[0] != matrix.shape[1]:
                raise UsageError(f"A: must be square, got shape {matrix.shape}")
        else:
            matrix = np.asarray(A, dtype=np.float64)
            if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
                raise UsageError(f"A: must be a non-empty square matrix, got shape {matrix.shape}")
            n = int(matrix.shape[0])
        if g is not None:
            g_arr = np.asarray(g)
            if g_arr.shape[0] != n:
                raise UsageError(f"g: length {g_arr.shape[0]} does not match N = {n}")
        if sparsity is None:
            sparsity = int(max(1, int(row_nonzeros(matrix).max(initial=0))))
        elif isinstance(sparsity, bool) or not isinstance(sparsity, (int, np.integer)) or not 1 <= sparsity <= n:
            raise UsageError(f"sparsity: must be an integer in [1, N={n}], got {sparsity!r}")
        sparsity = int(sparsity)
        setup_seconds = time.perf_counter() - t_start

        t0 = time.perf_counter()
        est = estimate_kappa(A if matrix is None else matrix, self.kappa_method, **self.kappa_options)
        kappa_seconds = time.perf_counter() - t0

        t1 = time.perf_counter()
        max_entry = norm = None
        alpha_needed = getattr(self.quantum, "alpha", None) is None
        if matrix is not None and alpha_needed:
            max_entry = float(abs(matrix).max()) if (not sp.issparse(matrix) or matrix.nnz) else 0.0
            det = est.details
            if "lambda_max" in det and "lambda_min" in det and np.isfinite(det["lambda_max"]):
                norm = float(max(abs(det["lambda_max"]), abs(det["lambda_min"])))
            elif max_entry > 0:
                # a few Lanczos steps: theta_max <= ||A||_2, so alpha comes out conservative (large)
                ext = lanczos_extremes(
                    sp.linalg.aslinearoperator(matrix), n, tol=1e-2, max_iter=min(n, 20), seed=0
                )
                norm = float(max(abs(ext["lambda_max"]), abs(ext["lambda_min"])))
            if not max_entry or not norm:
                max_entry = norm = None
        kappa_for_cost = est.value if est.value >= 1 or not np.isfinite(est.value) else 1.0
        qcost = self.quantum.estimate(n, sparsity, kappa_for_cost, max_entry=max_entry, norm=norm)
        if hasattr(self.classical, "choose"):
            classical_seconds, classical_used = self.classical.choose(n, sparsity, est.value)
        else:
            classical_seconds = float(self.classical.seconds(n, sparsity, est.value))
            classical_used = getattr(self.classical, "name", "lu")
        q_seconds = qcost.total_seconds
        if self.policy == "classical-only":
            solver, reason = "classical", "policy classical-only"
        elif self.policy == "quantum-only":
            solver, reason = "quantum", "policy quantum-only"
            if not est.finite:
                reason += f" (kappa estimate infinite: {est.reason})"
        elif not est.finite:
            solver, reason = "classical", f"kappa estimate is infinite ({est.reason})"
        elif q_seconds <= classical_seconds:
            solver = "quantum"
            reason = f"modeled quantum {q_seconds:.3g} s <= classical {classical_seconds:.3g} s ({classical_used})"
        else:
            solver = "classical"
            reason = f"classical {classical_seconds:.3g} s ({classical_used}) < modeled quantum {q_seconds:.3g} s"
        decision_seconds = time.perf_counter() - t1 + setup_seconds

        small_details = {k: v for k, v in est.details.items() if isinstance(v, (int, float, str, bool)) or v is None}
        return Decision(
            solver=solver,  # type: ignore[arg-type]
            policy=self.policy,
            n=n,
            sparsity=sparsity,
            kappa=float(est.value),
            log_kappa=float(est.log_value),
            kappa_method=est.method,
            quantum_seconds=float(q_seconds),
            classical_seconds=float(classical_seconds),
            classical_model=str(getattr(self.classical, "name", classical_used)),
            expected_queries=float(qcost.expected_queries),
            readout_seconds=float(qcost.readout_seconds),
            reason=reason,
            timings={"kappa_estimate": kappa_seconds, "decision": decision_seconds},
            extra={
                "alpha": qcost.alpha,
                "epsilon": qcost.epsilon,
                "kappa_used": qcost.kappa_used,
                "kappa_reason": est.reason,
                "kappa_details": small_details,
                "quantum_solve_seconds": qcost.seconds,
                "seconds_per_query": qcost.seconds_per_query,
                "query_time_model": qcost.query_time_model,
                "readout": qcost.readout,
                "logical_qubits": qcost.logical_qubits,
                "notes": list(qcost.notes),
                "classical_used": classical_used,
                "classical_source": str(getattr(self.classical, "source", "")),
                "max_entry": max_entry,
                "norm": norm,
            },
        )
