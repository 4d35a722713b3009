"""p%-sparsity profile (paper Fig. 6) and regularization H + eps I (paper Sec. V-D)."""

import numpy as np
import pytest
import scipy.sparse as sp

from qnewton.analysis.regularize import regularize
from qnewton.analysis import sparsity as sparsity_module
from qnewton.analysis.sparsity import p_sparsity, row_nonzeros
from qnewton.errors import UsageError


def test_p_sparsity_hand_values():
    A = np.array(
        [
            [4.0, -3.0, 2.0, 1.0],  # |sum| 10: 50% -> 4+3 = 7 (2), 75% -> 9 (3), 90% -> 9 (3), 95% -> 4
            [0.0, 0.0, 0.0, 0.0],  # zero row -> 0
            [1.0, 1.0, 1.0, 1.0],  # 50% -> 2, 75% -> 3, 90% -> 4, 95% -> 4
            [0.0, 0.0, 5.0, 0.0],  # one entry holds everything -> 1
        ]
    )
    prof = p_sparsity(A)
    assert set(prof) == {50.0, 75.0, 90.0, 95.0}
    np.testing.assert_array_equal(prof[50.0], [2, 0, 2, 1])
    np.testing.assert_array_equal(prof[75.0], [3, 0, 3, 1])
    np.testing.assert_array_equal(prof[90.0], [3, 0, 4, 1])
    np.testing.assert_array_equal(prof[95.0], [4, 0, 4, 1])
    np.testing.assert_array_equal(p_sparsity(A, 100)[100.0], [4, 0, 4, 1])
    np.testing.assert_array_equal(p_sparsity(A, (30,))[30.0], [1, 0, 2, 1])


def test_p_sparsity_blocks_sparse_and_bruteforce_agree(rng):
    A = rng.standard_normal((57, 40)) * (rng.random((57, 40)) < 0.5)
    dense = p_sparsity(A, (10, 50, 99.5), block_rows=7)
    sparse = p_sparsity(sp.csr_matrix(A), (10, 50, 99.5))
    for p in dense:
        np.testing.assert_array_equal(dense[p], sparse[p])
        for i, row in enumerate(np.abs(A)):
            vals = np.sort(row)[::-1]
            total = vals.sum()
            k = 0 if total == 0 else next(k for k in range(1, vals.size + 1) if vals[:k].sum() >= p / 100 * total * (1 - 1e-12))
            assert dense[p][i] == k


@pytest.mark.skipif(sparsity_module._compiled_counts is None, reason="numba not importable")
@pytest.mark.parametrize("case", ["gaussian", "ties-and-zeros", "huge-and-tiny-rows", "constant", "mostly-zero", "diagonal"])
def test_compiled_counts_equal_the_sorting_path(rng, case):
    """The selection kernel (numba) gives the sorting path's p%-sparsity on every row, plain and
    with the diagonal left out, at the percentages the rules use and at p = 100."""
    n = 1100
    A = rng.standard_normal((n, n))
    if case == "ties-and-zeros":
        A = np.round(A * 2)
    elif case == "huge-and-tiny-rows":
        A[::7] *= 1e80
        A[1::7] *= 1e-90
    elif case == "constant":
        A = np.ones((n, n))
        A[5] = 0.0
    elif case == "mostly-zero":
        A[rng.random((n, n)) < 0.95] = 0.0
    elif case == "diagonal":
        A = 3.0 * np.eye(n)
    off = A.copy()
    np.fill_diagonal(off, 0.0)
    for p in (12.5, 50.0, 75.0, 90.0, 95.0, 100.0):
        fast = sparsity_module.compiled_row_counts(A, p)
        assert fast is not None
        np.testing.assert_array_equal(np.minimum(fast, n), p_sparsity(A, (p,), block_rows=64)[p])
        np.testing.assert_array_equal(sparsity_module.compiled_row_counts(A, p, offdiagonal=True),
                                      p_sparsity(off, (p,), block_rows=64)[p])
    assert sparsity_module.compiled_row_counts(A[:10], 50.0) is None  # small: the sorting path


def test_p_sparsity_validation():
    with pytest.raises(UsageError, match="p"):
        p_sparsity(np.eye(3), (0,))
    with pytest.raises(UsageError, match="p"):
        p_sparsity(np.eye(3), (101,))
    with pytest.raises(UsageError, match="NaN"):
        p_sparsity(np.array([[np.nan]]))
    np.testing.assert_array_equal(row_nonzeros(np.array([[1.0, 0.0], [2.0, 3.0]])), [1, 2])
    np.testing.assert_array_equal(row_nonzeros(sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 3.0]]))), [1, 2])


def test_regularize_exactly_symmetric_and_shifted(rng):
    B = rng.standard_normal((40, 40))
    H = B + B.T
    H[3, 5] += 1e-13  # rounding-level asymmetry is accepted and removed
    R = regularize(H, 0.7)
    assert np.array_equal(R, R.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(R), np.linalg.eigvalsh(0.5 * (H + H.T)) + 0.7, atol=1e-10)
    assert regularize(H, 0).shape == H.shape
    with pytest.raises(UsageError, match="eps"):
        regularize(H, -1.0)
    with pytest.raises(UsageError, match="eps"):
        regularize(H, float("nan"))
    with pytest.raises(UsageError, match="symmetric"):
        regularize(B, 1.0)
    with pytest.raises(UsageError, match="square"):
        regularize(np.ones((2, 3)), 1.0)


@pytest.mark.parametrize("compiled", [True, False])
def test_large_regularize_is_the_plain_formula_bit_for_bit_and_can_reuse_h(rng, monkeypatch, compiled):
    """From 512 rows regularize runs tile by tile (compiled with numba, or numpy tiles): entries
    equal (H + H^T) / 2 + eps I exactly; overwrite=True builds R in H's own memory."""
    from qnewton.analysis import regularize as regularize_module

    if compiled and regularize_module._compiled_symmetric_part is None:
        pytest.skip("numba not importable")
    if not compiled:
        monkeypatch.setattr(regularize_module, "_compiled_symmetric_part", None)
    n = 700
    B = rng.standard_normal((n, n))
    H = B + B.T
    H += 1e-14 * rng.standard_normal((n, n))  # rounding-level asymmetry
    expected = (H + H.T) * 0.5
    expected[np.diag_indices(n)] += 0.3
    R = regularize(H, 0.3)
    assert np.array_equal(R, expected) and np.array_equal(R, R.T) and not np.shares_memory(R, H)
    H2 = H.copy()
    R2 = regularize(H2, 0.3, overwrite=True)
    assert np.array_equal(R2, expected)
    assert np.shares_memory(R2, H2) == compiled
    with pytest.raises(UsageError, match="symmetric"):
        regularize(B, 1.0, overwrite=True)
