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

Mixed precision (`cholesky_mixed`, the Newton step's `factor_precision`). At the paper's size
(N = 12,730) a float64 factorization is most of a Newton step's time, and a float32 one takes
about half as long (LAPACK spotrf: twice the flops per second, half the memory traffic). The
mixed factor is the float32 Cholesky factor L32 of A (A rounded to float32), and every solve is
refined in float64, as LAPACK's dsposv does (Langou et al., "Exploiting the performance of 32 bit
floating point arithmetic in obtaining 64 bit accuracy", SC 2006):

    x_0 = (L32 L32^T)^-1 b,   r_k = b - A x_k (float64),   x_k+1 = x_k + (L32 L32^T)^-1 r_k

until ||r_k||_inf <= ||x_k||_inf ||A||_inf sqrt(N) u64 (dsposv's test; u64 = 2^-53, the float64
unit roundoff), at most REFINE_MAX_STEPS steps; if that fails the float64 factorization of A is
made and used instead (`fallback`). Solutions are therefore float64-accurate either way. With
F = L32 L32^T = A + E the error contracts by F^-1 E per step; A is positive definite exactly when
every eigenvalue of F^-1 E is below 1 (F^-1/2 E F^-1/2 is symmetric and similar to it), and a
nearly singular or indefinite A makes the iteration stall or diverge. So a float32 factor counts
as a definiteness test only when one refined solve (the Newton step uses its own right-hand side
g) converges within CERTIFY_MAX_STEPS steps (`certify`); otherwise the caller factors A in
float64. log det A comes from the float32 pivots (measured at N = 12,730 on real MNIST Hessians:
6e-5 and 9e-6 absolute on log det ~ 7,181, i.e. log10 kappa bounds off by 3e-5 and 4e-6).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from qnewton.analysis._compiled import compiled_kernel
from qnewton.errors import UsageError

#: What the Newton step factors in (`factor_precision`): "float64" (dpotrf, every earlier
#: version), "mixed" (float32 factor, float64-refined solves, module docstring) or "auto"
#: (mixed from MIXED_MIN_N on, float64 below).
FACTOR_PRECISIONS: tuple[str, ...] = ("auto", "float64", "mixed")

#: "auto" factors in mixed precision from this N on: below it a float64 factorization takes well
#: under a second on 2 cores and results stay those of earlier versions bit for bit.
MIXED_MIN_N = 4096

#: iterative refinement: steps at most per solve, and steps within which a certifying solve
#: must converge (measured at N = 12,730: one step from 3e-8 to 1e-14 backward error)
REFINE_MAX_STEPS = 10
CERTIFY_MAX_STEPS = 3

_U64 = float(np.finfo(np.float64).eps) / 2.0

# ||A||_inf in one compiled pass when numba imports (QNEWTON_NO_NUMBA=1: the chunked numpy path)
_compiled_norm_inf = compiled_kernel("_symmetric", "max_row_abs_sum")


@dataclass
class CholeskyFactor:
    """A = L L^T of one specific array `of` (lower factor in scipy's cho_factor layout).

    seconds: MEASURED seconds of the factorization (the Newton step attributes them to the stage
    that first needs the factor; see `qnewton.newton.step`)."""

    of: np.ndarray = field(repr=False)
    c: np.ndarray = field(repr=False)
    seconds: float = 0.0

    #: what the factor was computed in (`MixedCholeskyFactor`: "mixed")
    precision = "float64"

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


class MixedCholeskyFactor(CholeskyFactor):
    """A ~ L32 L32^T with L32 float32, solves refined in float64 against `of` (module docstring,
    "Mixed precision"). `c` holds L32^T as the upper factor in Fortran order (the factorization of
    A^T read through its upper triangle, i.e. A's lower triangle, with no transposing copy).
    refinement_steps: the refinement steps of every solve so far; fallback: the float64 factor
    made when a refinement did not converge (then used for every later solve); its seconds are
    MEASURED where the solve that needed it ran."""

    precision = "mixed"

    def __init__(self, of: np.ndarray, c: np.ndarray, seconds: float = 0.0) -> None:
        super().__init__(of, c, seconds)
        self.refinement_steps = 0
        self.fallback: CholeskyFactor | None = None
        self._norm_inf: float | None = None
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def diagonal(self) -> np.ndarray:
        """L_11 .. L_nn of the float32 factor, as float64."""
        return np.diagonal(self.c).astype(np.float64)

    def norm_inf(self) -> float:
        """||A||_inf = max_i sum_j |A_ij| (rows in chunks: no N x N temporary), cached."""
        if self._norm_inf is None:
            A = self.of
            if _compiled_norm_inf is not None and A.flags.c_contiguous:
                self._norm_inf = float(_compiled_norm_inf(A))
            else:
                rows = max(1, (1 << 22) // max(1, self.n))
                self._norm_inf = max(float(np.abs(A[i:i + rows]).sum(axis=1).max()) for i in range(0, self.n, rows))
        return self._norm_inf

    def _solve32(self, r: np.ndarray) -> np.ndarray:
        """(L32 L32^T)^-1 r in float32, each column scaled by a power of two first (no float32
        under- or overflow of a small residual), the result in float64."""
        top = np.max(np.abs(r), axis=0)
        scale = np.exp2(np.where(top > 0, np.floor(np.log2(np.where(top > 0, top, 1.0))), 0.0))
        y = scipy.linalg.cho_solve((self.c, False), (r / scale).astype(np.float32), check_finite=False)
        return y.astype(np.float64) * scale

    def _refine(self, b: np.ndarray, max_steps: int) -> tuple[np.ndarray, int, bool]:
        """(x, steps, converged): x_0 from the float32 factor, then at most max_steps refinement
        steps until dsposv's test holds for every column (module docstring)."""
        tol = math.sqrt(self.n) * _U64 * self.norm_inf()
        x = self._solve32(b)
        for step in range(max_steps + 1):
            if not np.all(np.isfinite(x)):
                return x, step, False
            r = b - self.of @ x
            if np.all(np.max(np.abs(r), axis=0) <= np.max(np.abs(x), axis=0) * tol):
                return x, step, True
            if step == max_steps:
                break
            x = x + self._solve32(r)
        return x, max_steps, False

    def certify(self, b: np.ndarray) -> bool:
        """True when the refined solve of A x = b converges within CERTIFY_MAX_STEPS steps: the
        float32 factor then stands for a float64 definiteness test (module docstring); the
        solution is kept for a later solve() of the same b."""
        b = np.asarray(b, dtype=np.float64)
        x, steps, ok = self._refine(b, CERTIFY_MAX_STEPS)
        self.refinement_steps += steps
        if ok:
            self._last = (b.copy(), x)
        return ok

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^-1 b, float64-accurate: refined float32 solves, else the float64 factor (`fallback`).
        Raises numpy.linalg.LinAlgError when that factorization fails too."""
        b = np.asarray(b, dtype=np.float64)
        if self.fallback is not None:
            return self.fallback.solve(b)
        if self._last is not None and self._last[0].shape == b.shape and np.array_equal(self._last[0], b):
            return self._last[1].copy()
        x, steps, ok = self._refine(b, REFINE_MAX_STEPS)
        self.refinement_steps += steps
        if ok:
            return x
        self.fallback = cholesky(self.of)
        if self.fallback is None:
            raise np.linalg.LinAlgError("mixed-precision refinement did not converge and A has no float64 "
                                        "Cholesky factorization")
        return self.fallback.solve(b)


def resolve_precision(precision: str, n: int) -> str:
    """"float64" or "mixed" for an N x N matrix under `precision` ("auto": mixed from MIXED_MIN_N)."""
    if precision not in FACTOR_PRECISIONS:
        raise UsageError(f"factor_precision: must be one of {', '.join(FACTOR_PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "mixed" if n >= MIXED_MIN_N else "float64"
    return precision


def cholesky_mixed(A: np.ndarray, rhs: np.ndarray | None, *,
                   work: np.ndarray | None = None) -> tuple[MixedCholeskyFactor | None, str]:
    """(factor, status) for the symmetric float64 A: the float32 Cholesky factor of A, certified
    by one refined solve against rhs (`MixedCholeskyFactor.certify`; rhs None: not certified).
    status: "ok"; "float32-failed" (spotrf failed: A may still be positive definite in float64);
    "uncertified" (the refined solve did not converge). Only "ok" comes with a factor; seconds
    include the certifying solve. work: an N x N float32 Fortran-ordered writeable array to
    factor in (its old contents are overwritten; it becomes the factor), instead of a new one:
    a fresh 0.6 GiB array costs its page faults again at every step."""
    t = time.perf_counter()
    try:
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            if (work is not None and work.shape == A.shape and work.dtype == np.float32
                    and work.flags.f_contiguous and work.flags.writeable):
                np.copyto(work, A.T, casting="same_kind")
                a32 = work
            else:
                a32 = A.T.astype(np.float32, order="F")  # A^T in Fortran order: A's rows, no transposition
        c, _ = scipy.linalg.cho_factor(a32, lower=False, overwrite_a=True, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None, "float32-failed"
    diag = np.diagonal(c)
    if not (np.all(np.isfinite(diag)) and np.all(diag > 0)):
        return None, "float32-failed"
    factor = MixedCholeskyFactor(A, c)
    if rhs is None or not factor.certify(rhs):
        return None, "uncertified"
    factor.seconds = time.perf_counter() - t
    return factor, "ok"


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
