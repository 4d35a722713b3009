"""p%-sparsity profile of a matrix's rows (Q-Newton, Sec. III-C and Fig. 6).

The p%-sparsity of row i is the fewest entries of that row whose absolute values add up to at
least p% of the row's absolute sum:

    s_p(i) = min { k : sum of the k largest |A_ij| over j >= (p / 100) * sum_j |A_ij| }.

A zero row has p%-sparsity 0. The numpy path sorts each row once (descending |A_ij|) and reads
every requested p off the same cumulative sums, in row blocks so that memory stays bounded. For
matrices of at least COMPILED_MIN_ELEMENTS entries a compiled selection kernel
(`qnewton.analysis._mass`, numba; QNEWTON_NO_NUMBA=1 turns it off) finds each row's count in
expected O(N) instead of a sort, 10-30x faster at N = 12,730; the counts are the same.
The p%-sparsity of a row does not change when the row is multiplied by a constant, so rows whose
largest entry lies outside [2^-64, 2^64] are first multiplied by a power of two (exact): their
sums can neither overflow (entries near 1e308) nor lose digits (subnormal entries).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from qnewton.analysis._compiled import compiled_kernel
from qnewton.analysis._validate import is_validated
from qnewton.analysis.scaling import SAFE_EXPONENT
from qnewton.errors import UsageError

DEFAULT_PERCENTS: tuple[float, ...] = (50.0, 75.0, 90.0, 95.0)

# Cumulative sums in floating point can fall a hair short of p% of the total when the true sum
# reaches it exactly (e.g. p = 100); accept that relative shortfall.
_RELATIVE_SLACK = 1e-12

#: Dense matrices with at least this many entries go to the compiled kernel when numba imports.
COMPILED_MIN_ELEMENTS = 1_000_000

_compiled_counts = compiled_kernel("_mass", "row_counts")


def compiled_row_counts(A: np.ndarray, p: float, *, offdiagonal: bool = False, row0: int = 0) -> np.ndarray | None:
    """Per-row p%-sparsity of the finite 2-D float64 array A from the compiled kernel, or None when
    it is not in use (numba missing, QNEWTON_NO_NUMBA=1, or A below COMPILED_MIN_ELEMENTS).
    offdiagonal: leave out the entry in column row0 + i of row i."""
    if _compiled_counts is None or A.size < COMPILED_MIN_ELEMENTS or A.dtype != np.float64 or A.ndim != 2:
        return None
    return _compiled_counts(A, row0, offdiagonal, float(p) / 100.0, _RELATIVE_SLACK, SAFE_EXPONENT)


def _check_percents(p: Iterable[float] | float) -> tuple[float, ...]:
    values = (p,) if isinstance(p, (int, float, np.integer, np.floating)) else tuple(p)
    if not values:
        raise UsageError("p: give at least one percentage")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise UsageError(f"p: percentages must be numbers, got {v!r}")
        v = float(v)
        if not (math.isfinite(v) and 0.0 < v <= 100.0):
            raise UsageError(f"p: each percentage must lie in (0, 100], got {v!r}")
        out.append(v)
    return tuple(out)


def p_sparsity(
    A: np.ndarray, p: Iterable[float] | float = DEFAULT_PERCENTS, *, block_rows: int | None = None,
    known_finite: bool = False,
) -> dict[float, np.ndarray]:
    """Per-row p%-sparsity for each percentage in `p` (paper Fig. 6).

    A: 2-D array (any shape; each row is profiled on its own), or a scipy.sparse matrix.
    Returns {p: int64 array of length rows}. Vectorized: one sort per row block.
    known_finite: the caller has checked that A is finite (skips that O(size) scan).
    """
    percents = _check_percents(p)
    try:
        import scipy.sparse as sp

        if sp.issparse(A):
            return _p_sparsity_sparse(sp.csr_matrix(A), percents)
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    arr = _as_float_matrix(A)
    if not (known_finite or is_validated(A)) and not np.all(np.isfinite(arr)):
        raise UsageError("A: contains NaN or infinite entries")
    rows, cols = arr.shape
    out = {pc: np.zeros(rows, dtype=np.int64) for pc in percents}
    if rows == 0 or cols == 0:
        return out
    if block_rows is None:
        fast = {pc: compiled_row_counts(arr, pc) for pc in percents}
        if all(v is not None for v in fast.values()):
            return {pc: np.minimum(v, cols) for pc, v in fast.items()}
    step = block_rows or max(1, 8_000_000 // cols)
    fractions = np.array(percents) / 100.0
    for r0 in range(0, rows, step):
        block = np.abs(arr[r0 : r0 + step])
        _rows_to_unit_scale(block)
        block.sort(axis=1)
        block = block[:, ::-1]  # descending
        csum = np.cumsum(block, axis=1)
        total = csum[:, -1]
        for pc, frac in zip(percents, fractions):
            target = frac * total * (1.0 - _RELATIVE_SLACK)
            counts = np.sum(csum < target[:, None], axis=1) + 1
            counts[total == 0] = 0
            out[pc][r0 : r0 + step] = np.minimum(counts, cols)
    return out


def _as_float_matrix(A: Any) -> np.ndarray:
    """A as a 2-D float64 array, or a one-line UsageError (complex, non-numeric, not 2-D)."""
    if np.iscomplexobj(A):
        raise UsageError("A: has complex entries; a real matrix is expected")
    try:
        arr = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"A: cannot be read as a float64 matrix ({str(exc).splitlines()[0]})") from None
    if arr.ndim != 2:
        raise UsageError(f"A: must be a 2-D matrix, got shape {arr.shape}")
    return arr


def _rows_to_unit_scale(block: np.ndarray) -> None:
    """Multiply each row of the non-negative `block` by a power of two that puts its largest
    entry in [0.5, 1), in place, when some row's largest entry lies outside [2^-64, 2^64]."""
    if block.size == 0:
        return
    top = block.max(axis=1)
    exps = np.frexp(top)[1]
    exps[top == 0] = 0
    if np.any(np.abs(exps) > SAFE_EXPONENT):
        block[...] = np.ldexp(block, -exps[:, None])


def _p_sparsity_sparse(A, percents: tuple[float, ...]) -> dict[float, np.ndarray]:
    rows = A.shape[0]
    out = {pc: np.zeros(rows, dtype=np.int64) for pc in percents}
    if np.iscomplexobj(A.data):
        raise UsageError("A: has complex entries; a real matrix is expected")
    data = np.abs(A.data)
    if not np.all(np.isfinite(data)):
        raise UsageError("A: contains NaN or infinite entries")
    for i in range(rows):
        row = np.sort(data[A.indptr[i] : A.indptr[i + 1]])[::-1]
        if row.size == 0:
            continue
        _rows_to_unit_scale(row[np.newaxis, :])  # in place, through the view
        csum = np.cumsum(row)
        total = csum[-1]
        if total == 0:
            continue
        for pc in percents:
            target = pc / 100.0 * total * (1.0 - _RELATIVE_SLACK)
            out[pc][i] = min(int(np.searchsorted(csum, target, side="left")) + 1, row.size)
    return out


def row_nonzeros(A: "np.ndarray | Any") -> np.ndarray:
    """Number of nonzero entries in each row (the oracle sparsity d of a row)."""
    try:
        import scipy.sparse as sp

        if sp.issparse(A):
            csr = sp.csr_matrix(A)
            csr.eliminate_zeros()
            return np.diff(csr.indptr).astype(np.int64)
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(A)
    if arr.ndim != 2:
        raise UsageError(f"A: must be a 2-D matrix, got shape {arr.shape}")
    # in row chunks: count_nonzero makes a boolean copy of what it counts
    step = max(1, (1 << 22) // max(1, arr.shape[1]))
    return np.concatenate([np.count_nonzero(arr[i:i + step], axis=1) for i in range(0, arr.shape[0], step)]
                          or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
