"""Physical resources of a logical circuit on error-corrected hardware: Microsoft's resource estimator.

This module is the project's only importer of the `qdk` package (`qdk.estimator`, `qdk.qiskit`).
The QDK's Python telemetry is on by default; the two switches that turn it off
(`QDK_PYTHON_TELEMETRY` and `QSHARP_PYTHON_TELEMETRY` = "none") are written into `os.environ`
when this module is imported, before any import of qdk, and qdk is imported only inside the
functions below. The estimator runs locally and offline.

`estimate_counts(counts, qubit_model, qec_scheme, error_budget)` prices logical counts (the
estimator's `LogicalCounts`: logical qubits, T / CCZ / rotation counts, rotation depth,
measurements) for one of the estimator's qubit models and QEC schemes. The estimator lays the
algorithm out with its PSSPC method (Beverland et al. 2022, "Assessing requirements to scale to
practical quantum advantage", arXiv:2211.07629): a logical depth from the counts, a code
distance large enough for the error budget, T factories, and

    runtime = logical depth x logical cycle time.

The estimator reports the runtime as an integer number of nanoseconds that wraps around past
2^64 ns (about 585 years); we therefore take logical depth x logical cycle time in floating point
(identical below the wrap) and say in `runtime_wrapped` when the two disagree.
Results are cached per argument tuple (the scheduler asks once per block).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from qnewton.errors import UsageError

os.environ["QDK_PYTHON_TELEMETRY"] = "none"
os.environ["QSHARP_PYTHON_TELEMETRY"] = "none"

#: The estimator's predefined qubit models.
QUBIT_MODELS: tuple[str, ...] = ("qubit_gate_ns_e3", "qubit_gate_ns_e4", "qubit_gate_us_e3", "qubit_gate_us_e4",
                                 "qubit_maj_ns_e4", "qubit_maj_ns_e6")
#: The estimator's predefined QEC schemes; the Floquet code needs a Majorana qubit model.
QEC_SCHEMES: tuple[str, ...] = ("surface_code", "floquet_code")
#: Largest count the estimator takes (its counters are unsigned 64-bit).
MAX_COUNT = 2**63 - 1
#: Largest number of non-Clifford gates and measurements (T + CCZ + CCiX + rotations +
#: measurements) we hand to the estimator: qdk 1.33 answered up to a few 1e17 in a fraction of a
#: second but never returned for 1e18 Toffolis on 40 qubits. Larger runs are priced by
#: `qnewton.calibrate.ft_query_time` from a run at this size (and say so).
MAX_OPERATIONS = 2 * 10**16

_COUNT_FIELDS = ("numQubits", "tCount", "rotationCount", "rotationDepth", "cczCount", "ccixCount", "measurementCount")


def check_hardware(qubit_model: str, qec_scheme: str, error_budget: float) -> None:
    """Refuse an unknown qubit model or scheme, a Floquet code on gate-based qubits, a budget
    outside (0, 1)."""
    if qubit_model not in QUBIT_MODELS:
        raise UsageError(f"qubit_model: must be one of {', '.join(QUBIT_MODELS)}, got {qubit_model!r}")
    if qec_scheme not in QEC_SCHEMES:
        raise UsageError(f"qec_scheme: must be one of {', '.join(QEC_SCHEMES)}, got {qec_scheme!r}")
    if qec_scheme == "floquet_code" and not qubit_model.startswith("qubit_maj"):
        raise UsageError(f"qec_scheme: floquet_code needs a Majorana qubit model (qubit_maj_*), got {qubit_model!r}")
    if isinstance(error_budget, bool) or not isinstance(error_budget, (int, float)) or not (0 < error_budget < 1):
        raise UsageError(f"error_budget: must be a number in (0, 1), got {error_budget!r}")


def estimator_params(qubit_model: str, qec_scheme: str, error_budget: float) -> dict[str, Any]:
    """The estimator's parameter object for a predefined qubit model, QEC scheme and total error budget."""
    check_hardware(qubit_model, qec_scheme, error_budget)
    return {"qubitParams": {"name": qubit_model}, "qecScheme": {"name": qec_scheme}, "errorBudget": float(error_budget)}


def qdk_version() -> str:
    """The installed qdk version (from package metadata; qdk itself is not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qdk")
    except PackageNotFoundError:  # pragma: no cover - qdk is a dependency
        return "unknown"


@dataclass(frozen=True)
class PhysicalEstimate:
    """What the estimator says one logical circuit takes on the chosen hardware (MODELED).

    physical_qubits: algorithm + T factories; runtime_seconds: logical depth x logical cycle
    time; code_distance; logical_cycle_seconds; logical_depth; t_factories (copies running in
    parallel); t_states; algorithmic_logical_qubits (after the PSSPC layout); logical_error_rate
    (per qubit per cycle); runtime_wrapped: the estimator's integer runtime overflowed.
    estimator: what priced it (package, version, qubit model, QEC scheme, budget).
    """

    physical_qubits: int
    runtime_seconds: float
    code_distance: int
    logical_cycle_seconds: float
    logical_depth: int
    t_factories: int
    t_states: int
    algorithmic_logical_qubits: int
    logical_error_rate: float
    physical_qubits_for_factories: int
    runtime_wrapped: bool
    estimator: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(qubit_model: str, qec_scheme: str, error_budget: float) -> str:
    """One line naming what prices an estimate: `qdk.estimator <version>: <model>, <scheme>, budget <e>`."""
    return f"qdk.estimator {qdk_version()}: {qubit_model}, {qec_scheme}, error budget {error_budget:g}"


def from_result(result: Mapping[str, Any], qubit_model: str, qec_scheme: str, error_budget: float) -> PhysicalEstimate:
    """A `PhysicalEstimate` from the estimator's result dictionary."""
    counts = result["physicalCounts"]
    breakdown = counts["breakdown"]
    logical = result["logicalQubit"]
    depth = int(breakdown["logicalDepth"])
    cycle_ns = float(logical["logicalCycleTime"])
    runtime = depth * cycle_ns * 1e-9
    reported = float(counts["runtime"]) * 1e-9
    return PhysicalEstimate(
        physical_qubits=int(counts["physicalQubits"]),
        runtime_seconds=runtime,
        code_distance=int(logical["codeDistance"]),
        logical_cycle_seconds=cycle_ns * 1e-9,
        logical_depth=depth,
        t_factories=int(breakdown["numTfactories"]),
        t_states=int(breakdown["numTstates"]),
        algorithmic_logical_qubits=int(breakdown["algorithmicLogicalQubits"]),
        logical_error_rate=float(logical["logicalErrorRate"]),
        physical_qubits_for_factories=int(breakdown["physicalQubitsForTfactories"]),
        runtime_wrapped=not math.isclose(runtime, reported, rel_tol=1e-6),
        estimator=describe(qubit_model, qec_scheme, error_budget),
    )


def _check_counts(counts: Mapping[str, int]) -> dict[str, int]:
    out = {}
    for key in _COUNT_FIELDS:
        v = counts.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise UsageError(f"logical counts: {key} must be an integer >= 0, got {v!r}")
        if v > MAX_COUNT:
            raise UsageError(f"logical counts: {key} = {v:.3e} exceeds what the resource estimator can count (2^63 - 1)")
        out[key] = v
    if out["numQubits"] < 1:
        raise UsageError("logical counts: numQubits must be >= 1")
    ops = operations(out)
    if ops > MAX_OPERATIONS:
        raise UsageError(f"logical counts: {ops:.3e} non-Clifford gates and measurements exceed the {MAX_OPERATIONS:.0e} "
                         "we hand to the resource estimator")
    return out


def operations(counts: Mapping[str, int]) -> int:
    """T + CCZ + CCiX + rotations + measurements of logical counts (what MAX_OPERATIONS bounds)."""
    return sum(int(counts.get(k, 0)) for k in ("tCount", "cczCount", "ccixCount", "rotationCount", "measurementCount"))


def raw_estimate(counts: Mapping[str, int], qubit_model: str, qec_scheme: str, error_budget: float) -> dict[str, Any]:
    """The estimator's own result dictionary for these logical counts (no caching). An estimate the
    estimator cannot make (e.g. a budget too small for any code distance) is a one-line UsageError."""
    params = estimator_params(qubit_model, qec_scheme, error_budget)
    data = _check_counts(counts)
    from qdk.estimator import EstimatorError, LogicalCounts

    try:
        return dict(LogicalCounts(data).estimate(params))
    except EstimatorError as exc:  # a BaseException subclass in qdk
        raise UsageError(f"resource estimator ({qubit_model}, {qec_scheme}): {exc}") from None


@functools.lru_cache(maxsize=4096)
def _cached(items: tuple[tuple[str, int], ...], qubit_model: str, qec_scheme: str, error_budget: float) -> PhysicalEstimate:
    return from_result(raw_estimate(dict(items), qubit_model, qec_scheme, error_budget), qubit_model, qec_scheme, error_budget)


def estimate_counts(counts: Mapping[str, int], qubit_model: str, qec_scheme: str, error_budget: float) -> PhysicalEstimate:
    """Physical qubits, runtime and code distance of these logical counts (the estimator's names:
    numQubits, tCount, rotationCount, rotationDepth, cczCount, ccixCount, measurementCount);
    cached per (counts, qubit model, QEC scheme, error budget)."""
    check_hardware(qubit_model, qec_scheme, error_budget)
    data = _check_counts(counts)
    return _cached(tuple(sorted(data.items())), qubit_model, qec_scheme, float(error_budget))


def cache_info() -> Any:
    """Hits and misses of the estimate cache."""
    return _cached.cache_info()


#: Gates a circuit is rewritten into before the estimator's Qiskit entry point reads it.
CIRCUIT_BASIS = ("rz", "ry", "rx", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "cx", "cz", "ccx", "measure")


def estimate_circuit(circuit: Any, qubit_model: str, qec_scheme: str, error_budget: float) -> tuple[PhysicalEstimate, dict[str, int]]:
    """(physical estimate, the estimator's logical counts) of a Qiskit circuit.

    The circuit is first rewritten by Qiskit's transpiler into `CIRCUIT_BASIS` (no coupling map,
    optimization level 1) and copied onto fresh virtual qubits: the estimator's own translation
    rejects some of our composite gates (the QPE box of HHL comes out on "hardware" qubits). The
    estimator (`qdk.qiskit.estimate`) then counts T gates, arbitrary rotations (which it
    synthesises from T gates), CCZs and measurements itself."""
    params = estimator_params(qubit_model, qec_scheme, error_budget)
    from qiskit import QuantumCircuit, transpile

    lowered = transpile(circuit, basis_gates=list(CIRCUIT_BASIS), optimization_level=1)
    fresh = QuantumCircuit(lowered.num_qubits, lowered.num_clbits)
    fresh.compose(lowered, qubits=range(lowered.num_qubits), clbits=range(lowered.num_clbits), inplace=True)
    from qdk.estimator import EstimatorError
    from qdk.qiskit import QasmError, estimate

    try:
        with warnings.catch_warnings():  # qdk 1.33 marks this entry point deprecated in favour of qdk.qre
            warnings.simplefilter("ignore", DeprecationWarning)
            result = dict(estimate(fresh, params))
    except (EstimatorError, QasmError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"resource estimator ({qubit_model}, {qec_scheme}): {first}") from None
    logical = {k: int(v) for k, v in dict(result.get("logicalCounts", {})).items() if isinstance(v, (int, float))}
    return from_result(result, qubit_model, qec_scheme, error_budget), logical
