"""The common result of building a linear-solver circuit (HHL or QSVT) and its exact readout.

A `SolverCircuit` prepares, after post-selection of its flag qubits, the state

    |x_hat> = sum_i x_i |i> / ||x||,   x = A^-1 b   (padded to a power of two).

The unnormalized post-selected amplitude vector v (norm^2 = success probability p) satisfies
x = norm_factor * v, so ||x|| = norm_factor * sqrt(p): the success probability is the norm
estimate (HHL: norm_factor = ||b|| / (C * scale), QSVT: ||b|| * M / alpha, see those modules).
`exact_readout` reads v from the statevector (exact, signs included: only for checks);
`counts_readout` estimates |x_i| and p from measurement counts (no signs, see `readout.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import QuantumCircuit


@dataclass
class SolverCircuit:
    """A linear-solver circuit without measurements.

    circuit: the unitary circuit (state preparation included).
    system_qubits: qubit indices of the solution register, least significant first.
    flags: {qubit index: required bit} for post-selection.
    norm_factor: x = norm_factor * (post-selected unnormalized amplitudes).
    original_size: N before padding; the solution is the first N entries.
    method: "hhl" or "qsvt".
    details: method parameters (clock size, evolution time, degree, polynomial error, ...).
    """

    circuit: QuantumCircuit
    system_qubits: list[int]
    flags: dict[int, int]
    norm_factor: float
    original_size: int
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def num_qubits(self) -> int:
        """Qubits of the solver circuit (system, clock or signal ancillas, flags)."""
        return self.circuit.num_qubits

    def measured(self) -> QuantumCircuit:
        """A copy measuring flag and system qubits: classical bits [flags (sorted)..., system...]."""
        flag_q = sorted(self.flags)
        qc = self.circuit.copy()
        from qiskit import ClassicalRegister

        creg = ClassicalRegister(len(flag_q) + len(self.system_qubits), "meas")
        qc.add_register(creg)
        for i, q in enumerate(flag_q + list(self.system_qubits)):
            qc.measure(q, creg[i])
        return qc


@dataclass
class Readout:
    """Solution read from a SolverCircuit.

    x: estimate of A^-1 b (first original_size entries), float64.
    success_probability: post-selection rate p.
    state: normalized post-selected system state (padded length), real.
    """

    x: np.ndarray
    success_probability: float
    state: np.ndarray


def postselected_amplitudes(sc: SolverCircuit, statevector: np.ndarray) -> np.ndarray:
    """Unnormalized amplitudes of the system register with every flag at its required bit."""
    psi = np.asarray(statevector).reshape([2] * sc.num_qubits)  # axis k <-> qubit (num_qubits-1-k)
    nq = sc.num_qubits
    index: list[Any] = [slice(None)] * nq
    for q, bit in sc.flags.items():
        index[nq - 1 - q] = bit
    sub = psi[tuple(index)]
    # remaining axes are the non-flag qubits in decreasing qubit order; keep only system ones
    remaining = [q for q in range(nq - 1, -1, -1) if q not in sc.flags]
    others = [q for q in remaining if q not in sc.system_qubits]
    if others:
        # idle qubits (should be |0>): take their 0 component
        idx2: list[Any] = [0 if q in others else slice(None) for q in remaining]
        sub = sub[tuple(idx2)]
        remaining = [q for q in remaining if q not in others]
    # order axes so that the flattened index is sum_i bit(system_qubits[i]) 2^i
    order = [remaining.index(q) for q in reversed(sc.system_qubits)]
    sub = np.transpose(sub, order)
    return sub.reshape(-1)


def exact_readout(sc: SolverCircuit) -> Readout:
    """Exact statevector readout (signs included; for checks, not a device), simulated with Aer's
    statevector method (much faster than `qiskit.quantum_info.Statevector` on the multiplexed
    rotations of a large HHL clock)."""
    return readout_from_statevector(sc, _default_statevector_executor().statevector(sc.circuit))


_EXECUTOR: Any = None


def _default_statevector_executor() -> Any:
    global _EXECUTOR
    if _EXECUTOR is None:
        from qnewton.quantum.backends import make_executor

        _EXECUTOR = make_executor("statevector")
    return _EXECUTOR


def readout_from_statevector(sc: SolverCircuit, statevector: np.ndarray) -> Readout:
    """x = norm_factor * (post-selected amplitudes), p = their squared norm; a global phase is removed."""
    v = postselected_amplitudes(sc, statevector)
    p = float(np.vdot(v, v).real)
    if p <= 0:
        return Readout(x=np.zeros(sc.original_size), success_probability=0.0, state=np.zeros(v.shape[0]))
    # HHL and QSVT post-selected amplitudes are real (the simulator tracks the global phase);
    # if a backend returns a state with a global phase, remove it using the largest entry.
    if np.max(np.abs(v.imag)) <= 1e-9 * np.max(np.abs(v)):
        vr = v.real
    else:
        k = int(np.argmax(np.abs(v)))
        vr = (v * (abs(v[k]) / v[k])).real
    state = vr / np.sqrt(p)
    x = sc.norm_factor * vr
    return Readout(x=x[: sc.original_size].copy(), success_probability=p, state=state)


def fidelity(x: np.ndarray, y: np.ndarray) -> float:
    """|<x|y>|^2 / (||x||^2 ||y||^2): the state fidelity between two solution vectors."""
    from qnewton.analysis.scaling import unit_vector

    x = np.asarray(x, dtype=np.complex128).ravel()
    y = np.asarray(y, dtype=np.complex128).ravel()
    sx, sy = float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(y), initial=0.0))
    if sx == 0 or sy == 0 or not (np.isfinite(sx) and np.isfinite(sy)):
        return 0.0
    # unit vectors formed after an exact power-of-two rescaling: no overflow or underflow for
    # |x| ~ 1e300 or subnormal entries (dividing by a subnormal max would overflow)
    return float(min(abs(np.vdot(unit_vector(x), unit_vector(y))) ** 2, 1.0))


def relative_error(x: np.ndarray, reference: np.ndarray) -> float:
    """||x - reference|| / ||reference||, computed after dividing both by a power of two near
    max|reference| (no overflow or underflow)."""
    from qnewton.analysis.scaling import binary_exponent

    r = np.asarray(reference, dtype=np.float64).ravel()
    s = float(np.max(np.abs(r), initial=0.0))
    if s == 0 or not np.isfinite(s):
        return float("nan")
    e = binary_exponent(s)  # divide by 2^e (exact) rather than by s
    xs = np.ldexp(np.asarray(x, dtype=np.float64).ravel(), -e)
    rs = np.ldexp(r, -e)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(xs - rs) / np.linalg.norm(rs))
