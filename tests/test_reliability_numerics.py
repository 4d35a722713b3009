"""Numerical robustness of the kappa estimators, the solvers and the circuit path.

Extreme but finite inputs (entries near 1e300, 1e-300 or subnormal) must give the same answers
as their rescaled copies, results that cannot be trusted must say so, and every bad input or
option must end in one line and exit code 2 with nothing written on disk.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from qnewton.analysis.kappa import estimate_kappa, lanczos_extremes
from qnewton.analysis.regularize import regularize
from qnewton.analysis.sparsity import p_sparsity
from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver

A4 = np.array([[3.0, -1.0, 0.0, 0.0], [-1.0, 3.0, -1.0, 0.0], [0.0, -1.0, 3.0, -1.0], [0.0, 0.0, -1.0, 3.0]])
B4 = np.array([1.0, 0.0, -1.0, 0.5])
SCALES = (1e-300, 1e-200, 1.0, 1e200, 1e300)


def spd(n: int, kappa: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.geomspace(1.0, kappa, n)) @ Q.T
    return 0.5 * (A + A.T)


def unit_equivalent(M: np.ndarray) -> np.ndarray:
    """M multiplied by the power of two that puts max|M_ij| in [0.5, 1): exact, the same kappa."""
    return np.ldexp(M, -math.frexp(float(np.max(np.abs(M))))[1])


def true_kappa(M: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(unit_equivalent(M))
    return float(lam[-1] / lam[0])


BASE = spd(8, 50.0)
SUBNORMAL = np.diag([3.0, 7.0, 12.0, 20.0, 5.0]) * 5e-324  # exact multiples of the smallest subnormal


def scaled_cases() -> list[tuple[str, np.ndarray]]:
    cases = [(f"x{s:g}", BASE * s) for s in SCALES]
    cases.append(("subnormal", SUBNORMAL))
    return cases


# ----------------------------------------------------------------------------- kappa at extreme scales


@pytest.mark.parametrize("name,M", scaled_cases(), ids=[c[0] for c in scaled_cases()])
def test_exact_matches_eigvalsh_of_the_unit_scale_matrix(name, M):
    est = estimate_kappa(M, "exact")
    assert est.value == pytest.approx(true_kappa(M), rel=1e-10)
    assert est.details["reliable"] is True
    # eigenvalues come back in the caller's units
    assert est.details["lambda_max"] == pytest.approx(float(np.linalg.eigvalsh(unit_equivalent(M))[-1])
                                                      * 2.0 ** math.frexp(float(np.max(np.abs(M))))[1], rel=1e-10)


@pytest.mark.parametrize("name,M", scaled_cases(), ids=[c[0] for c in scaled_cases()])
def test_lanczos_matches_eigvalsh_at_every_scale(name, M):
    truth = true_kappa(M)
    for A in (M, sp.csr_matrix(M), LinearOperator(M.shape, matvec=lambda v, M=M: M @ v, dtype=np.float64)):
        est = estimate_kappa(A, "lanczos")
        assert "converged" in est.reason and "NOT" not in est.reason
        assert est.value <= truth * (1 + 1e-9)  # Ritz values lie inside the spectrum
        assert est.value == pytest.approx(truth, rel=1e-3)
    # the low-level routine reports Ritz values in the caller's units
    ext = lanczos_extremes(LinearOperator(M.shape, matvec=lambda v: M @ v, dtype=np.float64), M.shape[0])
    assert ext["lambda_max"] / ext["lambda_min"] == pytest.approx(truth, rel=1e-3)
    assert ext["failure"] is None


@pytest.mark.parametrize("name,M", scaled_cases(), ids=[c[0] for c in scaled_cases()])
def test_bound_is_scale_invariant_and_above_the_truth(name, M):
    unit = estimate_kappa(unit_equivalent(M), "bound")
    for form in ("trace", "frobenius"):
        est = estimate_kappa(M, "bound", form=form)
        ref = estimate_kappa(unit_equivalent(M), "bound", form=form)
        assert math.isfinite(est.log_value) and not math.isnan(est.value)
        assert est.log_value == pytest.approx(ref.log_value, rel=1e-12)
        assert est.log_value >= math.log(true_kappa(M)) - 1e-12
    assert unit.details["form"] == "trace" and unit.details["positive_definite"] is True


def test_lanczos_at_1e300_on_a_larger_matrix_no_linalg_error():
    M = spd(50, 100.0, seed=1)
    for s in (1e300, 1e-300):
        est = estimate_kappa(M * s, "lanczos")
        assert est.value == pytest.approx(100.0, rel=1e-3)


def test_numerically_singular_input_is_never_called_positive_definite():
    near = np.diag([1.0, 1e-17, 2.0])  # kappa 2e17 > 1 / (16 n u)
    for method in ("bound", "exact"):
        est = estimate_kappa(near, method)
        assert "NOT reliable" in est.reason and est.details["reliable"] is False
        assert "positive definiteness is not established" in est.reason
    lz = estimate_kappa(near, "lanczos")
    assert lz.value == math.inf and "numerically singular" in lz.reason and "undecided" in lz.reason
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    ex = estimate_kappa(singular, "exact")
    assert ex.value == math.inf and "numerically singular" in ex.reason and "not positive definite" not in ex.reason
    # a clearly indefinite matrix is still called so
    assert "not positive definite" in estimate_kappa(np.diag([2.0, -1.0, 3.0]), "exact").reason


def test_matrix_spanning_the_whole_float_range_is_flagged_not_faked():
    mixed = np.diag([1e300, 1e-300, 1.0])  # kappa 1e600: beyond float64
    for method in ("bound", "lanczos", "exact"):
        est = estimate_kappa(mixed, method)
        assert est.value == math.inf and not math.isnan(est.log_value)
        assert "singular" in est.reason or "Cholesky failed" in est.reason


def test_operator_returning_nan_gives_a_reason_not_a_traceback():
    op = LinearOperator((5, 5), matvec=lambda v: np.full(5, np.nan), dtype=np.float64)
    est = estimate_kappa(op, "lanczos")
    assert est.value == math.inf and "NaN" in est.reason and est.details["reliable"] is False


# ----------------------------------------------------------------------------- solvers at extreme scales


@pytest.mark.parametrize("a_scale,b_scale", [(1e-310, 1e-310), (1e300, 1e300), (1.0, 1e300), (1e300, 1.0), (1.0, 1e-310)])
def test_classical_and_emulated_solvers_at_extreme_scales(a_scale, b_scale):
    x_unit = np.linalg.solve(A4, B4)
    expected = x_unit * (b_scale / a_scale)
    res = ClassicalSolver().solve(A4 * a_scale, B4 * b_scale)
    assert res.info["relative_residual"] < 1e-12
    np.testing.assert_allclose(res.x, expected, rtol=1e-9)
    em = EmulatedQLSASolver(epsilon_q=0.0).solve(A4 * a_scale, B4 * b_scale)
    np.testing.assert_allclose(em.x, expected, rtol=1e-9)


def test_classical_solution_beyond_float_range_is_flagged():
    res = ClassicalSolver().solve(A4 * 1e-300, B4 * 1e300)
    assert "overflow" in res.info and not np.all(np.isfinite(res.x))


def test_regularize_and_p_sparsity_near_the_float_maximum():
    H = np.array([[1.7e308, -1.7e308], [-1.7e308, 1.7e308]])
    R = regularize(H, 0.0)
    assert np.all(np.isfinite(R)) and np.array_equal(R, R.T)
    row = np.array([[4.0, 3.0, 2.0, 1.0]])
    for s in (1.0, 4e307, 1e-310):
        assert {p: list(v) for p, v in p_sparsity(row * s).items()} == {p: list(v) for p, v in p_sparsity(row).items()}


# ----------------------------------------------------------------------------- circuit solver at extreme scales


@pytest.mark.parametrize("method", ["hhl", "qsvt"])
@pytest.mark.parametrize("a_scale,b_scale", [(1.0, 1e300), (1.0, 1e-310), (1e300, 1.0), (1e-300, 1.0), (1e300, 1e300)])
def test_circuit_solver_returns_the_solution_at_the_right_scale(method, a_scale, b_scale):
    from qnewton.solvers.circuit import CircuitSolver

    A, b = A4[:2, :2], B4[:2]
    solver = CircuitSolver(method, estimate_resources=False)
    unit = solver.solve(A, b)
    res = solver.solve(A * a_scale, b * b_scale)
    factor = b_scale / a_scale
    np.testing.assert_allclose(res.x / factor, unit.x, rtol=1e-6)
    assert res.info["fidelity_vs_classical"] == pytest.approx(unit.info["fidelity_vs_classical"], abs=1e-9)
    if (a_scale, b_scale) != (1.0, 1.0):
        assert res.info["rescaled_log2"]


def test_state_preparation_and_fidelity_of_extreme_vectors():
    from qnewton.quantum.solver_circuit import fidelity
    from qnewton.quantum.state_prep import state_preparation

    ref = np.asarray(state_preparation(B4).params, dtype=complex)
    for s in (1e300, 1e-310):
        np.testing.assert_allclose(np.asarray(state_preparation(B4 * s).params, dtype=complex), ref, atol=1e-12)
        assert fidelity(B4 * s, B4) == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- bad input table


def _write_inputs(tmp: str) -> None:
    np.save(os.path.join(tmp, "A.npy"), A4)
    np.save(os.path.join(tmp, "b.npy"), B4)
    np.save(os.path.join(tmp, "b_zero.npy"), np.zeros(4))
    np.save(os.path.join(tmp, "b_nan.npy"), np.array([1.0, np.nan, 0.0, 0.0]))
    np.save(os.path.join(tmp, "b_tiny.npy"), B4 * 1e-310)
    np.save(os.path.join(tmp, "A_tiny.npy"), A4 * 1e-310)
    np.save(os.path.join(tmp, "A_huge.npy"), A4 * 1e300)
    np.save(os.path.join(tmp, "A_max.npy"), A4 * 5e307)
    np.save(os.path.join(tmp, "A_nonsym.npy"), A4 + np.triu(np.ones((4, 4)), 1))
    np.save(os.path.join(tmp, "A_singular.npy"), np.ones((4, 4)))
    np.save(os.path.join(tmp, "K_nan.npy"), np.array([[1.0, np.nan], [np.nan, 1.0]]))


def _kappa_option(**options):
    return lambda: estimate_kappa(BASE, "lanczos" if "tol" in options else "bound", **options)


def _nonsymmetric_operator():
    M = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    return estimate_kappa(LinearOperator(M.shape, matvec=lambda v: M @ v, dtype=np.float64), "lanczos")


def _circuit_solver(**kw):
    from qnewton.solvers.circuit import CircuitSolver

    return lambda: CircuitSolver("hhl", **kw)


def _make_executor(**kw):
    from qnewton.quantum.backends import make_executor

    return lambda: make_executor("statevector", **kw)


def _evolution():
    from qnewton.quantum.hamiltonian import evolution_gate

    return evolution_gate(A4 * 1e300, 1.0)


def _inverse_polynomial():
    from qnewton.quantum.inverse_polynomial import inverse_polynomial

    return inverse_polynomial(1e200)


def _qsp_empty():
    from qnewton.quantum.qsp_angles import solve_phases

    return solve_phases([])


SOLVE = ["circuit", "solve", "A.npy", "b.npy", "--no-resources"]

BAD_INPUTS = [
    # case id, argv (CLI) or call (library), message fragment, exit code
    ("kappa-nan-file", ["kappa", "K_nan.npy", "--method", "lanczos"], "NaN or infinite", 2),
    ("circuit-b-zero", ["circuit", "solve", "A.npy", "b_zero.npy"], "b: is the zero vector", 2),
    ("circuit-b-nan", ["circuit", "solve", "A.npy", "b_nan.npy"], "b: contains NaN or infinite", 2),
    ("circuit-x-overflows", ["circuit", "solve", "A_tiny.npy", "b.npy", "--no-resources"], "above the float64 range", 2),
    ("circuit-x-underflows", ["circuit", "solve", "A_huge.npy", "b_tiny.npy", "--no-resources"], "below the float64 range", 2),
    ("circuit-eigenvalues-overflow", ["circuit", "solve", "A_max.npy", "b.npy"], "exceeds the float64 range", 2),
    ("circuit-nonsymmetric", ["circuit", "solve", "A_nonsym.npy", "b.npy"], "must be symmetric", 2),
    ("circuit-singular", ["circuit", "solve", "A_singular.npy", "b.npy"], "singular", 2),
    ("circuit-shots-huge", SOLVE + ["--shots", "1000000000000"], "shots: must be an integer in [1, 1e+08]", 2),
    ("circuit-seed-negative", SOLVE + ["--seed", "-1"], "seed: must be an integer in [0, 2^63 - 1]", 2),
    ("circuit-seed-huge", SOLVE + ["--seed", str(2**64)], "seed: must be an integer in [0, 2^63 - 1]", 2),
    ("circuit-precision-above-1", SOLVE + ["--precision", "2"], "precision: must be a number in (0, 1)", 2),
    ("circuit-precision-nan", SOLVE + ["--precision", "nan"], "precision: must be a number in (0, 1)", 2),
    ("kappa-unknown-option", _kappa_option(tolerance=1e-3), "tolerance: not an option", 2),
    ("kappa-lanczos-tol", _kappa_option(tol=0.0), "tol: must be a number in (0, 1)", 2),
    ("kappa-nonsymmetric-operator", _nonsymmetric_operator, "operator is not symmetric", 2),
    ("kappa-complex", lambda: estimate_kappa(np.eye(2) * (1 + 1j), "exact"), "complex", 2),
    ("regularize-eps-overflow", lambda: regularize(np.diag([1e308, 1.0]), 1e308), "eps: H + eps I overflows", 2),
    ("solver-shots-huge", _circuit_solver(shots=10**9), "shots: must be an integer", 2),
    ("solver-seed-float", _circuit_solver(seed=1.5), "seed: must be an integer", 2),
    ("solver-fidelity-text", _circuit_solver(target_fidelity="0.9"), "target_fidelity: must be a number", 2),
    ("executor-seed-2^63", _make_executor(seed=2**63), "seed: must be an integer in [0, 2^63 - 1]", 2),
    ("evolution-huge-phase", _evolution, "exp(iAt) would have no correct digit", 2),
    ("inverse-polynomial-kappa-1e200", _inverse_polynomial, "needs a polynomial above degree", 2),
    ("qsp-empty-coefficients", _qsp_empty, "coeffs: must be a non-empty", 2),
    ("emulated-nan", lambda: EmulatedQLSASolver().solve(np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2)), "must be finite", 2),
    ("p-sparsity-text", lambda: p_sparsity(np.array([["a", "b"]])), "cannot be read as a float64 matrix", 2),
]


@pytest.mark.parametrize("case,target,fragment,code", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(case, target, fragment, code, tmp_path, monkeypatch, capsys):
    _write_inputs(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    if isinstance(target, list):
        rc = main(target)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert rc == code, err
        assert len(lines) == 1, err
        assert lines[0].startswith("qnewton ") and ": error: " in lines[0]
        message = lines[0]
    else:
        with pytest.raises(UsageError) as info:
            target()
        message = str(info.value)
        assert "\n" not in message
        assert code == 2  # a UsageError is what the CLI turns into exit code 2
    assert fragment in message, message
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
