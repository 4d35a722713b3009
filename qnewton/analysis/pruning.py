"""Symmetric magnitude pruning to an oracle sparsity d (Q-Newton, Sec. IV-D), and choosing d.

The paper's rule: visit the entries of the symmetric matrix by decreasing |value|, keep (i, j)
and (j, i) together, and stop giving entries to a row or column once it holds d. The result is
exactly symmetric with at most d nonzeros per row, and it is greedy: an entry is kept if and only
if, when its turn comes, both its row and its column still have room.

Diagonal (our choice, see docs/cost-model.md): by default (`diagonal="keep"`) every nonzero
diagonal entry is kept and counts toward d. Dropping a diagonal entry of a Hessian plus eps * I
removes the regularization from that row and usually destroys positive definiteness, which both
the Newton step and the condition-number estimate need. `diagonal="compete"` is the paper's
literal reading: diagonal entries take part in the magnitude order like any other entry and use
one slot of their row.

Order: entries are visited by decreasing |value|, equal values in row-major order (smaller i,
then smaller j, over the upper triangle), on both code paths, so results never depend on which
path ran.

Speed, compiled path (numba importable and N >= 1000; `pruning_backend(n)` says which path is
in use; QNEWTON_NO_NUMBA=1 forces the numpy path): `qnewton.analysis._greedy` runs the greedy pass in
bands of decreasing |value|, each band collected by one scan of the still-open rows, sorted as
int64 keys and passed over sequentially (see its docstring). About 0.3 to 3.5 s at N = 10^4
(docs/cost-model.md).

Speed, numpy path: a full sort of the N^2 / 2 entries costs about 4 s at N = 10^4 on two cores,
so this path sorts only candidates, the top m_i off-diagonal entries of every row i (m_i = d
at first), runs the greedy pass over them, and then proves that no skipped entry could have been
kept: a skipped entry (i, j) is no larger than r_i and r_j (the largest skipped entries of rows i
and j), so it is certainly rejected if row i or row j was already full when the greedy pass
reached r_i or r_j (strictly before, because of the tie order). Rows for which this cannot be
shown get m_i doubled and the pass repeats; with m_i >= N - 1 a row has no skipped entries, so
the loop ends and the result always equals the full greedy pass. This path is slow (tens of
seconds at N = 10^4) when every row's largest entries share a few columns.

`row_topk_prune` is the public reference code's per-row top-k rule, kept only for comparison: it
breaks symmetry.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np

from qnewton.analysis._compiled import compiled_kernel
from qnewton.analysis._validate import as_square_float64, require_symmetric
from qnewton.analysis.sparsity import compiled_row_counts, p_sparsity
from qnewton.errors import UsageError

DiagonalMode = Literal["keep", "compete"]
PruneMethod = Literal["symmetric", "row-topk"]
MassAggregate = Literal["max", "mean", "median"]

_BLOCK_ELEMENTS = 4_000_000

# The compiled greedy pass (numba) when available; QNEWTON_NO_NUMBA=1 forces the numpy path.
_compiled_greedy = compiled_kernel("_greedy", "greedy_symmetric")


# Below this N the numpy path is fast (well under a second) and a first call need not pay the
# compiled kernel's one-time JIT compile (about 20 s on this machine; later processes load it from
# numba's on-disk cache in well under a second).
_COMPILED_MIN_N = 1000


def pruning_backend(n: int | None = None) -> str:
    """"numba" when the compiled greedy pass is in use (for an N x N matrix, if n is given),
    "numpy" otherwise."""
    if _compiled_greedy is None or (n is not None and n < _COMPILED_MIN_N):
        return "numpy"
    return "numba"


def _unique_sorted(a: np.ndarray) -> np.ndarray:
    """Sorted unique values (sort based; numpy's hash-based unique is slower on large int arrays)."""
    a = np.sort(a)
    if a.size == 0:
        return a
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _check_d(d: object) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise UsageError(f"d: must be an integer >= 1, got {d!r}")
    if d < 1:
        raise UsageError(f"d: must be >= 1, got {d}")
    return int(d)


def _row_candidates(A: np.ndarray, rows: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-m off-diagonal |entries| of each row in `rows` (nonzero only), in blocks.

    Returns (keys, rows, r): keys = i * N + j of the upper-triangle pairs min(i,j), max(i,j);
    r[k] = the largest off-diagonal |A_ij| of rows[k] outside its top m (0 if none), so every
    skipped off-diagonal entry of that row is <= r[k].
    """
    n = A.shape[0]
    step = max(1, _BLOCK_ELEMENTS // n)
    r = np.zeros(rows.size)
    keys: list[np.ndarray] = []
    for b0 in range(0, rows.size, step):
        sel = rows[b0 : b0 + step]
        block = np.abs(A[sel])
        nb = block.shape[0]
        local = np.arange(nb)
        block[local, sel] = -1.0  # exclude the diagonal from the off-diagonal ranking
        if m >= n - 1:
            top = np.broadcast_to(np.arange(n), (nb, n))
        else:
            part = np.argpartition(block, n - m - 1, axis=1)
            top = part[:, n - m :]
            r[b0 : b0 + nb] = np.maximum(block[local, part[:, n - m - 1]], 0.0)
        li = np.repeat(local, top.shape[1])
        cc = top.reshape(-1)
        ok = block[li, cc] > 0
        rr, cc = sel[li[ok]].astype(np.int64), cc[ok].astype(np.int64)
        keys.append(np.minimum(rr, cc) * n + np.maximum(rr, cc))
    return (np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)), rows, r


class _GreedyPass:
    """The greedy pass over candidate pairs sorted by decreasing |value| (ties: row-major).

    Candidates can be added later; the pass then resumes from the first position where a new
    candidate lands, because everything before it is unchanged.
    """

    def __init__(self, A: np.ndarray, d: int, counts0: np.ndarray) -> None:
        self.A = A
        self.d = d
        self.counts0 = counts0.astype(np.int64)
        self.n = A.shape[0]
        self.I = np.zeros(0, dtype=np.int64)
        self.J = np.zeros(0, dtype=np.int64)
        self.V = np.zeros(0)
        self.kept = np.zeros(0, dtype=bool)
        self.fill = np.where(self.counts0 >= d, np.inf, -np.inf)

    def add_and_run(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Merge candidate pairs (rows[k] <= cols[k], given in row-major order) and rerun the
        pass from the first position where a new candidate lands."""
        vals = np.abs(self.A[rows, cols])
        if self.I.size == 0:
            order = np.lexsort((rows * self.n + cols, -vals))  # |value| descending, ties row-major
            self.I, self.J, self.V = rows[order], cols[order], vals[order]
            self.kept = np.zeros(rows.size, dtype=bool)
            self._run(0, self.counts0.copy())
            return
        if rows.size == 0:
            return
        keys = rows * self.n + cols
        order = np.lexsort((keys, -vals))
        rows, cols, vals, keys = rows[order], cols[order], vals[order], keys[order]
        # insertion points in the (|value| descending, row-major) order; equal values need the key
        at = np.searchsorted(-self.V, -vals, side="left")
        right = np.searchsorted(-self.V, -vals, side="right")
        for k in np.flatnonzero(right > at):
            run = self.I[at[k] : right[k]] * self.n + self.J[at[k] : right[k]]
            at[k] += int(np.searchsorted(run, keys[k]))
        start = int(at.min())
        self.I = np.insert(self.I, at, rows)
        self.J = np.insert(self.J, at, cols)
        self.V = np.insert(self.V, at, vals)
        kept = np.insert(self.kept, at, False)
        kept[start:] = False
        # state of the pass just before position `start`
        ki, kj, kv = self.I[kept], self.J[kept], self.V[kept]
        off = ki != kj
        counts = self.counts0 + np.bincount(ki, minlength=self.n) + np.bincount(kj[off], minlength=self.n)
        fill = np.where(self.counts0 >= self.d, np.inf, -np.inf)
        smallest = np.full(self.n, np.inf)
        np.minimum.at(smallest, ki, kv)
        np.minimum.at(smallest, kj[off], kv[off])
        filled_here = (counts >= self.d) & (self.counts0 < self.d)
        fill[filled_here] = smallest[filled_here]
        self.kept, self.fill = kept, fill
        self._run(start, counts)

    def _run(self, start: int, counts: np.ndarray) -> None:
        d = self.d
        # Entries touching a row that is already full are rejected whatever happens later (rows only
        # fill up): drop them before the Python loop.
        alive = np.flatnonzero((counts[self.I[start:]] < d) & (counts[self.J[start:]] < d))
        c = counts.tolist()
        fill = self.fill.tolist()
        open_rows = sum(1 for x in c if x < d)
        I = self.I[start:][alive].tolist()
        J = self.J[start:][alive].tolist()
        V = self.V[start:][alive].tolist()
        kept = bytearray(len(I))
        for k in range(len(I)):
            if open_rows == 0:
                break
            i = I[k]
            j = J[k]
            if i == j:
                if c[i] < d:
                    c[i] += 1
                    kept[k] = 1
                    if c[i] == d:
                        fill[i] = V[k]
                        open_rows -= 1
                continue
            if c[i] < d and c[j] < d:
                c[i] += 1
                c[j] += 1
                kept[k] = 1
                if c[i] == d:
                    fill[i] = V[k]
                    open_rows -= 1
                if c[j] == d:
                    fill[j] = V[k]
                    open_rows -= 1
        tail = np.zeros(self.I.size - start, dtype=bool)
        tail[alive] = np.frombuffer(bytes(kept), dtype=np.uint8).astype(bool)
        self.kept[start:] = tail
        self.fill = np.asarray(fill, dtype=np.float64)


def _rows_to_expand(A: np.ndarray, r: np.ndarray, fill: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Rows whose skipped entries are not yet ruled out (empty array: the greedy pass is exact).

    Row i is safe if it was full before the pass reached r[i] (strictly larger fill value: an
    entry equal to r[i] may come earlier in the row-major tie order), or it has no skipped
    nonzero entry. A skipped entry (i, j) <= min(r_i, r_j) is certainly rejected by the full
    greedy pass when row i or row j is safe; only skipped entries between two unsafe rows need a look.
    """
    n = A.shape[0]
    safe = (fill > r) | (r <= 0.0)
    unsafe = np.flatnonzero(~safe)
    if unsafe.size < 2:
        return np.zeros(0, dtype=np.int64)
    if unsafe.size > 1024:  # the pairwise check would cost more than expanding them all
        return unsafe
    sub = A[np.ix_(unsafe, unsafe)] != 0
    np.fill_diagonal(sub, False)
    pos = np.full(n, -1, dtype=np.int64)
    pos[unsafe] = np.arange(unsafe.size)
    a, b = pos[keys // n], pos[keys % n]
    both = (a >= 0) & (b >= 0)
    sub[a[both], b[both]] = False
    sub[b[both], a[both]] = False
    return unsafe[sub.any(axis=1)]


def symmetric_prune(A: np.ndarray, d: int, *, diagonal: DiagonalMode = "keep",
                    out: np.ndarray | None = None) -> np.ndarray:
    """Symmetric magnitude pruning (paper Sec. IV-D): at most d nonzeros per row, exactly symmetric.

    A: symmetric float matrix (up to 1e-10 relative rounding; the kept values are taken from the
    upper triangle and mirrored). d: target oracle sparsity, an integer >= 1; diagonal entries
    count toward it. diagonal: "keep" (default, every nonzero diagonal entry kept) or "compete"
    (the paper's literal rule). With diagonal="keep", a row whose diagonal is nonzero holds the
    diagonal plus at most d - 1 off-diagonal entries. out: a writeable C-ordered float64 array of
    A's shape (not A itself) to write the result into instead of a new one (the Newton step reuses
    one from block to block: a fresh 1.2 GiB array costs its page faults again every time).
    """
    d = _check_d(d)
    if diagonal not in ("keep", "compete"):
        raise UsageError(f"diagonal: must be 'keep' or 'compete', got {diagonal!r}")
    arr = as_square_float64(A, "A")
    require_symmetric(arr, "A")
    n = arr.shape[0]
    diag_nonzero = np.diagonal(arr) != 0
    if diagonal == "keep":
        counts = diag_nonzero.astype(np.int64)
    else:
        counts = np.zeros(n, dtype=np.int64)
    if pruning_backend(n) == "numba":
        # band of about 2 * (entries still wanted) per round, between 2^16 and 2^23 entries
        band = int(min(max(n * d, 1 << 16), 1 << 23))
        kept_rows, kept_cols = _compiled_greedy(np.ascontiguousarray(arr), d, counts, diagonal == "compete", band, 0)
    else:
        kept_rows, kept_cols = _greedy_numpy(arr, d, counts, diag_nonzero, diagonal)
    if not (out is not None and out.shape == arr.shape and out.dtype == np.float64 and out.flags.c_contiguous
            and out.flags.writeable and not np.may_share_memory(out, arr)):
        out = np.empty(arr.shape)  # empty + fill: numpy's huge-page path, far fewer page faults than zeros
    out.fill(0.0)
    if diagonal == "keep":
        idx = np.flatnonzero(diag_nonzero)
        out[idx, idx] = arr[idx, idx]
    ki, kj = kept_rows, kept_cols
    vals = arr[ki, kj]  # upper-triangle value, mirrored below: exactly symmetric
    out[ki, kj] = vals
    out[kj, ki] = vals
    return out


def _greedy_numpy(
    arr: np.ndarray, d: int, counts: np.ndarray, diag_nonzero: np.ndarray, diagonal: DiagonalMode
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy pass without numba: candidates per row, verified and expanded (module docstring).
    Returns the kept upper-triangle pairs (rows <= cols)."""
    n = arr.shape[0]
    m = np.full(n, min(d, max(n - 1, 0)), dtype=np.int64)
    keys, _, r = _row_candidates(arr, np.arange(n), int(m[0]))
    keys = _unique_sorted(keys)
    greedy = _GreedyPass(arr, d, counts)
    if diagonal == "compete":
        diag_idx = np.flatnonzero(diag_nonzero)
        greedy.add_and_run(np.concatenate([keys // n, diag_idx]), np.concatenate([keys % n, diag_idx]))
    else:
        greedy.add_and_run(keys // n, keys % n)
    while True:
        expand = _rows_to_expand(arr, r, greedy.fill, keys)
        if expand.size == 0:
            break
        # Give the undecided rows twice as many candidates (all of the row at most) and resume.
        m[expand] = np.minimum(2 * m[expand], n - 1)
        fresh = []
        for value in np.unique(m[expand]):
            group = expand[m[expand] == value]
            k, _, rg = _row_candidates(arr, group, int(value))
            r[group] = rg
            fresh.append(k)
        fresh_keys = _unique_sorted(np.concatenate(fresh))
        pos = np.searchsorted(keys, fresh_keys)
        present = (pos < keys.size) & (keys[np.minimum(pos, keys.size - 1)] == fresh_keys)
        fresh_keys = fresh_keys[~present]
        keys = np.sort(np.concatenate([keys, fresh_keys]))
        greedy.add_and_run(fresh_keys // n, fresh_keys % n)
    return greedy.I[greedy.kept], greedy.J[greedy.kept]


def row_topk_prune(A: np.ndarray, d: int) -> np.ndarray:
    """Per-row top-d by |value| (the public reference code's rule). NOT symmetric in general;
    provided only to compare against `symmetric_prune`."""
    d = _check_d(d)
    arr = as_square_float64(A, "A")
    n = arr.shape[0]
    if d >= n:
        return arr.copy()
    part = np.argpartition(np.abs(arr), n - d, axis=1)[:, n - d :]
    out = np.empty(arr.shape)  # empty + fill: numpy's huge-page path, far fewer page faults than zeros
    out.fill(0.0)
    rows = np.repeat(np.arange(n), d)
    out[rows, part.reshape(-1)] = arr[rows, part.reshape(-1)]
    return out


def prune(A: np.ndarray, d: int, method: PruneMethod = "symmetric", *, diagonal: DiagonalMode = "keep") -> np.ndarray:
    """Dispatch to `symmetric_prune` (default) or the reference rule `row_topk_prune`."""
    if method == "symmetric":
        return symmetric_prune(A, d, diagonal=diagonal)
    if method == "row-topk":
        return row_topk_prune(A, d)
    raise UsageError(f"method: must be 'symmetric' or 'row-topk', got {method!r}")


_MASS_RE = re.compile(r"^mass(?::(?P<p>[0-9.eE+-]+))?(?::(?P<agg>max|mean|median|q[0-9.]+))?$")
_OFFDIAG_MASS_RE = re.compile(
    r"^offdiag-mass(?::(?P<p>[0-9.eE+-]+))?(?::(?P<agg>max|mean|median|q[0-9.]+))?$"
)


def _aggregate(counts: np.ndarray, aggregate: str) -> int:
    """One d from per-row counts: "max", "mean"/"median" (ceil) or "qXX" (ceil of the XX-th
    percentile); at least 1."""
    if aggregate == "max":
        value = float(counts.max(initial=0))
    elif aggregate == "mean":
        value = float(np.mean(counts))
    elif aggregate == "median":
        value = float(np.median(counts))
    elif aggregate.startswith("q"):
        try:
            q = float(aggregate[1:])
        except ValueError:
            raise UsageError(f"aggregate: bad percentile {aggregate!r}") from None
        if not 0 <= q <= 100:
            raise UsageError(f"aggregate: percentile must lie in [0, 100], got {q}")
        value = float(np.percentile(counts, q))
    else:
        raise UsageError(f"aggregate: must be max, mean, median or qXX, got {aggregate!r}")
    return max(1, int(math.ceil(value - 1e-9)))


def mass_rule_sparsity(A: np.ndarray, p: float = 50.0, aggregate: str = "max") -> int:
    """The paper's mass rule (Sec. IV-C): per row, the fewest entries holding p% of the row's
    absolute sum; the per-row numbers become one d by `aggregate`:
    "max" (default: every row can keep its p% set), "mean"/"median" (ceil), or "qXX" (ceil of
    the XX-th percentile). The result is at least 1.

    Applied to a regularized matrix R = H + eps * I this rule mostly measures eps: once eps is
    about the size of a row's off-diagonal sum, the diagonal alone holds p = 50% of that row and
    the row's count is 1, whatever H looks like. `offdiagonal_mass_sparsity` does not have that
    dependence."""
    counts = p_sparsity(A, (p,))[float(p)]  # validates A (real, finite, 2-D)
    return _aggregate(counts, aggregate)


def offdiagonal_mass_counts(A: np.ndarray, p: float = 50.0) -> np.ndarray:
    """Per row i: the fewest OFF-diagonal entries whose absolute values hold p% of the row's
    off-diagonal absolute sum (0 when that sum is 0), plus 1 for a nonzero diagonal entry, which
    symmetric pruning always keeps (`diagonal="keep"`) and which counts toward d.

    Adding eps * I changes only diagonal entries, so the counts of H + eps * I equal those of H
    whenever H's diagonal and H + eps * I's diagonal are both nonzero (or both zero) in each row:
    the rule measures the Hessian's own coupling, not the regularization. Rows are processed in
    blocks (bounded memory)."""
    arr = as_square_float64(A)  # checks finiteness once (nothing for a validated matrix)
    n = arr.shape[0]
    fast = compiled_row_counts(arr, p, offdiagonal=True)  # same counts, selection instead of sorts
    if fast is not None:
        return fast + (np.diagonal(arr) != 0)
    step = max(1, _BLOCK_ELEMENTS // n)
    counts = np.empty(n, dtype=np.int64)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        block = arr[r0:r1].copy()
        idx = np.arange(r0, r1)
        diag_nonzero = block[idx - r0, idx] != 0
        block[idx - r0, idx] = 0.0
        counts[r0:r1] = p_sparsity(block, (p,), known_finite=True)[float(p)] + diag_nonzero
    return counts


def offdiagonal_mass_sparsity(A: np.ndarray, p: float = 50.0, aggregate: str = "max") -> int:
    """The mass rule on the off-diagonal part: d from `offdiagonal_mass_counts` by `aggregate`
    (as in `mass_rule_sparsity`); at least 1. On R = H + eps * I it gives the d of H itself."""
    p = float(p)
    if not (math.isfinite(p) and 0.0 < p <= 100.0):
        raise UsageError(f"p: must lie in (0, 100], got {p}")
    return _aggregate(offdiagonal_mass_counts(A, p), aggregate)


def parse_mass_spec(text: str) -> tuple[bool, float, str] | None:
    """(offdiagonal, P, aggregate) of a "mass[:P[:AGG]]" or "offdiag-mass[:P[:AGG]]" spec (P
    default 50, AGG default "max"), None for any other text; UsageError on a bad percentage."""
    for pattern, offdiagonal in ((_MASS_RE, False), (_OFFDIAG_MASS_RE, True)):
        match = pattern.match(text)
        if match:
            try:
                p = float(match.group("p")) if match.group("p") else 50.0
            except ValueError:
                raise UsageError(f"sparsity: bad mass percentage in {text!r}") from None
            if not (0.0 < p <= 100.0):
                raise UsageError(f"sparsity: mass percentage must lie in (0, 100], got {p}")
            return offdiagonal, p, match.group("agg") or "max"
    return None


def choose_sparsity(A: np.ndarray, spec: int | float | str) -> int:
    """Turn a sparsity spec into one oracle sparsity d (1 <= d <= N).

    spec int >= 1: that d (capped at N). float in (0, 1]: ceil(spec * N). "mass" or "mass:P"
    (optionally "mass:P:AGG" with AGG max|mean|median|qXX): the paper's mass rule at P% (default
    50) on A as given, see `mass_rule_sparsity`. "offdiag-mass", "offdiag-mass:P" or
    "offdiag-mass:P:AGG": the same rule on the off-diagonal entries, plus the diagonal entry
    (`offdiagonal_mass_sparsity`); on a regularized A = H + eps * I it does not depend on eps.
    Strings holding a number are read as that number.
    """
    arr = np.asarray(A)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise UsageError(f"A: must be a non-empty square matrix, got shape {arr.shape}")
    n = arr.shape[0]
    if isinstance(spec, str):
        text = spec.strip()
        mass = parse_mass_spec(text)
        if mass is not None:
            offdiagonal, p, aggregate = mass
            rule = offdiagonal_mass_sparsity if offdiagonal else mass_rule_sparsity
            return min(n, rule(arr, p, aggregate))
        try:
            spec = int(text)
        except ValueError:
            try:
                spec = float(text)
            except ValueError:
                raise UsageError(
                    f"sparsity: expected an integer d, a fraction in (0, 1], 'mass[:P]' or 'offdiag-mass[:P]', got {text!r}"
                ) from None
    if isinstance(spec, bool):
        raise UsageError(f"sparsity: expected an integer or fraction, got {spec!r}")
    if isinstance(spec, (int, np.integer)):
        if spec < 1:
            raise UsageError(f"sparsity: an integer d must be >= 1, got {spec}")
        return int(min(int(spec), n))
    if isinstance(spec, (float, np.floating)):
        if not (math.isfinite(spec) and 0.0 < spec <= 1.0):
            raise UsageError(f"sparsity: a fraction must lie in (0, 1], got {spec}")
        return int(max(1, min(n, math.ceil(spec * n - 1e-9))))
    raise UsageError(f"sparsity: expected int, float or str, got {type(spec).__name__}")
