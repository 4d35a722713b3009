"""Tikhonov regularization of a Hessian, H_reg = H + eps * I (Q-Newton, Sec. V-D).

Adding eps to every eigenvalue lowers the condition number to
(lambda_max + eps) / (lambda_min + eps) for a positive semi-definite H, which is what makes a
quantum linear solver affordable (paper Fig. 8: eps around 1 cuts kappa by about 10^3).
"""

from __future__ import annotations

import math

import numpy as np

from qnewton.analysis._compiled import compiled_kernel
from qnewton.analysis._validate import SYMMETRY_RTOL, as_square_float64, require_symmetric
from qnewton.analysis.scaling import SAFE_EXPONENT, binary_exponent, max_abs
from qnewton.errors import UsageError


def regularize(H: np.ndarray, eps: float, *, overwrite: bool = False) -> np.ndarray:
    """Return (H + H^T) / 2 + eps * I as a float64 array that is exactly symmetric: a new array,
    or with `overwrite` H's own memory when H is a writable C-contiguous float64 array of at
    least 512 rows and numba imports (no second N x N array; H is then R afterwards, and is left
    partly overwritten when the symmetry check below fails).

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
    top = max_abs(A)
    if A.shape[0] >= _TILED_MIN_N and 0.0 < top and abs(binary_exponent(top)) <= SAFE_EXPONENT:
        return _regularize_tiled(A, eps, top, in_place=overwrite and A is H and A.flags.writeable)
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


# The compiled tile pass (numba) when available; QNEWTON_NO_NUMBA=1 forces the numpy tiles.
_compiled_symmetric_part = compiled_kernel("_symmetric", "symmetric_part")

#: Matrices from this size on are symmetrized tile by tile (`_regularize_tiled`).
_TILED_MIN_N = 512
_TILE = 256


def _regularize_tiled(A: np.ndarray, eps: float, top: float, in_place: bool = False) -> np.ndarray:
    """`regularize` for a matrix whose largest entry lies in the safe window (no overflow or
    underflow in A_ij + A_ji or in their difference): one cache-friendly pass over pairs of
    tiles that checks the symmetry defect max|A_ij - A_ji| and writes (A_ij + A_ji) / 2 to both
    places, instead of separate passes for the check, A + A^T (a strided transpose) and the
    halving. Entries are bit for bit those of the plain formula (IEEE addition commutes). With
    numba the pass is the compiled `qnewton.analysis._symmetric.symmetric_part` (same arithmetic,
    about 5x faster at N = 12,730)."""
    limit = SYMMETRY_RTOL * top
    if _compiled_symmetric_part is not None and A.flags.c_contiguous:
        # in place: each pair (A_ij, A_ji) is read before either is written
        out = A if in_place else np.empty_like(A)
        worst = float(_compiled_symmetric_part(A, out, limit))
    else:
        out = np.empty_like(A)
        worst = _symmetric_part_tiles(A, out, limit)
    if worst > limit:
        raise UsageError(f"H: must be symmetric (max|A - A^T| / max|A| = {worst / top:.3g} > {SYMMETRY_RTOL:g})")
    out[np.diag_indices_from(out)] += eps
    if not np.all(np.isfinite(np.diagonal(out))):
        raise UsageError(f"eps: H + eps I overflows float64 (eps = {eps:g}, max|H_ii| = {np.max(np.abs(np.diagonal(A))):.3g})")
    return out


def _symmetric_part_tiles(A: np.ndarray, out: np.ndarray, limit: float) -> float:
    """out = (A + A^T) / 2 in numpy, pairs of _TILE x _TILE tiles at a time; returns the largest
    |A_ij - A_ji| seen (the scan stops once it exceeds `limit`)."""
    n = A.shape[0]
    worst = 0.0
    for i0 in range(0, n, _TILE):
        i1 = min(n, i0 + _TILE)
        for j0 in range(i0, n, _TILE):
            j1 = min(n, j0 + _TILE)
            upper = A[i0:i1, j0:j1]
            lower_t = A[j0:j1, i0:i1].T
            worst = max(worst, float(np.max(np.abs(upper - lower_t))))
            if worst > limit:
                return worst
            block = out[i0:i1, j0:j1]
            np.add(upper, lower_t, out=block)
            block *= 0.5
            if j0 != i0:
                out[j0:j1, i0:i1] = block.T
    return worst
