"""Symmetric magnitude pruning (paper Sec. IV-D) and the choice of the oracle sparsity d."""

import numpy as np
import pytest

from qnewton.analysis.pruning import choose_sparsity, mass_rule_sparsity, prune, row_topk_prune, symmetric_prune
from qnewton.errors import UsageError


def greedy_reference(A: np.ndarray, d: int, keep_diagonal: bool) -> np.ndarray:
    """Plain statement of the rule: sort every upper-triangle entry, one pass, no shortcuts."""
    n = A.shape[0]
    out = np.zeros_like(A)
    count = np.zeros(n, dtype=int)
    if keep_diagonal:
        for i in range(n):
            if A[i, i] != 0:
                out[i, i] = A[i, i]
                count[i] = 1
    entries = [(abs(A[i, j]), i, j) for i in range(n) for j in range(i if not keep_diagonal else i + 1, n)]
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    for value, i, j in entries:
        if value == 0:
            continue
        if i == j:
            if count[i] < d:
                out[i, i] = A[i, i]
                count[i] += 1
        elif count[i] < d and count[j] < d:
            out[i, j] = out[j, i] = A[i, j]
            count[i] += 1
            count[j] += 1
    return out


def random_symmetric(n: int, rng, density: float = 1.0) -> np.ndarray:
    B = rng.standard_normal((n, n)) * (rng.random((n, n)) < density)
    return B + B.T


@pytest.mark.parametrize("diagonal", ["keep", "compete"])
def test_matches_plain_greedy_on_random_matrices(diagonal, rng):
    for _ in range(60):
        n = int(rng.integers(1, 30))
        A = random_symmetric(n, rng, density=float(rng.uniform(0.2, 1.0)))
        d = int(rng.integers(1, n + 2))
        got = symmetric_prune(A, d, diagonal=diagonal)
        np.testing.assert_array_equal(got, greedy_reference(A, d, diagonal == "keep"))


def test_larger_matrix_exact_symmetric_at_most_d_per_row(rng):
    n, d = 300, 7
    A = random_symmetric(n, rng)
    P = symmetric_prune(A, d)
    assert np.array_equal(P, P.T)
    assert np.count_nonzero(P, axis=1).max() <= d
    np.testing.assert_array_equal(P, greedy_reference(A, d, True))
    # every kept entry is an entry of A, unchanged
    mask = P != 0
    np.testing.assert_array_equal(P[mask], A[mask])
    # the largest off-diagonal entry always survives (d >= 2 leaves it room next to the diagonal)
    off = np.abs(A - np.diag(np.diag(A)))
    i, j = np.unravel_index(np.argmax(off), off.shape)
    assert P[i, j] == A[i, j] and P[j, i] == A[j, i]


def test_diagonal_policy_keep_preserves_positive_definiteness():
    # large off-diagonal couplings, small diagonal + eps: "compete" drops the diagonal
    A = np.array(
        [
            [0.5, 3.0, 2.0, 0.1],
            [3.0, 0.5, 0.1, 2.5],
            [2.0, 0.1, 0.5, 1.0],
            [0.1, 2.5, 1.0, 0.5],
        ]
    ) + 6.0 * np.eye(4)
    assert np.linalg.eigvalsh(A).min() > 0
    keep = symmetric_prune(A, 2, diagonal="keep")
    np.testing.assert_array_equal(np.diag(keep), np.diag(A))
    assert np.linalg.eigvalsh(keep).min() > 0
    compete = symmetric_prune(A, 1, diagonal="compete")
    assert np.array_equal(compete, compete.T)
    assert np.count_nonzero(compete, axis=1).max() <= 1
    keep1 = symmetric_prune(A, 1, diagonal="keep")
    np.testing.assert_array_equal(keep1, np.diag(np.diag(A)))  # d = 1: the diagonal only


def _tie_heavy(n: int, rng) -> np.ndarray:
    """Small integers: many exactly equal magnitudes, so the tie order (row-major) matters."""
    B = rng.integers(-3, 4, (n, n)).astype(float)
    return B + B.T


@pytest.mark.parametrize("diagonal", ["keep", "compete"])
def test_numpy_fallback_and_compiled_paths_agree(diagonal, rng, monkeypatch):
    from qnewton.analysis import pruning

    if pruning.pruning_backend() != "numba":
        pytest.skip("numba not importable: only the numpy path exists here")
    monkeypatch.setattr(pruning, "_COMPILED_MIN_N", 0)  # the compiled path for small matrices too
    assert pruning.pruning_backend(2) == "numba"
    cases = []
    for t in range(40):
        n = int(rng.integers(2, 60))
        A = _tie_heavy(n, rng) if t % 2 else random_symmetric(n, rng, density=float(rng.uniform(0.2, 1.0)))
        cases.append((A, int(rng.integers(1, n + 2))))
    compiled = [symmetric_prune(A, d, diagonal=diagonal) for A, d in cases]
    monkeypatch.setattr(pruning, "_compiled_greedy", None)
    assert pruning.pruning_backend(2) == "numpy"
    for (A, d), got in zip(cases, compiled):
        fallback = symmetric_prune(A, d, diagonal=diagonal)
        np.testing.assert_array_equal(got, fallback)
        np.testing.assert_array_equal(got, greedy_reference(A, d, diagonal == "keep"))


@pytest.mark.parametrize("diagonal", ["keep", "compete"])
def test_compiled_kernel_bands_never_change_the_result(diagonal, rng):
    """Small bands force many rounds and the buffer-regrow path; the kept set must not move."""
    pytest.importorskip("numba")
    from qnewton.analysis._greedy import greedy_symmetric

    for t in range(14):
        n = int(rng.integers(30, 120))
        A = _tie_heavy(n, rng) if t % 3 == 0 else random_symmetric(n, rng)
        if t % 3 == 2:  # low-rank off-diagonals: every row's largest entries share columns
            u = rng.standard_normal(n)
            A = np.diag(rng.uniform(1, 2, n)) + 5 * np.outer(u, u)
        if t in (4, 9):  # ~100 tie groups of ~50 entries: many long runs of equal values
            n = 110
            B = rng.integers(1, 100, (n, n)).astype(float)
            A = np.triu(B) + np.triu(B, 1).T
        d = int(rng.integers(1, n // 3 + 2))
        counts = (np.diagonal(A) != 0).astype(np.int64) if diagonal == "keep" else np.zeros(n, dtype=np.int64)
        compete = diagonal == "compete"
        want = greedy_reference(A, d, not compete)
        results = []
        for batch, seed in ((16, 0), (50, 1), (500, 2), (10**6, 3)):
            ki, kj = greedy_symmetric(A, d, counts, compete, batch, seed)
            assert np.all(ki <= kj)
            P = np.zeros_like(A)
            if not compete:
                P[np.diag_indices(n)] = np.diag(A)
            P[ki, kj] = A[ki, kj]
            P[kj, ki] = A[ki, kj]
            np.testing.assert_array_equal(P, want)
            results.append((ki, kj))
        for ki, kj in results[1:]:  # same entries kept in the same (greedy) order
            np.testing.assert_array_equal(ki, results[0][0])
            np.testing.assert_array_equal(kj, results[0][1])


def test_public_api_paths_agree_on_a_low_rank_matrix_at_n_1200(rng, monkeypatch):
    """N above the compiled-path threshold, every row's largest entries in the same columns
    (the benchmark's hard case): the compiled and numpy paths keep the same entries."""
    from qnewton.analysis import pruning

    if pruning.pruning_backend(1200) != "numba":
        pytest.skip("numba not importable")
    n = 1200
    U = rng.standard_normal((n, 3)) * np.array([3.0, 1.0, 0.3])
    A = U @ U.T + np.diag(rng.uniform(1.0, 2.0, n))
    A = 0.5 * (A + A.T)
    results = {}
    for d in (12, 120):
        P = symmetric_prune(A, d)
        assert np.array_equal(P, P.T)
        assert np.count_nonzero(P, axis=1).max() <= d
        np.testing.assert_array_equal(np.diag(P), np.diag(A))
        results[d] = P
    monkeypatch.setattr(pruning, "_compiled_greedy", None)
    for d, P in results.items():
        np.testing.assert_array_equal(P, symmetric_prune(A, d))


def test_row_topk_reference_rule_breaks_symmetry():
    A = np.array([[0.0, 5.0, 4.0], [5.0, 0.0, 1.0], [4.0, 1.0, 0.0]])
    R = row_topk_prune(A, 1)
    assert not np.array_equal(R, R.T)  # row 2 keeps (2, 0); row 0 keeps (0, 1) only
    S = prune(A, 1, "symmetric")
    assert np.array_equal(S, S.T)
    with pytest.raises(UsageError, match="method"):
        prune(A, 1, "bogus")


def test_prune_input_errors():
    with pytest.raises(UsageError, match="symmetric"):
        symmetric_prune(np.array([[1.0, 2.0], [0.0, 1.0]]), 1)
    with pytest.raises(UsageError, match="d"):
        symmetric_prune(np.eye(3), 0)
    with pytest.raises(UsageError, match="d"):
        symmetric_prune(np.eye(3), True)
    with pytest.raises(UsageError, match="diagonal"):
        symmetric_prune(np.eye(3), 1, diagonal="drop")


def test_choose_sparsity_specs():
    # rows with decreasing magnitudes; row 0 holds 50% in 2 entries, row 3 needs 3
    A = np.array(
        [
            [4.0, 3.0, 2.0, 1.0],
            [3.0, 10.0, 0.0, 0.0],
            [2.0, 0.0, 1.0, 1.0],
            [1.0, 0.0, 1.0, 1.0],
        ]
    )
    assert choose_sparsity(A, 2) == 2
    assert choose_sparsity(A, 99) == 4
    assert choose_sparsity(A, 0.5) == 2
    assert choose_sparsity(A, 0.3) == 2  # ceil(1.2)
    assert choose_sparsity(A, 1.0) == 4
    assert choose_sparsity(A, "3") == 3
    assert choose_sparsity(A, "0.25") == 1
    # 50% per row: [2, 1, 1 (2 of 4), 2 (1.5 of 3)] -> max 2
    assert choose_sparsity(A, "mass") == 2
    assert choose_sparsity(A, "mass:50") == 2
    assert choose_sparsity(A, "mass:50:median") == 2
    assert choose_sparsity(A, "mass:95") == 4
    assert mass_rule_sparsity(A, 50.0, "mean") == 2  # ceil(1.5)
    for bad in (0, -1, 1.5, 0.0, "mass:0", "mass:150", "banana", True):
        with pytest.raises(UsageError):
            choose_sparsity(A, bad)
