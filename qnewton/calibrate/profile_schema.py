"""Checking a calibration profile against schema version 1 (see `qnewton.calibrate.profiles`).

`validate_profile(data, origin)` stops at the first fault and raises a one-line UsageError
``<file>: <field>: <reason>``: a missing field, a wrong type, a wrong unit (durations that only
make sense in ns or us are refused), a negative duration, an error probability outside [0, 1],
a qubit outside the device, a gate of the wrong arity or an unknown gate name; for a
fault-tolerant profile an unknown field, qubit model, QEC scheme or logical-model option, or an
error budget outside (0, 1).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from qnewton.calibrate.profiles import (
    PROFILE_KINDS,
    SCHEMA_ID,
    SCHEMA_VERSION,
    CalibrationProfile,
    FaultTolerantSpec,
    GateCalibration,
    QubitCalibration,
)
from qnewton.costs.ft_logical import LogicalModelOptions
from qnewton.errors import UsageError

#: Plausibility limits that catch numbers written in the wrong unit (ns or us instead of s).
MAX_GATE_SECONDS = 1e-2
MAX_COHERENCE_SECONDS = 100.0
MAX_DELAY_SECONDS = 10.0

#: A profile name: letters, digits, '_', '-', '.', starting with a letter or digit.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class _Checker:
    """Collects the file name so every error is one line: '<file>: <field>: <reason>'."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, fieldname: str, reason: str) -> UsageError:
        return UsageError(f"{self.origin}: {fieldname}: {reason}")

    def require(self, obj: dict[str, Any], key: str, where: str) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where or "(top level)", f"must be a JSON object, got {type(obj).__name__}")
        if key not in obj:
            raise self.fail(f"{where}.{key}" if where else key, "missing required field")
        return obj[key]

    def string(self, value: Any, fieldname: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(fieldname, f"must be a non-empty string, got {value!r}")
        return value

    def integer(self, value: Any, fieldname: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(fieldname, f"must be an integer, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise self.fail(fieldname, f"must be >= {minimum}, got {value}")
        return value

    def number(self, value: Any, fieldname: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(fieldname, f"must be a number, got {type(value).__name__} {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise self.fail(fieldname, f"must be finite, got {value!r}")
        return v

    def seconds(self, value: Any, fieldname: str, *, limit: float, positive: bool = False, nullable: bool = False) -> float | None:
        if value is None and nullable:
            return None
        v = self.number(value, fieldname)
        if v < 0:
            raise self.fail(fieldname, f"negative duration {v!r} s")
        if positive and v == 0:
            raise self.fail(fieldname, "must be a positive duration in seconds, got 0")
        if v > limit:
            raise self.fail(fieldname, f"{v!r} s is implausibly long (limit {limit:g} s); durations are in seconds, not ns or us")
        return v

    def probability(self, value: Any, fieldname: str, *, nullable: bool = False) -> float | None:
        if value is None and nullable:
            return None
        v = self.number(value, fieldname)
        if not 0.0 <= v <= 1.0:
            raise self.fail(fieldname, f"error probability must be in [0, 1], got {v!r}")
        return v


def validate_profile(data: Any, origin: str = "<profile>", path: Path | None = None) -> CalibrationProfile:
    """Check a parsed profile against schema version 1 and return a CalibrationProfile.

    Raises UsageError('<origin>: <field>: <reason>') at the first fault: a missing field, a wrong
    type, a wrong unit, a negative duration or an error probability outside [0, 1].
    """
    c = _Checker(origin)
    if not isinstance(data, dict):
        raise c.fail("(top level)", f"must be a JSON object, got {type(data).__name__}")
    schema = c.require(data, "schema", "")
    if schema != SCHEMA_ID:
        raise c.fail("schema", f"must be {SCHEMA_ID!r}, got {schema!r}")
    version = c.integer(c.require(data, "schema_version", ""), "schema_version", minimum=1)
    if version != SCHEMA_VERSION:
        raise c.fail("schema_version", f"version {version} is not supported (this qnewton reads version {SCHEMA_VERSION})")
    name = c.string(c.require(data, "name", ""), "name")
    if not NAME_RE.match(name):
        raise c.fail("name", f"must be letters, digits, '_', '-', '.', got {name!r}")
    kind = c.require(data, "kind", "")
    if kind not in PROFILE_KINDS:
        raise c.fail("kind", f"must be one of {', '.join(PROFILE_KINDS)}, got {kind!r}")
    label = c.string(c.require(data, "label", ""), "label")
    source = c.string(c.require(data, "source", ""), "source")
    units = c.require(data, "units", "")
    if not isinstance(units, dict):
        raise c.fail("units", f"must be an object like {{\"time\": \"s\"}}, got {units!r}")
    time_unit = c.require(units, "time", "units")
    if time_unit != "s":
        raise c.fail("units.time", f"must be 's' (all durations in seconds), got {time_unit!r}")
    if "frequency" in units and units["frequency"] != "Hz":
        raise c.fail("units.frequency", f"must be 'Hz', got {units['frequency']!r}")
    snapshot = data.get("snapshot_date")
    if snapshot is not None:
        c.string(snapshot, "snapshot_date")

    common = dict(name=name, kind=kind, label=label, source=source, snapshot_date=snapshot, path=path, raw=data)
    if kind == "hypothetical":
        gate_time = c.seconds(c.require(data, "gate_time", ""), "gate_time", limit=MAX_GATE_SECONDS, positive=True)
        return CalibrationProfile(gate_time=gate_time, **common)
    if kind == "fault-tolerant":
        return CalibrationProfile(fault_tolerant=_fault_tolerant(c, data), **common)

    c.string(c.require(data, "snapshot_date", ""), "snapshot_date")
    num_qubits = c.integer(c.require(data, "num_qubits", ""), "num_qubits", minimum=1)
    basis = c.require(data, "basis_gates", "")
    if not isinstance(basis, list) or not all(isinstance(b, str) and b for b in basis):
        raise c.fail("basis_gates", f"must be a list of gate names, got {basis!r}")
    dt = c.seconds(data.get("dt"), "dt", limit=1e-6, nullable=True)
    rep_delay = c.seconds(c.require(data, "rep_delay", ""), "rep_delay", limit=MAX_DELAY_SECONDS)

    cmap_raw = c.require(data, "coupling_map", "")
    if not isinstance(cmap_raw, list):
        raise c.fail("coupling_map", "must be a list of [control, target] pairs")
    cmap: list[tuple[int, int]] = []
    for i, edge in enumerate(cmap_raw):
        fname = f"coupling_map[{i}]"
        if not (isinstance(edge, list) and len(edge) == 2):
            raise c.fail(fname, f"must be a pair [a, b], got {edge!r}")
        a, b = (c.integer(q, fname, 0) for q in edge)
        if a >= num_qubits or b >= num_qubits or a == b:
            raise c.fail(fname, f"qubits must be distinct and < num_qubits = {num_qubits}, got {edge!r}")
        cmap.append((a, b))

    qubits_raw = c.require(data, "qubits", "")
    if not isinstance(qubits_raw, list) or len(qubits_raw) != num_qubits:
        got = len(qubits_raw) if isinstance(qubits_raw, list) else type(qubits_raw).__name__
        raise c.fail("qubits", f"must be a list with one entry per qubit ({num_qubits}), got {got}")
    qubits: list[QubitCalibration] = []
    for i, q in enumerate(qubits_raw):
        w = f"qubits[{i}]"
        index = c.integer(c.require(q, "index", w), f"{w}.index")
        if index != i:
            raise c.fail(f"{w}.index", f"must equal its position {i}, got {index}")
        qubits.append(
            QubitCalibration(
                index=index,
                t1=c.seconds(c.require(q, "t1", w), f"{w}.t1", limit=MAX_COHERENCE_SECONDS, nullable=True),
                t2=c.seconds(c.require(q, "t2", w), f"{w}.t2", limit=MAX_COHERENCE_SECONDS, nullable=True),
                frequency=_frequency(c, q.get("frequency"), f"{w}.frequency"),
                readout_error=c.probability(c.require(q, "readout_error", w), f"{w}.readout_error"),  # type: ignore[arg-type]
                readout_duration=c.seconds(c.require(q, "readout_duration", w), f"{w}.readout_duration", limit=MAX_GATE_SECONDS),  # type: ignore[arg-type]
                reset_duration=c.seconds(q.get("reset_duration"), f"{w}.reset_duration", limit=MAX_GATE_SECONDS, nullable=True),
                prob_meas0_prep1=c.probability(q.get("prob_meas0_prep1"), f"{w}.prob_meas0_prep1", nullable=True),
                prob_meas1_prep0=c.probability(q.get("prob_meas1_prep0"), f"{w}.prob_meas1_prep0", nullable=True),
            )
        )

    gates_raw = c.require(data, "gates", "")
    if not isinstance(gates_raw, dict) or not gates_raw:
        raise c.fail("gates", "must be a non-empty object mapping gate name -> list of entries")
    known = _standard_gate_names()
    gates: dict[str, tuple[GateCalibration, ...]] = {}
    for gname, entries in gates_raw.items():
        w = f"gates.{gname}"
        if gname not in known:
            raise c.fail(w, f"unknown gate name {gname!r} (use Qiskit's standard gate names)")
        if not isinstance(entries, list) or not entries:
            raise c.fail(w, "must be a non-empty list of {qubits, duration, error} entries")
        arity = known[gname]
        parsed: list[GateCalibration] = []
        for j, e in enumerate(entries):
            we = f"{w}[{j}]"
            qs = c.require(e, "qubits", we)
            if not isinstance(qs, list) or len(qs) != arity:
                raise c.fail(f"{we}.qubits", f"{gname} acts on {arity} qubit(s), got {qs!r}")
            qt = tuple(c.integer(q, f"{we}.qubits", 0) for q in qs)
            if any(q >= num_qubits for q in qt) or len(set(qt)) != len(qt):
                raise c.fail(f"{we}.qubits", f"must be distinct qubits < num_qubits = {num_qubits}, got {qs!r}")
            parsed.append(
                GateCalibration(
                    qubits=qt,
                    duration=c.seconds(c.require(e, "duration", we), f"{we}.duration", limit=MAX_GATE_SECONDS),  # type: ignore[arg-type]
                    error=c.probability(c.require(e, "error", we), f"{we}.error", nullable=True),
                )
            )
        gates[gname] = tuple(parsed)
    for b in basis:
        if b not in gates:
            raise c.fail("basis_gates", f"basis gate {b!r} has no entry under 'gates'")

    return CalibrationProfile(
        num_qubits=num_qubits,
        basis_gates=tuple(basis),
        dt=dt,
        rep_delay=rep_delay,
        coupling_map=tuple(cmap),
        qubits=tuple(qubits),
        gates=gates,
        **common,
    )


#: Fields a fault-tolerant profile may have besides the common ones, and its logical_model keys.
FT_FIELDS = ("qubit_model", "qec_scheme", "error_budget", "logical_model", "reference_kappa", "reference_epsilon")
FT_LOGICAL_FIELDS = ("oracle", "state_preparation", "entry_bits", "rotations_per_query")
_COMMON_FIELDS = ("schema", "schema_version", "name", "kind", "label", "source", "units", "snapshot_date")


def _fault_tolerant(c: _Checker, data: dict[str, Any]) -> FaultTolerantSpec:
    """The fault-tolerant part of a profile: the resource estimator's qubit model, QEC scheme and
    error budget, and the logical-model options (`qnewton.costs.ft_logical.LogicalModelOptions`)."""
    from qnewton.calibrate.ft_estimate import QEC_SCHEMES, QUBIT_MODELS
    from qnewton.costs.ft_logical import ORACLES, STATE_PREPARATIONS
    from qnewton.costs.quantum import EPSILON_MAX, KAPPA_MIN

    for key in data:
        if key not in FT_FIELDS and key not in _COMMON_FIELDS:
            raise c.fail(key, f"unknown field for a fault-tolerant profile (known: {', '.join(FT_FIELDS)})")
    qubit_model = c.string(c.require(data, "qubit_model", ""), "qubit_model")
    if qubit_model not in QUBIT_MODELS:
        raise c.fail("qubit_model", f"must be one of {', '.join(QUBIT_MODELS)}, got {qubit_model!r}")
    qec = c.string(c.require(data, "qec_scheme", ""), "qec_scheme")
    if qec not in QEC_SCHEMES:
        raise c.fail("qec_scheme", f"must be one of {', '.join(QEC_SCHEMES)}, got {qec!r}")
    if qec == "floquet_code" and not qubit_model.startswith("qubit_maj"):
        raise c.fail("qec_scheme", f"floquet_code needs a Majorana qubit model (qubit_maj_*), got {qubit_model!r}")
    budget = c.number(c.require(data, "error_budget", ""), "error_budget")
    if not 0.0 < budget < 1.0:
        raise c.fail("error_budget", f"must be a probability in (0, 1), got {budget!r}")
    ref_kappa = c.number(data.get("reference_kappa", 100.0), "reference_kappa")
    if ref_kappa < KAPPA_MIN:
        raise c.fail("reference_kappa", f"must be >= sqrt(12) = {KAPPA_MIN:.4f} (Jennings et al. Theorem 1), got {ref_kappa!r}")
    ref_eps = c.number(data.get("reference_epsilon", 0.01), "reference_epsilon")
    if not 0.0 < ref_eps <= EPSILON_MAX:
        raise c.fail("reference_epsilon", f"must lie in (0, {EPSILON_MAX}], got {ref_eps!r}")
    lm = c.require(data, "logical_model", "")
    if not isinstance(lm, dict):
        raise c.fail("logical_model", f"must be a JSON object, got {type(lm).__name__}")
    for key in lm:
        if key not in FT_LOGICAL_FIELDS:
            raise c.fail(f"logical_model.{key}", f"unknown option (known: {', '.join(FT_LOGICAL_FIELDS)})")
    options: dict[str, Any] = {}
    if "oracle" in lm:
        if lm["oracle"] not in ORACLES:
            raise c.fail("logical_model.oracle", f"must be one of {', '.join(ORACLES)}, got {lm['oracle']!r}")
        options["oracle"] = lm["oracle"]
    if "state_preparation" in lm:
        if lm["state_preparation"] not in STATE_PREPARATIONS:
            raise c.fail("logical_model.state_preparation",
                         f"must be one of {', '.join(STATE_PREPARATIONS)}, got {lm['state_preparation']!r}")
        options["state_preparation"] = lm["state_preparation"]
    if "entry_bits" in lm:
        bits = c.integer(lm["entry_bits"], "logical_model.entry_bits", minimum=1)
        if bits > 64:
            raise c.fail("logical_model.entry_bits", f"must be at most 64, got {bits}")
        options["entry_bits"] = bits
    if "rotations_per_query" in lm:
        options["rotations_per_query"] = c.integer(lm["rotations_per_query"], "logical_model.rotations_per_query", minimum=0)
    return FaultTolerantSpec(qubit_model=qubit_model, qec_scheme=qec, error_budget=budget,
                             logical_model=LogicalModelOptions(**options), reference_kappa=ref_kappa,
                             reference_epsilon=ref_eps)


def _frequency(c: _Checker, value: Any, fieldname: str) -> float | None:
    if value is None:
        return None
    v = c.number(value, fieldname)
    if v < 0:
        raise c.fail(fieldname, f"must be >= 0 Hz, got {v!r}")
    return v


def _standard_gate_names() -> dict[str, int]:
    """Qiskit's standard gate names -> number of qubits (cached)."""
    global _STD_GATES
    if _STD_GATES is None:
        from qiskit.circuit.library import get_standard_gate_name_mapping

        _STD_GATES = {
            name: op.num_qubits
            for name, op in get_standard_gate_name_mapping().items()
            if name not in ("measure", "reset", "delay", "barrier") and getattr(op, "num_qubits", 0) >= 1
        }
    return _STD_GATES


_STD_GATES: dict[str, int] | None = None
