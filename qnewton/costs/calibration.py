"""Calibration profiles: versioned JSON files that say how fast and how noisy a device is.

A profile is either

* ``kind = "device"``: a calibration snapshot of a real (or fake) device -- per-qubit T1, T2,
  readout error and readout duration, per-gate duration and error for every basis gate on every
  qubit or coupler, reset duration, repetition delay, coupling map; or
* ``kind = "hypothetical"``: only what it defines, a gate time t_g in seconds and a label (the
  paper prices quantum time as R_q = t_g * E[queries], Q-Newton Sec. IV-C, with t_g = 1e-18 s for
  Tables III/IV and 1e-9 s / 1e-12 s as faster-hardware scenarios).

Every duration is in seconds, every error probability in [0, 1]. The schema is written out in
``calibrations/SCHEMA.md`` and ``docs/calibrations.md``; this module is its only reader.

Profiles are found by name in ``$QNEWTON_CALIBRATIONS`` (if set) and then in the repository's
top-level ``calibrations/`` directory, or given by path. A malformed profile raises
``UsageError`` with one line: ``<file>: <field>: <reason>``.

``query_time_model(name_or_path)`` turns a profile into a ``QueryTimeModel`` for the scheduler:
``GateTimeModel(t_g)`` for hypothetical profiles, ``CalibratedQueryTimeModel`` (transpiled
block-encoding query circuits, see ``qnewton.costs.calibrated_query_time``) for devices.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qnewton.errors import UsageError

SCHEMA_ID = "qnewton-calibration"
SCHEMA_VERSION = 1
ProfileKind = Literal["device", "hypothetical"]
PROFILE_KINDS: tuple[str, ...] = ("device", "hypothetical")
ENV_CALIBRATIONS = "QNEWTON_CALIBRATIONS"

#: Plausibility limits that catch numbers written in the wrong unit (ns or us instead of s).
MAX_GATE_SECONDS = 1e-2
MAX_COHERENCE_SECONDS = 100.0
MAX_DELAY_SECONDS = 10.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# --------------------------------------------------------------------------------------------
# Data classes


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


@dataclass
class CalibrationProfile:
    """A validated calibration profile (see module docstring for the two kinds)."""

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
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_device(self) -> bool:
        """True for a device snapshot, False for a hypothetical gate-time profile."""
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


# --------------------------------------------------------------------------------------------
# Validation


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
    if not _NAME_RE.match(name):
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


# --------------------------------------------------------------------------------------------
# Finding, loading and saving


def repo_calibrations_dir() -> Path:
    """The repository's top-level calibrations/ directory (qnewton/costs/calibration.py -> ../../)."""
    return Path(__file__).resolve().parents[2] / "calibrations"


def calibration_dirs() -> list[Path]:
    """Search path: $QNEWTON_CALIBRATIONS (os.pathsep-separated), then the repository's calibrations/."""
    dirs: list[Path] = []
    env = os.environ.get(ENV_CALIBRATIONS)
    if env:
        dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    dirs.append(repo_calibrations_dir())
    return dirs


def list_profiles() -> list[tuple[str, Path]]:
    """(name, path) of every *.json profile on the search path; earlier directories win on a name
    clash. Entries are not opened here (`load_profile` reads and checks each one)."""
    found: dict[str, Path] = {}
    for d in calibration_dirs():
        try:
            if not d.is_dir():
                continue
            entries = sorted(d.glob("*.json"))
        except OSError:  # an unreadable search directory contributes nothing
            continue
        for p in entries:
            found.setdefault(p.stem, p)
    return sorted(found.items())


def resolve_profile_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A name (looked up on the search path) or a path to a JSON file -> the file to read.

    A path that exists in any form (a directory, a FIFO, a broken or looping symbolic link) is
    returned as is, so that `load_profile` can say what is wrong with it instead of "not found"."""
    text = os.fspath(name_or_path)
    if not text:
        raise UsageError("calibration: empty profile name")
    if "\0" in text:
        raise UsageError("calibration: profile name contains a NUL character")
    p = Path(text).expanduser()
    looks_like_path = p.suffix == ".json" or os.sep in text or (os.altsep is not None and os.altsep in text)
    if looks_like_path:
        if os.path.lexists(p):
            return p
        if p.suffix == ".json" and p.name == text:  # "ibm_sherbrooke.json": also try it as a name
            text = p.stem
        else:
            raise UsageError(f"calibration: {text}: no such profile file")
    if not _NAME_RE.match(text):
        raise UsageError(f"calibration: {text!r} is neither a profile name (letters, digits, '_', '-', '.') nor a path to a .json file")
    for d in calibration_dirs():
        candidate = d / f"{text}.json"
        if os.path.lexists(candidate):
            return candidate
    names = ", ".join(n for n, _ in list_profiles()) or "none"
    raise UsageError(f"calibration: unknown profile {text!r} (available: {names}; or give a path to a .json file)")


def load_profile(name_or_path: str | os.PathLike[str]) -> CalibrationProfile:
    """Load and validate a profile by name (search path) or by path to a JSON file.

    The file is read through `qnewton.jsonutil` (a regular file, size within the ``json_bytes``
    limit, UTF-8, nesting depth within ``json_depth``), so a hostile file is a one-line UsageError
    that starts with the file's path, never a crash."""
    from qnewton.jsonutil import loads_limited, read_text_limited
    from qnewton.matrixio import check_input_file

    path = resolve_profile_path(name_or_path)
    check_input_file(path, field="calibration")
    text = read_text_limited(path, field="calibration")
    data = loads_limited(text, field=str(path))
    return validate_profile(data, origin=str(path), path=path)


def dumps_profile(data: dict[str, Any]) -> str:
    """JSON text of a profile: top-level keys one per line, list entries one per line (diff-friendly)."""
    lines = ["{"]
    items = list(data.items())
    for k, (key, value) in enumerate(items):
        end = "," if k < len(items) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
            inner = ",\n".join(f"    {json.dumps(v, separators=(', ', ': '))}" for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{inner}\n  ]{end}")
        elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            sub = []
            for gname, entries in value.items():
                inner = ",\n".join(f"      {json.dumps(e, separators=(', ', ': '))}" for e in entries)
                sub.append(f"    {json.dumps(gname)}: [\n{inner}\n    ]")
            lines.append(f"  {json.dumps(key)}: {{\n" + ",\n".join(sub) + f"\n  }}{end}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, separators=(', ', ': '))}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_profile(
    data: dict[str, Any], path: str | os.PathLike[str], *, overwrite: bool = False, field: str = "--out"
) -> Path:
    """Validate `data` and write it atomically (temporary file in the same directory, then rename).

    Missing parent directories are created; an existing file is replaced only with `overwrite`
    (`qnewton.files.check_output`). Path problems (a directory at `path`, a file where a directory
    should be) raise a one-line UsageError naming `field`.
    """
    from qnewton.files import check_output, write_text_atomic

    out = Path(path).expanduser()
    validate_profile(data, origin=str(out))
    check_output(out, force=overwrite, field=field, make_parents=True)
    return write_text_atomic(out, dumps_profile(data), field=field, make_parents=True)


# --------------------------------------------------------------------------------------------
# Profiles -> query-time models


def query_time_model(name_or_path: str | os.PathLike[str] | CalibrationProfile, **options: Any) -> Any:
    """The QueryTimeModel a profile implies.

    hypothetical: GateTimeModel(gate_time, label=name) -- one query costs one gate time t_g
                  (the paper's R_q = t_g * E[queries], Sec. IV-C).
    device:       CalibratedQueryTimeModel(profile, **options) -- the duration of a transpiled
                  block-encoding query circuit, extrapolated beyond the transpiled sizes.
    """
    from qnewton.costs.query_time import GateTimeModel

    profile = name_or_path if isinstance(name_or_path, CalibrationProfile) else load_profile(name_or_path)
    if profile.kind == "hypothetical":
        if options:
            raise UsageError(f"calibration: options {sorted(options)} apply only to device profiles, not {profile.name!r}")
        return GateTimeModel(gate_time_seconds=float(profile.gate_time), label=profile.name)  # type: ignore[arg-type]
    from qnewton.costs.calibrated_query_time import CalibratedQueryTimeModel

    return CalibratedQueryTimeModel(profile, **options)
