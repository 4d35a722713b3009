"""SWAP test and its ancilla-free Bell-basis variant: estimate the overlap |<a|b>|^2 of two states.

SWAP test (Buhrman, Cleve, Watrous, de Wolf 2001): an ancilla in |+>, controlled swaps of the two
registers, H on the ancilla; P(ancilla = 0) = (1 + |<a|b>|^2) / 2, so the estimator is
o_hat = 2 P_hat(0) - 1 with variance 4 P0 (1 - P0) / S = (1 - o^2) / S for S shots.

Bell-basis variant (Garcia-Escartin, Chamorro-Posada 2013): no ancilla; for each qubit pair
(a_i, b_i) apply CX(a_i -> b_i) then H(a_i) and measure both registers. The swap operator's
eigenvalue of an outcome is (-1)^(sum_i a_i b_i), so |<a|b>|^2 = 1 - 2 P(sum_i a_i b_i odd), with the
same variance (1 - o^2) / S. Depth is constant (one CX layer) instead of n controlled swaps.

When one state is a solver output that needs post-selection (flags), only the shots whose flags
succeed count: the effective number of shots is S p, and the estimate is the overlap with the
normalized post-selected state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from qnewton.errors import UsageError
from qnewton.quantum.solver_circuit import SolverCircuit
from qnewton.quantum.state_prep import state_preparation

OverlapTest = Literal["swap", "bell"]

#: Largest count `shots_for_precision` returns (a tiny std or p would give an astronomic number).
SHOTS_SATURATION = 2**62


@dataclass(frozen=True)
class OverlapEstimate:
    """value: estimate of |<a|b>|^2 (clipped to [0, 1]); std: its standard deviation estimate
    sqrt((1 - o^2) / S_eff); shots: effective (post-selected) shots; success_probability: their
    fraction of all shots (1.0 without post-selection)."""

    value: float
    std: float
    shots: int
    success_probability: float


def shots_for_precision(std: float, overlap: float = 0.0, success_probability: float = 1.0) -> int:
    """Shots S so that the overlap estimate has standard deviation <= std: S = (1 - o^2) / (std^2 p).

    overlap: a guess of |<a|b>|^2 (0 is the worst case); success_probability: post-selection rate p.
    The result saturates at SHOTS_SATURATION = 2^62 (callers cap it far lower, at their own
    maximum number of shots).
    """
    for name, value in (("std", std), ("success_probability", success_probability), ("overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise UsageError(f"{name}: must be a finite number, got {value!r}")
    if not (0 < std < 1):
        raise UsageError(f"std: must be in (0, 1), got {std!r}")
    if not (0 < success_probability <= 1):
        raise UsageError(f"success_probability: must be in (0, 1], got {success_probability!r}")
    o = min(max(float(overlap), 0.0), 1.0)
    # std * std * p underflows to 0 for std ~ 1e-200, and the quotient can exceed every integer a
    # shot count could be: such requests saturate at SHOTS_SATURATION
    denom = float(std) * float(std) * float(success_probability)
    need = max(1.0 - o * o, 1e-12) / denom if denom > 0 else math.inf
    if not need < SHOTS_SATURATION:
        return SHOTS_SATURATION
    return max(1, math.ceil(need))


def _prep_circuit(state: np.ndarray | QuantumCircuit) -> QuantumCircuit:
    if isinstance(state, QuantumCircuit):
        return state
    v = np.asarray(state, dtype=np.complex128).ravel()
    n = int(round(math.log2(v.size)))
    if 2**n != v.size or n < 1:
        raise UsageError(f"state: length must be a power of two >= 2, got {v.size}")
    qc = QuantumCircuit(n)
    qc.append(state_preparation_complex(v), range(n))
    return qc


def state_preparation_complex(v: np.ndarray) -> Any:
    """StatePreparation gate for v / ||v|| (real vectors through `state_preparation`)."""
    from qiskit.circuit.library import StatePreparation

    from qnewton.analysis.scaling import unit_vector

    if not (np.all(np.isfinite(v)) and np.any(v)):
        raise UsageError("state: must be a finite nonzero vector")
    if not np.any(v.imag):
        return state_preparation(v.real)
    u = unit_vector(v)
    if np.allclose(u.imag, 0):
        return state_preparation(u.real)
    return StatePreparation(u, label="prep")


def overlap_circuit(
    a: np.ndarray | QuantumCircuit | SolverCircuit,
    b: np.ndarray | QuantumCircuit,
    test: OverlapTest = "swap",
) -> QuantumCircuit:
    """Circuit estimating |<a|b>|^2. `a` may be a SolverCircuit (its output state after post-selection).

    Classical bits: [flags of a (sorted qubit order)..., then "swap": the ancilla bit;
    "bell": a_0..a_{n-1}, b_0..b_{n-1}].
    """
    if test not in ("swap", "bell"):
        raise UsageError(f"test: must be 'swap' or 'bell', got {test!r}")
    if isinstance(a, SolverCircuit):
        a_circ, a_sys, flags = a.circuit, list(a.system_qubits), dict(a.flags)
    else:
        a_circ = _prep_circuit(a)
        a_sys, flags = list(range(a_circ.num_qubits)), {}
    b_circ = _prep_circuit(b)
    n = len(a_sys)
    if b_circ.num_qubits != n:
        raise UsageError(f"b: has {b_circ.num_qubits} qubits, the other state has {n}")
    ra = QuantumRegister(a_circ.num_qubits, "a")
    rb = QuantumRegister(n, "b")
    regs = [ra, rb]
    if test == "swap":
        anc = QuantumRegister(1, "swap")
        regs.append(anc)
    qc = QuantumCircuit(*regs, name=f"{test}-test")
    qc.compose(a_circ, qubits=ra[:], inplace=True)
    qc.compose(b_circ, qubits=rb[:], inplace=True)
    flag_q = sorted(flags)
    nbits = len(flag_q) + (1 if test == "swap" else 2 * n)
    creg = ClassicalRegister(nbits, "c")
    qc.add_register(creg)
    if test == "swap":
        qc.h(anc[0])
        for i in range(n):
            qc.cswap(anc[0], ra[a_sys[i]], rb[i])
        qc.h(anc[0])
    else:
        for i in range(n):
            qc.cx(ra[a_sys[i]], rb[i])
            qc.h(ra[a_sys[i]])
    for k, q in enumerate(flag_q):
        qc.measure(ra[q], creg[k])
    off = len(flag_q)
    if test == "swap":
        qc.measure(anc[0], creg[off])
    else:
        for i in range(n):
            qc.measure(ra[a_sys[i]], creg[off + i])
            qc.measure(rb[i], creg[off + n + i])
    qc.metadata = {"test": test, "flags": [flags[q] for q in flag_q], "n": n}
    return qc


def estimate_overlap(counts: dict[str, int], circuit: QuantumCircuit) -> OverlapEstimate:
    """Overlap estimate from the counts of `overlap_circuit` (post-selecting its flags)."""
    meta = circuit.metadata or {}
    test, flag_vals, n = meta.get("test"), list(meta.get("flags", [])), int(meta.get("n", 0))
    if test not in ("swap", "bell"):
        raise UsageError("circuit: not built by overlap_circuit (metadata missing)")
    nf = len(flag_vals)
    total = good = odd = 0
    for key, c in counts.items():
        bits = key.replace(" ", "")[::-1]  # bits[k] = clbit k
        total += c
        if any(int(bits[k]) != flag_vals[k] for k in range(nf)):
            continue
        good += c
        if test == "swap":
            odd += c * int(bits[nf])
        else:
            parity = sum(int(bits[nf + i]) & int(bits[nf + n + i]) for i in range(n)) % 2
            odd += c * parity
    if good == 0:
        raise UsageError("shots: no shot passed post-selection; raise the shot count")
    p_odd = odd / good
    value = min(max(1.0 - 2.0 * p_odd, 0.0), 1.0)
    std = math.sqrt(max(4.0 * p_odd * (1.0 - p_odd), 1.0 / good) / good)
    return OverlapEstimate(value=value, std=std, shots=good, success_probability=good / max(total, 1))


def exact_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """|<a|b>|^2 of the normalized vectors (the statevector reference; any scale, nonzero vectors)."""
    from qnewton.analysis.scaling import unit_vector

    a = np.asarray(a, dtype=np.complex128).ravel()
    b = np.asarray(b, dtype=np.complex128).ravel()
    if a.shape != b.shape:
        raise UsageError(f"b: has length {b.size}, the other state has {a.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.any(a) and np.any(b)):
        raise UsageError("a, b: must be finite nonzero vectors")
    return float(abs(np.vdot(unit_vector(a), unit_vector(b))) ** 2)
