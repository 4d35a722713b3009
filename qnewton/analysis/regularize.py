"""Tikhonov regularization of a Hessian, H_reg = H + eps * I (Q-Newton, Sec. V-D).

Adding eps to every eigenvalue lowers the condition number to
(lambda_max + eps) / (lambda_min + eps) for a positive semi-definite H, which is what makes a
quantum linear solver affordable (paper Fig. 8: eps around 1 cuts kappa by about 10^3).
"""

from __future__ import annotations

import math

import numpy as np

from qnewton.analysis._validate import as_square_float64, require_symmetric
from qnewton.errors import UsageError


def regularize(H: np.ndarray, eps: float) -> np.ndarray:
    """Return (H + H^T) / 2 + eps * I as a new float64 array that is exactly symmetric.

    H must be symmetric up to rounding (max|H - H^T| <= 1e-10 max|H|); the symmetric part
    removes that rounding so that the result satisfies R == R.T bit for bit (IEEE addition is
    commutative). eps must be a finite number >= 0, and H + eps I must stay inside the float64
    range (a UsageError names eps or H otherwise).
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
        raise UsageError(f"eps: must be a number, got {eps!r}")
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise UsageError(f"eps: must be finite and >= 0, got {eps!r}")
    A = as_square_float64(H, "H")
    require_symmetric(A, "H")
    with np.errstate(over="ignore"):
        out = A + A.T
        if not np.all(np.isfinite(out)):  # entries near the float64 maximum: halve first (exact)
            out = 0.5 * A + 0.5 * A.T
        else:
            out *= 0.5
        out[np.diag_indices_from(out)] += eps
    if not np.all(np.isfinite(np.diagonal(out))):
        raise UsageError(f"eps: H + eps I overflows float64 (eps = {eps:g}, max|H_ii| = {np.max(np.abs(np.diagonal(A))):.3g})")
    return out
