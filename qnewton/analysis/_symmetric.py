"""Compiled kernel for the symmetric part of a large square matrix (`qnewton.analysis.regularize`),
used when numba imports.

One pass over pairs of 64 x 64 tiles (i0 <= j0): for each upper-triangle entry (i, j), j >= i, it
reads a = A_ij and b = A_ji, tracks the symmetry defect max|a - b| and writes (a + b) * 0.5 to
both out_ij and out_ji, the same operations in the same order as the numpy formula, so the entries
are bit for bit those of (A + A^T) / 2 (IEEE addition commutes; the diagonal stays A_ii). It stops
as soon as the defect passes `limit` and returns the defect seen so far.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def symmetric_part(A, out, limit, tile=64):
    """out = (A + A^T) / 2 for a square float64 A; returns the largest |A_ij - A_ji| seen (the scan
    stops early once it exceeds `limit`, out then half-written)."""
    n = A.shape[0]
    worst = 0.0
    for i0 in range(0, n, tile):
        i1 = min(n, i0 + tile)
        for j0 in range(i0, n, tile):
            j1 = min(n, j0 + tile)
            for i in range(i0, i1):
                start = i if j0 == i0 else j0
                for j in range(start, j1):
                    a = A[i, j]
                    b = A[j, i]
                    d = abs(a - b)
                    if d > worst:
                        worst = d
                    v = (a + b) * 0.5
                    out[i, j] = v
                    out[j, i] = v
            if worst > limit:
                return worst
    return worst


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def max_row_abs_sum(A):
    """max_i sum_j |A_ij| (the infinity norm) in one pass over A, with no temporary array; the row
    sums are vectorized (reassociation allowed: the summation order is not fixed, so the last bits
    may differ from numpy's), which is fine for the tolerance it sets."""
    best = 0.0
    for i in range(A.shape[0]):
        s = 0.0
        for j in range(A.shape[1]):
            s += abs(A[i, j])
        if s != s:  # a NaN entry: the norm is NaN
            return s
        if s > best:
            best = s
    return best
