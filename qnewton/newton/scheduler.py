"""The scheduler: for one Hessian inversion, quantum or classical solver?

Q-Newton, Sec. IV-C and Algorithm 2 lines 4-6: R_c = C * N^3 against R_q = t_g * Q(H);
the cheaper solver gets the inversion. The result is a `qnewton.newton.decision.Decision`.
The cost models are protocols (`qnewton.newton.protocols`); the scheduler imports no solver and
no measuring code.
"""

from __future__ import annotations

from typing import Any

from qnewton.enums import KappaMethod, Policy, choices
from qnewton.errors import UsageError
from qnewton.newton.decision import Decision
from qnewton.newton.protocols import ChoosingClassicalCostModel, ClassicalCostModel, QuantumCostModel

SchedulerPolicy = Policy
POLICIES: tuple[str, ...] = choices(Policy)


class Scheduler:
    """Chooses the solver for one Hessian inversion (Q-Newton Sec. IV-C, Algorithm 2 lines 4-7).

    R_c comes from the classical model (default LU, R_c = C N^3 with C measured on this machine;
    "cg" or "best" available through `classical`); R_q = per-query time x expected queries
    (+ readout) from `quantum`. Policy "hybrid" picks quantum when R_q <= R_c (the paper's
    Algorithm 2 sends ties to the quantum solver), "classical-only" / "quantum-only" always pick
    one side but still price both. The scheduler keeps no state beyond this configuration.

    kappa_method: "bound" (the paper's determinant bound), "lanczos" or "exact"; kappa_options
    are passed to `qnewton.analysis.kappa.estimate_kappa`.
    quantum: a quantum cost model (default `qnewton.costs.quantum.QuantumCostModel()`: its default
    per-query time, eps 0.01, free readout, alpha = d max|A_ij| / ||A||_2, kappa < sqrt(12)
    clamped and recorded).
    classical: a classical cost model (`LUCostModel`, `CGCostModel`, `BestClassicalCostModel`);
    default the LU model with the pinned constant of `qnewton.costs.classical` (callers that
    want a saved calibration profile resolve it in `qnewton.calibrate` and pass the model in).
    """

    def __init__(
        self,
        policy: Policy | str = Policy.HYBRID,
        kappa_method: KappaMethod | str = KappaMethod.BOUND,
        quantum: QuantumCostModel | None = None,
        classical: ClassicalCostModel | None = None,
        *,
        kappa_options: dict[str, Any] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise UsageError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
        if kappa_method not in choices(KappaMethod):
            raise UsageError(f"kappa_method: must be one of {', '.join(choices(KappaMethod))}, got {kappa_method!r}")
        self.policy = Policy(policy)
        self.kappa_method = KappaMethod(kappa_method)
        self.kappa_options: dict[str, Any] = dict(kappa_options or {})
        if quantum is None:
            from qnewton.costs.quantum import QuantumCostModel as DefaultQuantum

            quantum = DefaultQuantum()
        if not isinstance(quantum, QuantumCostModel):
            raise UsageError(f"quantum: must be a quantum cost model (estimate(n, sparsity, kappa)), got {type(quantum).__name__}")
        if classical is None:
            from qnewton.costs.classical import PINNED_LU_CONSTANT, LUCostModel

            classical = LUCostModel(PINNED_LU_CONSTANT, source="pinned default")
        if not isinstance(classical, ClassicalCostModel):
            raise UsageError(f"classical: must be a classical cost model (seconds(n, sparsity, kappa)), got {type(classical).__name__}")
        self.quantum: QuantumCostModel = quantum
        self.classical: ClassicalCostModel = classical

    def _classical_uses_kappa(self) -> bool:
        """False for the LU model (R_c = C N^3 ignores kappa), True for every other classical model
        (CG, best-of, or a model of the caller's): their price depends on the matrix's kappa."""
        from qnewton.costs.classical import LUCostModel

        return not isinstance(self.classical, LUCostModel)

    def __repr__(self) -> str:
        return (
            f"Scheduler(policy={self.policy!r}, kappa_method={self.kappa_method!r}, "
            f"quantum={self.quantum!r}, classical={self.classical.name!r})"
        )

    def decide(
        self,
        A: Any,
        g: Any | None = None,
        *,
        sparsity: int | None = None,
        classical_matrix: Any | None = None,
        classical_sparsity: int | None = None,
        right_hand_sides: int = 1,
        factorization: Any | None = None,
        kappa_estimate: Any | None = None,
        max_entry: float | None = None,
    ) -> Decision:
        """Price both solvers for the system A x = g and choose one.

        A: dense float64 symmetric ndarray (already regularized and pruned), a scipy.sparse
        matrix, or a scipy LinearOperator (then kappa_method must be "lanczos" and `sparsity`
        given). sparsity: the oracle sparsity d; default the largest number of nonzeros in a
        row of A. g: the right-hand side; only its length is checked (the costs do not depend
        on it). Decision.timings holds MEASURED seconds: "kappa_estimate" and "decision" (the
        rest of this call).

        classical_matrix: the matrix the classical solver will be given when it differs from A
        (the Newton step gives it the unpruned system unless prune_classical); the classical
        cost is then priced on it: its size, its largest row nonzero count (or
        `classical_sparsity`) and, for a cost model that uses kappa (anything but LU), its own
        kappa estimate by the same method. Without it both sides are priced on A.
        decision.extra records what the classical side was priced on ("classical_priced_on",
        "classical_sparsity", "classical_kappa").

        right_hand_sides: k, the number of systems A x_i = b_i solved with this one matrix (the
        Kronecker-factored Newton step solves a factor against every column of the gradient's
        matrix form). A quantum linear solver prepares and reads out one solution state per right-hand
        side, so the quantum cost (queries, solve and readout seconds) is k times that of one; the
        classical LU model prices the factorization, which all k solves share (the 2 k N^2 of the
        triangular solves is left out, as the single-system model leaves out 2 N^2), and a model that
        chose CG prices k CG runs. decision.extra["right_hand_sides"] records k and
        "quantum_seconds_per_rhs" the cost of one.

        factorization: a Cholesky factor of A computed by the caller
        (`qnewton.analysis.factor.CholeskyFactor`); the "bound" estimator then reads log det A from
        it instead of factoring A again (its seconds are the caller's to attribute).

        kappa_estimate, max_entry: what the caller already computed for A (a KappaEstimate of this
        scheduler's kappa_method, and max|A_ij|), e.g. on a GPU; A may then be a LinearOperator
        whatever the kappa_method (the norm for alpha comes from a few Lanczos steps on it).
        """
        import time

        import numpy as np

        if isinstance(right_hand_sides, bool) or not isinstance(right_hand_sides, (int, np.integer)) or right_hand_sides < 1:
            raise UsageError(f"right_hand_sides: must be an integer >= 1, got {right_hand_sides!r}")
        import scipy.sparse as sp
        from scipy.sparse.linalg import LinearOperator

        from qnewton.analysis.kappa import estimate_kappa, lanczos_extremes
        from qnewton.analysis.scaling import max_abs
        from qnewton.analysis.sparsity import row_nonzeros
        t_start = time.perf_counter()
        is_operator = isinstance(A, LinearOperator)
        if is_operator:
            if self.kappa_method != KappaMethod.LANCZOS and kappa_estimate is None:
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

        classical_n, classical_d = n, sparsity
        if classical_matrix is not None:
            if isinstance(classical_matrix, LinearOperator):
                raise UsageError("classical_matrix: must be a dense or scipy.sparse matrix, not an operator")
            c_matrix = (sp.csr_matrix(classical_matrix, dtype=np.float64) if sp.issparse(classical_matrix)
                        else np.asarray(classical_matrix, dtype=np.float64))
            if c_matrix.ndim != 2 or c_matrix.shape != (n, n):
                raise UsageError(f"classical_matrix: must be {n} x {n} like A, got shape {c_matrix.shape}")
            if classical_sparsity is None:
                classical_d = int(max(1, int(row_nonzeros(c_matrix).max(initial=0))))
            elif (isinstance(classical_sparsity, bool) or not isinstance(classical_sparsity, (int, np.integer))
                  or not 1 <= classical_sparsity <= n):
                raise UsageError(f"classical_sparsity: must be an integer in [1, N={n}], got {classical_sparsity!r}")
            else:
                classical_d = int(classical_sparsity)
        setup_seconds = time.perf_counter() - t_start

        t0 = time.perf_counter()
        shared = {"factorization": factorization} if factorization is not None and self.kappa_method == KappaMethod.BOUND else {}
        est = (kappa_estimate if kappa_estimate is not None
               else estimate_kappa(A if matrix is None else matrix, self.kappa_method, **self.kappa_options, **shared))
        classical_kappa = float(est.value)
        if classical_matrix is not None and self._classical_uses_kappa():
            classical_kappa = float(estimate_kappa(c_matrix, self.kappa_method, **self.kappa_options).value)
        kappa_seconds = time.perf_counter() - t0

        t1 = time.perf_counter()
        given_max, max_entry, norm = max_entry, None, None
        alpha_needed = self.quantum.alpha is None
        if (matrix is not None or given_max is not None) and alpha_needed:
            if given_max is not None:
                max_entry = float(given_max)
            else:
                max_entry = (max_abs(matrix) if not sp.issparse(matrix)  # no |A| temporary at large N
                             else float(abs(matrix).max()) if matrix.nnz else 0.0)
            det = est.details
            if "lambda_max" in det and "lambda_min" in det and np.isfinite(det["lambda_max"]):
                norm = float(max(abs(det["lambda_max"]), abs(det["lambda_min"])))
            elif max_entry > 0:
                # a few Lanczos steps: theta_max <= ||A||_2, so alpha comes out conservative (large)
                ext = lanczos_extremes(
                    sp.linalg.aslinearoperator(A if matrix is None else matrix), n, tol=1e-2, max_iter=min(n, 20),
                    seed=0,
                )
                norm = float(max(abs(ext["lambda_max"]), abs(ext["lambda_min"])))
            if not max_entry or not norm:
                max_entry = norm = None
        kappa_for_cost = est.value if est.value >= 1 or not np.isfinite(est.value) else 1.0
        qcost = self.quantum.estimate(n, sparsity, kappa_for_cost, max_entry=max_entry, norm=norm)
        if isinstance(self.classical, ChoosingClassicalCostModel):
            classical_seconds, classical_used = self.classical.choose(classical_n, classical_d, classical_kappa)
        else:
            classical_seconds = float(self.classical.seconds(classical_n, classical_d, classical_kappa))
            classical_used = self.classical.name
        rhs = int(right_hand_sides)
        if str(classical_used) != "lu":
            classical_seconds = float(classical_seconds) * rhs
        q_seconds = qcost.total_seconds * rhs
        if self.policy == Policy.CLASSICAL_ONLY:
            solver, reason = "classical", "policy classical-only"
        elif self.policy == Policy.QUANTUM_ONLY:
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
            policy=str(self.policy),
            n=n,
            sparsity=sparsity,
            kappa=float(est.value),
            log_kappa=float(est.log_value),
            kappa_method=est.method,
            quantum_seconds=float(q_seconds),
            classical_seconds=float(classical_seconds),
            classical_model=str(self.classical.name),
            expected_queries=float(qcost.expected_queries) * rhs,
            readout_seconds=float(qcost.readout_seconds) * rhs,
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
                "readout_precision": float(getattr(self.quantum, "readout_precision", 0.0)) or None,
                "readout_shots": float(getattr(qcost, "readout_shots", 0.0)),
                "logical_qubits": qcost.logical_qubits,
                "notes": list(qcost.notes),
                "classical_used": classical_used,
                "classical_priced_on": "A" if classical_matrix is None else "classical_matrix",
                "classical_sparsity": classical_d,
                "classical_kappa": classical_kappa,
                "classical_source": str(getattr(self.classical, "source", "")),  # optional field of a model
                "max_entry": max_entry,
                "norm": norm,
                "right_hand_sides": rhs,
                "quantum_seconds_per_rhs": float(qcost.total_seconds),
            },
        )
