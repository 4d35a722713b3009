"""SWAP test and Bell-basis variant: estimates within 4 standard deviations of the exact overlap."""

import numpy as np
import pytest

from qnewton.errors import UsageError
from qnewton.quantum.backends import make_executor
from qnewton.quantum.hhl import build_hhl
from qnewton.quantum.solver_circuit import exact_readout
from qnewton.quantum.swap_test import estimate_overlap, exact_overlap, overlap_circuit, shots_for_precision


@pytest.mark.parametrize("test", ["swap", "bell"])
@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_overlap_within_four_sigma(rng, test, n_qubits):
    ex = make_executor("shots", seed=int(rng.integers(1 << 30)))
    a = rng.standard_normal(2**n_qubits)
    b = a + 0.8 * rng.standard_normal(2**n_qubits)
    exact = exact_overlap(a, b)
    shots = shots_for_precision(0.01, overlap=exact)
    qc = overlap_circuit(a, b, test)
    est = estimate_overlap(ex.run_counts([qc], shots)[0], qc)
    sigma = np.sqrt((1 - exact**2) / est.shots)
    assert abs(est.value - exact) <= 4 * sigma
    assert abs(est.std - sigma) <= 0.5 * sigma + 0.005


@pytest.mark.parametrize("test", ["swap", "bell"])
def test_overlap_with_solver_output_post_selects(test):
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    b = np.array([1.0, 0.3])
    sc = build_hhl(A, b)
    r = exact_readout(sc)
    ref = np.array([1.0, 1.0]) / np.sqrt(2)
    exact = exact_overlap(r.state, ref)
    ex = make_executor("shots", seed=5)
    qc = overlap_circuit(sc, ref, test)
    est = estimate_overlap(ex.run_counts([qc], 20000)[0], qc)
    assert est.success_probability == pytest.approx(r.success_probability, abs=0.02)
    assert abs(est.value - exact) <= 4 * np.sqrt((1 - exact**2) / est.shots)


def test_orthogonal_and_identical_states():
    ex = make_executor("shots", seed=2)
    for a, b, want in [([1, 0], [0, 1], 0.0), ([0.6, 0.8], [0.6, 0.8], 1.0)]:
        qc = overlap_circuit(np.array(a, float), np.array(b, float), "swap")
        assert estimate_overlap(ex.run_counts([qc], 500)[0], qc).value == pytest.approx(want, abs=1e-12)


def test_shots_for_precision():
    assert shots_for_precision(0.01) == 10000
    assert shots_for_precision(0.01, success_probability=0.25) == 40000
    assert shots_for_precision(0.01, overlap=0.9) == 1900
    with pytest.raises(UsageError):
        shots_for_precision(0.0)
