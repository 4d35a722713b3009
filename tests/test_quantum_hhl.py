"""HHL: fidelity >= 0.99 against numpy on random SPD (N = 2, 4, 8, kappa <= 10) and an indefinite 4x4;
the post-selection rate recovers the norm and the sign is right."""

import numpy as np
import pytest

from qnewton.errors import UsageError
from qnewton.quantum.hhl import build_hhl, choose_clock_qubits, clock_eigenvalues
from qnewton.quantum.solver_circuit import exact_readout, fidelity


from qnewton.quantum.examples import random_indefinite as indefinite_4x4
from qnewton.quantum.examples import random_spd


@pytest.mark.parametrize("n", [2, 4, 8])
@pytest.mark.parametrize("kappa", [3.0, 10.0])
def test_hhl_fidelity_spd(rng, n, kappa):
    A = random_spd(rng, n, kappa)
    b = rng.standard_normal(n)
    sc = build_hhl(A, b)
    r = exact_readout(sc)
    x = np.linalg.solve(A, b)
    assert fidelity(r.x, x) >= 0.99
    # norm from the post-selection rate, sign from the amplitudes
    assert np.linalg.norm(r.x) == pytest.approx(np.linalg.norm(x), rel=0.05)
    assert r.x @ x > 0
    assert 0 < r.success_probability <= 1


def test_hhl_indefinite(rng):
    A = indefinite_4x4(rng)
    b = rng.standard_normal(4)
    sc = build_hhl(A, b)
    assert sc.details["signed"] is True
    r = exact_readout(sc)
    x = np.linalg.solve(A, b)
    assert fidelity(r.x, x) >= 0.99
    assert np.linalg.norm(r.x - x) <= 0.05 * np.linalg.norm(x)


def test_hhl_padding_non_power_of_two():
    A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    b = np.array([1.0, -2.0, 0.5])
    r = exact_readout(build_hhl(A, b))
    assert r.x.shape == (3,)
    assert fidelity(r.x, np.linalg.solve(A, b)) >= 0.99


def test_clock_size_and_grid():
    assert choose_clock_qubits(10.0, 0.99) == 8
    assert choose_clock_qubits(10.0, 0.99, signed=True) == 9
    assert choose_clock_qubits(100.0, 0.99) > choose_clock_qubits(10.0, 0.99)
    lams = clock_eigenvalues(4, 2 * np.pi * (0.5 - 2**-4), signed=True)
    assert lams[1] > 0 and lams[-1] < 0
    assert max(abs(lams)) == pytest.approx(lams[7]) or lams[7] == pytest.approx(1.0)


def test_hhl_too_few_clock_bits_is_worse(rng):
    A = random_spd(rng, 4, 10.0)
    b = rng.standard_normal(4)
    x = np.linalg.solve(A, b)
    coarse = fidelity(exact_readout(build_hhl(A, b, clock_qubits=2)).x, x)
    fine = fidelity(exact_readout(build_hhl(A, b)).x, x)
    assert fine > coarse


def test_hhl_rejects_singular():
    with pytest.raises(UsageError, match="singular"):
        build_hhl(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([1.0, 0.0]))


def test_bounds_from_kappa_estimate(rng):
    from qnewton.quantum.spectrum import SpectrumBounds

    A = random_spd(rng, 4, 5.0)
    b = rng.standard_normal(4)
    x = np.linalg.solve(A, b)
    # an over-estimate of kappa (as the det/trace bound gives) still works, with a larger clock
    loose = SpectrumBounds.from_kappa(A, 40.0)
    sc = build_hhl(A, b, bounds=loose)
    assert sc.details["clock_qubits"] > build_hhl(A, b).details["clock_qubits"]
    assert fidelity(exact_readout(sc).x, x) >= 0.99
    with pytest.raises(UsageError, match="kappa"):
        SpectrumBounds.from_kappa(A, float("inf"))
