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


def _sample_positions(n: int, compete: bool, n_sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n_sample random upper-triangle positions (i <= j, i < j unless compete); n >= 2 or compete."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, n_sample)
    b = rng.integers(0, n, n_sample)
    si, sj = np.minimum(a, b), np.maximum(a, b)
    if not compete:
        same = si == sj
        up = same & (sj + 1 < n)
        sj[up] += 1
        si[same & ~up] -= 1
    return si, sj


@njit(cache=True)
def _sample_candidates(Ab, d, counts, si, sj, hi):
    """Bit patterns of the sampled positions that are still candidates: both rows open,
    A_ij != 0 and bits(|A_ij|) < hi."""
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
    return svals[:m].copy()


def _band_edge(Ab, d, counts, si, sj, hi, k) -> np.int64:
    """lo (a bit pattern) such that about k of the sampled candidates lie in [lo, hi); 0 when at
    most k candidates are left in the sample (the last band then takes everything)."""
    svals = _sample_candidates(Ab, d, counts, si, sj, hi)
    m = svals.size
    if m == 0 or k >= m:
        return np.int64(0)
    return np.int64(np.partition(svals, m - k)[m - k])


_SHORT_RUN = 32


@njit(cache=True)
def _exact_runs(Ab, keys, c, L, long_runs):
    """Keys sorted ascending agree with the exact order except inside runs of equal top bits:
    put each such run in exact order (larger |value| first, then smaller i * N + j). Runs up to
    _SHORT_RUN long are done here (insertion sort); longer ones are written to long_runs as
    (start, end) pairs for `_exact_long_runs`. Returns the number of long runs."""
    n = Ab.shape[0]
    low = (np.int64(1) << L) - 1
    nlong = 0
    t = 0
    while t < c:
        top = keys[t] >> L
        u = t + 1
        while u < c and (keys[u] >> L) == top:
            u += 1
        r = u - t
        if r > _SHORT_RUN:
            if nlong < long_runs.shape[0]:
                long_runs[nlong, 0] = t
                long_runs[nlong, 1] = u
            nlong += 1
        elif r > 1:
            # insertion sort by (|value| descending, key ascending); the run starts key-ascending
            for q in range(t + 1, u):
                kq = keys[q]
                ijq = kq & low
                bq = Ab[ijq // n, ijq % n] & _MAXPOS
                p = q - 1
                while p >= t:
                    ijp = keys[p] & low
                    bp = Ab[ijp // n, ijp % n] & _MAXPOS
                    if bp >= bq:  # equal values: the earlier (smaller) key stays first
                        break
                    keys[p + 1] = keys[p]
                    p -= 1
                keys[p + 1] = kq
        t = u
    return nlong


def _exact_long_runs(A: np.ndarray, keys: np.ndarray, runs: np.ndarray, L: int) -> None:
    """The long runs of `_exact_runs`, by a stable numpy sort on -|value| (the runs start in
    increasing key order, so equal values stay row-major)."""
    n = A.shape[0]
    low = (1 << L) - 1
    for t, u in runs:
        ij = keys[t:u] & low
        order = np.argsort(-np.abs(A[ij // n, ij % n]), kind="stable")
        keys[t:u] = keys[t:u][order]


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
    Af = np.ascontiguousarray(A, dtype=np.float64)
    Ab = Af.view(np.int64)
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
    long_runs = np.empty((64, 2), dtype=np.int64)
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
        nlong = int(_exact_runs(Ab, band, c, L, long_runs))
        if nlong > long_runs.shape[0]:
            long_runs = np.empty((nlong, 2), dtype=np.int64)
            band.sort()
            nlong = int(_exact_runs(Ab, band, c, L, long_runs))
        _exact_long_runs(Af, band, long_runs[:nlong], L)
        kept, open_rows = _greedy_band(band, c, L, n, d, counts, out_i, out_j, kept, open_rows)
        if lo == 0:
            break
        hi = lo
    return out_i[:kept].copy(), out_j[:kept].copy()
