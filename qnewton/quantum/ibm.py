"""IBM runtime path: run circuits with qiskit-ibm-runtime's SamplerV2 on fake or live IBM backends.

Specs `fake:NAME` and `ibm:NAME` (see `qnewton.quantum.ibm_account`, which finds the backend and
the account), delegated here by `qnewton.quantum.backends.make_executor`. Both go through the
same code (`RuntimeExecutor.run_counts`): transpile for the backend's target (preset pass
manager, optimization level 1), open a `Batch` (default) or `Session`, submit all circuits as one
SamplerV2 job, wait while printing status changes to stderr, and return one counts dict per
circuit in the simulators' format (`qnewton.quantum.backends`: bit strings with clbit 0
rightmost; several classical registers separated by spaces, the last register first). A fake
backend runs locally: SamplerV2 in local mode simulates it with Aer and the fake's noise model.

Every failure (no credentials, no network, a failed transpile or job, a timeout) is a one-line
`UsageError` (the CLI prints it and exits 2), never a traceback.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any, Literal, TextIO

from qnewton.errors import UsageError
from qnewton.quantum.ibm_account import first_line, parse_spec, resolve_backend
from qnewton.quantum.run_options import check_seed, check_shots

RuntimeMode = Literal["batch", "session"]
RUNTIME_MODES: tuple[str, ...] = ("batch", "session")
_FINAL = {"DONE", "ERROR", "CANCELLED"}


def format_counts(pub_result: Any, creg_names: list[str]) -> dict[str, int]:
    """Counts of one SamplerV2 pub result in the simulators' format (see module docstring)."""
    data = pub_result.data
    if not creg_names:
        return {}
    if len(creg_names) == 1:
        return {str(k): int(v) for k, v in getattr(data, creg_names[0]).get_counts().items()}
    arrays = [getattr(data, n).get_bitstrings() for n in creg_names]
    out: dict[str, int] = {}
    for shot in zip(*arrays):
        key = " ".join(reversed(shot))  # Aer prints the last register first
        out[key] = out.get(key, 0) + 1
    return out


class RuntimeExecutor:
    """Executor (`.name`, `.target`, `.run_counts`) over qiskit-ibm-runtime's SamplerV2."""

    def __init__(
        self,
        spec: str,
        backend: Any,
        *,
        mode: RuntimeMode = "batch",
        seed: int | None = None,
        optimization_level: int = 1,
        progress: bool = True,
        poll_seconds: float = 5.0,
        timeout_seconds: float | None = None,
        stream: TextIO | None = None,
    ) -> None:
        if mode not in RUNTIME_MODES:
            raise UsageError(f"mode: must be one of {', '.join(RUNTIME_MODES)}, got {mode!r}")
        if optimization_level not in (0, 1, 2, 3):
            raise UsageError(f"optimization_level: must be 0..3, got {optimization_level!r}")
        if not (poll_seconds > 0):
            raise UsageError(f"poll_seconds: must be > 0, got {poll_seconds!r}")
        self.name = spec
        self.backend = backend
        self.target = backend.target
        self.device = "CPU" if spec.startswith("fake:") else "QPU"
        self.mode: RuntimeMode = mode
        self.seed = check_seed(seed)
        self.optimization_level = optimization_level
        self.progress = progress
        self.poll_seconds = float(poll_seconds)
        self.timeout_seconds = timeout_seconds
        self.stream = stream
        self.last_job_id: str | None = None
        self.last_isa_circuits: list[Any] = []

    def prepare(self, circuits: list[Any]) -> list[Any]:
        """Transpile for the backend (ISA circuits: its basis gates and coupling map)."""
        from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

        capacity = self.target.num_qubits
        for i, c in enumerate(circuits):
            if capacity is not None and c.num_qubits > capacity:
                raise UsageError(
                    f"circuits[{i}]: needs {c.num_qubits} qubits, backend {self.name} has {capacity}; "
                    "use a larger backend (e.g. fake:fake_sherbrooke) or a smaller system"
                )
        pm = generate_preset_pass_manager(
            backend=self.backend, optimization_level=self.optimization_level, seed_transpiler=self.seed
        )
        try:
            return list(pm.run(list(circuits)))
        except Exception as exc:  # noqa: BLE001 - transpiler failures as one line
            raise UsageError(f"backend {self.name}: cannot transpile the circuits ({first_line(exc)})") from None

    def run_counts(self, circuits: list[Any], shots: int) -> list[dict[str, int]]:
        """Submit all circuits as one SamplerV2 job (Batch or Session) and return counts per circuit."""
        shots = check_shots(shots)
        circuits = list(circuits)
        for i, c in enumerate(circuits):
            if c.num_clbits == 0:
                raise UsageError(f"circuits[{i}]: has no measurements; the sampler returns measured bits only")
        isa = self.prepare(circuits)
        self.last_isa_circuits = isa
        try:
            from qiskit_ibm_runtime import Batch, SamplerV2, Session
        except ImportError as exc:  # pragma: no cover
            raise UsageError(f"backend: qiskit-ibm-runtime is not installed ({exc})") from None
        context = Batch if self.mode == "batch" else Session
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                with context(backend=self.backend) as ctx:
                    sampler = SamplerV2(mode=ctx)
                    if self.seed is not None and self.device == "CPU":
                        sampler.options.simulator.seed_simulator = int(self.seed)
                    job = sampler.run(isa, shots=int(shots))
                    self.last_job_id = str(job.job_id())
                    self._wait(job, len(isa), int(shots))
                    result = job.result()
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - submission/network/runtime failures as one line
            raise UsageError(f"backend {self.name}: sampler job failed ({first_line(exc)})") from None
        return [format_counts(result[i], [r.name for r in c.cregs]) for i, c in enumerate(isa)]

    def _wait(self, job: Any, n_circuits: int, shots: int) -> None:
        """Poll the job, printing status changes (and a heartbeat each minute) until it finishes."""
        stream = self.stream or sys.stderr
        start = time.monotonic()
        last_status, last_print = None, start
        while True:
            status = job.status()
            status = str(getattr(status, "name", status)).upper()
            now = time.monotonic()
            if self.progress and (status != last_status or now - last_print >= 60):
                print(
                    f"[{self.name}] job {self.last_job_id} ({self.mode}, {n_circuits} circuit(s) x {shots} shots): "
                    f"{status} after {now - start:.0f} s",
                    file=stream,
                    flush=True,
                )
                last_status, last_print = status, now
            if status in _FINAL:
                if status != "DONE":
                    raise UsageError(f"backend {self.name}: job {self.last_job_id} ended with status {status}")
                return
            if self.timeout_seconds is not None and now - start > self.timeout_seconds:
                raise UsageError(
                    f"backend {self.name}: job {self.last_job_id} still {status} after {self.timeout_seconds:g} s "
                    "(it keeps running on IBM Quantum; fetch it later by its id)"
                )
            time.sleep(min(self.poll_seconds, 0.05) if self.device == "CPU" else self.poll_seconds)

    def __repr__(self) -> str:
        return f"RuntimeExecutor(name={self.name!r}, mode={self.mode!r})"


def make_runtime_executor(
    spec: str,
    *,
    mode: RuntimeMode = "batch",
    seed: int | None = None,
    device: str | None = None,
    service: Any = None,
    progress: bool = True,
    optimization_level: int = 1,
    poll_seconds: float = 5.0,
    timeout_seconds: float | None = None,
    stream: TextIO | None = None,
) -> RuntimeExecutor:
    """Executor for 'fake:NAME' (local) or 'ibm:NAME' (live) through SamplerV2.

    `device` is accepted for symmetry with the Aer executors and ignored (fake backends run on
    the CPU through the runtime's local mode; live ones on the QPU).
    """
    parse_spec(spec)
    backend = resolve_backend(spec, service=service)
    return RuntimeExecutor(
        spec,
        backend,
        mode=mode,
        seed=seed,
        optimization_level=optimization_level,
        progress=progress,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        stream=stream,
    )
