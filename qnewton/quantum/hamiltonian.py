"""Hamiltonian simulation exp(iAt) of a real symmetric matrix, the oracle HHL's phase estimation uses.

Qiskit's `HamiltonianGate(H, t)` implements exp(-iHt), so exp(iAt) is `HamiltonianGate(A, -t)`.
Phase estimation needs the controlled powers exp(iA t 2^j); we build each as one exactly
synthesized controlled unitary (`controlled_evolution_gate`). This is the oracle model: a real
device would implement exp(iAt) by Trotter steps or qubitization with cost growing like ||A|| t;
transpiling our exact unitary instead gives a cost that depends on the qubit count only
(see docs/quantum.md, "Where we differ from the paper").

`evolution_gate` checks its input first (real, finite, symmetric, a power-of-two size) and
refuses ||A t|| above MAX_PHASE: the matrix exponential of a larger argument has no correct digit
in its phases (HHL calls it with A / lambda_max and |t| < 2 pi 2^14).
"""

from __future__ import annotations

import math

import numpy as np
from qiskit.circuit.library import HamiltonianGate, UnitaryGate

from qnewton.errors import UsageError

#: Largest ||A t||_2 for which exp(iAt) is built (beyond it rounding leaves no correct phase digit).
MAX_PHASE = 2.0**40


def evolution_gate(A: np.ndarray, t: float) -> HamiltonianGate:
    """exp(iAt) on log2(N) qubits (HamiltonianGate(A, -t) = exp(-iA(-t))); A real symmetric,
    N a power of two >= 2, ||A t||_2 <= MAX_PHASE (module docstring), else a UsageError."""
    from qnewton.quantum.block_encoding import spectral_norm, validate_symmetric

    M = validate_symmetric(A)
    n = M.shape[0]
    if n < 2 or n & (n - 1):
        raise UsageError(f"A: size must be a power of two >= 2 for a qubit register, got {n} (pad it first)")
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not math.isfinite(t):
        raise UsageError(f"t: must be a finite number, got {t!r}")
    phase = spectral_norm(M) * abs(float(t))
    if not phase <= MAX_PHASE:
        raise UsageError(f"A, t: ||A t||_2 = {phase:.3g} exceeds {MAX_PHASE:.3g}; exp(iAt) would have no correct digit")
    return HamiltonianGate(M, -float(t), label=f"exp(iA*{t:.4g})")


def controlled_evolution_gate(A: np.ndarray, t: float) -> UnitaryGate:
    """|0><0| (x) I + |1><1| (x) exp(iAt) as one gate; qubit order [control, system_0, ..., system_{n-1}].

    Qiskit is little-endian, so with the control as the first (least significant) qubit the matrix
    is kron(I, |0><0|) + kron(exp(iAt), |1><1|).
    """
    U = evolution_gate(A, t).to_matrix()
    size = U.shape[0]
    p0 = np.array([[1.0, 0.0], [0.0, 0.0]])
    p1 = np.array([[0.0, 0.0], [0.0, 1.0]])
    CU = np.kron(np.eye(size), p0) + np.kron(U, p1)
    return UnitaryGate(CU, label=f"c-exp(iA*{t:.4g})", check_input=False)
