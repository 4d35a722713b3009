"""Executors that run circuits: Aer statevector / shots on CPU or GPU, noisy ibm_sherbrooke, IBM runtime.

Every executor has `.name`, `.target` (a transpiler Target or None), `.device` ("CPU"/"GPU") and
`.run_counts(circuits, shots) -> list[dict[str, int]]` (Qiskit bit-string keys, clbit 0 rightmost).
`make_executor(spec, device="CPU", seed=None)` builds one from a spec:

    "statevector"       Aer statevector method; also offers `.statevector(circuit)` (exact amplitudes)
    "shots"             Aer, sampling only (what a noiseless device would return)
    "noisy-sherbrooke"  AerSimulator.from_backend(FakeSherbrooke()): the 2025-02-26 calibration
                        snapshot's gate errors, readout errors, T1/T2; circuits are transpiled to the
                        device first (ECR/RZ/SX/X, its coupling map)
    "fake:NAME"/"ibm:NAME"  delegated to `qnewton.quantum.ibm.make_runtime_executor` (SamplerV2 path)

GPU: `qiskit-aer-gpu` replaces `qiskit-aer` (same `qiskit_aer` module; never install both:
`pip uninstall qiskit-aer && pip install qiskit-aer-gpu`). `device="GPU"` is checked with a one-qubit
trial run; if it fails the executor falls back to CPU, emits a `DeviceFallbackWarning` saying why,
and records the reason in `.fallback_reason`.

Options that reach Aer (shots, seed) are checked first, with a one-line UsageError naming the
option (`qnewton.quantum.run_options`).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from qiskit import QuantumCircuit, transpile

from qnewton.errors import UsageError

# The shot and seed checks live in `run_options`, which the IBM runtime executor imports without
# this module; callers keep reaching them here too.
from qnewton.quantum.run_options import MAX_SEED, MAX_SHOTS, check_seed, check_shots  # noqa: F401

Device = Literal["CPU", "GPU"]
BACKEND_SPECS = ("statevector", "shots", "noisy-sherbrooke")


class DeviceFallbackWarning(RuntimeWarning):
    """The requested Aer device is unavailable; the executor runs on CPU instead."""


@runtime_checkable
class Executor(Protocol):
    name: str
    target: Any

    def run_counts(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Run every circuit `shots` times; one counts dict per circuit (clbit 0 rightmost)."""
        ...


def normalize_device(device: str) -> Device:
    """'cpu'/'GPU'/... -> "CPU" or "GPU"; anything else is a UsageError."""
    d = str(device).strip().upper()
    if d not in ("CPU", "GPU"):
        raise UsageError(f"device: must be 'CPU' or 'GPU', got {device!r}")
    return d  # type: ignore[return-value]


def probe_device(device: Device, simulator_factory: Any = None) -> str | None:
    """Return None if a one-qubit trial run on `device` works, else the reason it does not."""
    from qiskit_aer import AerSimulator

    factory = simulator_factory or AerSimulator
    try:
        sim = factory(method="statevector", device=device)
        qc = QuantumCircuit(1, 1)
        qc.h(0)
        qc.measure(0, 0)
        result = sim.run(qc, shots=8).result()
        if not result.success:
            return f"trial run on {device} failed: {result.status}"
        counts = result.get_counts()
        if sum(counts.values()) != 8:
            return f"trial run on {device} returned {counts}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"
    return None


def resolve_device(device: str, simulator_factory: Any = None) -> tuple[Device, str | None]:
    """(device to use, fallback reason or None). GPU falls back to CPU with a DeviceFallbackWarning."""
    dev = normalize_device(device)
    if dev == "CPU":
        return "CPU", None
    reason = probe_device("GPU", simulator_factory)
    if reason is None:
        return "GPU", None
    msg = (
        f"Aer GPU device unavailable ({reason}); falling back to CPU. For GPU simulation replace the "
        "CPU build: pip uninstall qiskit-aer && pip install qiskit-aer-gpu (never both)."
    )
    warnings.warn(msg, DeviceFallbackWarning, stacklevel=3)
    return "CPU", msg


@functools.lru_cache(maxsize=1)
def fake_sherbrooke() -> Any:
    """The FakeSherbrooke backend (127 qubits, calibration snapshot shipped with qiskit-ibm-runtime)."""
    from qiskit_ibm_runtime.fake_provider import FakeSherbrooke

    return FakeSherbrooke()


class AerExecutor:
    """Runs circuits on an AerSimulator; `transpile_to` (a backend) makes circuits device-native first."""

    def __init__(
        self,
        name: str,
        simulator: Any,
        *,
        device: Device = "CPU",
        target: Any = None,
        transpile_to: Any = None,
        exact: bool = False,
        seed: int | None = None,
        fallback_reason: str | None = None,
    ) -> None:
        self.name = name
        self.simulator = simulator
        self.device = device
        self.target = target
        self.transpile_to = transpile_to
        self.exact = exact
        self.seed = check_seed(seed)
        self.fallback_reason = fallback_reason

    def prepare(self, circuit: QuantumCircuit) -> QuantumCircuit:
        """Transpile for the device (noisy-sherbrooke) or just for the simulator's instruction set."""
        if self.transpile_to is not None:
            return transpile(circuit, backend=self.transpile_to, optimization_level=1, seed_transpiler=self.seed)
        return transpile(circuit, self.simulator, optimization_level=0)

    def run_counts(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Simulate all circuits in one Aer job; one counts dict per circuit."""
        shots = check_shots(shots)
        prepared = [self.prepare(c) for c in circuits]
        kwargs: dict[str, Any] = {"shots": shots}
        if self.seed is not None:
            kwargs["seed_simulator"] = int(self.seed)
        result = self.simulator.run(prepared, **kwargs).result()
        return [dict(result.get_counts(i)) for i in range(len(prepared))]

    def counts_with_seed(self, circuit: QuantumCircuit, shots: int, seed: int | None) -> dict[str, int]:
        """Counts of one circuit run alone with simulator seed `seed` (None: the executor's seed).

        A circuit run alone with a given seed gives the same counts whichever process runs it and
        whatever else is run around it (`qnewton.quantum.dispatch` relies on this)."""
        shots = check_shots(shots)
        seed = self.seed if seed is None else check_seed(seed)
        kwargs: dict[str, Any] = {"shots": shots}
        if seed is not None:
            kwargs["seed_simulator"] = int(seed)
        result = self.simulator.run(self.prepare(circuit), **kwargs).result()
        return dict(result.get_counts(0))

    def statevector(self, circuit: QuantumCircuit) -> np.ndarray:
        """Exact final state (only the "statevector" executor; measurements must be absent)."""
        if not self.exact:
            raise UsageError(f"backend: '{self.name}' has no exact statevector readout; use 'statevector'")
        qc = circuit.copy()
        qc.save_statevector()
        result = self.simulator.run(self.prepare(qc)).result()
        return np.asarray(result.get_statevector(0))

    def __repr__(self) -> str:
        return f"AerExecutor(name={self.name!r}, device={self.device!r})"


def make_executor(spec: str, device: str = "CPU", seed: int | None = None, *, runtime_mode: str = "batch") -> Any:
    """Build an executor from a backend spec (see module docstring).

    runtime_mode: "batch" or "session", how fake:/ibm: backends group their SamplerV2 jobs
    (`qiskit_ibm_runtime.Batch` / `Session`); the Aer specs accept only the default.
    """
    if not isinstance(spec, str) or not spec:
        raise UsageError(f"backend: must be a non-empty string, got {spec!r}")
    if runtime_mode not in ("batch", "session"):
        raise UsageError(f"runtime_mode: must be 'batch' or 'session', got {runtime_mode!r}")
    seed = check_seed(seed)
    if spec.startswith(("fake:", "ibm:")):
        return _runtime_executor(spec, device=device, seed=seed, mode=runtime_mode)
    if runtime_mode != "batch":
        raise UsageError(f"runtime_mode: {runtime_mode!r} applies to fake:NAME / ibm:NAME backends, not {spec!r}")
    if spec not in BACKEND_SPECS:
        raise UsageError(f"backend: unknown backend {spec!r}; choose one of {', '.join(BACKEND_SPECS)}, fake:NAME, ibm:NAME")
    from qiskit_aer import AerSimulator

    dev, reason = resolve_device(device)
    if spec == "statevector":
        sim = AerSimulator(method="statevector", device=dev, seed_simulator=seed)
        return AerExecutor("statevector", sim, device=dev, exact=True, seed=seed, fallback_reason=reason)
    if spec == "shots":
        sim = AerSimulator(method="statevector", device=dev, seed_simulator=seed)
        return AerExecutor("shots", sim, device=dev, seed=seed, fallback_reason=reason)
    backend = fake_sherbrooke()
    sim = AerSimulator.from_backend(backend, device=dev, seed_simulator=seed)
    return AerExecutor(
        "noisy-sherbrooke", sim, device=dev, target=backend.target, transpile_to=backend,
        seed=seed if seed is not None else 0, fallback_reason=reason,
    )


def _runtime_executor(spec: str, *, device: str, seed: int | None, mode: str = "batch") -> Any:
    try:
        from qnewton.quantum.ibm import make_runtime_executor
    except ImportError as exc:
        raise UsageError(f"backend: {spec!r} needs qnewton.quantum.ibm ({exc})") from None
    params = inspect.signature(make_runtime_executor).parameters
    kwargs: dict[str, Any] = {}
    if "seed" in params:
        kwargs["seed"] = seed
    if "device" in params:
        kwargs["device"] = device
    if "mode" in params:
        kwargs["mode"] = mode
    return make_runtime_executor(spec, **kwargs)
