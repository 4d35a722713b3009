"""Counts-only readout: norm from post-selection, magnitudes from counts, signs from overlap tests."""

import numpy as np
import pytest

from qnewton.quantum.backends import make_executor
from qnewton.quantum.examples import random_indefinite, random_spd
from qnewton.quantum.hhl import build_hhl
from qnewton.quantum.qsvt import build_qsvt
from qnewton.quantum.readout import distribution_from_counts, estimate_solution
from qnewton.quantum.solver_circuit import exact_readout, fidelity


def test_distribution_matches_statevector(rng):
    A = random_spd(rng, 4, 4.0)
    b = rng.standard_normal(4)
    sc = build_qsvt(A, b)
    r = exact_readout(sc)
    counts = make_executor("shots", seed=9).run_counts([sc.measured()], 40000)[0]
    p, q, good = distribution_from_counts(sc, counts)
    assert p == pytest.approx(r.success_probability, abs=4 * np.sqrt(p * (1 - p) / 40000) + 1e-3)
    np.testing.assert_allclose(q, r.state**2, atol=0.03)


@pytest.mark.parametrize("build", [build_hhl, build_qsvt])
@pytest.mark.parametrize("test", ["swap", "bell"])
def test_signs_recovered_spd_and_indefinite(rng, build, test):
    ex = make_executor("shots", seed=int(rng.integers(1 << 30)))
    cases = [(random_spd(rng, 4, 5.0), "spd"), (random_indefinite(rng), "residual")]
    for A, rule in cases:
        b = rng.standard_normal(4)
        x = np.linalg.solve(A, b)
        est = estimate_solution(build(A, b), ex, 20000, b=b, A=A, test=test, global_sign=rule)
        big = np.abs(x) > 0.1 * np.abs(x).max()
        assert np.all(np.sign(est.x[big]) == np.sign(x[big]))
        assert fidelity(est.x, x) >= 0.98
        assert np.linalg.norm(est.x - x) <= 0.15 * np.linalg.norm(x)


def test_precision_tops_up_shots(rng):
    A = random_spd(rng, 4, 5.0)
    b = rng.standard_normal(4)
    inner = make_executor("shots", seed=3)
    calls = []

    class Recording:
        name, target = "rec", None

        def run_counts(self, circuits, shots):
            calls.append(shots)
            return inner.run_counts(circuits, shots)

    sc = build_qsvt(A, b)
    est = estimate_solution(sc, Recording(), 1000, b=b, precision=0.02)
    assert calls[0] == 1000
    # top-up so that the basis circuit has about 1 / (0.02^2 p) shots in all
    assert calls[0] + calls[1] == pytest.approx(1 / (0.02**2 * est.success_probability), rel=0.3)
    assert est.total_shots == sum(calls)
    x = np.linalg.solve(A, b)
    assert np.linalg.norm(est.x - x) <= 0.1 * np.linalg.norm(x)
