"""The emulated QLSA: exact solve, normalized error within eps_q, norm kept, modeled time from the decision."""

import math

import numpy as np
import pytest

from qnewton.solvers.base import LinearSolver
from qnewton.solvers.emulated import EmulatedQLSASolver


def _Dec() -> "Decision":
    """A decision whose modeled seconds are 3.5e-9 (solve + readout), 1e-9 of them the readout."""
    from qnewton.newton import Decision

    return Decision(solver="quantum", policy="quantum-only", n=12, sparsity=12, kappa=10.0, log_kappa=2.3,
                    kappa_method="exact", quantum_seconds=3.5e-9, classical_seconds=1e-6, classical_model="lu",
                    expected_queries=1e3, readout_seconds=1e-9)


def test_error_within_tolerance_and_reproducible(rng):
    M = rng.standard_normal((12, 12))
    A = M @ M.T + 12 * np.eye(12)
    b = rng.standard_normal(12)
    x = np.linalg.solve(A, b)
    s = EmulatedQLSASolver(0.05, seed=1)
    assert isinstance(s, LinearSolver) and s.kind == "quantum"
    errs = []
    for _ in range(50):
        r = s.solve(A, b, _Dec())
        assert np.linalg.norm(r.x) == pytest.approx(np.linalg.norm(x), rel=1e-12)
        errs.append(np.linalg.norm(r.x / np.linalg.norm(r.x) - x / np.linalg.norm(x)))
        assert r.modeled_quantum_seconds == pytest.approx(3.5e-9)
        assert r.measured_seconds > 0
    assert max(errs) <= 0.05 + 1e-12
    assert max(errs) > 0.01  # the error is really there
    s.reseed([1, 2]); a = s.solve(A, b).x
    s.reseed([1, 2]); c = s.solve(A, b).x
    assert np.array_equal(a, c)


def test_zero_tolerance_is_exact_and_indefinite_uses_lu(rng):
    A = np.diag([2.0, -1.0, 4.0])
    b = np.array([1.0, 1.0, 1.0])
    r = EmulatedQLSASolver(0.0).solve(A, b)
    assert np.allclose(r.x, [0.5, -1.0, 0.25], atol=1e-15)
    assert r.info["exact_method"] == "lu"
    assert r.modeled_quantum_seconds == 0.0
    assert math.isfinite(r.measured_seconds)


def test_error_bound_holds_at_large_tolerance(rng):
    # ||u' - u|| = 2 sin(theta/2) must stay <= eps_q over the whole range of theta; drawing theta up to
    # arcsin(eps_q) would exceed eps_q at large eps_q (2 sin(arcsin(0.9)/2) = 1.06).
    A = np.diag(np.linspace(1.0, 3.0, 6))
    b = rng.standard_normal(6)
    u = np.linalg.solve(A, b)
    u /= np.linalg.norm(u)
    s = EmulatedQLSASolver(0.9, seed=3)
    errs = [np.linalg.norm(r.x / np.linalg.norm(r.x) - u) for r in (s.solve(A, b) for _ in range(300))]
    assert max(errs) <= 0.9 + 1e-12
    assert max(errs) > 0.85  # the range is used up to its end


def test_modeled_seconds_count_the_readout_once(rng):
    # the scheduler's Decision.quantum_seconds already holds solve + readout
    from qnewton.costs.classical import LUCostModel
    from qnewton.costs.quantum import QuantumCostModel
    from qnewton.costs.query_time import GateTimeModel
    from qnewton.newton import Scheduler

    A = np.diag(np.linspace(1.0, 4.0, 8))
    q = QuantumCostModel(query_time=GateTimeModel(1e-9), readout="swap-test", readout_precision=0.1)
    d = Scheduler("quantum-only", "exact", q, LUCostModel(1e-9)).decide(A, np.ones(8))
    solve_only = d.extra["quantum_solve_seconds"]
    assert d.readout_seconds == pytest.approx(8 * 100 * solve_only)
    r = EmulatedQLSASolver(0.01, seed=0).solve(A, np.ones(8), d)
    assert r.modeled_quantum_seconds == pytest.approx(solve_only + d.readout_seconds, rel=1e-12)
    assert r.modeled_quantum_seconds == pytest.approx(d.quantum_seconds, rel=1e-12)
