"""Hamiltonian simulation exp(iAt) of a real symmetric matrix, the oracle HHL's phase estimation uses.

Qiskit's `HamiltonianGate(H, t)` implements exp(-iHt), so exp(iAt) is `HamiltonianGate(A, -t)`.
Phase estimation needs the controlled powers exp(iA t 2^j); we build each as one exactly
synthesized controlled unitary (`controlled_evolution_gate`). This is the oracle model: a real
device would implement exp(iAt) by Trotter steps or qubitization with cost growing like ||A|| t;
transpiling our exact unitary instead gives a cost that depends on the qubit count only
(see docs/quantum.md, "Where we differ from the paper").
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit.library import HamiltonianGate, UnitaryGate


def evolution_gate(A: np.ndarray, t: float) -> HamiltonianGate:
    """exp(iAt) on log2(N) qubits (HamiltonianGate(A, -t) = exp(-iA(-t)))."""
    return HamiltonianGate(np.asarray(A, dtype=np.float64), -float(t), label=f"exp(iA*{t:.4g})")


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
