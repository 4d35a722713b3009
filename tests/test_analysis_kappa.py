"""Condition-number estimators against eigvalsh / SVD and an independent high-precision bound."""

import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from qnewton.analysis.kappa import estimate_kappa, kappa_bound
from qnewton.errors import UsageError


def spd_with_spectrum(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = lam.size
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T)


def mp_trace_bound(lam: np.ndarray) -> mpmath.mpf:
    """(1 + y) / (1 - y), y = sqrt(1 - (n / tr)^n det), directly in enough decimal digits."""
    log_t = lam.size * math.log(lam.size / lam.sum()) + np.log(lam).sum()
    with mpmath.workdps(int(-log_t / 2.3) + 60):
        vals = [mpmath.mpf(float(v)) for v in lam]
        n = len(vals)
        tr = mpmath.fsum(vals)
        det = mpmath.fprod(vals)
        y = mpmath.sqrt(1 - (n / tr) ** n * det)
        return (1 + y) / (1 - y)


def test_bound_is_exact_at_n2_symmetric_and_nonsymmetric(rng):
    A = np.array([[1.0, 2.0], [3.0, 4.0]])  # the reference code returns NaN here
    est = estimate_kappa(A, "bound")
    assert est.value == pytest.approx(np.linalg.cond(A), rel=1e-12)
    assert est.value == pytest.approx(14.933034373659268, rel=1e-12)
    assert est.details["form"] == "frobenius"
    for _ in range(20):
        lam = np.sort(rng.uniform(0.01, 10.0, size=2))
        S = spd_with_spectrum(lam, rng)
        true = lam[1] / lam[0]
        for form in ("trace", "frobenius"):
            e = estimate_kappa(S, "bound", form=form)
            assert e.value == pytest.approx(true, rel=1e-9)
            assert e.value >= true


@pytest.mark.parametrize("n", [3, 5, 10, 30, 80])
@pytest.mark.parametrize("kappa", [4.0, 100.0, 1e4])
def test_bound_never_below_truth_and_matches_high_precision(n, kappa, rng):
    lam = np.geomspace(1.0, kappa, n)
    A = spd_with_spectrum(lam, rng)
    true = np.linalg.eigvalsh(A)
    true_kappa = true[-1] / true[0]
    est = estimate_kappa(A, "bound")
    assert est.details["form"] == "trace"
    assert est.log_value >= math.log(true_kappa) - 1e-12
    assert est.log_value == pytest.approx(float(mpmath.log(mp_trace_bound(true))), rel=1e-8)
    fro = estimate_kappa(A, "bound", form="frobenius")
    assert fro.log_value >= math.log(true_kappa) - 1e-12


def test_bound_log_space_at_large_n_no_underflow():
    n = 1500
    lam = np.geomspace(1e-3, 1e-1, n)  # det = 10^(-3000): far below float range
    A = np.diag(lam)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = kappa_bound(A)
    assert np.linalg.det(A) == 0.0  # the naive determinant underflows
    log_t = n * math.log(n / lam.sum()) + np.log(lam).sum()
    y = math.sqrt(-math.expm1(log_t))
    assert est.log_value == pytest.approx(2 * math.log1p(y) - log_t, rel=1e-10)
    assert est.log_value > math.log(100.0)
    assert math.isfinite(est.log_value) and not math.isnan(est.value)


def test_bound_singular_gives_inf_and_indefinite_gets_the_frobenius_form():
    sing = np.array([[1.0, 1.0], [1.0, 1.0]])
    for form in ("auto", "trace", "frobenius"):
        e = estimate_kappa(sing, "bound", form=form)
        assert e.value == math.inf
        assert "singular" in e.reason, (form, e.reason)
    indef = np.diag([2.0, -1.0, 3.0])
    # the trace form needs a positive definite matrix, and so does the narrower reading
    for e in (estimate_kappa(indef, "bound", form="trace"),
              estimate_kappa(indef, "bound", positive_definite_only=True)):
        assert e.value == math.inf and not math.isnan(e.log_value)
        assert "positive definite" in e.reason
    for form in ("auto", "frobenius"):
        e = estimate_kappa(indef, "bound", form=form)
        assert e.details["form"] == "frobenius"
        assert 3.0 - 1e-12 <= e.value < 10.0
        assert e.details["definite"] is False and e.details["spectrum"] == "indefinite"
    zero = np.zeros((3, 3))
    assert estimate_kappa(zero, "bound").value == math.inf


def test_exact_and_lanczos_against_eigvalsh(rng):
    lam = np.geomspace(1.0, 100.0, 300)
    A = spd_with_spectrum(lam, rng)
    exact = estimate_kappa(A, "exact")
    assert exact.value == pytest.approx(100.0, rel=1e-9)
    lz = estimate_kappa(A, "lanczos")
    assert lz.value <= 100.0 * (1 + 1e-9)  # Ritz values lie inside the spectrum
    assert lz.value == pytest.approx(100.0, rel=0.02)
    # matrix-free: a LinearOperator that only knows Hessian-vector products
    op = LinearOperator(A.shape, matvec=lambda v: A @ v, dtype=np.float64)
    lz_op = estimate_kappa(op, "lanczos")
    assert lz_op.value == pytest.approx(lz.value, rel=1e-9)
    # scipy.sparse input
    S = sp.diags(np.linspace(2.0, 50.0, 400))
    assert estimate_kappa(S, "lanczos").value == pytest.approx(25.0, rel=0.02)
    assert estimate_kappa(S, "exact").value == pytest.approx(25.0, rel=1e-12)


def test_exact_nonsymmetric_uses_singular_values():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert estimate_kappa(A, "exact").value == pytest.approx(np.linalg.cond(A), rel=1e-12)


def test_indefinite_is_finite_by_default_and_infinite_when_positive_definiteness_is_required(rng):
    lam = np.concatenate([-np.geomspace(1, 5, 10), np.geomspace(1, 20, 30)])
    A = spd_with_spectrum(lam, rng)
    exact = estimate_kappa(A, "exact")
    assert exact.value == pytest.approx(20.0, rel=1e-9)
    assert exact.details["definite"] is False and exact.details["spectrum"] == "indefinite"
    assert exact.details["negative_eigenvalues"] == 10
    lz = estimate_kappa(A, "lanczos")
    assert lz.value <= 20.0 * (1 + 1e-9) and lz.value == pytest.approx(20.0, rel=1e-3)
    assert lz.details["definite"] is False
    bound = estimate_kappa(A, "bound")
    assert math.isfinite(bound.value) and bound.log_value >= math.log(20.0) - 1e-12
    for method in ("exact", "lanczos", "bound"):
        e = estimate_kappa(A, method, positive_definite_only=True)
        assert e.value == math.inf and "positive definite" in e.reason, method
    assert estimate_kappa(A, "exact", positive_definite_only=True).details["kappa_2"] == pytest.approx(20.0, rel=1e-9)
    with pytest.raises(UsageError, match="positive_definite_only"):
        estimate_kappa(A, "exact", positive_definite_only="yes")


def test_dispatch_errors(rng):
    op = aslinearoperator(np.eye(4))
    with pytest.raises(UsageError, match="method"):
        estimate_kappa(np.eye(3), "power")
    with pytest.raises(UsageError, match="lanczos"):
        estimate_kappa(op, "bound")
    with pytest.raises(UsageError, match="square"):
        estimate_kappa(np.ones((2, 3)), "bound")
    with pytest.raises(UsageError, match="NaN"):
        estimate_kappa(np.array([[1.0, np.nan], [np.nan, 1.0]]), "exact")
    with pytest.raises(UsageError, match="symmetric"):
        estimate_kappa(np.array([[1.0, 2.0], [0.0, 1.0]]) + 5 * np.eye(2), "lanczos")


def test_to_dict_is_json_ready():
    import json

    e = estimate_kappa(np.diag([1.0, -1.0]), "bound", positive_definite_only=True)
    json.dumps(e.to_dict())
    assert e.to_dict()["kappa"] == "inf"
    finite = estimate_kappa(np.diag([1.0, -1.0]), "bound")
    assert json.loads(json.dumps(finite.to_dict()))["details"]["spectrum"] == "indefinite"
