"""Fair comparisons: finite condition numbers for nonsingular indefinite matrices (what a QLSA
needs), the Frobenius bound above the truth for them, and a sparsity rule that measures the
Hessian rather than the eps * I added to it."""

import json
import math

import numpy as np
import pytest

from qnewton.analysis.kappa import estimate_kappa
from qnewton.analysis.pruning import (
    choose_sparsity,
    mass_rule_sparsity,
    offdiagonal_mass_counts,
    offdiagonal_mass_sparsity,
    symmetric_prune,
)
from qnewton.cli import main
from qnewton.errors import UsageError


def symmetric_with_spectrum(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = lam.size
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T)


def kappa_cli(capsys, path, method: str) -> dict:
    assert main(["kappa", str(path), "--method", method, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_kappa_of_an_indefinite_matrix_is_finite_for_every_method(tmp_path, capsys, rng):
    # 12 negative and 28 positive eigenvalues; max|lambda| / min|lambda| = 50
    lam = np.concatenate([-np.geomspace(0.5, 10.0, 12), np.geomspace(0.2, 7.0, 28)])
    A = symmetric_with_spectrum(lam, rng)
    path = tmp_path / "indefinite.npy"
    np.save(path, A)
    eig = np.abs(np.linalg.eigvalsh(A))
    truth = eig.max() / eig.min()
    assert truth == pytest.approx(50.0, rel=1e-9)

    exact = kappa_cli(capsys, path, "exact")
    assert exact["kappa"] == pytest.approx(truth, rel=1e-10)
    assert exact["details"]["definite"] is False and exact["details"]["spectrum"] == "indefinite"

    bound = kappa_cli(capsys, path, "bound")
    assert isinstance(bound["kappa"], float) and math.isfinite(bound["kappa"])
    assert bound["log_kappa"] >= math.log(truth) - 1e-12
    assert bound["details"]["form"] == "frobenius" and bound["details"]["negative_eigenvalues"] == 12

    lanczos = kappa_cli(capsys, path, "lanczos")
    # stated tolerance: a lower estimate within 0.1 % (default tol 1e-3; n = 40 runs to the end)
    assert lanczos["kappa"] <= truth * (1 + 1e-9)
    assert lanczos["kappa"] == pytest.approx(truth, rel=1e-3)
    assert lanczos["details"]["definite"] is False

    # the plain-text form states that the matrix is indefinite
    assert main(["kappa", str(path), "--method", "exact"]) == 0
    assert "indefinite" in capsys.readouterr().out


def test_frobenius_bound_is_never_below_the_exact_value_on_random_indefinite_matrices(rng):
    checked = 0
    for trial in range(60):
        n = int(rng.integers(2, 41))
        M = rng.standard_normal((n, n))
        A = M + M.T
        lam = np.linalg.eigvalsh(A)
        if lam[0] > 0 or lam[-1] < 0:
            continue
        exact = estimate_kappa(A, "exact")
        bound = estimate_kappa(A, "bound")
        assert exact.details["spectrum"] == "indefinite" and exact.finite
        assert bound.finite and bound.details["spectrum"] == "indefinite"
        assert bound.log_value >= exact.log_value - 1e-12, (trial, n, bound.value, exact.value)
        checked += 1
    assert checked >= 50


def test_lanczos_on_a_larger_indefinite_matrix_and_a_matrix_free_operator(rng):
    from scipy.sparse.linalg import LinearOperator

    lam = np.geomspace(1.0, 100.0, 150) * np.where(np.arange(150) % 3 == 0, -1.0, 1.0)
    A = symmetric_with_spectrum(lam, rng)
    for operand in (A, LinearOperator(A.shape, matvec=lambda v: A @ v, dtype=np.float64)):
        est = estimate_kappa(operand, "lanczos")
        assert est.value <= 100.0 * (1 + 1e-9) and est.value == pytest.approx(100.0, rel=1e-3)
        assert est.details["reliable"] is True and est.details["iterations_square"] >= 1
        assert est.details["abs_lambda_min"] == pytest.approx(1.0, rel=1e-3)


def test_negative_definite_is_finite_and_singular_indefinite_stays_infinite(rng):
    neg = symmetric_with_spectrum(-np.geomspace(1.0, 30.0, 20), rng)
    for method in ("exact", "lanczos", "bound"):
        e = estimate_kappa(neg, method)
        assert e.finite and e.details["spectrum"] == "negative definite", method
        assert e.log_value >= math.log(30.0) - 1e-9 if method == "bound" else e.value == pytest.approx(30.0, rel=1e-3)
    singular = np.diag([3.0, -2.0, 0.0, 1.0])
    for method in ("exact", "lanczos", "bound"):
        e = estimate_kappa(singular, method)
        assert e.value == math.inf and "singular" in e.reason, (method, e.reason)


def test_positive_definite_results_are_unchanged_and_say_so(rng):
    A = symmetric_with_spectrum(np.geomspace(1.0, 40.0, 30), rng)
    for method in ("exact", "lanczos", "bound"):
        default = estimate_kappa(A, method)
        narrow = estimate_kappa(A, method, positive_definite_only=True)
        assert default.value == narrow.value
        assert default.details["definite"] is True and default.details["spectrum"] == "positive definite"


# ----------------------------------------------------------------------------- sparsity rule


def banded_hessian(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Hessian-like matrix whose rows each couple to 6 neighbours (values 1, 0.8, 0.6 twice),
    with a small diagonal and small noise elsewhere."""
    H = 1e-3 * rng.standard_normal((n, n))
    for i in range(n):
        for k, v in ((1, 1.0), (2, 0.8), (3, 0.6)):
            j = (i + k) % n
            H[i, j] = H[j, i] = v
    np.fill_diagonal(H, 0.05)
    return 0.5 * (H + H.T)


def test_offdiagonal_mass_rule_gives_the_d_of_h_where_the_mass_rule_gives_1(rng):
    n, eps = 40, 10.0
    H = banded_hessian(n, rng)
    R = H + eps * np.eye(n)
    # the paper's rule on R is dominated by eps * I: every row's diagonal holds over half its mass
    assert choose_sparsity(R, "mass") == 1 == choose_sparsity(R, "mass:50")
    assert choose_sparsity(H, "mass") == 3  # 1 + 1 + 0.8 hold half of H's row mass
    # the off-diagonal rule: 3 off-diagonal entries hold half the off-diagonal mass, + the diagonal
    off_h = H.copy()
    np.fill_diagonal(off_h, 0.0)
    expected = mass_rule_sparsity(off_h, 50.0) + 1
    assert expected == 4
    for spec in ("offdiag-mass", "offdiag-mass:50", "offdiag-mass:50:max"):
        assert choose_sparsity(R, spec) == expected == choose_sparsity(H, spec)
    assert np.array_equal(offdiagonal_mass_counts(R, 50.0), offdiagonal_mass_counts(H, 50.0))
    assert offdiagonal_mass_sparsity(R, 90.0) > expected  # more mass, more entries
    # what the two d do to R: d = 1 leaves a diagonal matrix; the new d keeps half of the coupling
    assert np.count_nonzero(symmetric_prune(R, 1) - np.diag(np.diag(R))) == 0
    P = symmetric_prune(R, expected)
    off_p, off_r = np.abs(P - np.diag(np.diag(P))).sum(axis=1), np.abs(R - np.diag(np.diag(R))).sum(axis=1)
    assert np.all(off_p >= 0.5 * off_r)


def test_offdiagonal_mass_rule_edge_cases_and_bad_specs():
    assert offdiagonal_mass_sparsity(np.eye(5)) == 1  # diagonal only: d = 1 (the diagonal)
    assert list(offdiagonal_mass_counts(np.diag([1.0, 0.0, 2.0]))) == [1, 0, 1]
    assert offdiagonal_mass_sparsity(np.zeros((3, 3))) == 1
    for bad in ("offdiag-mass:0", "offdiag-mass:150", "offdiag-mass:..", "offdiag-mass:50:mode"):
        with pytest.raises(UsageError, match="sparsity|aggregate"):
            choose_sparsity(np.eye(3), bad)
    with pytest.raises(UsageError, match="square"):
        offdiagonal_mass_counts(np.ones((2, 3)))
