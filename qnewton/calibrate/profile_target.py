"""Build a Qiskit transpiler `Target` from a device calibration profile (`qnewton.calibrate.profiles`).

The target carries exactly the profile's numbers: each gate's duration and error on each qubit or
coupler, measurement duration and readout error per qubit, reset durations and T1/T2/frequency as
qubit properties. Transpiling for it and calling `QuantumCircuit.estimate_duration(target)` gives
the circuit's duration on the profiled device, with no network and no fake-backend class needed,
so a user's own device profile works like the shipped ibm_sherbrooke one.
"""

from __future__ import annotations

import functools
from typing import Any

from qnewton.calibrate.profiles import CalibrationProfile
from qnewton.errors import UsageError


def profile_target(profile: CalibrationProfile) -> Any:
    """The Target of a device profile (cached by the profile's content fingerprint)."""
    if not profile.is_device:
        raise UsageError(f"calibration: {profile.name!r} is hypothetical (a gate time only); it has no device target")
    return _target_cached(profile.fingerprint(), _Holder(profile))


class _Holder:
    """Passes the profile through lru_cache without hashing it (the fingerprint is the key)."""

    def __init__(self, profile: CalibrationProfile) -> None:
        self.profile = profile

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Holder)


@functools.lru_cache(maxsize=8)
def _target_cached(fingerprint: str, holder: _Holder) -> Any:
    from qiskit.circuit import Measure, Reset
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.providers import QubitProperties
    from qiskit.transpiler import InstructionProperties, Target

    profile = holder.profile
    qprops = [QubitProperties(t1=q.t1, t2=q.t2, frequency=q.frequency) for q in profile.qubits]
    target = Target(
        description=f"qnewton calibration profile {profile.name}",
        num_qubits=profile.num_qubits,
        dt=profile.dt,
        qubit_properties=qprops,
    )
    mapping = get_standard_gate_name_mapping()
    for gname, entries in profile.gates.items():
        target.add_instruction(
            mapping[gname],
            {g.qubits: InstructionProperties(duration=g.duration, error=g.error) for g in entries},
            name=gname,
        )
    target.add_instruction(
        Measure(),
        {(q.index,): InstructionProperties(duration=q.readout_duration, error=q.readout_error) for q in profile.qubits},
    )
    if all(q.reset_duration is not None for q in profile.qubits):
        target.add_instruction(
            Reset(), {(q.index,): InstructionProperties(duration=q.reset_duration) for q in profile.qubits}
        )
    return target
