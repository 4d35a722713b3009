"""One Cholesky factorization per matrix, shared by the definiteness test, the kappa bound and the
classical solve.

For a symmetric positive definite A = L L^T (L lower triangular with a positive diagonal):

    log det A = 2 sum_i log L_ii               (the determinant of the paper's kappa bound, Sec. IV-C)
    A^-1 b    = L^-T (L^-1 b)                  (the classical Newton solve, Sec. II-C / IV-C)

and the factorization either succeeds or proves A is not positive definite in floating point (the
damping test of the Newton step). A Newton step at N = 12,730 did this factorization up to four
times per block (definiteness test of R and of its pruned P, the bound on P, the solve of R); a
`CholeskyFactor` computed once is handed to the consumers instead.

A factor remembers the very array object it was computed from (`of`): a consumer uses it only for
that object (`factor_for`), never for an equal-looking copy. Arrays are not hashed or compared
(that alone would cost an O(N^2) pass), so the matrix must not be changed in place after it was
factored; the Newton step marks the matrices it factors read-only for that reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg


@dataclass
class CholeskyFactor:
    """A = L L^T of one specific array `of` (lower factor in scipy's cho_factor layout).

    seconds: MEASURED seconds of the factorization (the Newton step attributes them to the stage
    that first needs the factor; see `qnewton.newton.step`)."""

    of: np.ndarray = field(repr=False)
    c: np.ndarray = field(repr=False)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return int(self.c.shape[0])

    def diagonal(self) -> np.ndarray:
        """L_11 .. L_nn (all > 0)."""
        return np.diagonal(self.c)

    def log_det(self) -> float:
        """log det A = 2 sum log L_ii."""
        return float(2.0 * np.sum(np.log(self.diagonal())))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^-1 b by two triangular solves (O(N^2) per right-hand side)."""
        return scipy.linalg.cho_solve((self.c, True), b, check_finite=False)


def cholesky(A: np.ndarray) -> CholeskyFactor | None:
    """The Cholesky factor of the symmetric float64 matrix A (lower triangle read), or None when
    the factorization fails (A not positive definite in floating point, or not finite)."""
    t = time.perf_counter()
    try:
        c, _ = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    diag = np.diagonal(c)
    if not (np.all(np.isfinite(diag)) and np.all(diag > 0)):
        return None
    return CholeskyFactor(A, c, time.perf_counter() - t)


def factor_for(factor: Any, A: Any) -> CholeskyFactor | None:
    """`factor` when it is a CholeskyFactor of this very array object A, else None."""
    if isinstance(factor, CholeskyFactor) and factor.of is A:
        return factor
    return None


def freeze(A: np.ndarray) -> np.ndarray:
    """A marked read-only (same object), so that a factor or a validation of it stays true."""
    if isinstance(A, np.ndarray):
        A.flags.writeable = False
    return A
