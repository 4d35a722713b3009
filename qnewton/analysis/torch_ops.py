"""The dense analysis of one Newton block in torch, on any torch device (a CUDA GPU, or the CPU for
testing against the numpy code): regularization, the definiteness test / Cholesky factor, the
oracle sparsity rules and the paper's kappa bound. Same formulas as the numpy functions of
`qnewton.analysis` (regularize, pruning.choose_sparsity, kappa.kappa_bound), in float64.

Differences from the numpy code, all about rounding or extreme inputs: row sums and factorizations
run in the device's own order (on a GPU, parallel reductions), so results agree with the numpy
path to rounding, not bit for bit; matrices whose largest entry lies outside [2^-64, 2^64] are not
rescaled here (`in_safe_range` says so, and the caller uses the numpy path for them).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from qnewton.analysis._validate import SYMMETRY_RTOL
from qnewton.analysis.damping import LambdaMinEstimate, damping_shift, lambda_min_estimate
from qnewton.analysis.kappa import KappaEstimate, _from_log, _rounding_level, log_bound_frobenius, log_bound_trace
from qnewton.analysis.pruning import _aggregate, choose_sparsity, parse_mass_spec
from qnewton.analysis.scaling import SAFE_EXPONENT, binary_exponent
from qnewton.errors import UsageError

#: rows per block in the sparsity rules (bounded temporary memory: block x N entries)
_ROW_BLOCK_ELEMENTS = 1 << 24


def max_abs_t(A: torch.Tensor) -> float:
    """max |A_ij| (0 for an empty tensor)."""
    return float(A.abs().max()) if A.numel() else 0.0


def in_safe_range(top: float) -> bool:
    """True when a largest entry `top` > 0 needs no power-of-two rescaling (numpy path's window)."""
    return top > 0 and math.isfinite(top) and abs(binary_exponent(top)) <= SAFE_EXPONENT


def regularize_t(H: torch.Tensor, eps: float) -> torch.Tensor:
    """(H + H^T) / 2 + eps I in float64 on H's device; one-line UsageError for a non-square,
    non-finite or non-symmetric H (max|H - H^T| > 1e-10 max|H|), as `qnewton.analysis.regularize`."""
    if H.dim() != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise UsageError(f"H: must be a non-empty square matrix, got shape {tuple(H.shape)}")
    A = H.to(torch.float64)
    if not bool(torch.isfinite(A).all()):
        raise UsageError("H: contains NaN or infinite entries")
    top = max_abs_t(A)
    out = A + A.T
    if top > 0:
        defect = float((A - A.T).abs().max()) / top
        if defect > SYMMETRY_RTOL:
            raise UsageError(f"H: must be symmetric (max|A - A^T| / max|A| = {defect:.3g} > {SYMMETRY_RTOL:g})")
    out *= 0.5
    out.diagonal().add_(float(eps))
    return out


def cholesky_t(A: torch.Tensor) -> torch.Tensor | None:
    """Lower Cholesky factor L of A, or None when A is not positive definite in floating point."""
    L, info = torch.linalg.cholesky_ex(A)
    if int(info) != 0:
        return None
    d = L.diagonal()
    if not (bool(torch.isfinite(d).all()) and bool((d > 0).all())):
        return None
    return L


def _shift_t(A: torch.Tensor, mu: float) -> torch.Tensor:
    """A + mu I as a new tensor (no N x N identity built)."""
    out = A.clone()
    out.diagonal().add_(mu)
    return out


def lambda_min_estimate_t(A: torch.Tensor) -> LambdaMinEstimate | None:
    """`qnewton.analysis.damping.lambda_min_estimate` of a symmetric tensor: the same Lanczos run
    (ARPACK, the same start vector) with its products A v on A's device, or below EXACT_MAX_N the
    exact smallest eigenvalue from torch.linalg.eigvalsh."""
    from scipy.sparse.linalg import LinearOperator

    n = A.shape[0]

    def matvec(v: np.ndarray) -> np.ndarray:
        out = A @ torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).reshape(-1), device=A.device)
        return out.cpu().numpy()

    op = LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)
    return lambda_min_estimate(op, exact_eigenvalues=lambda: torch.linalg.eigvalsh(A).cpu().numpy())


def damp_t(A: torch.Tensor, beta_rel: float, max_attempts: int, start: str = "doubling",
           ) -> tuple[torch.Tensor, float, int, torch.Tensor | None, LambdaMinEstimate | None, float]:
    """`qnewton.newton.step.damp_factored` for a matrix already known not to be positive definite:
    (A + mu I, mu, attempts, Cholesky factor of the result or None, lambda_min estimate or None,
    MEASURED seconds of the kept factor's factorization, 0 without one).
    "doubling": mu = 2 mu1, mu1 the first of mu0, 2 mu0, ... that factors (no factor kept);
    "lanczos": mu from the lambda_min estimate (`qnewton.analysis.damping.damping_shift`) and the
    verifying factor kept, doubling from 2 mu if it fails. (A, nan, attempts, None, ...) when no mu
    works. (cholesky_t reads the factorization's status, which waits for the device.)"""
    scale = max_abs_t(A)
    if not math.isfinite(scale):
        return A, math.nan, 1, None, None, 0.0
    beta = beta_rel * scale if scale > 0 else beta_rel
    mu = max(beta, beta - float(A.diagonal().min()))
    first = 2
    estimate = None
    if start == "lanczos":
        estimate = lambda_min_estimate_t(A) if in_safe_range(scale) else None
        if estimate is not None:
            shift = damping_shift(estimate, beta)
            damped = _shift_t(A, shift)
            t = time.perf_counter()
            L = cholesky_t(damped)
            if L is not None:
                return damped, shift, 2, L, estimate, time.perf_counter() - t
            del damped
            mu, first = 2.0 * shift, 3
    for attempt in range(first, max_attempts + 2):
        if cholesky_t(_shift_t(A, mu)) is not None:
            return _shift_t(A, 2.0 * mu), 2.0 * mu, attempt, None, estimate, 0.0
        mu *= 2.0
        if not math.isfinite(mu):
            break
    return A, math.nan, max_attempts + 1, None, estimate, 0.0


def mass_counts_t(A: torch.Tensor, p: float, *, offdiagonal: bool) -> torch.Tensor:
    """Per row: the fewest entries (off-diagonal ones with `offdiagonal`, plus 1 for a nonzero
    diagonal) whose absolute values hold p% of the row's absolute (off-diagonal) sum, as
    `qnewton.analysis.sparsity.p_sparsity` / `pruning.offdiagonal_mass_counts`; int64 on A's device."""
    from qnewton.analysis.sparsity import _RELATIVE_SLACK

    n = A.shape[0]
    step = max(1, _ROW_BLOCK_ELEMENTS // max(n, 1))
    counts = torch.empty(n, dtype=torch.int64, device=A.device)
    frac = p / 100.0
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        block = A[r0:r1].abs()
        diag_nonzero = None
        if offdiagonal:
            idx = torch.arange(r0, r1, device=A.device)
            diag_nonzero = block[idx - r0, idx] != 0
            block[idx - r0, idx] = 0.0
        block, _ = torch.sort(block, dim=1, descending=True)
        csum = torch.cumsum(block, dim=1)
        total = csum[:, -1]
        target = frac * total * (1.0 - _RELATIVE_SLACK)
        c = (csum < target[:, None]).sum(dim=1) + 1
        c[total == 0] = 0
        c = torch.clamp(c, max=n)
        if diag_nonzero is not None:
            c = c + diag_nonzero.to(torch.int64)
        counts[r0:r1] = c
    return counts


def choose_sparsity_t(A: torch.Tensor, spec: int | float | str) -> int:
    """`qnewton.analysis.pruning.choose_sparsity` for a tensor: the mass rules run on A's device;
    an integer or fraction spec needs only N."""
    n = A.shape[0]
    if isinstance(spec, str):
        mass = parse_mass_spec(spec.strip())
        if mass is not None:
            offdiagonal, p, aggregate = mass
            counts = mass_counts_t(A, p, offdiagonal=offdiagonal).cpu().numpy()
            return min(n, _aggregate(counts, aggregate))
    # integers and fractions need only N: the numpy rule on a zero-stride N x N view (no memory)
    return choose_sparsity(np.broadcast_to(np.zeros(1), (n, n)), spec)


def kappa_bound_t(A: torch.Tensor, L: torch.Tensor | None) -> KappaEstimate:
    """The paper's determinant bound (Merikoski et al. 1997, paper Sec. IV-C; formulas in
    `qnewton.analysis.kappa`) of a symmetric A in the safe range: the trace form from the
    Cholesky factor L when A is positive definite (log det A = 2 sum log L_ii), else the
    Frobenius form with log|det A| from an LU factorization (torch.linalg.slogdet)."""
    n = A.shape[0]
    floor = _rounding_level(n)
    details: dict[str, Any] = {"n": n, "symmetric": True, "positive_definite_only": False, "scale_log2": 0,
                               "shared_factorization": L is not None, "device": str(A.device)}
    if L is not None:
        diag = L.diagonal()
        log_det = float(2.0 * torch.log(diag).sum())
        trace = float(A.diagonal().sum())
        singular = float(diag.min()) ** 2 <= floor * float(A.diagonal().max())
        details.update(positive_definite=None if singular else True, definite=None if singular else True,
                       spectrum="undecided" if singular else "positive definite", form="trace", log_det=log_det,
                       trace=trace, reliable=not singular)
        log_k = max(log_bound_trace(n, log_det, trace), 0.0)
        reason = "Merikoski et al. trace-form bound (det and trace); Cholesky factorization succeeded"
        if singular:
            reason += "; NOT reliable: the smallest Cholesky pivot is at the rounding level"
        return KappaEstimate(_from_log(log_k), log_k, "bound", reason, details)
    sign, logabs = torch.linalg.slogdet(A)
    details.update(positive_definite=False, definite=None, spectrum="not positive definite", form="frobenius")
    if float(sign) == 0.0 or not math.isfinite(float(logabs)):
        return KappaEstimate(math.inf, math.inf, "bound", "numerically singular: determinant 0 (LU)",
                             {**details, "reliable": True})
    fro_sq = float((A * A).sum())
    log_k = max(log_bound_frobenius(n, float(logabs), fro_sq), 0.0)
    details.update(log_abs_det=float(logabs), frobenius_sq=fro_sq, reliable=True)
    return KappaEstimate(_from_log(log_k), log_k, "bound",
                         "Merikoski et al. Frobenius-form bound (|det| and ||A||_F); |det| from LU", details)


def exact_kappa_t(A: torch.Tensor) -> float:
    """max|lambda| / min|lambda| of a symmetric A (torch.linalg.eigvalsh); inf if singular."""
    lam = torch.linalg.eigvalsh(A).abs()
    lo = float(lam.min())
    return float(lam.max()) / lo if lo > 0 else math.inf
