"""Shared input checks for the analysis functions (one-line `UsageError`s naming the field)."""

from __future__ import annotations

import math
import weakref

import numpy as np

from qnewton.analysis import scaling as _scaling
from qnewton.analysis.scaling import SAFE_EXPONENT, binary_exponent
from qnewton.errors import UsageError

#: Relative tolerance under which a matrix counts as symmetric: max|A - A^T| <= tol * max|A|.
SYMMETRY_RTOL = 1e-10


#: Matrices already known to be square, finite, float64 and exactly symmetric (A == A^T bit for
#: bit), by id, with a weak reference that proves the id still names the same object. Only
#: read-only arrays are entered (`mark_validated`), so their entries cannot change behind the mark.
_VALIDATED: dict[int, "weakref.ref[np.ndarray]"] = {}


def mark_validated(A: np.ndarray) -> np.ndarray:
    """Record that A (a float64 square, finite, exactly symmetric ndarray built by the caller, e.g.
    R = (H + H^T)/2 + eps I) needs no further O(N^2) validation scan, and mark it read-only so
    that the record stays true. Returns A. The Newton step marks each matrix it builds once, and
    every later check of the same object (sparsity, pruning, scheduler, kappa estimate) is O(1)."""
    A.flags.writeable = False
    key = id(A)

    def forget(_ref: object, key: int = key) -> None:
        _VALIDATED.pop(key, None)
        _MAX_ABS.pop(key, None)

    _VALIDATED[key] = weakref.ref(A, forget)
    _MAX_ABS.pop(key, None)
    return A


#: max|A_ij| of validated (read-only) matrices, by id, computed once (`known_max_abs`): the kappa
#: bound, the solvers' power-of-two scaling and the damping rule each ask for it.
_MAX_ABS: dict[int, float] = {}


def known_max_abs(A: object) -> float | None:
    """max|A_ij| of a validated matrix if it was computed before, else None."""
    return _MAX_ABS.get(id(A)) if is_validated(A) else None


def remember_max_abs(A: object, value: float) -> None:
    """Keep max|A_ij| of A when A is a validated (hence read-only) matrix; otherwise do nothing."""
    if is_validated(A):
        _MAX_ABS[id(A)] = float(value)


class _MaxAbsCache:
    """`qnewton.analysis.scaling.max_abs`'s cache of validated matrices."""

    get = staticmethod(known_max_abs)
    put = staticmethod(remember_max_abs)


_scaling.MAX_ABS_CACHE[0] = _MaxAbsCache()


def is_validated(A: object) -> bool:
    """True when A is the very read-only array `mark_validated` recorded."""
    ref = _VALIDATED.get(id(A))
    return ref is not None and ref() is A and isinstance(A, np.ndarray) and not A.flags.writeable


def as_square_float64(A: object, name: str = "A") -> np.ndarray:
    """Return `A` as a float64 2-D square ndarray with finite entries, or raise `UsageError`.

    Complex input is refused rather than silently cast (numpy would drop the imaginary part).
    A matrix recorded by `mark_validated` comes back at once (no scan)."""
    if is_validated(A):
        return A  # type: ignore[return-value]
    if np.iscomplexobj(A):
        raise UsageError(f"{name}: has complex entries; a real matrix is expected")
    try:
        arr = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: cannot be read as a float64 matrix ({exc})") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise UsageError(f"{name}: must be a square matrix, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise UsageError(f"{name}: must not be empty")
    if not (np.isfinite(arr.max()) and np.isfinite(arr.min())):  # NaN propagates through max/min
        raise UsageError(f"{name}: contains NaN or infinite entries")
    return arr


def symmetry_defect(A: np.ndarray, tile: int = 512) -> float:
    """max|A - A^T| / max|A| (0 for the zero matrix), compared tile by tile over the upper
    triangle so that the transposes stay in cache and memory stays bounded."""
    if is_validated(A):
        return 0.0
    n = A.shape[0]
    scale = max(abs(float(A.max())), abs(float(A.min()))) if A.size else 0.0
    if scale == 0.0:
        return 0.0
    # Outside the safe window each tile is compared after an exact power-of-two rescaling: the
    # difference of two entries near the float64 maximum would overflow, and of two subnormal
    # entries would lose its digits.
    e = binary_exponent(scale)
    shift = -e if abs(e) > SAFE_EXPONENT else 0
    worst = 0.0
    for i0 in range(0, n, tile):
        i1 = min(n, i0 + tile)
        for j0 in range(i0, n, tile):
            j1 = min(n, j0 + tile)
            upper, lower = A[i0:i1, j0:j1], A[j0:j1, i0:i1].T
            if shift:
                upper, lower = np.ldexp(upper, shift), np.ldexp(lower, shift)
            diff = np.max(np.abs(upper - lower))
            if diff > worst:
                worst = float(diff)
    return worst / math.ldexp(scale, shift)


def is_symmetric(A: np.ndarray, rtol: float = SYMMETRY_RTOL) -> bool:
    """max|A - A^T| / max|A| <= rtol."""
    return symmetry_defect(A) <= rtol


def require_symmetric(A: np.ndarray, name: str = "A", rtol: float = SYMMETRY_RTOL) -> None:
    """Raise a one-line UsageError naming `name` unless A is symmetric within rtol."""
    defect = symmetry_defect(A)
    if defect > rtol:
        raise UsageError(f"{name}: must be symmetric (max|A - A^T| / max|A| = {defect:.3g} > {rtol:g})")

