"""Calibration profiles in memory: what a device (or a hypothetical scenario) is like.

A profile is either

* ``kind = "device"``: a calibration snapshot of a real (or fake) device -- per-qubit T1, T2,
  readout error and readout duration, per-gate duration and error for every basis gate on every
  qubit or coupler, reset duration, repetition delay, coupling map; or
* ``kind = "hypothetical"``: only what it defines, a gate time t_g in seconds and a label (the
  paper prices quantum time as R_q = t_g * E[queries], Q-Newton Sec. IV-C, with t_g = 1e-18 s for
  Tables III/IV and 1e-9 s / 1e-12 s as faster-hardware scenarios); or
* ``kind = "fault-tolerant"``: error-corrected hardware described by a qubit model, a QEC scheme
  and an error budget of Microsoft's resource estimator, plus the options of our logical circuit
  model (`FaultTolerantSpec`); a solve is priced by `qnewton.calibrate.ft_query_time`.

Every duration is in seconds, every error probability in [0, 1]. The JSON schema is written out in
``calibrations/SCHEMA.md`` and ``docs/calibrations.md``; `qnewton.calibrate.profile_schema`
checks a file against it and builds these objects, `qnewton.calibrate.profile_files` finds, reads
and writes the files.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qnewton.costs.ft_logical import LogicalModelOptions
from qnewton.errors import UsageError

SCHEMA_ID = "qnewton-calibration"
SCHEMA_VERSION = 1
ProfileKind = Literal["device", "hypothetical", "fault-tolerant"]
PROFILE_KINDS: tuple[str, ...] = ("device", "hypothetical", "fault-tolerant")


@dataclass(frozen=True)
class QubitCalibration:
    """One physical qubit: coherence times, readout error and durations (seconds)."""

    index: int
    t1: float | None
    t2: float | None
    frequency: float | None
    readout_error: float
    readout_duration: float
    reset_duration: float | None = None
    prob_meas0_prep1: float | None = None
    prob_meas1_prep0: float | None = None


@dataclass(frozen=True)
class GateCalibration:
    """One gate on one qubit tuple: duration (s) and error probability (None = not reported)."""

    qubits: tuple[int, ...]
    duration: float
    error: float | None


@dataclass(frozen=True)
class FaultTolerantSpec:
    """Error-corrected hardware and the logical model of a fault-tolerant profile.

    qubit_model, qec_scheme: predefined names of the resource estimator (`qubit_gate_ns_e3`,
    ..., `surface_code` / `floquet_code`); error_budget: total failure probability of one run;
    logical_model: how the logical circuit is counted (`qnewton.costs.ft_logical`);
    reference_kappa, reference_epsilon: the point at which `seconds_per_query(n, d)` is quoted
    when the caller gives no kappa (the cost model passes the real one).
    """

    qubit_model: str
    qec_scheme: str
    error_budget: float
    logical_model: LogicalModelOptions = field(default_factory=LogicalModelOptions)
    reference_kappa: float = 100.0
    reference_epsilon: float = 0.01


@dataclass
class CalibrationProfile:
    """A validated calibration profile (see module docstring for the three kinds)."""

    name: str
    kind: ProfileKind
    label: str
    source: str
    snapshot_date: str | None = None
    path: Path | None = None
    gate_time: float | None = None
    num_qubits: int = 0
    basis_gates: tuple[str, ...] = ()
    dt: float | None = None
    rep_delay: float | None = None
    coupling_map: tuple[tuple[int, int], ...] = ()
    qubits: tuple[QubitCalibration, ...] = ()
    gates: dict[str, tuple[GateCalibration, ...]] = field(default_factory=dict)
    fault_tolerant: FaultTolerantSpec | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_device(self) -> bool:
        """True for a device snapshot, False for a hypothetical or fault-tolerant profile."""
        return self.kind == "device"

    def fingerprint(self) -> str:
        """Stable hash of the profile's content (keys caches of transpiled circuits)."""
        import hashlib

        blob = json.dumps(self.raw, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def median_gate_duration(self, gate: str) -> float:
        """Median duration (s) of `gate` over all qubits/couplers that have it."""
        return statistics.median(g.duration for g in self._gate(gate))

    def median_gate_error(self, gate: str) -> float:
        """Median error of `gate` (entries with no reported error are skipped; 0 if none reported)."""
        errs = [g.error for g in self._gate(gate) if g.error is not None]
        return statistics.median(errs) if errs else 0.0

    def median_qubit(self, attr: str) -> float | None:
        """Median of a QubitCalibration field over the qubits that report it (None if none do)."""
        vals = [getattr(q, attr) for q in self.qubits if getattr(q, attr) is not None]
        return statistics.median(vals) if vals else None

    def two_qubit_gates(self) -> list[str]:
        """Names of the profile's two-qubit gates (e.g. ['ecr'])."""
        return sorted(g for g, entries in self.gates.items() if entries and len(entries[0].qubits) == 2)

    def one_qubit_gates(self) -> list[str]:
        """Names of the profile's one-qubit gates."""
        return sorted(g for g, entries in self.gates.items() if entries and len(entries[0].qubits) == 1)

    def _gate(self, gate: str) -> tuple[GateCalibration, ...]:
        if gate not in self.gates or not self.gates[gate]:
            raise UsageError(f"{self.name}: gates.{gate}: not in this profile (has {', '.join(sorted(self.gates))})")
        return self.gates[gate]
