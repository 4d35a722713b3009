"""Classical solver for H x = g: Cholesky in float64, LU with partial pivoting as fallback.

Q-Newton Sec. II-C and IV-C: the classical side inverts the Hessian by LU decomposition,
Theta(N^3). For the symmetric positive definite systems of a regularized Newton step Cholesky
is the same factorization at half the cost; it fails on indefinite input, and then LU runs.
A singular matrix (LU reports an exactly zero pivot) falls back to least squares.

A and b are first multiplied by powers of two that bring their largest entries near 1 (exact;
only when they lie outside [2^-1000, 2^1000]), the scaled system is solved, and x is multiplied back:
a system at scale 1e-300 or 1e300 is solved as accurately as one at scale 1. A solution whose
entries exceed the float64 range comes back with inf entries and `info["overflow"]` saying so
(the trainer's safeguard then replaces the direction).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import scipy.linalg

from qnewton.analysis._validate import is_validated
from qnewton.analysis.factor import factor_for
from qnewton.analysis.scaling import power_of_two_scaled, stable_norm
from qnewton.errors import UsageError
from qnewton.newton.decision import Decision
from qnewton.solvers.base import SOLVE_WINDOW, SolveResult, as_real_array, rescale_solution


class ClassicalSolver:
    """Direct dense solver implementing `LinearSolver` (name "classical", kind "classical").

    solve(A, b): A square float64 (symmetric expected, not required), b a vector or a matrix of
    right-hand sides. SolveResult.info holds "factorization" ("cholesky", "lu", "lstsq"),
    "fallback_reason" (if any), "relative_residual" ||A x - b|| / ||b|| and, for a solution
    outside the normal float64 range, "overflow" or "underflow".
    """

    name = "classical"
    kind = "classical"

    def __init__(self, *, try_cholesky: bool = True) -> None:
        self.try_cholesky = bool(try_cholesky)

    #: solve() takes a `qnewton.analysis.factor.CholeskyFactor` of A (the Newton step's shared one)
    accepts_factorization = True

    def solve(self, A: np.ndarray, b: np.ndarray, decision: Decision | None = None, *,
              factorization: Any = None) -> SolveResult:
        """x = A^-1 b by Cholesky, else LU, else least squares; MEASURED seconds of the factorization and solve.

        factorization: a CholeskyFactor of this very array A (`qnewton.analysis.factor`); when given
        (and A needed no rescaling) only the two triangular solves run here and info["shared_factor"]
        is True; the measured seconds then exclude the factorization, which its maker timed."""
        A = as_real_array(A, "A")
        b = as_real_array(b, "b")
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
            raise UsageError(f"A: must be a non-empty square matrix, got shape {A.shape}")
        if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
            raise UsageError(f"b: must have {A.shape[0]} rows, got shape {b.shape}")
        if not ((is_validated(A) or np.all(np.isfinite(A))) and np.all(np.isfinite(b))):
            raise UsageError("A, b: must be finite")
        shared = factor_for(factorization, A)
        A, ea = power_of_two_scaled(A, window=SOLVE_WINDOW)
        b, eb = power_of_two_scaled(b, window=SOLVE_WINDOW)
        start = time.perf_counter()
        info: dict[str, Any] = {}
        x = None
        if shared is not None and ea == 0:
            try:  # a mixed-precision factor refines in float64 and may find A not positive definite
                x = shared.solve(b)
                info["factorization"] = "cholesky"
                info["shared_factor"] = True
            except np.linalg.LinAlgError:
                x = None
        if x is None and self.try_cholesky:
            try:
                factor = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
                x = scipy.linalg.cho_solve(factor, b, check_finite=False)
                info["factorization"] = "cholesky"
            except np.linalg.LinAlgError:
                info["fallback_reason"] = "Cholesky failed: matrix not positive definite"
        if x is None:
            with warnings.catch_warnings():
                warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                try:
                    lu = scipy.linalg.lu_factor(A, check_finite=False)
                    if np.any(np.diagonal(lu[0]) == 0):
                        raise np.linalg.LinAlgError("exactly zero pivot")
                    x = scipy.linalg.lu_solve(lu, b, check_finite=False)
                    info["factorization"] = "lu"
                except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning) as exc:
                    info["fallback_reason"] = f"{info.get('fallback_reason', '')}; LU: {exc}".lstrip("; ")
                    x = None
        if x is None:
            x, *_ = np.linalg.lstsq(A, b, rcond=None)
            info["factorization"] = "lstsq"
        elapsed = time.perf_counter() - start
        bn = stable_norm(b)
        with np.errstate(over="ignore", invalid="ignore"):  # A x may overflow for a huge x
            residual = stable_norm(A @ x - b) if np.all(np.isfinite(x)) else math.inf
        info["relative_residual"] = residual / bn if bn > 0 else residual
        info["n"] = int(A.shape[0])
        x = rescale_solution(x, eb - ea, info)
        return SolveResult(
            x=x,
            method=info["factorization"],
            kind="classical",
            measured_seconds=elapsed,
            modeled_quantum_seconds=0.0,
            info=info,
        )
