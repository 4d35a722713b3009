"""Where the damping search of an indefinite Newton system starts: an estimate of lambda_min.

The Newton step makes an indefinite symmetric A = H + eps I positive definite by A + mu I
(Levenberg-Marquardt damping; `qnewton.newton.step`). The rule of Nocedal & Wright (Numerical
Optimization, 2nd ed., Algorithm 3.3) starts from a small mu0 and doubles mu until a Cholesky
factorization succeeds, one full O(N^3) factorization per try; at N = 12,730 with mu around
10-30 that is 4-6 factorizations per block. Here the search starts from an estimate of the
smallest eigenvalue instead, which costs a few dozen matrix-vector products (O(N^2) each):

    (theta, y)  = the smallest Ritz pair of a Lanczos run on A (ARPACK's implicitly restarted
                  Lanczos, scipy.sparse.linalg.eigsh with which="SA", a fixed start vector);
                  below N = EXACT_MAX_N the exact smallest eigenvalue (eigvalsh, r = 0)
    r           = ||A y - theta y||_2 with ||y|| = 1 (computed, not taken from ARPACK)
    lower       = theta - r
    m           = (1 + SAFETY) max(-lower, 0) + beta,      beta = 1e-3 max|A_ij| (the old rule's floor)
    mu          = 2 m, rounded UP to four significant bits (`round_up`)

Error bound. For a unit vector y, some eigenvalue of A lies within r of theta (the residual
bound for symmetric matrices, e.g. Parlett, The Symmetric Eigenvalue Problem, Thm. 4.5.1), and
theta = y^T A y >= lambda_min (Rayleigh quotient). So when the Lanczos run has found the lowest
eigenvalue, lambda_min lies in [theta - r, theta] and `lower` <= lambda_min. Then

    lambda_min(A + mu I) >= lambda_min + 2 m >= m >= max(|lambda_min|, beta) > 0,

the same guarantee as the doubling rule (every eigenvalue of the damped matrix at least
|lambda_min(A)|, so the step is at most ||g|| / |lambda_min| long), with mu about 2.2 |lambda_min|
where doubling gives a mu anywhere in (2, 4] |lambda_min|. Lanczos from a random start reaches the
lowest eigenvalue first unless the start is (nearly) orthogonal to its eigenvector, which has
probability zero; it can stop early on a larger Ritz value only in a restart budget that ran out,
and then r is large and `lower` moves down with it. Whatever the estimate, the caller verifies
with one Cholesky factorization of A + mu I and falls back to doubling from that mu when it fails,
so the damped matrix is always positive definite in floating point, as before.

The rounding of mu to four significant bits (at most +12.5 %) makes mu the same number when the
estimate differs only in its last bits (the numpy and the torch path compute their matrix-vector
products in different orders), so both paths damp with the same mu and give the same direction.

A proof of indefiniteness before any factorization: theta + r < 0 means an eigenvalue in
[theta - r, theta + r] is negative (`proves_indefinite`), so a failing Cholesky test need not be
run (the Newton step uses this after a failed float32 factorization, which alone does not prove
A indefinite; `qnewton.newton.step.definiteness_factor`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, aslinearoperator, eigsh

#: relative safety margin on |lambda_min| (above the residual bound)
SAFETY = 0.1
#: below this N the smallest eigenvalue is computed exactly (eigvalsh): cheaper than ARPACK's setup
EXACT_MAX_N = 128
#: Lanczos basis size and restart budget: at most about NCV * (MAX_RESTARTS + 1) products
NCV = 24
MAX_RESTARTS = 4
#: ARPACK's relative tolerance on the Ritz value (the margin does not rely on it: r is computed)
TOL = 1e-3
#: seed of the fixed start vector (runs and resumed runs repeat)
START_SEED = 12_730


@dataclass(frozen=True)
class LambdaMinEstimate:
    """theta: smallest Ritz value (exact eigenvalue when `exact`); residual r = ||A y - theta y||;
    lower = theta - r; matvecs: products with A; seconds: MEASURED wall clock; converged: ARPACK
    met its tolerance (always True when exact)."""

    theta: float
    residual: float
    matvecs: int
    seconds: float
    exact: bool
    converged: bool

    @property
    def lower(self) -> float:
        return self.theta - self.residual

    def proves_indefinite(self) -> bool:
        """theta + r < 0: an eigenvalue within r of theta is negative, so A is not positive definite."""
        return math.isfinite(self.theta) and self.theta + self.residual < 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"theta": self.theta, "residual": self.residual, "lower": self.lower, "matvecs": self.matvecs,
                "exact": self.exact, "converged": self.converged}


class _Counting:
    """A LinearOperator's matvec that counts its calls."""

    def __init__(self, op: LinearOperator) -> None:
        self.op = op
        self.calls = 0

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.asarray(self.op.matvec(np.asarray(v, dtype=np.float64).reshape(-1)), dtype=np.float64).reshape(-1)


def start_vector(n: int) -> np.ndarray:
    """The fixed Lanczos start vector of length n (standard normal, seed START_SEED)."""
    return np.random.default_rng(START_SEED).standard_normal(n)


def lambda_min_estimate(A: Any, *, exact_eigenvalues: Any = None) -> LambdaMinEstimate | None:
    """The smallest-eigenvalue estimate of the symmetric A (module docstring): a dense float64
    ndarray or a scipy LinearOperator (e.g. products on a GPU). exact_eigenvalues: a callable
    returning the eigenvalues of A in ascending order, used below EXACT_MAX_N (default
    numpy.linalg.eigvalsh of the dense A). None when no usable Ritz value came out (ARPACK
    failure, non-finite products): the caller then uses the doubling rule."""
    t0 = time.perf_counter()
    n = int(A.shape[0])
    if n <= EXACT_MAX_N:
        if exact_eigenvalues is not None:
            lam = float(exact_eigenvalues()[0])
        elif isinstance(A, np.ndarray):
            lam = float(np.linalg.eigvalsh(A)[0])
        else:
            lam = float(np.linalg.eigvalsh(A @ np.eye(n))[0])
        if not math.isfinite(lam):
            return None
        return LambdaMinEstimate(lam, 0.0, 0, time.perf_counter() - t0, True, True)
    op = aslinearoperator(A)
    counting = _Counting(op)
    wrapped = LinearOperator((n, n), matvec=counting, rmatvec=counting, dtype=np.float64)
    converged = True
    try:
        vals, vecs = eigsh(wrapped, k=1, which="SA", v0=start_vector(n), ncv=min(NCV, n - 1), tol=TOL,
                           maxiter=MAX_RESTARTS + 1)
    except ArpackNoConvergence as exc:
        converged = False
        vals, vecs = exc.eigenvalues, exc.eigenvectors
    except (ArpackError, ValueError, FloatingPointError):
        return None
    if vals is None or len(vals) == 0 or vecs is None or not np.all(np.isfinite(vecs)):
        return None
    theta0 = float(vals[0])
    y = np.asarray(vecs[:, 0], dtype=np.float64)
    norm = float(np.linalg.norm(y))
    if not (math.isfinite(theta0) and norm > 0):
        return None
    y = y / norm
    Ay = counting(y)
    theta = float(y @ Ay)  # the Rayleigh quotient of the normalized vector (>= lambda_min)
    residual = float(np.linalg.norm(Ay - theta * y))
    if not (math.isfinite(theta) and math.isfinite(residual)):
        return None
    return LambdaMinEstimate(theta, residual, counting.calls, time.perf_counter() - t0, False, converged)


def round_up(x: float, bits: int = 4) -> float:
    """The smallest number >= x > 0 with `bits` significant binary digits (x = f 2^k, f in [0.5, 1):
    ceil(f 2^bits) / 2^bits * 2^k); at most a factor 1 + 2^(1 - bits) above x."""
    if not (x > 0 and math.isfinite(x)):
        return x
    f, k = math.frexp(x)
    scale = float(1 << bits)
    return math.ldexp(math.ceil(f * scale) / scale, k)


def damping_shift(estimate: LambdaMinEstimate, beta: float) -> float:
    """mu = round_up(2 ((1 + SAFETY) max(-lower, 0) + beta)) (module docstring)."""
    m = (1.0 + SAFETY) * max(-estimate.lower, 0.0) + beta
    return round_up(2.0 * m)
