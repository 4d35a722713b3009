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

Indefinite matrices. A quantum linear solver inverts any nonsingular Hermitian matrix, and its
cost depends on kappa_2(A) = sigma_max / sigma_min = max|lambda| / min|lambda| whatever the signs
of the eigenvalues. So by default every method returns that finite value for a nonsingular
symmetric indefinite (or negative definite) matrix, and `details` say what was found:
`details["definite"]` is True for a definite matrix (positive or negative), False for an
indefinite one, None when the signs are not established (a smallest |eigenvalue| at the rounding
level, or a non-symmetric matrix); `details["spectrum"]` names the case: "positive definite",
"negative definite", "indefinite", "undecided", "not positive definite" (a failed Cholesky
factorization under `positive_definite_only`), or "non-symmetric". `details["abs_lambda_min"]`
and `details["abs_lambda_max"]` hold the smallest and largest |eigenvalue| (estimates for Lanczos).
Singular matrices give value = inf with a reason (never NaN).

`positive_definite_only=True` (every method) restores the narrower reading: inf for any symmetric
input that is not positive definite, with `details["kappa_2"]` still holding max|lambda| /
min|lambda| (exact and Lanczos). The paper implies both readings in different places: its
determinant/trace bound (the trace form) is proved only for Hermitian positive definite matrices,
while its QLSA cost O(d kappa log(N kappa / eps)) needs only a nonsingular Hermitian matrix.
The Newton step wants a positive definite system (a descent direction), but that is a question
for the step's safeguard, not for the solver's cost, so it is not the default here.

`lanczos`: the extreme Ritz values of a Lanczos run with full reorthogonalization, matrix-free
(ndarray, scipy.sparse matrix or scipy LinearOperator). Ritz values lie inside the spectrum, so
the estimate approaches kappa from below; `details` holds the residual bracket.

`exact`: numpy.linalg.eigvalsh (symmetric) or singular values (non-symmetric).

Extreme scales. kappa(c A) = kappa(A), so every estimator first brings A to unit scale: a
matrix whose largest entry lies outside [2^-64, 2^64] is multiplied by the power of two that
puts max|A_ij| in [0.5, 1) (exact, no rounding; `qnewton.analysis.scaling`). Lanczos, which also
takes matrix-free operators, scales the operator instead: it finds k with max|2^k A q| ~ 1 and
evaluates 2^k A v as 2^(k - j) A (2^j v), |j| <= 900, so neither the product nor its norm can
overflow or underflow. Eigenvalues in `details` are reported back in the caller's units
(`scale_log2` holds the exponent used; a value outside float64 range shows as inf or 0).

Trust. Eigenvalues, singular values and Ritz values carry an absolute error of about
n u max|lambda| (u = 2^-52). A smallest eigenvalue (singular value, Ritz value, Cholesky or LU
pivot) at most 16 n u times the largest one is "at the rounding level": A is numerically
singular (kappa >~ 1/(16 n u)). A positive estimate is then still returned, but its reason says
"NOT reliable" and `details["reliable"]` is False; a smallest eigenvalue or Ritz value between
-16 n u max|lambda| and 0 gives inf with the reason "numerically singular" and no claim either
way about positive definiteness. "Not positive definite" is stated only when it is established:
an eigenvalue or Ritz value below that band (Ritz values lie inside the spectrum), or a failed
Cholesky factorization (A is then not positive definite in floating point: indefinite, singular,
or kappa beyond about 1/u). A LinearOperator given to `lanczos` is probed once for symmetry
(r^T A q against q^T A r); dense and sparse matrices are checked entry by entry.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from qnewton.analysis._validate import SYMMETRY_RTOL, as_square_float64, symmetry_defect
from qnewton.analysis.factor import factor_for
from qnewton.analysis.scaling import SAFE_EXPONENT, binary_exponent, power_of_two_scaled, to_scale
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready

KappaMethod = Literal["bound", "lanczos", "exact"]
BoundForm = Literal["auto", "trace", "frobenius"]
KAPPA_METHODS: tuple[str, ...] = ("bound", "lanczos", "exact")

_LOG_FLOAT_MAX = math.log(np.finfo(np.float64).max)
_LN2 = math.log(2.0)
_U = float(np.finfo(np.float64).eps)  # u = 2^-52


@dataclass(frozen=True)
class KappaEstimate:
    """A condition-number estimate and how it was obtained.

    value: the estimate (float; inf for singular/indefinite input or when it exceeds float range).
    log_value: natural log of the estimate (finite whenever the matrix is nonsingular PD).
    method: "bound", "lanczos" or "exact". reason: one sentence on how the number came about,
    including "NOT reliable" when the input is numerically singular (see the module docstring).
    details: method-specific numbers (form, log det, eigenvalue estimates, iterations, ...);
    `details["reliable"]` is False when the value cannot be trusted, `details["scale_log2"]` the
    power of two the matrix was divided by.
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


def _rounding_level(n: int) -> float:
    """16 n u: relative size below which an eigenvalue, singular value, Ritz value or pivot of an
    n x n matrix is not told apart from 0 (their absolute error is about n u max|lambda|)."""
    return 16.0 * max(n, 1) * _U


#: appended to the reason of a positive value that sits at the rounding level
_NOT_RELIABLE = (
    "NOT reliable: A is numerically singular ({what} is within rounding error of 0), "
    "so positive definiteness is not established"
)


def _check_flag(value: Any, name: str = "positive_definite_only") -> bool:
    """A boolean option, or a one-line UsageError naming it."""
    if not isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def _classify(n_pos: int, n_neg: int, n_zero: int) -> tuple[bool | None, str]:
    """(definite, spectrum) from counts of eigenvalues clearly above, clearly below and within
    rounding error of 0. Eigenvalues of both signs establish "indefinite" even when some other
    eigenvalue is at the rounding level; otherwise any eigenvalue at that level leaves the
    signs "undecided"."""
    if n_pos and n_neg:
        return False, "indefinite"
    if n_zero:
        return None, "undecided"
    if n_neg:
        return True, "negative definite"
    return True, "positive definite"


def _sign_word(spectrum: str) -> str:
    """Words for the reason of a finite estimate on a matrix that is not positive definite."""
    return "negative definite" if spectrum == "negative definite" else "indefinite"


# ----------------------------------------------------------------------------- bound


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


def _ldl_log_abs_det(S: np.ndarray, floor: float) -> tuple[float, int, int, int, float]:
    """Bunch-Kaufman factorization P S P^T = L D L^T of a symmetric S (scipy.linalg.ldl, about
    n^3 / 3 multiply-adds: half of LU). Returns (log|det S|, n_pos, n_neg, n_zero, min|eig D|):
    |det S| = |det D| (det L = 1), and by Sylvester's law of inertia S has as many positive and
    negative eigenvalues as D (1 x 1 and 2 x 2 blocks); an eigenvalue of D at most floor *
    max|S_ij| counts as zero (at the rounding level). log|det| is -inf when D has an exact 0."""
    _, D, _ = scipy.linalg.ldl(S, lower=True, hermitian=True, check_finite=False)
    n = S.shape[0]
    sub = np.diagonal(D, -1).copy() if n > 1 else np.zeros(0)
    diag = np.diagonal(D).copy()
    starts = np.flatnonzero(sub != 0)  # a 2 x 2 block occupies rows i, i + 1
    in_block = np.zeros(n, dtype=bool)
    in_block[starts] = True
    in_block[starts + 1] = True
    eig = [diag[~in_block]]
    if starts.size:
        blocks = np.empty((starts.size, 2, 2))
        blocks[:, 0, 0] = diag[starts]
        blocks[:, 1, 1] = diag[starts + 1]
        blocks[:, 0, 1] = blocks[:, 1, 0] = sub[starts]
        eig.append(np.linalg.eigvalsh(blocks).reshape(-1))
    values = np.concatenate(eig)
    mags = np.abs(values)
    zero_level = floor * float(np.max(np.abs(S)))
    n_zero = int(np.count_nonzero(mags <= zero_level))
    n_pos = int(np.count_nonzero(values > zero_level))
    n_neg = int(np.count_nonzero(values < -zero_level))
    smallest = float(mags.min())
    log_abs_det = float(np.sum(np.log(mags))) if smallest > 0 else -math.inf
    return log_abs_det, n_pos, n_neg, n_zero, smallest


def kappa_bound(A: np.ndarray, form: BoundForm = "auto", *, positive_definite_only: bool = False,
                factorization: Any = None) -> KappaEstimate:
    """The paper's estimator: Merikoski et al. (1997) upper bound from det and trace/Frobenius norm.

    form "auto": the trace form if Cholesky of a symmetric A succeeds (A positive definite), the
    Frobenius form otherwise: for a non-symmetric A, and for a symmetric A whose Cholesky
    factorization fails (indefinite or negative definite; |det A| then comes from a Bunch-Kaufman
    LDL^T factorization, which also gives the inertia for `details["spectrum"]`). The Frobenius
    form bounds sigma_max / sigma_min of any nonsingular matrix, which for a symmetric matrix is
    max|lambda| / min|lambda|. "trace": Cholesky must succeed (inf otherwise). "frobenius": any
    nonsingular matrix.

    positive_definite_only=True: the paper's narrower reading (its trace bound assumes HPD): with
    form "auto", a symmetric matrix whose Cholesky factorization fails gives inf.

    A is first brought to unit scale by a power of two (the bound is scale-invariant) and log det
    comes from the Cholesky, LDL^T or LU pivots, so no determinant, trace or norm over- or
    underflows.

    factorization: a `qnewton.analysis.factor.CholeskyFactor` already computed for this very array
    (the Newton step's definiteness test made it); it replaces this function's own Cholesky
    factorization (the O(N^3) part) when A needed no rescaling. Anything else is ignored.
    """
    if form not in ("auto", "trace", "frobenius"):
        raise UsageError(f"form: must be 'auto', 'trace' or 'frobenius', got {form!r}")
    pd_only = _check_flag(positive_definite_only)
    arr = as_square_float64(A)
    n = arr.shape[0]
    symmetric = symmetry_defect(arr) <= SYMMETRY_RTOL
    details: dict[str, Any] = {"n": n, "symmetric": symmetric, "positive_definite_only": pd_only}
    if not np.any(arr):
        return _infinite("bound", "singular: the zero matrix", reliable=True, definite=None, spectrum="undecided",
                         **details)
    S, e = power_of_two_scaled(arr)
    details["scale_log2"] = e
    floor = _rounding_level(n)

    chol_ok = False
    chol_singular = False
    log_det_s = -math.inf
    shared = factor_for(factorization, arr) if e == 0 else None
    details["shared_factorization"] = shared is not None
    if symmetric:
        try:
            if shared is not None:
                diag = shared.diagonal()
            else:
                diag = np.diagonal(scipy.linalg.cholesky(S, lower=True, check_finite=False, overwrite_a=False))
            chol_ok = bool(np.all(diag > 0))
            if chol_ok:
                log_det_s = float(2.0 * np.sum(np.log(diag)))
                # the pivots L_ii^2 are >= lambda_min, and kappa >= max A_ii / min pivot
                top = float(np.max(np.diagonal(S)))
                chol_singular = float(diag.min()) ** 2 <= floor * top
        except np.linalg.LinAlgError:
            chol_ok = False
    details["positive_definite"] = (None if chol_singular else chol_ok) if symmetric else None
    if not symmetric:
        details.update(definite=None, spectrum="non-symmetric")
    elif chol_ok:
        details.update(definite=None if chol_singular else True,
                       spectrum="undecided" if chol_singular else "positive definite")
    else:
        details.update(definite=None, spectrum="not positive definite")
    failed = (
        "Cholesky failed: A is not positive definite in floating point (indefinite, singular, or kappa "
        "beyond about 1/u)"
    )

    use = form
    if form == "auto":
        if symmetric and chol_ok:
            use = "trace"
        elif symmetric and pd_only:
            return _infinite(
                "bound", f"{failed}; positive_definite_only is set (form='frobenius' gives the singular-value bound)",
                reliable=True, **details,
            )
        else:
            use = "frobenius"
    details["form"] = use

    if use == "trace":
        if not symmetric:
            return _infinite("bound", "trace form needs a symmetric (Hermitian) matrix", reliable=True, **details)
        if not chol_ok:
            return _infinite("bound", f"trace form needs a positive definite matrix ({failed})", reliable=True, **details)
        trace_s = float(np.trace(S))
        details.update(log_det=log_det_s + n * e * _LN2, trace=to_scale(trace_s, e))
        log_k = log_bound_trace(n, log_det_s, trace_s)
        reason = "Merikoski et al. trace-form bound (det and trace); Cholesky factorization succeeded"
        singular = chol_singular
        what = "the smallest Cholesky pivot"
    else:
        extra = ""
        if chol_ok:
            log_abs_det_s, singular, what = log_det_s, chol_singular, "the smallest Cholesky pivot"
        elif symmetric:
            log_abs_det_s, n_pos, n_neg, n_zero, smallest = _ldl_log_abs_det(S, floor)
            definite, spectrum = _classify(n_pos, n_neg, n_zero)
            details.update(definite=definite, spectrum=spectrum, positive_eigenvalues=n_pos,
                           negative_eigenvalues=n_neg, zero_eigenvalues=n_zero)
            if definite is False or spectrum == "negative definite":
                details["positive_definite"] = False
            if smallest == 0.0:
                return _infinite("bound", "numerically singular: a pivot of the LDL^T factorization is exactly 0 in "
                                 "floating point (determinant 0)", reliable=True, **details)
            singular, what = n_zero > 0, "the smallest LDL^T pivot eigenvalue"
            extra = f"; |det| from LDL^T, inertia {n_pos} positive / {n_neg} negative"
            if spectrum in ("indefinite", "negative definite"):
                extra += f": A is {spectrum}, not positive definite"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                lu, _ = scipy.linalg.lu_factor(S, check_finite=False)
            pivots = np.abs(np.diagonal(lu))
            if not np.all(pivots > 0):
                return _infinite("bound", "numerically singular: an LU pivot is exactly 0 in floating point (determinant 0)",
                                 reliable=True, **details)
            log_abs_det_s = float(np.sum(np.log(pivots)))
            # with partial pivoting |L_ij| <= 1, so kappa >= max|A_ij| / (n min|U_ii|)
            singular = float(pivots.min()) <= floor * float(np.max(np.abs(S)))
            what = "the smallest LU pivot"
        fro_sq_s = float(np.einsum("ij,ij->", S, S))
        details.update(log_abs_det=log_abs_det_s + n * e * _LN2, frobenius_sq=to_scale(fro_sq_s, 2 * e))
        log_k = log_bound_frobenius(n, log_abs_det_s, fro_sq_s)
        reason = "Merikoski et al. Frobenius-form bound (|det| and ||A||_F)" + extra
    log_k = max(log_k, 0.0)
    details["reliable"] = not singular
    if singular:
        reason += "; " + _NOT_RELIABLE.format(what=what)
    return KappaEstimate(_from_log(log_k), log_k, "bound", reason, details)


# ----------------------------------------------------------------------------- lanczos


#: largest power of two by which a vector is multiplied before it goes into the operator
_INPUT_SHIFT_CAP = 900
#: |A q| below 2^-1000 is treated as "too small to read" when probing the operator's scale
_PROBE_FLOOR_EXPONENT = -1000


def _as_operator(A: Any) -> tuple[LinearOperator, int, bool]:
    """(operator, n, is_dense_or_sparse_matrix); dense and sparse matrices are checked for symmetry."""
    if isinstance(A, LinearOperator):
        if len(A.shape) != 2 or A.shape[0] != A.shape[1]:
            raise UsageError(f"A: operator must be square, got shape {A.shape}")
        if A.shape[0] == 0:
            raise UsageError("A: must not be empty")
        return A, A.shape[0], False
    if sp.issparse(A):
        if A.shape[0] != A.shape[1]:
            raise UsageError(f"A: must be a square matrix, got shape {A.shape}")
        if A.shape[0] == 0:
            raise UsageError("A: must not be empty")
        if np.iscomplexobj(A.data):
            raise UsageError("A: has complex entries; a real matrix is expected")
        M = sp.csr_matrix(A, dtype=np.float64, copy=True)
        if not np.all(np.isfinite(M.data)):
            raise UsageError("A: contains NaN or infinite entries")
        if M.nnz:
            e = binary_exponent(float(np.max(np.abs(M.data))))
            if abs(e) > SAFE_EXPONENT:
                M.data = np.ldexp(M.data, -e)  # exact; the operator is scaled again in _lanczos anyway
            defect = abs(M - M.T).max()
            if defect > SYMMETRY_RTOL * float(np.max(np.abs(M.data))):
                raise UsageError("A: the lanczos method needs a symmetric matrix")
        return aslinearoperator(M), M.shape[0], True
    arr = as_square_float64(A)
    if symmetry_defect(arr) > SYMMETRY_RTOL:
        raise UsageError("A: the lanczos method needs a symmetric matrix")
    return aslinearoperator(arr), arr.shape[0], True


class _ScaledOperator:
    """v -> 2^k A v evaluated as 2^(k - j) A (2^j v) with |j| <= 900: the operator never sees a
    vector or produces a product outside float64 range (for k from `_find_scale`)."""

    def __init__(self, op: LinearOperator, n: int, k: int) -> None:
        self.op, self.n, self.k = op, n, k
        self.k_in = max(-_INPUT_SHIFT_CAP, min(_INPUT_SHIFT_CAP, k))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return _apply(self.op, self.n, v, self.k_in, self.k - self.k_in)


def _apply(op: LinearOperator, n: int, v: np.ndarray, k_in: int, k_out: int) -> np.ndarray:
    """2^k_out A (2^k_in v), overflow and underflow left to show up as inf / 0 (no warnings)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        w = np.asarray(op.matvec(np.ldexp(v, k_in) if k_in else v), dtype=np.float64).reshape(-1)
        if w.shape[0] != n:
            raise UsageError(f"A: the operator returned a vector of length {w.shape[0]}, expected {n}")
        return np.ldexp(w, k_out) if k_out else w


def _find_scale(op: LinearOperator, n: int, q: np.ndarray) -> tuple[int | None, str | None]:
    """(k, None) with max|2^k A q| in [0.5, 1); (None, None) when A q = 0 (q is a random vector,
    so A is singular); (None, reason) when the operator returns NaN or infinite values.

    A q is probed as is, then with q multiplied by 2^-900 if the product overflowed or by 2^900
    if it vanished below 2^-1000."""
    k_in = 0
    w = _apply(op, n, q, 0, 0)
    if np.any(np.isnan(w)) and not np.any(np.isinf(w)):
        return None, "the operator returned NaN for a finite vector"
    if not np.all(np.isfinite(w)):
        k_in = -_INPUT_SHIFT_CAP
    elif binary_exponent(float(np.max(np.abs(w)))) < _PROBE_FLOOR_EXPONENT:
        k_in = _INPUT_SHIFT_CAP
    if k_in:
        w = _apply(op, n, q, k_in, 0)
        if not np.all(np.isfinite(w)):
            return None, "the operator returned NaN or infinite values for a finite vector"
    top = float(np.max(np.abs(w)))
    if top == 0.0:
        return None, None
    return k_in - binary_exponent(top), None


@dataclass
class _LanczosRun:
    """Ritz values theta of 2^k A (k = scale_log2), residuals, and how the run ended."""

    theta_min: float
    theta_max: float
    res_min: float
    res_max: float
    iterations: int
    converged: bool
    scale_log2: int
    failure: str | None = None
    zero: bool = False


def _check_lanczos_options(tol: Any, max_iter: Any, seed: Any) -> None:
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)) or not (0 < float(tol) < 1):
        raise UsageError(f"tol: must be a number in (0, 1), got {tol!r}")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1):
        raise UsageError(f"max_iter: must be a positive integer or None, got {max_iter!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed: must be a non-negative integer, got {seed!r}")


#: relative tolerance of the symmetry probe r^T A q = q^T A r of an operator
OPERATOR_SYMMETRY_RTOL = 1e-6


def _lanczos(
    op: LinearOperator, n: int, *, tol: float, max_iter: int | None, seed: int, check_symmetry: bool = False
) -> _LanczosRun:
    """Lanczos with full reorthogonalization on the scaled operator 2^k A (see `lanczos_extremes`).

    check_symmetry: compare r^T A q with q^T A r for the start vector q and one more random r
    (one extra product) and refuse an operator that is not symmetric with a UsageError."""
    _check_lanczos_options(tol, max_iter, seed)
    if n < 1:
        raise UsageError("A: must not be empty")
    max_iter = min(n, int(max_iter or 300))
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    k_scale, failure = _find_scale(op, n, q)
    nan = float("nan")
    if k_scale is None:
        if failure is None:  # A q = 0 for a random q
            return _LanczosRun(0.0, 0.0, 0.0, 0.0, 1, True, 0, zero=True)
        return _LanczosRun(nan, nan, nan, nan, 0, False, 0, failure=failure)
    matvec = _ScaledOperator(op, n, k_scale)
    Q = np.zeros((max_iter + 1, n))
    Q[0] = q
    alpha = np.zeros(max_iter)
    beta = np.zeros(max_iter)
    history: list[float] = []
    theta_min = theta_max = res_min = res_max = nan
    converged = False
    done = 0
    for k in range(max_iter):
        w = matvec(Q[k])
        if not np.all(np.isfinite(w)):
            failure = f"the operator returned NaN or infinite values at step {k + 1}"
            break
        if k == 0 and check_symmetry and n > 1:
            r = rng.standard_normal(n)
            r /= np.linalg.norm(r)
            wr = matvec(r)
            if np.all(np.isfinite(wr)):
                gap = abs(float(r @ w) - float(q @ wr))
                if gap > OPERATOR_SYMMETRY_RTOL * max(float(np.linalg.norm(w)), float(np.linalg.norm(wr))):
                    raise UsageError(
                        "A: the operator is not symmetric (r^T A q differs from q^T A r for random q, r); "
                        "the lanczos method needs a symmetric operator"
                    )
        a = float(Q[k] @ w)
        alpha[k] = a
        # full reorthogonalization (twice is enough)
        w -= Q[: k + 1].T @ (Q[: k + 1] @ w)
        w -= Q[: k + 1].T @ (Q[: k + 1] @ w)
        b = float(np.linalg.norm(w))
        beta[k] = b
        try:
            theta, S = scipy.linalg.eigh_tridiagonal(alpha[: k + 1], beta[:k], check_finite=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            failure = f"the tridiagonal eigensolver failed at step {k + 1} ({str(exc).splitlines()[0]})"
            break
        done = k + 1
        theta_min, theta_max = float(theta[0]), float(theta[-1])
        res_min, res_max = float(abs(b * S[-1, 0])), float(abs(b * S[-1, -1]))
        ratio = theta_max / theta_min if theta_min != 0 else math.inf
        history.append(ratio)
        small_res = res_min <= tol * abs(theta_min) and res_max <= tol * abs(theta_max)
        stalled = len(history) > 5 and math.isfinite(ratio) and abs(history[-1] - history[-6]) <= tol * abs(ratio)
        if b <= 1e-12 * max(abs(theta_max), abs(theta_min), 1e-300) or small_res or stalled:
            converged = True
            break
        Q[k + 1] = w / b
    return _LanczosRun(theta_min, theta_max, res_min, res_max, done, converged, k_scale, failure=failure)


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
    or after max_iter steps (default min(n, 300)). The run works on A / 2^e with max|A q| / 2^e
    ~ 1 (module docstring); "lambda_min", "lambda_max" and the residuals are in the caller's
    units, "scale_log2" is e. "failure" says why a run stopped early (NaN from the operator, a
    failed tridiagonal eigensolver), else None.
    """
    run = _lanczos(op, n, tol=tol, max_iter=max_iter, seed=seed)
    return _run_details(run)


def _run_details(run: _LanczosRun) -> dict[str, Any]:
    k = run.scale_log2
    return {
        "lambda_min": to_scale(run.theta_min, -k),
        "lambda_max": to_scale(run.theta_max, -k),
        "residual_min": to_scale(run.res_min, -k),
        "residual_max": to_scale(run.res_max, -k),
        "iterations": run.iterations,
        "converged": run.converged,
        "scale_log2": -k,  # the run worked on A / 2^scale_log2, like the other methods
        "failure": run.failure,
    }


def _smallest_magnitude_by_squares(
    op: LinearOperator, n: int, run: _LanczosRun, *, tol: float, max_iter: int | None, seed: int
) -> _LanczosRun:
    """Lanczos on B^2, B = 2^k A the first run's scaled operator (k = run.scale_log2), matrix-free:
    each step costs two products with A. The smallest eigenvalue of B^2 is min|lambda(B)|^2, an
    end of the spectrum of B^2 (an interior point of the spectrum of B when B is indefinite, where
    Lanczos on B converges slowly). B^2 has condition number kappa^2, so the smallest Ritz value
    converges in roughly sqrt(kappa^2) = kappa steps instead of sqrt(kappa), and it is resolved
    only while kappa^2 stays well below 1 / (16 n u), i.e. kappa below about 1e7 / sqrt(n)."""
    scaled = _ScaledOperator(op, n, run.scale_log2)
    square = LinearOperator((n, n), matvec=lambda v: scaled(scaled(v)), dtype=np.float64)
    return _lanczos(square, n, tol=tol, max_iter=max_iter, seed=seed)


def kappa_lanczos(
    A: Any, *, tol: float = 1e-3, max_iter: int | None = None, seed: int = 0, positive_definite_only: bool = False
) -> KappaEstimate:
    """kappa ~ max|lambda| / min|lambda| from Lanczos; A symmetric (ndarray, sparse or LinearOperator).

    A first Lanczos run on A gives the extreme Ritz values theta_min <= theta_max. When both are
    positive (or both negative) the estimate is theta_max / theta_min (|theta_min| / |theta_max|).
    Ritz values lie inside the spectrum, so this is at most the true kappa;
    `details["kappa_upper_residual"]` is the residual bracket (theta_max + r_max) / (theta_min -
    r_min) when theta_min > r_min.

    Ritz values of both signs (beyond rounding error) prove A indefinite. Its largest |lambda| is
    still an end of the spectrum (max(|theta_min|, |theta_max|)), but its smallest |lambda| lies
    inside it, so a second, matrix-free Lanczos run on A^2 finds min|lambda| = sqrt(lambda_min(A^2))
    (`_smallest_magnitude_by_squares`: two products with A per step, convergence governed by
    kappa^2, resolution limited to kappa below about 1e7 / sqrt(n); beyond that, and for a
    singular indefinite A, the result is inf with the reason "numerically singular"). Both runs approach their targets from inside, so the indefinite estimate is
    also a lower estimate. A shift-invert run (Lanczos on A^-1) would converge faster but needs a
    factorization, which a LinearOperator does not offer and which costs as much as the bound.
    `details["iterations_square"]` holds the second run's steps, `details["matvecs"]` the total
    number of products with A (without the scale probes).

    positive_definite_only=True: inf for established indefiniteness (the narrower reading, see the
    module docstring). A smallest Ritz value within rounding error of 0 gives inf with the reason
    "numerically singular".
    """
    _check_lanczos_options(tol, max_iter, seed)
    pd_only = _check_flag(positive_definite_only)
    op, n, is_matrix = _as_operator(A)
    if n <= 2 and is_matrix:
        dense = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
        est = kappa_exact(dense, positive_definite_only=pd_only)
        return KappaEstimate(est.value, est.log_value, "lanczos", est.reason + " (n <= 2: computed exactly)", est.details)
    run = _lanczos(op, n, tol=tol, max_iter=max_iter, seed=seed, check_symmetry=not is_matrix)
    details: dict[str, Any] = {"n": n, **_run_details(run), "positive_definite_only": pd_only,
                               "matvecs": run.iterations}
    if run.zero:
        return _infinite("lanczos", "singular: A q = 0 for a random start vector q", reliable=True,
                         definite=None, spectrum="undecided", **details)
    lo, hi = run.theta_min, run.theta_max
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return _infinite("lanczos", f"no estimate: {run.failure or 'Lanczos produced non-finite Ritz values'}",
                         reliable=False, definite=None, spectrum="undecided", **details)
    top = max(abs(lo), abs(hi))
    if top == 0.0:
        return _infinite("lanczos", "singular: every Ritz value is 0", reliable=True,
                         definite=None, spectrum="undecided", **details)
    small = min(abs(lo), abs(hi))
    if small > 0 and (lo <= 0 or hi <= 0):
        details["kappa_2"] = top / small
    level = _rounding_level(n) * top
    details["abs_lambda_max"] = to_scale(top, -run.scale_log2)
    definite, spectrum = _classify(int(hi > level), int(lo < -level), int(abs(lo) <= level or abs(hi) <= level))
    details.update(definite=definite, spectrum=spectrum)
    stop = f"; stopped early: {run.failure}" if run.failure else ""
    state = "converged" if run.converged else "NOT converged"
    if pd_only and lo < -level:
        return _infinite(
            "lanczos",
            f"not positive definite: Ritz value theta_min = {details['lambda_min']:.3g} < 0 "
            f"(positive_definite_only is set){stop}",
            reliable=True, **details,
        )
    if lo < -level and hi > level:
        return _indefinite_lanczos(op, n, run, details, tol=tol, max_iter=max_iter, seed=seed, stop=stop)
    negative = hi < 0 and not pd_only  # every Ritz value negative: the estimate for -A
    if negative:
        lo, hi = -hi, -lo
    if lo <= 0:
        return _infinite(
            "lanczos",
            f"numerically singular: an extreme Ritz value is within rounding error (16 n u max|theta|) of 0 "
            f"(theta_min = {details['lambda_min']:.3g}, theta_max = {details['lambda_max']:.3g}), so definiteness "
            f"is undecided{stop}",
            reliable=False, **details,
        )
    details["abs_lambda_min"] = to_scale(lo, -run.scale_log2)
    r_lo, r_hi = (run.res_max, run.res_min) if negative else (run.res_min, run.res_max)
    if lo - r_lo > 0:
        details["kappa_upper_residual"] = float((hi + r_hi) / (lo - r_lo))
    value = hi / lo
    what = "theta_min / theta_max (A negative definite)" if negative else "theta_max / theta_min"
    reason = f"Lanczos Ritz values {what} after {run.iterations} steps ({state}; a lower estimate){stop}"
    singular = lo <= level
    if singular:
        reason += "; " + _NOT_RELIABLE.format(what="the Ritz value nearest 0")
    details["reliable"] = run.converged and not run.failure and not singular
    return KappaEstimate(value, math.log(value), "lanczos", reason, details)


def _indefinite_lanczos(
    op: LinearOperator, n: int, run: _LanczosRun, details: dict[str, Any], *,
    tol: float, max_iter: int | None, seed: int, stop: str,
) -> KappaEstimate:
    """The estimate for an A with Ritz values of both signs: max|theta| from the first run over
    sqrt(theta_min(A^2)) from a second run on A^2 (see `kappa_lanczos`)."""
    sq = _smallest_magnitude_by_squares(op, n, run, tol=tol, max_iter=max_iter, seed=seed)
    k1, k2 = run.scale_log2, sq.scale_log2
    details["iterations_square"] = sq.iterations
    details["converged_square"] = sq.converged
    details["matvecs"] = run.iterations + 2 * sq.iterations
    # the second run works on 2^k2 B^2, B = 2^k1 A: eigenvalues of B^2 are theta / 2^k2
    if sq.failure or not (math.isfinite(sq.theta_min) and math.isfinite(sq.theta_max)):
        return _infinite("lanczos", f"indefinite A; no estimate of min|lambda|: "
                         f"{sq.failure or 'the A^2 run produced non-finite Ritz values'}", reliable=False, **details)
    top_b = max(abs(run.theta_min), abs(run.theta_max), math.sqrt(max(sq.theta_max, 0.0) * 2.0 ** -k2))
    mu_level = _rounding_level(n) * max(sq.theta_max, 0.0)
    details["abs_lambda_max"] = to_scale(top_b, -k1)
    if sq.theta_min <= mu_level:
        return _infinite(
            "lanczos",
            "numerically singular: the smallest Ritz value of A^2 is within rounding error (16 n u max|lambda|^2) "
            "of 0, so min|lambda| is not resolved (A is indefinite and singular, or kappa is beyond about "
            f"1 / sqrt(16 n u); the exact and bound methods resolve more){stop}",
            reliable=False, **details,
        )
    small_b = math.sqrt(sq.theta_min * 2.0 ** -k2)
    details["abs_lambda_min"] = to_scale(small_b, -k1)
    log_value = math.log(top_b) - math.log(small_b)
    value = _from_log(log_value)
    details["kappa_2"] = value
    both = run.converged and sq.converged
    reason = (
        f"Lanczos: max|theta| over {run.iterations} steps on A / sqrt(theta_min) over {sq.iterations} steps on A^2 "
        f"({'converged' if both else 'NOT converged'}; a lower estimate); A is indefinite, not positive definite "
        f"(Ritz values of both signs){stop}"
    )
    details["reliable"] = both and not run.failure and not sq.failure
    return KappaEstimate(value, log_value, "lanczos", reason, details)


# ----------------------------------------------------------------------------- exact


def kappa_exact(A: Any, *, positive_definite_only: bool = False) -> KappaEstimate:
    """Exact kappa_2: max|lambda| / min|lambda| from eigvalsh for symmetric A, SVD otherwise.

    A symmetric indefinite or negative definite matrix gets its finite kappa_2 (the QLSA cost's
    kappa); with positive_definite_only=True it gets inf with "not positive definite" instead.
    A is first brought to unit scale by a power of two (exact). Eigenvalues in `details` are in
    the caller's units. A smallest |eigenvalue| (singular value) within rounding error 16 n u
    max|lambda| of 0 makes the result NOT reliable when that eigenvalue is positive, or inf when
    it is <= 0 (module docstring)."""
    pd_only = _check_flag(positive_definite_only)
    if sp.issparse(A):
        A = A.toarray()
    arr = as_square_float64(A)
    n = arr.shape[0]
    S, e = power_of_two_scaled(arr)
    level = _rounding_level(n)
    if symmetry_defect(S) <= SYMMETRY_RTOL:
        lam = np.linalg.eigvalsh(0.5 * (S + S.T))
        lo, hi = float(lam[0]), float(lam[-1])
        mags = np.abs(lam)
        top, small = float(mags.max()), float(mags.min())
        band = level * top
        n_pos, n_neg = int(np.count_nonzero(lam > band)), int(np.count_nonzero(lam < -band))
        definite, spectrum = _classify(n_pos, n_neg, n - n_pos - n_neg)
        details: dict[str, Any] = {
            "n": n, "lambda_min": to_scale(lo, e), "lambda_max": to_scale(hi, e),
            "abs_lambda_min": to_scale(small, e), "abs_lambda_max": to_scale(top, e),
            "symmetric": True, "scale_log2": e, "definite": definite, "spectrum": spectrum,
            "negative_eigenvalues": n_neg, "positive_definite_only": pd_only,
        }
        if top == 0.0:
            return _infinite("exact", "singular: the zero matrix", reliable=True, **details)
        if lo <= 0 and small > 0:
            details["kappa_2"] = top / small
        if lo > 0:
            value = hi / lo
            reason = "eigvalsh: lambda_max / lambda_min"
            details["reliable"] = lo > band
            if not details["reliable"]:
                reason += "; " + _NOT_RELIABLE.format(what="lambda_min")
            return KappaEstimate(value, math.log(value), "exact", reason, details)
        if pd_only and lo < -band:
            return _infinite(
                "exact", f"not positive definite: lambda_min = {details['lambda_min']:.3g} < 0 "
                "(positive_definite_only is set)", reliable=True, **details,
            )
        if small <= band:
            return _infinite(
                "exact",
                f"numerically singular: the eigenvalue of smallest magnitude ({to_scale(small, e):.3g} in absolute "
                "value) is within rounding error (16 n u max|lambda|) of 0, so definiteness is undecided",
                reliable=False, **details,
            )
        value = top / small
        reason = (
            f"eigvalsh: max|lambda| / min|lambda|; A is {_sign_word(spectrum)}, not positive definite "
            f"({n_neg} negative eigenvalues)"
        )
        details["reliable"] = True
        return KappaEstimate(value, math.log(value), "exact", reason, details)
    s = np.linalg.svd(S, compute_uv=False)
    details = {
        "n": n, "sigma_min": to_scale(float(s[-1]), e), "sigma_max": to_scale(float(s[0]), e),
        "symmetric": False, "scale_log2": e, "definite": None, "spectrum": "non-symmetric",
        "positive_definite_only": pd_only,
    }
    if s[-1] == 0:
        return _infinite("exact", "numerically singular: the smallest singular value is 0 in floating point",
                         reliable=False, **details)
    value = float(s[0] / s[-1])
    reason = "SVD: sigma_max / sigma_min"
    details["reliable"] = float(s[-1]) > level * float(s[0])
    if not details["reliable"]:
        reason += "; NOT reliable: A is numerically singular (sigma_min is within rounding error of 0)"
    return KappaEstimate(value, math.log(value), "exact", reason, details)


# ----------------------------------------------------------------------------- dispatch

_METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "bound": ("form", "positive_definite_only", "factorization"),
    "lanczos": ("tol", "max_iter", "seed", "positive_definite_only"),
    "exact": ("positive_definite_only",),
}


def estimate_kappa(A: Any, method: KappaMethod = "bound", **options: Any) -> KappaEstimate:
    """Estimate the condition number of A with `method` ("bound", "lanczos" or "exact").

    A: dense float64 matrix, scipy.sparse matrix, or (lanczos only) a scipy LinearOperator
    such as a Hessian-vector product. options go to the method: form= for bound; tol=,
    max_iter=, seed= for lanczos; positive_definite_only= for every method (inf for symmetric
    input that is not positive definite; by default a nonsingular indefinite matrix gets its
    finite max|lambda| / min|lambda|). An unknown option is a UsageError naming it.
    """
    if method not in _METHOD_OPTIONS:
        raise UsageError(f"method: must be one of {', '.join(KAPPA_METHODS)}, got {method!r}")
    unknown = sorted(set(options) - set(_METHOD_OPTIONS[method]))
    if unknown:
        accepted = ", ".join(_METHOD_OPTIONS[method]) or "none"
        raise UsageError(f"{unknown[0]}: not an option of the {method!r} method (accepted: {accepted})")
    if method == "bound":
        if isinstance(A, LinearOperator):
            raise UsageError("method: 'bound' needs the matrix (a determinant); use 'lanczos' for an operator")
        if sp.issparse(A):
            A = A.toarray()
        return kappa_bound(A, **options)
    if method == "lanczos":
        return kappa_lanczos(A, **options)
    if isinstance(A, LinearOperator):
        raise UsageError("method: 'exact' needs the matrix; use 'lanczos' for an operator")
    return kappa_exact(A, **options)
