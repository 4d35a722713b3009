"""Classical solver for H x = g: Cholesky in float64, LU with partial pivoting as fallback.

Q-Newton Sec. II-C and IV-C: the classical side inverts the Hessian by LU decomposition,
Theta(N^3). For the symmetric positive definite systems of a regularized Newton step Cholesky
is the same factorization at half the cost; it fails on indefinite input, and then LU runs.
A singular matrix (LU reports an exactly zero pivot) falls back to least squares.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import scipy.linalg

from qnewton.errors import UsageError
from qnewton.solvers.base import SolveResult


class ClassicalSolver:
    """Direct dense solver implementing `LinearSolver` (name "classical", kind "classical").

    solve(A, b): A square float64 (symmetric expected, not required), b a vector or a matrix of
    right-hand sides. SolveResult.info holds "factorization" ("cholesky", "lu", "lstsq"),
    "fallback_reason" (if any) and "relative_residual" ||A x - b|| / ||b||.
    """

    name = "classical"
    kind = "classical"

    def __init__(self, *, try_cholesky: bool = True) -> None:
        self.try_cholesky = bool(try_cholesky)

    def solve(self, A: np.ndarray, b: np.ndarray, decision: Any | None = None) -> SolveResult:
        """x = A^-1 b by Cholesky, else LU, else least squares; MEASURED seconds of the factorization and solve."""
        A = np.asarray(A, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
            raise UsageError(f"A: must be a non-empty square matrix, got shape {A.shape}")
        if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
            raise UsageError(f"b: must have {A.shape[0]} rows, got shape {b.shape}")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise UsageError("A, b: must be finite")
        start = time.perf_counter()
        info: dict[str, Any] = {}
        x = None
        if self.try_cholesky:
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
        bn = float(np.linalg.norm(b))
        info["relative_residual"] = float(np.linalg.norm(A @ x - b) / bn) if bn > 0 else float(np.linalg.norm(A @ x))
        info["n"] = int(A.shape[0])
        return SolveResult(
            x=x,
            method=info["factorization"],
            kind="classical",
            measured_seconds=elapsed,
            modeled_quantum_seconds=0.0,
            info=info,
        )
