"""Resources of a circuit on ibm_sherbrooke: transpile, count ECR gates, depth, estimated duration.

`circuit_resources(qc)` transpiles to `FakeSherbrooke` (basis ecr/rz/sx/x, heavy-hex coupling map,
2025-02-26 calibration snapshot; optimization level 1 by default) and reports the two-qubit ECR
count, the depth, and `estimate_duration(target, unit="s")` -- the scheduled length of ONE shot
from the snapshot's gate durations (ECR median 533 ns, SX 56.9 ns, measure 1.216 us).

`device_seconds(duration, shots)` models a job: shots x (duration + repetition delay 250 us). These
are MODELED seconds; `transpile_seconds` is MEASURED wall-clock time on this machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from qiskit import QuantumCircuit, transpile

from qnewton.quantum.device_timing import DEFAULT_REP_DELAY_SECONDS, backend_rep_delay_seconds
from qnewton.quantum.backends import fake_sherbrooke


@dataclass(frozen=True)
class CircuitResources:
    """qubits: logical qubits of the circuit; physical_qubits: qubits the transpiled circuit touches;
    ecr_count / two_qubit_count / depth of the transpiled circuit; duration_seconds: MODELED length of
    one shot on the device; transpile_seconds: MEASURED wall-clock time of transpilation; backend."""

    qubits: int
    physical_qubits: int
    ecr_count: int
    two_qubit_count: int
    depth: int
    duration_seconds: float
    transpile_seconds: float
    backend: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def rep_delay_seconds(backend: Any = None) -> float:
    """Repetition delay between shots (s) of `backend` (default FakeSherbrooke: 250 us)."""
    return backend_rep_delay_seconds(backend or fake_sherbrooke())


def transpile_for_device(qc: QuantumCircuit, backend: Any = None, *, optimization_level: int = 1, seed: int = 7) -> QuantumCircuit:
    """`qc` transpiled for `backend` (default FakeSherbrooke) with a fixed seed (reproducible counts)."""
    backend = backend or fake_sherbrooke()
    return transpile(qc, backend=backend, optimization_level=optimization_level, seed_transpiler=seed)


def circuit_resources(qc: QuantumCircuit, backend: Any = None, *, optimization_level: int = 1, seed: int = 7) -> CircuitResources:
    """Transpile `qc` (measurements are added on all qubits if it has none) and count."""
    backend = backend or fake_sherbrooke()
    circ = qc
    if not any(inst.operation.name == "measure" for inst in qc.data):
        circ = qc.copy()
        circ.measure_all()
    t0 = time.perf_counter()
    tq = transpile_for_device(circ, backend, optimization_level=optimization_level, seed=seed)
    elapsed = time.perf_counter() - t0
    ops = tq.count_ops()
    two_q = sum(1 for inst in tq.data if inst.operation.num_qubits == 2)
    used = {tq.find_bit(q).index for inst in tq.data for q in inst.qubits}
    return CircuitResources(
        qubits=qc.num_qubits,
        physical_qubits=len(used),
        ecr_count=int(ops.get("ecr", 0)),
        two_qubit_count=int(two_q),
        depth=int(tq.depth()),
        duration_seconds=float(tq.estimate_duration(backend.target, unit="s")),
        transpile_seconds=elapsed,
        backend=str(getattr(backend, "name", "backend")),
    )


def device_seconds(duration_seconds: float, shots: int, rep_delay: float | None = None) -> float:
    """MODELED job time: shots x (one-shot duration + repetition delay)."""
    delay = DEFAULT_REP_DELAY_SECONDS if rep_delay is None else rep_delay
    return float(shots) * (float(duration_seconds) + delay)
