"""exp(iAt): HamiltonianGate(A, -t), and the controlled gate used by HHL's phase estimation."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import HamiltonianGate
from qiskit.quantum_info import Operator
from scipy.linalg import expm

from qnewton.quantum.hamiltonian import controlled_evolution_gate, evolution_gate


def test_evolution_sign_and_controlled_form(rng):
    M = rng.standard_normal((4, 4))
    A = M + M.T
    t = 0.7
    np.testing.assert_allclose(evolution_gate(A, t).to_matrix(), expm(1j * A * t), atol=1e-10)
    ref = QuantumCircuit(3)
    ref.append(HamiltonianGate(A, -t).control(1), [0, 1, 2])  # control first, as in our QPE
    ours = QuantumCircuit(3)
    ours.append(controlled_evolution_gate(A, t), [0, 1, 2])
    np.testing.assert_allclose(Operator(ours).data, Operator(ref).data, atol=1e-10)
