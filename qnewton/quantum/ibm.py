"""IBM runtime path: run circuits with qiskit-ibm-runtime's SamplerV2 on fake or live IBM backends.

Specs (the `--backend` strings of `qnewton circuit solve`, delegated here by
`qnewton.quantum.backends.make_executor`):

    fake:NAME   a qiskit-ibm-runtime fake backend (fake_sherbrooke, fake_manila, FakeManilaV2, ...),
                run locally: SamplerV2 in local mode simulates it with Aer and the fake's noise model
    ibm:NAME    a live backend through QiskitRuntimeService (token from $QISKIT_IBM_TOKEN, else the
                saved account in ~/.qiskit/qiskit-ibm.json or $QNEWTON_IBM_ACCOUNT_FILE)

Both go through the same code (`RuntimeExecutor.run_counts`): transpile for the backend's target
(preset pass manager, optimization level 1), open a `Batch` (default) or `Session`, submit all
circuits as one SamplerV2 job, wait while printing status changes to stderr, and return one
counts dict per circuit in the simulators' format (`qnewton.quantum.backends`: bit strings with
clbit 0 rightmost; several classical registers separated by spaces, the last register first).

Without credentials or network, every entry point raises a one-line `UsageError` (the CLI prints
it and exits 2), never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Literal, TextIO

from qnewton.errors import UsageError

RuntimeMode = Literal["batch", "session"]
RUNTIME_MODES: tuple[str, ...] = ("batch", "session")
ENV_TOKEN = "QISKIT_IBM_TOKEN"
ENV_CHANNEL = "QISKIT_IBM_CHANNEL"
ENV_INSTANCE = "QISKIT_IBM_INSTANCE"
ENV_ACCOUNT_FILE = "QNEWTON_IBM_ACCOUNT_FILE"
DEFAULT_CHANNEL = "ibm_quantum_platform"
_FINAL = {"DONE", "ERROR", "CANCELLED"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Backends


def fake_backend_class_name(name: str) -> str:
    """'fake_sherbrooke' / 'sherbrooke' / 'FakeSherbrooke' / 'fake_manila' -> the fake_provider class name."""
    import qiskit_ibm_runtime.fake_provider as fp

    raw = name.strip()
    if raw.startswith("Fake") and hasattr(fp, raw):
        return raw
    stem = raw.lower()
    stem = stem[5:] if stem.startswith("fake_") else stem
    stem = stem[4:] if stem.startswith("fake") else stem
    stem = stem[:-2] if stem.endswith("v2") else stem
    camel = "Fake" + "".join(part.capitalize() for part in stem.split("_") if part)
    for candidate in (camel, camel + "V2"):
        if hasattr(fp, candidate) and candidate != "FakeProviderForBackendV2":
            return candidate
    available = sorted(n for n in dir(fp) if n.startswith("Fake") and n != "FakeProviderForBackendV2")
    raise UsageError(f"backend: no fake backend {name!r} in qiskit_ibm_runtime.fake_provider (e.g. {', '.join(available[:6])}, ...)")


def fake_backend(name: str) -> Any:
    """Instantiate a qiskit-ibm-runtime fake backend by name (see `fake_backend_class_name`)."""
    import qiskit_ibm_runtime.fake_provider as fp

    cls = getattr(fp, fake_backend_class_name(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls()


def saved_account_file() -> Path:
    """Where a saved IBM Quantum account is read: $QNEWTON_IBM_ACCOUNT_FILE or qiskit's default."""
    env = os.environ.get(ENV_ACCOUNT_FILE)
    if env:
        return Path(env).expanduser()
    try:
        from qiskit_ibm_runtime.accounts.management import _DEFAULT_ACCOUNT_CONFIG_JSON_FILE as default
    except ImportError:  # pragma: no cover - layout of older/newer runtime versions
        default = os.path.join(os.path.expanduser("~"), ".qiskit", "qiskit-ibm.json")
    return Path(default)


def _saved_account_exists(path: Path) -> bool:
    """True when `path` is a readable, non-empty JSON object (a saved account). The file is read
    through `qnewton.jsonutil` (size and nesting depth limited), so a hostile or broken file counts
    as no account and the caller's one-line "credentials not found" follows, never a crash."""
    from qnewton.jsonutil import loads_limited, read_text_limited

    if not path.is_file():
        return False
    try:
        text = read_text_limited(path, field="account file")
        data = loads_limited(text or "{}", field=f"account file {path}")
    except (UsageError, OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data)


@contextlib.contextmanager
def _quiet_runtime_logger() -> Iterator[None]:
    """Silence qiskit-ibm-runtime's log lines (e.g. 'Loading account with the given token') so a
    failure reaches the user as the one-line UsageError, not as a log line plus the error."""
    logger = logging.getLogger("qiskit_ibm_runtime")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        yield
    finally:
        logger.setLevel(level)


def runtime_service(*, token: str | None = None, channel: str | None = None, instance: str | None = None) -> Any:
    """QiskitRuntimeService from $QISKIT_IBM_TOKEN (or `token`) or a saved account; UsageError otherwise."""
    token = token or os.environ.get(ENV_TOKEN) or None
    channel = channel or os.environ.get(ENV_CHANNEL) or None
    instance = instance or os.environ.get(ENV_INSTANCE) or None
    account_file = saved_account_file()
    kwargs: dict[str, Any] = {}
    if token:
        kwargs.update(token=token, channel=channel or DEFAULT_CHANNEL)
        if instance:
            kwargs["instance"] = instance
    elif _saved_account_exists(account_file):
        kwargs["filename"] = str(account_file)
        if channel:
            kwargs["channel"] = channel
        if instance:
            kwargs["instance"] = instance
    else:
        raise UsageError(
            f"IBM Quantum credentials not found: set {ENV_TOKEN} or save an account with "
            f"QiskitRuntimeService.save_account(token=...) (no saved account in {account_file}); "
            "for offline runs use a fake backend, e.g. fake:fake_sherbrooke"
        )
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        with warnings.catch_warnings(), _quiet_runtime_logger():
            warnings.simplefilter("ignore")
            return QiskitRuntimeService(**kwargs)
    except Exception as exc:  # noqa: BLE001 - network, auth, malformed account: all one line
        raise UsageError(f"cannot connect to IBM Quantum ({_first_line(exc)}); check the network and the token") from None


def live_backend(name: str, service: Any = None) -> Any:
    """A live IBM backend by name (needs credentials and network)."""
    svc = service if service is not None else runtime_service()
    try:
        return svc.backend(name)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"backend: IBM Quantum has no backend {name!r} for this account ({_first_line(exc)})") from None


def parse_spec(spec: str) -> tuple[Literal["fake", "ibm"], str]:
    """'fake:NAME' / 'ibm:NAME' -> (kind, NAME)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UsageError(f"backend: expected 'fake:NAME' or 'ibm:NAME', got {spec!r}")
    kind, _, name = spec.partition(":")
    if kind not in ("fake", "ibm") or not name.strip():
        raise UsageError(f"backend: expected 'fake:NAME' or 'ibm:NAME', got {spec!r}")
    return kind, name.strip()  # type: ignore[return-value]


def resolve_backend(spec: str, service: Any = None) -> Any:
    """Backend object for 'fake:NAME' / 'ibm:NAME' (a bare 'fake_xxx' name is read as fake:)."""
    if ":" not in spec and spec.lower().startswith("fake"):
        spec = f"fake:{spec}"
    kind, name = parse_spec(spec)
    return fake_backend(name) if kind == "fake" else live_backend(name, service)


# --------------------------------------------------------------------------------------------
# Executor


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
        from qnewton.quantum.backends import check_seed

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
            raise UsageError(f"backend {self.name}: cannot transpile the circuits ({_first_line(exc)})") from None

    def run_counts(self, circuits: list[Any], shots: int) -> list[dict[str, int]]:
        """Submit all circuits as one SamplerV2 job (Batch or Session) and return counts per circuit."""
        from qnewton.quantum.backends import check_shots

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
            raise UsageError(f"backend {self.name}: sampler job failed ({_first_line(exc)})") from None
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


# --------------------------------------------------------------------------------------------
# Calibration export


def export_profile(backend_spec: str, *, service: Any = None, name: str | None = None) -> dict[str, Any]:
    """Calibration profile dict (schema v1) for 'fake_xxx' / 'fake:NAME' / 'ibm:NAME'."""
    import qiskit_ibm_runtime

    from qnewton.costs.calibration_export import profile_from_backend

    backend = resolve_backend(backend_spec, service=service)
    version = qiskit_ibm_runtime.__version__
    if backend_spec.startswith("ibm:"):
        source = f"QiskitRuntimeService().backend({backend.name!r}) via qiskit-ibm-runtime {version}"
    else:
        source = f"qiskit_ibm_runtime.fake_provider.{type(backend).__name__} (qiskit-ibm-runtime {version})"
    return profile_from_backend(backend, source=source, name=name)



