"""Export a calibration profile (schema v1, see `qnewton.calibrate.profiles`) from a Qiskit backend.

Works for any `BackendV2` with a populated `Target`: qiskit-ibm-runtime's fake backends (whose
numbers are a frozen calibration snapshot) and live `IBMBackend`s alike. What is read:

    target.qubit_properties[q]      -> qubits[q].t1, .t2, .frequency   (s, s, Hz)
    target["measure"][(q,)]         -> qubits[q].readout_error, .readout_duration
    target["reset"][(q,)].duration  -> qubits[q].reset_duration
    target[gate][qargs]             -> gates[gate][...] = {qubits, duration, error}
    backend.properties() (if any)   -> snapshot date, device name, prob_meas0_prep1 / prob_meas1_prep0
    backend.configuration() (if any)-> default_rep_delay (s)

Numbers are copied unchanged (Python floats round-trip exactly through JSON), so an exported
profile reproduces the backend's target exactly.
"""

from __future__ import annotations

from typing import Any

from qnewton.calibrate.profiles import SCHEMA_ID, SCHEMA_VERSION
from qnewton.errors import UsageError
from qnewton.quantum.device_timing import backend_rep_delay_seconds

_SKIP = {"measure", "reset", "delay", "barrier", "if_else", "switch_case", "for_loop", "while_loop", "box"}


def _properties(backend: Any) -> Any:
    try:
        return backend.properties()
    except Exception:  # noqa: BLE001 - properties are optional extras
        return None


def _float_or_none(x: Any) -> float | None:
    return None if x is None else float(x)


def profile_from_backend(backend: Any, *, source: str, name: str | None = None, label: str | None = None) -> dict[str, Any]:
    """Calibration profile dict (schema v1, kind "device") from a BackendV2's target and properties."""
    target = getattr(backend, "target", None)
    if target is None or target.num_qubits is None:
        raise UsageError(f"backend: {getattr(backend, 'name', backend)!r} has no target to export")
    props = _properties(backend)
    device = name or (getattr(props, "backend_name", None) if props is not None else None) or backend.name
    snapshot = None
    if props is not None and getattr(props, "last_update_date", None) is not None:
        snapshot = props.last_update_date.isoformat()
    if snapshot is None:
        from datetime import datetime, timezone

        snapshot = datetime.now(timezone.utc).isoformat(timespec="seconds")

    nq = int(target.num_qubits)
    qprops = target.qubit_properties or [None] * nq
    measure = target["measure"] if "measure" in target.operation_names else {}
    reset = target["reset"] if "reset" in target.operation_names else {}
    qubits = []
    for q in range(nq):
        qp = qprops[q]
        m = measure.get((q,)) if measure else None
        if m is None or m.duration is None or m.error is None:
            raise UsageError(f"backend: {device!r} reports no measurement duration/error for qubit {q}")
        r = reset.get((q,)) if reset else None
        entry: dict[str, Any] = {
            "index": q,
            "t1": _float_or_none(getattr(qp, "t1", None)),
            "t2": _float_or_none(getattr(qp, "t2", None)),
            "frequency": _float_or_none(getattr(qp, "frequency", None)),
            "readout_error": float(m.error),
            "readout_duration": float(m.duration),
            "reset_duration": _float_or_none(getattr(r, "duration", None)),
        }
        if props is not None:
            for key in ("prob_meas0_prep1", "prob_meas1_prep0"):
                try:
                    entry[key] = float(props.qubit_property(q, key)[0])
                except Exception:  # noqa: BLE001 - optional per-qubit extras
                    pass
        qubits.append(entry)

    gates: dict[str, list[dict[str, Any]]] = {}
    for gname in sorted(target.operation_names):
        if gname in _SKIP:
            continue
        inst_props = target[gname]
        if not inst_props:
            continue
        entries = []
        for qargs, ip in sorted(inst_props.items(), key=lambda kv: kv[0] or ()):
            if qargs is None or ip is None or ip.duration is None:
                continue
            entries.append({"qubits": list(qargs), "duration": float(ip.duration), "error": _float_or_none(ip.error)})
        if entries:
            gates[gname] = entries
    basis = [g for g in gates]

    rep_delay = backend_rep_delay_seconds(backend)
    cmap = target.build_coupling_map()
    edges = sorted([list(e) for e in cmap.get_edges()]) if cmap is not None else []

    return {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "name": str(device),
        "kind": "device",
        "label": label or f"{device} calibration snapshot ({snapshot[:10]})",
        "source": source,
        "snapshot_date": snapshot,
        "units": {"time": "s", "frequency": "Hz"},
        "num_qubits": nq,
        "basis_gates": basis,
        "dt": _float_or_none(getattr(target, "dt", None)),
        "rep_delay": float(rep_delay),
        "coupling_map": edges,
        "qubits": qubits,
        "gates": gates,
    }


def export_profile(backend_spec: str, *, service: Any = None, name: str | None = None) -> dict[str, Any]:
    """Calibration profile dict (schema v1) for 'fake_xxx' / 'fake:NAME' / 'ibm:NAME' (a live
    backend needs an IBM Quantum account, `qnewton.quantum.ibm_account`)."""
    import qiskit_ibm_runtime

    from qnewton.quantum.ibm_account import resolve_backend

    backend = resolve_backend(backend_spec, service=service)
    version = qiskit_ibm_runtime.__version__
    if backend_spec.startswith("ibm:"):
        source = f"QiskitRuntimeService().backend({backend.name!r}) via qiskit-ibm-runtime {version}"
    else:
        source = f"qiskit_ibm_runtime.fake_provider.{type(backend).__name__} (qiskit-ibm-runtime {version})"
    return profile_from_backend(backend, source=source, name=name)
