"""Condition-number estimators: the paper's determinant bound, Lanczos, and exact.

All three estimate kappa_2(A) = sigma_max / sigma_min; for the symmetric positive definite
matrices the scheduler sees (regularized Hessians) that is lambda_max / lambda_min.

`bound` (Q-Newton Sec. IV-C, after Merikoski, Urpala, Virtanen, Tam, Uhlig 1997, the paper's
ref. [24]). For nonsingular A in R^{n x n}:

    Frobenius form:  kappa_2(A) <= sqrt((1 + x) / (1 - x)),  x = sqrt(1 - (n / ||A||_F^2)^n |det A|^2)
    trace form (A HPD): kappa_2(A) <= (1 + y) / (1 - y),     y = sqrt(1 - (n / tr A)^n det A)

Both are evaluated in log space. With t = 1 - x^2 = exp(n log(n / ||A||_F^2) + 2 log|det A|),
sqrt((1 + x) / (1 - x)) = (1 + x) / sqrt(t), so log kappa = log1p(x) - log(t) / 2; with
t = 1 - y^2 = exp(n log(n / tr A) + log det A), (1 + y) / (1 - y) = (1 + y)^2 / t, so
log kappa = 2 log1p(y) - log t. x = sqrt(-expm1(log t)). Nothing under- or overflows at
N = 10^4; the value itself is inf when log kappa > log(float max), the log stays finite. The
computed log t is lowered by its rounding-error allowance 16 u (|n log(n / tr)| + |log det| + n),
u = 2^-52, so rounding never puts the result below the truth (at n = 2 this moves it by
~1e-14 relative, more only when kappa is within ~1e-7 of 1). The
bound equals kappa at n = 2 and loosens like e^{cn} with n: see `log_value` and the benchmark.

Singular or indefinite matrices give value = inf with a reason (never NaN): a singular matrix
has no finite condition number, and an indefinite symmetric matrix is no valid Newton system
for the solver (a negative curvature direction); `details["kappa_2"]` still holds
max|lambda| / min|lambda| for the exact and Lanczos methods, and the bound's
`form="frobenius"` gives the singular-value bound for it on request.

`lanczos`: the extreme Ritz values of a Lanczos run with full reorthogonalization, matrix-free
(ndarray, scipy.sparse matrix or scipy LinearOperator). Ritz values lie inside the spectrum, so
the estimate approaches kappa from below; `details` holds the residual bracket.

`exact`: numpy.linalg.eigvalsh (symmetric) or singular values (non-symmetric).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from qnewton.analysis._validate import SYMMETRY_RTOL, as_square_float64, symmetry_defect
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready

KappaMethod = Literal["bound", "lanczos", "exact"]
BoundForm = Literal["auto", "trace", "frobenius"]
KAPPA_METHODS: tuple[str, ...] = ("bound", "lanczos", "exact")

_LOG_FLOAT_MAX = math.log(np.finfo(np.float64).max)


@dataclass(frozen=True)
class KappaEstimate:
    """A condition-number estimate and how it was obtained.

    value: the estimate (float; inf for singular/indefinite input or when it exceeds float range).
    log_value: natural log of the estimate (finite whenever the matrix is nonsingular PD).
    method: "bound", "lanczos" or "exact". reason: one sentence on how the number came about.
    details: method-specific numbers (form, log det, eigenvalue estimates, iterations, ...).
    """

    value: float
    log_value: float
    method: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)

    def to_dict(self) -> dict[str, Any]:
        return json_ready(
            {"kappa": self.value, "log_kappa": self.log_value, "method": self.method, "reason": self.reason, "details": self.details}
        )


def _from_log(log_value: float) -> float:
    return math.exp(log_value) if log_value < _LOG_FLOAT_MAX else math.inf


def _infinite(method: str, reason: str, **details: Any) -> KappaEstimate:
    return KappaEstimate(math.inf, math.inf, method, reason, details)


# ----------------------------------------------------------------------------- bound


_U = float(np.finfo(np.float64).eps)


def _guard(n: int, *terms: float) -> float:
    """Rounding-error allowance for log t: 16 u (sum of |terms| + n)."""
    return 16.0 * _U * (sum(abs(x) for x in terms) + n)


def log_bound_trace(n: int, log_det: float, trace: float) -> float:
    """log of (1 + y) / (1 - y), y = sqrt(1 - (n / tr A)^n det A), for HPD A (log det given).

    log t is lowered by its rounding-error allowance before use (the bound decreases in t), so
    floating-point rounding cannot put the result below the exact bound."""
    n_log = n * math.log(n / trace)
    log_t = n_log + log_det - _guard(n, n_log, log_det)
    log_t = min(log_t, 0.0)  # AM-GM gives t <= 1
    y = math.sqrt(max(-math.expm1(log_t), 0.0))
    return 2.0 * math.log1p(y) - log_t


def log_bound_frobenius(n: int, log_abs_det: float, fro_sq: float) -> float:
    """log of sqrt((1 + x) / (1 - x)), x = sqrt(1 - (n / ||A||_F^2)^n |det A|^2)."""
    n_log = n * math.log(n / fro_sq)
    log_t = n_log + 2.0 * log_abs_det - _guard(n, n_log, 2.0 * log_abs_det)
    log_t = min(log_t, 0.0)
    x = math.sqrt(max(-math.expm1(log_t), 0.0))
    return math.log1p(x) - 0.5 * log_t


def kappa_bound(A: np.ndarray, form: BoundForm = "auto") -> KappaEstimate:
    """The paper's estimator: Merikoski et al. (1997) upper bound from det and trace/Frobenius norm.

    form "auto": trace form if A is symmetric positive definite (Cholesky succeeds), Frobenius
    form if A is non-symmetric, inf if A is symmetric but not positive definite.
    "trace": HPD only (inf otherwise). "frobenius": any nonsingular matrix.
    """
    if form not in ("auto", "trace", "frobenius"):
        raise UsageError(f"form: must be 'auto', 'trace' or 'frobenius', got {form!r}")
    arr = as_square_float64(A)
    n = arr.shape[0]
    symmetric = symmetry_defect(arr) <= SYMMETRY_RTOL
    details: dict[str, Any] = {"n": n, "symmetric": symmetric}
    if not np.any(arr):
        return _infinite("bound", "singular: the zero matrix", **details)

    chol_ok = False
    log_det = -math.inf
    if symmetric:
        try:
            L = scipy.linalg.cholesky(arr, lower=True, check_finite=False, overwrite_a=False)
            diag = np.diagonal(L)
            chol_ok = bool(np.all(diag > 0))
            if chol_ok:
                log_det = float(2.0 * np.sum(np.log(diag)))
        except np.linalg.LinAlgError:
            chol_ok = False
    details["positive_definite"] = chol_ok if symmetric else None

    use = form
    if form == "auto":
        if symmetric and chol_ok:
            use = "trace"
        elif symmetric:
            return _infinite(
                "bound",
                "symmetric but not positive definite (Cholesky failed): no valid Newton system; "
                "form='frobenius' gives the singular-value bound",
                **details,
            )
        else:
            use = "frobenius"
    details["form"] = use

    if use == "trace":
        if not symmetric:
            return _infinite("bound", "trace form needs a symmetric (Hermitian) matrix", **details)
        if not chol_ok:
            return _infinite("bound", "trace form needs a positive definite matrix (Cholesky failed)", **details)
        trace = float(np.trace(arr))
        details.update(log_det=log_det, trace=trace)
        log_k = log_bound_trace(n, log_det, trace)
        reason = "Merikoski et al. trace-form bound (det and trace), symmetric positive definite input"
    else:
        if chol_ok:
            log_abs_det = log_det
        else:
            sign, log_abs_det = np.linalg.slogdet(arr)
            log_abs_det = float(log_abs_det)
            if sign == 0 or not math.isfinite(log_abs_det):
                return _infinite("bound", "singular: determinant is zero", **details)
        fro_sq = float(np.einsum("ij,ij->", arr, arr))
        details.update(log_abs_det=log_abs_det, frobenius_sq=fro_sq)
        log_k = log_bound_frobenius(n, log_abs_det, fro_sq)
        reason = "Merikoski et al. Frobenius-form bound (|det| and ||A||_F)"
    log_k = max(log_k, 0.0)
    return KappaEstimate(_from_log(log_k), log_k, "bound", reason, details)


# ----------------------------------------------------------------------------- lanczos


def _as_operator(A: Any) -> tuple[LinearOperator, int, bool]:
    """(operator, n, is_dense_or_sparse_matrix)."""
    if isinstance(A, LinearOperator):
        if A.shape[0] != A.shape[1]:
            raise UsageError(f"A: operator must be square, got shape {A.shape}")
        return A, A.shape[0], False
    if sp.issparse(A):
        if A.shape[0] != A.shape[1]:
            raise UsageError(f"A: must be a square matrix, got shape {A.shape}")
        M = sp.csr_matrix(A, dtype=np.float64)
        if not np.all(np.isfinite(M.data)):
            raise UsageError("A: contains NaN or infinite entries")
        return aslinearoperator(M), M.shape[0], True
    arr = as_square_float64(A)
    return aslinearoperator(arr), arr.shape[0], True


def lanczos_extremes(
    op: LinearOperator,
    n: int,
    *,
    tol: float = 1e-3,
    max_iter: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Lanczos with full reorthogonalization; returns extreme Ritz values and residual bounds.

    Stops when both extreme Ritz residuals |beta_k s_k| are below tol * |theta|, when the ratio
    theta_max / theta_min has changed by less than tol over 5 steps, at an invariant subspace,
    or after max_iter steps (default min(n, 300)).
    """
    max_iter = min(n, max_iter or 300)
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    Q = np.zeros((max_iter + 1, n))
    Q[0] = q
    alpha = np.zeros(max_iter)
    beta = np.zeros(max_iter)
    history: list[float] = []
    theta_min = theta_max = res_min = res_max = float("nan")
    converged = False
    k = 0
    for k in range(max_iter):
        w = np.asarray(op.matvec(Q[k]), dtype=np.float64).reshape(-1)
        a = float(Q[k] @ w)
        alpha[k] = a
        # full reorthogonalization (twice is enough)
        w -= Q[: k + 1].T @ (Q[: k + 1] @ w)
        w -= Q[: k + 1].T @ (Q[: k + 1] @ w)
        b = float(np.linalg.norm(w))
        beta[k] = b
        theta, S = scipy.linalg.eigh_tridiagonal(alpha[: k + 1], beta[:k], check_finite=False)
        theta_min, theta_max = float(theta[0]), float(theta[-1])
        res_min, res_max = float(abs(b * S[-1, 0])), float(abs(b * S[-1, -1]))
        ratio = theta_max / theta_min if theta_min != 0 else math.inf
        history.append(ratio)
        small_res = res_min <= tol * abs(theta_min) and res_max <= tol * abs(theta_max)
        stalled = len(history) > 5 and math.isfinite(ratio) and abs(history[-1] - history[-6]) <= tol * abs(ratio)
        if b <= 1e-12 * max(abs(theta_max), 1e-300) or small_res or stalled:
            converged = True
            break
        Q[k + 1] = w / b
    return {
        "lambda_min": theta_min,
        "lambda_max": theta_max,
        "residual_min": res_min,
        "residual_max": res_max,
        "iterations": k + 1,
        "converged": converged,
    }


def kappa_lanczos(A: Any, *, tol: float = 1e-3, max_iter: int | None = None, seed: int = 0) -> KappaEstimate:
    """kappa ~ theta_max / theta_min from Lanczos; A symmetric (ndarray, sparse or LinearOperator).

    Ritz values satisfy lambda_min <= theta_min and theta_max <= lambda_max, so this estimate is
    at most the true kappa; `details["kappa_upper_residual"]` is the residual bracket
    (theta_max + r_max) / (theta_min - r_min) when theta_min > r_min.
    """
    op, n, is_matrix = _as_operator(A)
    if is_matrix and not isinstance(A, LinearOperator) and not sp.issparse(A):
        arr = np.asarray(A, dtype=np.float64)
        if symmetry_defect(arr) > SYMMETRY_RTOL:
            raise UsageError("A: the lanczos method needs a symmetric matrix")
    if is_matrix and sp.issparse(A):
        M = sp.csr_matrix(A)
        defect = abs(M - M.T).max() if M.nnz else 0.0
        scale = abs(M).max() if M.nnz else 0.0
        if scale and defect > SYMMETRY_RTOL * scale:
            raise UsageError("A: the lanczos method needs a symmetric matrix")
    if n <= 2 and not isinstance(A, LinearOperator):
        dense = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
        est = kappa_exact(dense)
        return KappaEstimate(est.value, est.log_value, "lanczos", est.reason + " (n <= 2: computed exactly)", est.details)
    info = lanczos_extremes(op, n, tol=tol, max_iter=max_iter, seed=seed)
    lo, hi = info["lambda_min"], info["lambda_max"]
    details = {"n": n, **info}
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return _infinite("lanczos", "Lanczos produced non-finite Ritz values", **details)
    if hi <= 0 or lo <= 0:
        if lo != 0 and hi != 0:
            details["kappa_2"] = max(abs(lo), abs(hi)) / min(abs(lo), abs(hi))
        return _infinite("lanczos", f"not positive definite: Ritz value theta_min = {lo:.3g} <= 0", **details)
    if lo - info["residual_min"] > 0:
        details["kappa_upper_residual"] = float((hi + info["residual_max"]) / (lo - info["residual_min"]))
    value = hi / lo
    state = "converged" if info["converged"] else "NOT converged"
    return KappaEstimate(
        value,
        math.log(value),
        "lanczos",
        f"Lanczos Ritz values theta_max / theta_min after {info['iterations']} steps ({state}; a lower estimate)",
        details,
    )


# ----------------------------------------------------------------------------- exact


def kappa_exact(A: Any) -> KappaEstimate:
    """Exact kappa_2: eigvalsh for symmetric A (inf if not positive definite), SVD otherwise."""
    if sp.issparse(A):
        A = A.toarray()
    arr = as_square_float64(A)
    n = arr.shape[0]
    if symmetry_defect(arr) <= SYMMETRY_RTOL:
        lam = np.linalg.eigvalsh(0.5 * (arr + arr.T))
        lo, hi = float(lam[0]), float(lam[-1])
        details: dict[str, Any] = {"n": n, "lambda_min": lo, "lambda_max": hi, "symmetric": True}
        if lo <= 0:
            mags = np.abs(lam)
            if mags.min() > 0:
                details["kappa_2"] = float(mags.max() / mags.min())
            reason = "singular: eigenvalue 0" if mags.min() == 0 else f"not positive definite: lambda_min = {lo:.3g} <= 0"
            return _infinite("exact", reason, **details)
        value = hi / lo
        return KappaEstimate(value, math.log(value), "exact", "eigvalsh: lambda_max / lambda_min", details)
    s = np.linalg.svd(arr, compute_uv=False)
    details = {"n": n, "sigma_min": float(s[-1]), "sigma_max": float(s[0]), "symmetric": False}
    if s[-1] == 0:
        return _infinite("exact", "singular: smallest singular value is 0", **details)
    value = float(s[0] / s[-1])
    return KappaEstimate(value, math.log(value), "exact", "SVD: sigma_max / sigma_min", details)


# ----------------------------------------------------------------------------- dispatch


def estimate_kappa(A: Any, method: KappaMethod = "bound", **options: Any) -> KappaEstimate:
    """Estimate the condition number of A with `method` ("bound", "lanczos" or "exact").

    A: dense float64 matrix, scipy.sparse matrix, or (lanczos only) a scipy LinearOperator
    such as a Hessian-vector product. options go to the method: form= for bound; tol=,
    max_iter=, seed= for lanczos.
    """
    if method == "bound":
        if isinstance(A, LinearOperator):
            raise UsageError("method: 'bound' needs the matrix (a determinant); use 'lanczos' for an operator")
        if sp.issparse(A):
            A = A.toarray()
        return kappa_bound(A, **options)
    if method == "lanczos":
        return kappa_lanczos(A, **options)
    if method == "exact":
        if isinstance(A, LinearOperator):
            raise UsageError("method: 'exact' needs the matrix; use 'lanczos' for an operator")
        return kappa_exact(A, **options)
    raise UsageError(f"method: must be one of {', '.join(KAPPA_METHODS)}, got {method!r}")
