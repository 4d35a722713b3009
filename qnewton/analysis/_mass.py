"""Compiled kernel for the per-row p%-sparsity (paper Sec. III-C, IV-C), used when numba imports.

For each row the p%-sparsity is the smallest k such that the k largest |A_ij| add up to at least
the target t = (p / 100) * (sum_j |A_ij|) * (1 - 1e-12) (`qnewton.analysis.sparsity`). The numpy
path sorts every row; this kernel finds k by selection instead, in expected O(N) per row:

    keep a working set W (at first the row's nonzero |entries|) and the sum s and count c of the
    entries already known to be among the top k; pick a pivot v in W (median of three) and split
    W into G (> v), E (== v) and L (< v). If s + sum(G) >= t the top set lies inside G: W = G.
    Otherwise all of G is in it, then copies of v one at a time until the sum reaches t (answer
    c + |G| + m); if all of E is not enough, s and c take G and E in and W = L.

Pivots are medians of three; the split writes both buffers and advances the matching one
(no branch to mispredict). Equal values are interchangeable, so ties need no order. The answer equals the sorting path's
except where a partial sum lies within rounding (about N * 1e-16 relative) of t, which the
1e-12 slack in t keeps away from real inputs: the sums are taken in another order. Rows whose
largest entry lies outside [2^-64, 2^64] are first scaled by a power of two (exact), as on the
numpy path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _row_count(row, skip, frac, slack, safe_exp, w, g, low):
    """p%-sparsity of one row (|entries| of `row`, column `skip` left out when >= 0); w, g, low:
    scratch buffers of the row's length."""
    n = row.shape[0]
    m = 0
    top = 0.0
    for j in range(n):
        if j == skip:
            continue
        x = abs(row[j])
        if x > 0.0:
            w[m] = x
            m += 1
            if x > top:
                top = x
    if m == 0:
        return 0
    e = math.frexp(top)[1]
    if e > safe_exp or e < -safe_exp:
        for k in range(m):
            w[k] = math.ldexp(w[k], -e)
    total = 0.0
    for k in range(m):
        total += w[k]
    t = frac * total * (1.0 - slack)
    s = 0.0
    c = 0
    while m > 0:
        a = w[0]
        b = w[m // 2]
        z = w[m - 1]
        if a > b:
            a, b = b, a
        if b > z:
            b = z
        v = a if a > b else b  # median of the three
        ng = 0
        nl = 0
        ne = 0
        sg = 0.0
        for k in range(m):  # branch-free: write both buffers, advance the matching one
            x = w[k]
            gt = x > v
            lt = x < v
            g[ng] = x
            low[nl] = x
            ng += gt
            nl += lt
            sg += x if gt else 0.0
        ne = m - ng - nl
        if s + sg >= t:
            w, g = g, w
            m = ng
            continue
        s += sg
        c += ng
        for _ in range(ne):
            s += v
            c += 1
            if s >= t:
                return c
        w, low = low, w
        m = nl
    return c if c > 0 else 1


@njit(cache=True)
def row_counts(A, r0, offdiagonal, frac, slack, safe_exp):
    """p%-sparsity of every row of the 2-D array A (rows r0, r0 + 1, ... of the whole matrix:
    with `offdiagonal` the entry in column r0 + i of row i is left out)."""
    rows, cols = A.shape
    out = np.zeros(rows, dtype=np.int64)
    w = np.empty(cols)
    g = np.empty(cols)
    low = np.empty(cols)
    for i in range(rows):
        out[i] = _row_count(A[i], r0 + i if offdiagonal else -1, frac, slack, safe_exp, w, g, low)
    return out
