"""The Newton part of one Q-Newton step (paper Algorithm 2, lines 4-17), block by block.

For each Hessian block H_B with gradient g_B:

    R_B = H_B + eps I                 regularize (Sec. V-D), exactly symmetric
    d   = choose_sparsity(R_B, spec)  oracle sparsity (Sec. IV-C: the 50 % mass rule by default)
    P_B = symmetric_prune(R_B, d)     what a quantum solver is given (Sec. IV-D)
    decision = scheduler.decide(P_B, g_B, sparsity=d)
                                      kappa estimate, R_c = C N^3 vs R_q = t_query E[queries]
    x_B = solve(P_B, g_B)             quantum (emulated or circuit) solver, or
    x_B = solve(R_B, g_B)             classical solver (Cholesky, LU fallback); the classical
                                      solver gets the unpruned matrix unless prune_classical
    theta_B <- theta_B - beta x_B     (done by the caller)

Safeguard: -x_B must be a descent direction for the mini-batch loss, i.e. g_B . x_B > 0, and x_B
must be finite. Pruning can make P_B indefinite, and an indefinite or nearly singular system can
give a direction that fails this test. Such a block is recorded (`safeguard` in its ledger entry)
and takes the scaled gradient step x_B = fallback_scale * g_B instead; the trainer sets
fallback_scale = sgd_lr / newton_lr, so the block moves exactly as one SGD step would.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from qnewton.analysis.pruning import choose_sparsity, symmetric_prune
from qnewton.analysis.regularize import regularize
from qnewton.enums import SolverKind
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready
from qnewton.newton.protocols import LinearSolver, Reseedable
from qnewton.newton.scheduler import Scheduler


@dataclass
class NewtonResult:
    """Directions x_B (float64), one ledger entry per block, MEASURED stage seconds, and the
    MODELED quantum seconds of the blocks that went to the quantum solver."""

    directions: list[np.ndarray]
    blocks: list[dict[str, Any]]
    measured_seconds: dict[str, float]
    modeled_quantum_seconds: float
    decision_counts: dict[str, int]
    safeguards: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def exact_kappa(A: np.ndarray) -> float:
    """kappa_2(A) = max|lambda| / min|lambda| for symmetric A (eigvalsh); inf if singular."""
    lam = np.abs(np.linalg.eigvalsh(A))
    lo = float(lam.min())
    return float(lam.max()) / lo if lo > 0 else math.inf


class NewtonStep:
    """Computes block Newton directions with a scheduler and two solvers (see module docstring)."""

    def __init__(
        self,
        scheduler: Scheduler,
        classical_solver: LinearSolver,
        quantum_solver: LinearSolver,
        *,
        eps: float = 1.0,
        sparsity: int | float | str = "mass:50",
        prune_classical: bool = False,
        exact_kappa_max_n: int = 256,
        fallback_scale: float = 0.1,
    ) -> None:
        if not isinstance(scheduler, Scheduler):
            raise UsageError(f"scheduler: must be a qnewton.newton.Scheduler, got {type(scheduler).__name__}")
        for field_name, solver in (("classical_solver", classical_solver), ("quantum_solver", quantum_solver)):
            if not isinstance(solver, LinearSolver):
                raise UsageError(f"{field_name}: must be a linear solver (solve(A, b, decision)), got {type(solver).__name__}")
        self.scheduler = scheduler
        self.classical_solver = classical_solver
        self.quantum_solver = quantum_solver
        self.eps = float(eps)
        self.sparsity = sparsity
        self.prune_classical = bool(prune_classical)
        self.exact_kappa_max_n = int(exact_kappa_max_n)
        self.fallback_scale = float(fallback_scale)

    def compute(
        self,
        hessians: list[np.ndarray],
        gradients: list[np.ndarray],
        *,
        noise_seed: Sequence[int] | None = None,
        names: list[str] | None = None,
    ) -> NewtonResult:
        """Newton directions x_B for every block (H_B, g_B), one ledger record per block, and the
        MEASURED seconds of the stages regularize_prune, kappa_estimate, decision and solve (module
        docstring). With `noise_seed`, a reseedable quantum solver restarts its noise stream from
        [*noise_seed, i] before block i, so a step's noise depends only on the seed, never on what
        ran before it (runs and resumed runs repeat bit for bit)."""
        stages = {"regularize_prune": 0.0, "kappa_estimate": 0.0, "decision": 0.0, "solve": 0.0}
        counts = {"quantum": 0, "classical": 0}
        modeled = 0.0
        directions: list[np.ndarray] = []
        records: list[dict[str, Any]] = []
        safeguards = 0
        for index, (H, g) in enumerate(zip(hessians, gradients)):
            g = np.asarray(g, dtype=np.float64).reshape(-1)
            t0 = time.perf_counter()
            R = regularize(H, self.eps)
            d = choose_sparsity(R, self.sparsity)
            P = symmetric_prune(R, d) if d < R.shape[0] else R
            t1 = time.perf_counter()
            stages["regularize_prune"] += t1 - t0
            decision = self.scheduler.decide(P, g, sparsity=d)
            t2 = time.perf_counter()
            kappa_s = float(decision.timings.get("kappa_estimate", 0.0))
            stages["kappa_estimate"] += kappa_s
            stages["decision"] += max(0.0, (t2 - t1) - kappa_s)
            if noise_seed is not None and isinstance(self.quantum_solver, Reseedable):
                self.quantum_solver.reseed([*noise_seed, index])
            t2 = time.perf_counter()
            if decision.solver == SolverKind.QUANTUM:
                result = self.quantum_solver.solve(P, g, decision)
            else:
                result = self.classical_solver.solve(P if self.prune_classical else R, g)
            t3 = time.perf_counter()
            stages["solve"] += t3 - t2
            # diagnostics for the ledger, outside every timed stage
            kappa_true = exact_kappa(P) if P.shape[0] <= self.exact_kappa_max_n else None
            counts[decision.solver] += 1
            modeled += float(result.modeled_quantum_seconds)
            x = np.asarray(result.x, dtype=np.float64).reshape(-1)
            gx = float(g @ x) if np.all(np.isfinite(x)) else math.nan
            safeguard = None
            if not np.all(np.isfinite(x)):
                safeguard = "non-finite direction"
            elif not gx > 0:
                safeguard = f"not a descent direction (g.x = {gx:.3e} <= 0)"
            if safeguard is not None:
                safeguards += 1
                x = self.fallback_scale * g
            directions.append(x)
            records.append(
                {
                    "name": names[index] if names else str(index),
                    "n": int(P.shape[0]),
                    "sparsity": int(d),
                    "kappa_estimate": json_ready(decision.kappa),
                    "log_kappa_estimate": json_ready(decision.log_kappa),
                    "kappa_method": decision.kappa_method,
                    "kappa_exact": None if kappa_true is None else json_ready(kappa_true),
                    "quantum_seconds_model": json_ready(decision.quantum_seconds),
                    "classical_seconds_model": json_ready(decision.classical_seconds),
                    "expected_queries": json_ready(decision.expected_queries),
                    "decision": decision.solver,
                    "reason": decision.reason,
                    "solver": result.method,
                    "solve_info": json_ready(result.info, max_array=64, fallback_str=True),
                    "solve_measured_seconds": float(result.measured_seconds),
                    "modeled_quantum_seconds": float(result.modeled_quantum_seconds),
                    "g_dot_x": json_ready(gx),
                    "safeguard": safeguard,
                }
            )
        return NewtonResult(directions, records, stages, modeled, counts, safeguards)
