"""CircuitSolver: the LinearSolver interface, norms and signs, info fields, size limit."""

import json

import numpy as np
import pytest

from qnewton.errors import UsageError
from qnewton.quantum.examples import random_indefinite, random_spd
from qnewton.solvers.base import LinearSolver
from qnewton.solvers.circuit import CircuitSolver


@pytest.mark.parametrize("method", ["hhl", "qsvt"])
def test_statevector_solve_scaled_system(rng, method):
    # a badly scaled SPD block, as a Hessian block can be: rescaling happens inside
    A = 1e-3 * random_spd(rng, 4, 8.0)
    b = 50.0 * rng.standard_normal(4)
    solver = CircuitSolver(method, "statevector", estimate_resources=False)
    assert isinstance(solver, LinearSolver)
    assert solver.kind == "quantum"
    res = solver.solve(A, b)
    x = np.linalg.solve(A, b)
    assert res.kind == "quantum" and res.method == f"circuit-{method}"
    assert np.linalg.norm(res.x - x) <= 0.05 * np.linalg.norm(x)
    assert res.info["fidelity_vs_classical"] >= 0.99
    assert 0 < res.info["post_selection_rate"] <= 1
    assert res.info["shots"] == 0 and res.info["readout"] == "exact"


def test_info_fields_with_resources_and_decision(rng):
    A = random_spd(rng, 2, 3.0)
    b = rng.standard_normal(2)
    res = CircuitSolver("qsvt", "statevector").solve(A, b)
    info = res.info
    for key in ("qubits", "ecr_count", "depth", "estimated_device_seconds_modeled", "build_seconds_measured",
                "transpile_seconds_measured", "simulate_seconds_measured", "post_selection_rate"):
        assert key in info
    assert info["ecr_count"] > 0
    assert res.modeled_quantum_seconds == pytest.approx(info["estimated_device_seconds_modeled"])
    assert info["modeled_seconds_source"] == "transpiled-circuit"
    json.dumps(info, allow_nan=False)  # goes into the training ledger as is

    from qnewton.newton import Decision

    decision = Decision(solver="quantum", policy="hybrid", n=4, sparsity=4, kappa=3.0, log_kappa=1.1,
                        kappa_method="exact", quantum_seconds=1.5e-6, classical_seconds=1e-3,
                        classical_model="lu", expected_queries=1e3)
    res2 = CircuitSolver("qsvt", "statevector", estimate_resources=False).solve(A, b, decision=decision)
    assert res2.modeled_quantum_seconds == 1.5e-6
    assert res2.info["modeled_seconds_source"] == "scheduler"


@pytest.mark.parametrize("method", ["hhl", "qsvt"])
def test_shots_backend_indefinite_sign(rng, method):
    A = random_indefinite(rng)
    b = rng.standard_normal(4)
    res = CircuitSolver(method, "shots", shots=20000, seed=4, estimate_resources=False).solve(A, b)
    x = np.linalg.solve(A, b)
    assert res.info["shots"] >= 20000
    assert res.x @ x > 0
    assert np.linalg.norm(res.x - x) <= 0.15 * np.linalg.norm(x)


def test_limits_and_validation(rng):
    solver = CircuitSolver("hhl", estimate_resources=False, max_size=4)
    with pytest.raises(UsageError, match="max_size=4"):
        solver.solve(np.eye(5), np.ones(5))
    with pytest.raises(UsageError, match="symmetric"):
        solver.solve(np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2))
    with pytest.raises(UsageError, match="singular"):
        solver.solve(np.zeros((2, 2)) + 1.0, np.ones(2))
    with pytest.raises(UsageError, match="method"):
        CircuitSolver("grover")
    for bad in ({"shots": True}, {"shots": 0}, {"max_size": True}, {"max_size": 0}, {"precision": 1.5}):
        with pytest.raises(UsageError, match=next(iter(bad))):
            CircuitSolver("hhl", **bad)
    with pytest.raises(UsageError, match="size 5 exceeds"):
        solver.build(np.eye(5), np.ones(5))  # build() and solve() share one size check
    zero = solver.solve(np.eye(2), np.zeros(2))
    assert np.all(zero.x == 0)


def test_noisy_sherbrooke_qsvt_2x2():
    A = np.array([[2.0, -0.5], [-0.5, 1.0]])
    b = np.array([1.0, 0.5])
    res = CircuitSolver("qsvt", "noisy-sherbrooke", shots=4000, seed=3).solve(A, b)
    x = np.linalg.solve(A, b)
    # hardware noise: direction still good after post-selection, norm within 20 %
    assert res.info["fidelity_vs_classical"] >= 0.95
    assert np.linalg.norm(res.x) == pytest.approx(np.linalg.norm(x), rel=0.2)
    assert res.info["ecr_count"] > 0 and res.info["estimated_device_seconds_modeled"] > 0


@pytest.mark.slow
def test_noisy_sherbrooke_hhl_norm_is_biased_low():
    """Noise pushes shots out of HHL's success subspace (flag = 1 and clock = 0), so the norm taken
    from the post-selection rate is far too small while the direction stays good (docs/quantum.md)."""
    A = np.array([[2.0, -0.5], [-0.5, 1.0]])
    b = np.array([1.0, 0.5])
    exact = CircuitSolver("hhl", "statevector", estimate_resources=False).solve(A, b)
    noisy = CircuitSolver("hhl", "noisy-sherbrooke", shots=4000, seed=3, estimate_resources=False).solve(A, b)
    assert noisy.info["post_selection_rate"] < 0.5 * exact.info["post_selection_rate"]
    assert noisy.info["fidelity_vs_classical"] >= 0.9


@pytest.mark.parametrize("method", ["hhl", "qsvt"])
def test_largest_default_block_16(rng, method):
    A = random_spd(rng, 16, 10.0)
    b = rng.standard_normal(16)
    res = CircuitSolver(method, estimate_resources=False).solve(A, b)
    assert res.info["fidelity_vs_classical"] >= 0.99
    assert res.info["qubits"] == (13 if method == "hhl" else 6)


def test_memory_check_applies_to_simulators_not_live_devices():
    from qnewton.errors import UsageError
    from qnewton.solvers.circuit import check_memory

    check_memory(20, "statevector")
    for spec in ("statevector", "shots", "noisy-sherbrooke", "fake:fake_sherbrooke"):
        with pytest.raises(UsageError, match="more than backend"):
            check_memory(60, spec)
    check_memory(60, "ibm:ibm_sherbrooke")  # simulated nowhere here: the device's qubits are the limit
