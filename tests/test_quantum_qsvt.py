"""QSVT inversion: the polynomial, the phase solver and the circuit's fidelity."""

import numpy as np
import pytest

from qnewton.quantum.inverse_polynomial import inverse_polynomial
from qnewton.quantum.qsp_angles import _w_response, reflection_phases, reflection_response, solve_phases
from qnewton.quantum.qsvt import build_qsvt
from qnewton.quantum.solver_circuit import exact_readout, fidelity
from qnewton.quantum.examples import random_indefinite as indefinite_4x4
from qnewton.quantum.examples import random_spd


@pytest.mark.parametrize("kappa", [2.0, 10.0, 30.0])
def test_polynomial_is_short_odd_bounded_and_accurate(kappa):
    p = inverse_polynomial(kappa, 1e-2)
    assert p.degree % 2 == 1
    # O(kappa log(kappa/eps)), far below the 2b - 1 = O(kappa^2 log) of the smooth function
    assert p.degree <= 3 * kappa * np.log(kappa / 1e-2) + 10
    assert p.degree < 2 * p.b - 1 or kappa < 3
    xs = np.linspace(-1, 1, 20001)
    assert np.max(np.abs(p(xs))) <= p.max_norm + 1e-6
    np.testing.assert_allclose(p(xs), -p(-xs), atol=1e-12)
    grid = np.linspace(1 / kappa, 1, 2001)
    assert np.max(np.abs(p.scale * grid * p(grid) - 1)) <= 1e-2


def test_phase_solver_reproduces_polynomial():
    p = inverse_polynomial(10.0)
    xs = np.linspace(-1, 1, 501)
    phi = solve_phases(p.coeffs)
    assert len(phi) == p.degree + 1
    np.testing.assert_allclose(_w_response(phi, xs).imag, p(xs), atol=1e-10)
    psi = reflection_phases(p.coeffs)
    np.testing.assert_allclose(reflection_response(psi, xs).real, p(xs), atol=1e-10)


def test_reflection_and_w_conventions_differ_by_i_power_d(rng):
    xs = np.linspace(-0.9, 0.9, 5)
    for d in (1, 3, 5, 6):
        phi = rng.standard_normal(d + 1)
        psi = phi + np.pi / 2
        psi[0] = phi[0] + np.pi / 4
        psi[-1] = phi[-1] + np.pi / 4
        np.testing.assert_allclose(reflection_response(psi, xs), (1j**d) * _w_response(phi, xs), atol=1e-12)


@pytest.mark.parametrize("n", [2, 4, 8])
@pytest.mark.parametrize("kappa", [3.0, 10.0])
def test_qsvt_fidelity_spd(rng, n, kappa):
    A = random_spd(rng, n, kappa)
    b = rng.standard_normal(n)
    sc = build_qsvt(A, b)
    r = exact_readout(sc)
    x = np.linalg.solve(A, b)
    assert fidelity(r.x, x) >= 0.99
    assert np.linalg.norm(r.x) == pytest.approx(np.linalg.norm(x), rel=0.03)
    assert r.x @ x > 0
    assert sc.details["degree"] < 100


def test_qsvt_indefinite(rng):
    A = indefinite_4x4(rng)
    b = rng.standard_normal(4)
    r = exact_readout(build_qsvt(A, b))
    x = np.linalg.solve(A, b)
    assert fidelity(r.x, x) >= 0.99
    assert np.linalg.norm(r.x - x) <= 0.05 * np.linalg.norm(x)


def test_phase_solver_large_degree_and_degree_cap():
    from qnewton.errors import UsageError

    p = inverse_polynomial(100.0)
    assert 500 < p.degree < 1000
    xs = np.linspace(-1, 1, 2001)
    np.testing.assert_allclose(reflection_response(reflection_phases(p.coeffs), xs).real, p(xs), atol=1e-9)
    with pytest.raises(UsageError, match="degree"):
        inverse_polynomial(2000.0)
