"""Backends: spec parsing, the forced GPU fallback, exact statevector agreement, noisy executor, resources."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from qnewton.errors import UsageError
from qnewton.quantum import backends
from qnewton.quantum.backends import DeviceFallbackWarning, make_executor, resolve_device
from qnewton.quantum.resources import circuit_resources, device_seconds


def _broken_gpu_simulator(**kwargs):
    if kwargs.get("device") == "GPU":
        raise RuntimeError('Simulation device "GPU" is not supported on this system')
    from qiskit_aer import AerSimulator

    return AerSimulator(**kwargs)


def test_forced_unavailable_gpu_falls_back_to_cpu_with_message():
    with pytest.warns(DeviceFallbackWarning, match="falling back to CPU.*qiskit-aer-gpu"):
        dev, reason = resolve_device("GPU", simulator_factory=_broken_gpu_simulator)
    assert dev == "CPU"
    assert "not supported" in reason


def test_make_executor_gpu_fallback(monkeypatch):
    monkeypatch.setattr(backends, "probe_device", lambda device, factory=None: "forced: no GPU in this test")
    with pytest.warns(DeviceFallbackWarning):
        ex = make_executor("shots", device="GPU", seed=3)
    assert ex.device == "CPU"
    assert "forced" in ex.fallback_reason
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.measure(0, 0)
    assert ex.run_counts([qc], 50) == [{"1": 50}]


def test_cpu_needs_no_probe(monkeypatch):
    monkeypatch.setattr(backends, "probe_device", lambda *a, **k: pytest.fail("probed CPU"))
    assert resolve_device("cpu") == ("CPU", None)


def test_bad_specs():
    with pytest.raises(UsageError, match="backend"):
        make_executor("quantum-magic")
    with pytest.raises(UsageError, match="device"):
        make_executor("statevector", device="TPU")


def test_statevector_executor_matches_qiskit(rng):
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.3, 2)
    qc.cz(2, 0)
    ex = make_executor("statevector", seed=1)
    np.testing.assert_allclose(ex.statevector(qc), Statevector(qc).data, atol=1e-10)
    with pytest.raises(UsageError, match="exact"):
        make_executor("shots").statevector(qc)


def test_noisy_sherbrooke_counts_are_noisy_but_close():
    ex = make_executor("noisy-sherbrooke", seed=11)
    assert ex.target is not None and ex.target.num_qubits == 127
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    counts = ex.run_counts([qc], 2000)[0]
    assert sum(counts.values()) == 2000
    assert counts.get("11", 0) > 1700  # mostly right
    assert len(counts) > 1  # but not noiseless


def test_resources_on_sherbrooke():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    res = circuit_resources(qc)
    assert res.ecr_count == 1
    # one ECR (533 ns median) + single-qubit gates + measurement (~1.2 us): microseconds
    assert 1e-6 < res.duration_seconds < 1e-5
    assert device_seconds(res.duration_seconds, 1000) == pytest.approx(1000 * (res.duration_seconds + 250e-6))


def test_fake_and_ibm_specs_delegate_to_runtime_module(monkeypatch):
    import qnewton.quantum.ibm as ibm

    seen = {}

    def fake_factory(spec, *, seed=None, device=None, **kwargs):
        seen.update(spec=spec, seed=seed, device=device)
        return "runtime-executor"

    monkeypatch.setattr(ibm, "make_runtime_executor", fake_factory)
    assert make_executor("fake:sherbrooke", device="GPU", seed=5) == "runtime-executor"
    assert seen == {"spec": "fake:sherbrooke", "seed": 5, "device": "GPU"}
    make_executor("ibm:ibm_sherbrooke")
    assert seen["spec"] == "ibm:ibm_sherbrooke"
