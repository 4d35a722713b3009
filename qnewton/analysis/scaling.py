"""Exact power-of-two rescaling that keeps extreme but finite matrices and vectors in float64 range.

Condition numbers, eigenvector directions and normalized states do not change when a matrix or
vector is multiplied by a constant, but sums of squares, norms, determinants and products of
entries near 1e300 overflow and those of entries near 1e-300 (or subnormal ones) underflow.
Multiplying by a power of two is exact for every entry that stays in the normal range, so the
numerical code in `qnewton.analysis`, `qnewton.quantum` and `qnewton.solvers` brings its input
to unit scale this way, works there, and multiplies results back by the same power of two.
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np

#: Arrays whose largest entry lies in [2^-SAFE_EXPONENT, 2^SAFE_EXPONENT] are used as they are
#: (`power_of_two_scaled`); inside that window no sum of squares of up to 2^60 entries, no
#: product of two entries and no determinant computed in log space can overflow or underflow.
SAFE_EXPONENT = 64


def binary_exponent(x: float) -> int:
    """e with |x| = m 2^e, 0.5 <= m < 1 (math.frexp; subnormal x included). 0 for x = 0."""
    return math.frexp(float(x))[1] if x else 0


def max_abs(a: np.ndarray) -> float:
    """max |a_i| without a temporary |a| array (0.0 for an empty array). For a matrix the Newton
    step validated (read-only, `qnewton.analysis._validate.mark_validated`) the value is computed
    once and remembered (through the cache that module installs in `MAX_ABS_CACHE`)."""
    if a.size == 0:
        return 0.0
    cache = MAX_ABS_CACHE[0]
    known = cache.get(a) if cache is not None else None
    if known is not None:
        return known
    value = max(abs(float(a.max())), abs(float(a.min())))
    if cache is not None:
        cache.put(a, value)
    return value


#: [cache or None]: an object with get(a) -> float | None and put(a, value), installed by
#: `qnewton.analysis._validate` (which imports this module, so this one cannot import it).
MAX_ABS_CACHE: list[Any] = [None]


def power_of_two_scaled(a: np.ndarray, *, window: int = SAFE_EXPONENT, always: bool = False) -> tuple[np.ndarray, int]:
    """(a 2^-e, e) with max|a 2^-e| in [0.5, 1), or (a, 0) when max|a| already lies in
    [2^-window, 2^window] (unless `always`) or a is zero. `a` must be a finite float array.

    Entries more than 2^1021 below the largest one (far below its rounding level) may lose
    digits or become 0 when the array is scaled down; everything else is exact. Code that only
    needs to stay clear of overflow in a factorization (not in sums of squares) passes a wider
    window, which leaves such widely spread matrices untouched.
    """
    e = binary_exponent(max_abs(a))
    if e == 0 or (not always and -window <= e <= window):
        return a, 0
    return np.ldexp(a, -e), e


def to_scale(x: float, e: int) -> float:
    """x 2^e as a float: exact unless the result leaves float64 range (then inf, or a subnormal
    number or 0); no warning, no exception."""
    if not e or not math.isfinite(x):
        return float(x)
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(float(x), e))


def stable_norm(v: np.ndarray) -> float:
    """||v||_2 without overflow or underflow: computed on v / 2^e and multiplied back (inf only
    when the norm itself exceeds the float64 maximum)."""
    arr = np.asarray(v).ravel()
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    scaled, e = power_of_two_scaled(np.asarray(arr, dtype=np.float64))
    return to_scale(float(np.linalg.norm(scaled)), e)


def unit_vector(v: np.ndarray) -> np.ndarray:
    """v / ||v||_2 for a finite nonzero vector at any scale (real or complex; v is scaled to
    unit size by a power of two before its norm is taken)."""
    arr = np.asarray(v).ravel()
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    e = binary_exponent(top)
    scaled = np.ldexp(arr.real, -e) + 1j * np.ldexp(arr.imag, -e) if np.iscomplexobj(arr) else np.ldexp(arr, -e)
    return scaled / np.linalg.norm(scaled)
