"""Compiled kernel for the symmetric greedy pruning pass (paper Sec. IV-D), used when numba imports.

The greedy rule visits the upper-triangle entries of a symmetric matrix by decreasing |value|
(ties: row-major, i.e. smaller i, then smaller j) and keeps (i, j) iff row i and row j both hold
fewer than d entries at that moment. This kernel performs exactly that pass without sorting all
N^2 / 2 entries, in rounds over value bands [lo, hi), hi starting at +inf:

1. pick lo from a fixed random sample of upper-triangle positions so that the band holds about
   `batch` candidate entries (entries with both rows still open);
2. scan the open rows once and collect, in row-major order, the entries with lo <= |value| < hi
   whose row and column are both open (an entry touching a full row is rejected whatever
   happens later: counts only grow);
3. sort the band by decreasing |value|, equal values row-major, and run the greedy pass over it
   sequentially; then hi = lo.

Sorting: for |x| >= 0 the IEEE-754 bit pattern, read as an integer, grows with |x|, so one int64
key per entry, (top bits of (2^63 - 1 - bits(|x|))) << L | (i * N + j) with L = bits of N^2,
sorts by decreasing |value| and then row-major; numpy sorts such keys fast. Entries whose
values agree in the kept top bits but differ below them are then put in exact order (value
descending, then row-major) by a pass over the runs of equal top bits.

Every entry of a band is larger than every entry of later bands and equal values share a band,
so the visiting order is exactly the full sort's. The loop ends when every row is full or the
sample holds no candidate left (then lo = 0 and the last band takes all remaining entries).
Cost per round: one read of the open rows' upper triangles (two when the band outgrows its
buffer) plus an integer sort of the band.
"""

from __future__ import annotations

import numpy as np
from numba import njit


_MAXPOS = np.int64(0x7FFFFFFFFFFFFFFF)


@njit(cache=True)
def _collect(Ab, d, counts, shift, lo, hi, keys, L):
    """Keys of the entries (i, j), j >= i + shift, with lo <= bits(|A_ij|) < hi, A_ij != 0 and
    rows i, j open, in row-major order, as far as they fit; returns how many there are.
    Ab: A viewed as int64 (bit patterns)."""
    n = Ab.shape[0]
    cap = keys.size
    c = 0
    for i in range(n):
        if counts[i] >= d:
            continue
        base = i * n
        for j in range(i + shift, n):
            b = Ab[i, j] & _MAXPOS
            if b < hi and b >= lo and b > 0 and counts[j] < d:
                if c < cap:
                    keys[c] = (((_MAXPOS - b) >> L) << L) | (base + j)
                c += 1
    return c


@njit(cache=True)
def _sample_positions(n: int, compete: bool, n_sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n_sample random upper-triangle positions (i <= j, i < j unless compete); n >= 2 or compete."""
    np.random.seed(seed)
    si = np.empty(n_sample, dtype=np.int64)
    sj = np.empty(n_sample, dtype=np.int64)
    for s in range(n_sample):
        a = np.random.randint(0, n)
        b = np.random.randint(0, n)
        if a > b:
            a, b = b, a
        if not compete and a == b:
            if b + 1 < n:
                b += 1
            else:
                a -= 1
        si[s] = a
        sj[s] = b
    return si, sj


@njit(cache=True)
def _band_edge(Ab, d, counts, si, sj, hi, k):
    """lo (a bit pattern) such that about k of the sampled positions that are still candidates
    (both rows open, A_ij != 0, bits(|A_ij|) < hi) lie in [lo, hi); 0 when at most k are left."""
    svals = np.empty(si.size, dtype=np.int64)
    m = 0
    for s in range(si.size):
        a = si[s]
        b = sj[s]
        if counts[a] >= d or counts[b] >= d:
            continue
        x = Ab[a, b] & _MAXPOS
        if x > 0 and x < hi:
            svals[m] = x
            m += 1
    if m == 0 or k >= m:
        return np.int64(0)
    part = np.partition(svals[:m], m - k)
    return part[m - k]


@njit(cache=True)
def _exact_runs(Ab, keys, c, L):
    """Keys sorted ascending agree with the exact order except inside runs of equal top bits:
    put each such run in exact order (larger |value| first, then smaller i * N + j)."""
    n = Ab.shape[0]
    low = (np.int64(1) << L) - 1
    t = 0
    while t < c:
        top = keys[t] >> L
        u = t + 1
        while u < c and (keys[u] >> L) == top:
            u += 1
        r = u - t
        if r > 1:
            bits = np.empty(r, dtype=np.int64)
            for q in range(r):
                ij = keys[t + q] & low
                bits[q] = -(Ab[ij // n, ij % n] & _MAXPOS)
            # the run is in increasing i * N + j order: a stable sort on -bits finishes it
            order = np.argsort(bits, kind="mergesort")
            run = keys[t:u].copy()
            for q in range(r):
                keys[t + q] = run[order[q]]
        t = u


@njit(cache=True)
def _greedy_band(keys, c, L, n, d, counts, out_i, out_j, kept, open_rows):
    """The greedy pass over one sorted band; returns (kept, open_rows)."""
    low = (np.int64(1) << L) - 1
    for t in range(c):
        ij = keys[t] & low
        i = ij // n
        j = ij - i * n
        if counts[i] < d and counts[j] < d:
            counts[i] += 1
            if counts[i] == d:
                open_rows -= 1
            if j != i:
                counts[j] += 1
                if counts[j] == d:
                    open_rows -= 1
            out_i[kept] = i
            out_j[kept] = j
            kept += 1
    return kept, open_rows


def greedy_symmetric(
    A: np.ndarray, d: int, counts0: np.ndarray, compete: bool, batch: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy pass; returns (rows, cols) of the kept upper-triangle entries (rows <= cols),
    in the order they were kept.

    A: C-contiguous float64 symmetric matrix with finite entries (only the upper triangle is
    read). counts0[i]: entries row i already holds (1 for a kept diagonal); diagonal entries
    take part in the order only when compete is True. batch: target band size (entries); seed:
    for the sample of positions that picks the band edges (it changes the bands, never the
    result)."""
    n = A.shape[0]
    Ab = np.ascontiguousarray(A, dtype=np.float64).view(np.int64)
    shift = 0 if compete else 1
    counts = np.array(counts0, dtype=np.int64)
    open_rows = int(np.count_nonzero(counts < d))
    total = n * (n + 1) // 2 if compete else n * (n - 1) // 2
    out_i = np.empty((n * d) // 2 + n + 1, dtype=np.int64)
    out_j = np.empty_like(out_i)
    kept = 0
    if total <= 0 or open_rows == 0:
        return out_i[:0].copy(), out_j[:0].copy()
    L = max(1, int(n * n - 1).bit_length())  # bits of i * N + j
    n_sample = 65536
    si, sj = _sample_positions(n, compete, n_sample, seed)
    k = max(1, int(batch * n_sample / total))  # sampled positions expected in a band of `batch`
    keys = np.empty(max(int(batch), 16), dtype=np.int64)
    hi = _MAXPOS
    while open_rows > 0:
        lo = _band_edge(Ab, d, counts, si, sj, hi, k)
        # collect the band in row-major order; if the sample's estimate was short, the first
        # scan only counts past the buffer's end and a second scan fills a large enough one
        c = int(_collect(Ab, d, counts, shift, lo, hi, keys, L))
        if c > keys.size:
            keys = np.empty(c, dtype=np.int64)
            c = int(_collect(Ab, d, counts, shift, lo, hi, keys, L))
        band = keys[:c]
        band.sort()  # numpy's integer sort (vectorized where the CPU allows)
        _exact_runs(Ab, band, c, L)
        kept, open_rows = _greedy_band(band, c, L, n, d, counts, out_i, out_j, kept, open_rows)
        if lo == 0:
            break
        hi = lo
    return out_i[:kept].copy(), out_j[:kept].copy()
