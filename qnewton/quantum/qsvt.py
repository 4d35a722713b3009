"""QSVT matrix inversion on the exact block encoding (Gilyen, Su, Low, Wiebe 2019; Martyn et al. 2021).

With the one-ancilla dilation U of A' = A / alpha (`block_encoding.py`, U Hermitian, acting as the
reflection R(lambda) on each eigenvalue's 2-d subspace) and reflection-convention phases Psi for the
odd polynomial P ~ 1 / (M x) of `inverse_polynomial.py`,

    V_Psi = e^{i psi_0 Z_Pi} U e^{i psi_1 Z_Pi} U ... U e^{i psi_d Z_Pi},   Z_Pi = 2 Pi - I,
    Pi = |0><0|_ancilla,

has <0|V_Psi|0> = P_Psi(A') with Re P_Psi = P. The real part is taken by one extra qubit q in |+>:
the projector phase is applied as CX(q, a) RZ(-2 psi)(a) CX(q, a), i.e. e^{+i psi Z} when q = 0 and
e^{-i psi Z} when q = 1 (V_{-Psi} = conj(V_Psi) since U is real); a final H on q and post-selection
q = 0 give (V_Psi + V_-Psi) / 2 = Re V_Psi. Post-selecting ancilla = 0 and q = 0 leaves

    v = P(A') |b>  ~  (alpha / M) A^-1 b / ||b||,   so   x = (||b|| M / alpha) v,

and ||x|| = (||b|| M / alpha) sqrt(p). Qubits: system 0..n-1, block-encoding ancilla n, q = n+1.
Degree, max relative error of x P(x) against 1/x on [1/kappa, 1] and p are reported in `details`.
A and b at extreme scales are handled as in `hhl.py` (exact power-of-two rescaling; norm_factor
carries the scale back; alpha in `details` is in the caller's units).
"""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit, QuantumRegister

from qnewton.analysis.scaling import to_scale
from qnewton.quantum.block_encoding import block_encode, padded_size
from qnewton.quantum.hhl import scaled_system, solution_scale
from qnewton.quantum.inverse_polynomial import InversePolynomial, inverse_polynomial
from qnewton.quantum.qsp_angles import reflection_phases
from qnewton.quantum.solver_circuit import SolverCircuit
from qnewton.quantum.spectrum import SpectrumBounds, exact_bounds
from qnewton.quantum.state_prep import pad_vector, state_preparation


def build_qsvt(
    A: np.ndarray,
    b: np.ndarray,
    *,
    epsilon: float = 1e-2,
    max_norm: float = 0.9,
    bounds: SpectrumBounds | None = None,
    polynomial: InversePolynomial | None = None,
) -> SolverCircuit:
    """Build the QSVT inversion circuit for A x = b (A real symmetric, possibly indefinite)."""
    M0, v, ea, eb = scaled_system(A, b)
    N = M0.shape[0]
    bounds = exact_bounds(M0) if bounds is None else bounds.scaled(ea)
    be = block_encode(M0)  # alpha = ||A||_2, padding keeps kappa
    size = padded_size(N)
    bp = pad_vector(v, size)
    # eigenvalues of A/alpha lie in [1/kappa', 1] in magnitude with kappa' = alpha / lambda_min_abs
    kappa_eff = be.alpha / bounds.lambda_min_abs
    poly = polynomial if polynomial is not None else inverse_polynomial(kappa_eff, epsilon, max_norm)
    psi = reflection_phases(poly.coeffs)
    n = be.num_system_qubits

    sys_r = QuantumRegister(n, "x")
    anc_r = QuantumRegister(1, "be")
    q_r = QuantumRegister(1, "re")
    qc = QuantumCircuit(sys_r, anc_r, q_r, name="QSVT")
    qc.append(state_preparation(bp), sys_r[:])
    qc.h(q_r[0])
    u_gate = be.circuit.to_gate(label="U_A")
    a, q = anc_r[0], q_r[0]

    def proj_phase(angle: float) -> None:
        """exp(i angle (2 Pi - 1)) on the signal ancilla, Pi = |0><0| of the encoding ancilla."""
        qc.cx(q, a)
        qc.rz(-2.0 * angle, a)
        qc.cx(q, a)

    # V_Psi applied right to left: psi_d first
    proj_phase(psi[-1])
    for angle in psi[-2::-1]:
        qc.append(u_gate, [*sys_r, a])
        proj_phase(angle)
    qc.h(q)
    return SolverCircuit(
        circuit=qc,
        system_qubits=list(range(n)),
        flags={n: 0, n + 1: 0},
        norm_factor=solution_scale(float(np.linalg.norm(bp) * poly.scale / be.alpha), eb - ea),
        original_size=N,
        method="qsvt",
        details={
            "degree": poly.degree,
            "polynomial_max_relative_error": poly.max_relative_error,
            "polynomial_scale": poly.scale,
            "polynomial_exponent_b": poly.b,
            "epsilon": poly.epsilon,
            "alpha": to_scale(be.alpha, ea),
            "kappa": float(kappa_eff),
            "signed": bounds.signed,
            "padded_size": size,
            "block_encoding_queries": poly.degree,
            "log2_size": int(math.log2(size)),
        },
    )
