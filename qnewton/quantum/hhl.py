"""HHL (Harrow, Hassidim, Lloyd 2009): phase estimation, reciprocal rotation, uncomputation.

For A x = b with A real symmetric (padded to N = 2^n) and spectrum bounds
lambda_min_abs <= |lambda| <= lambda_max_abs, let A' = A / lambda_max_abs (|lambda'| <= 1).

1. Prepare |b> on n system qubits.
2. Phase estimation of U = exp(iA't) with m clock qubits: the eigenphase of eigenvalue lambda' is
   phi = lambda' t / (2 pi), read as the integer k ~ 2^m phi. Positive definite A:
   t = 2 pi (1 - 2^-m), so phi in (0, 1) and lambda' = 1 lands on k = 2^m - 1. Indefinite A
   (signed eigenvalues): t = 2 pi (1/2 - 2^-m), phi in (-1/2, 1/2), and k >= 2^(m-1) stands for
   the negative value k - 2^m (two's complement).
3. Reciprocal rotation: RY(theta_k) on a flag qubit, multiplexed on k (UCRYGate), with
   sin(theta_k / 2) = C / lambda_k with C <= lambda_min' = 1/kappa, so that the flag's |1>
   amplitude is C / lambda_k (signed; clipped to +-1 for bins below C; 0 for k = 0).
4. Uncompute the phase estimation; post-select flag = 1 and clock = 0.

The post-selected amplitude vector is v ~ C sum_j beta_j / lambda'_j |u_j> = C A'^-1 |b>, so
x = A^-1 b = (||b|| / (C lambda_max_abs)) v and ||x|| = ||b|| sqrt(p) / (C lambda_max_abs), where
p is the success probability: the norm comes from the post-selection rate.

Clock size: m = ceil(log2(kappa)) + extra bits, where the extra bits grow with the target
fidelity F as log2(1 / (1 - F)) / 2 (`choose_clock_qubits`); the resolution 2^-m of the phase
grid then sits well below the smallest eigenvalue 1/kappa. The phase estimation is our own
(controlled exp(iA't 2^j) then the inverse `QFTGate`), so the clock register is in natural
little-endian order and no bit reversal is needed before the rotation.

Extreme scales: A and b are divided by powers of two 2^ea and 2^eb that bring their largest
entries near 1 (exact, and only when they lie outside [2^-64, 2^64]); the circuit is built for
that system, whose solution is x 2^(ea - eb), and norm_factor carries the factor 2^(eb - ea)
back. A solution whose scale overflows (or underflows to 0) is refused with one line.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit, QuantumRegister
from qiskit.circuit.library import QFTGate, UCRYGate

from qnewton.analysis.scaling import power_of_two_scaled, to_scale
from qnewton.errors import UsageError
from qnewton.quantum.block_encoding import pad_to_power_of_two, padded_size, validate_symmetric
from qnewton.quantum.hamiltonian import controlled_evolution_gate
from qnewton.quantum.solver_circuit import SolverCircuit
from qnewton.quantum.spectrum import SpectrumBounds, exact_bounds
from qnewton.quantum.state_prep import pad_vector, state_preparation, validate_vector

#: Largest clock register we build (a 2^m-angle multiplexed rotation).
MAX_CLOCK_QUBITS = 14


def choose_clock_qubits(kappa: float, target_fidelity: float = 0.99, signed: bool = False) -> int:
    """m = ceil(log2 kappa) + ceil(log2(1/(1-F)) / 2) (+1 for the sign bit when signed).

    An empirical rule checked by statevector runs (tests/test_quantum_hhl.py): random kappa <= 10
    systems of size 2..8 reach F >= 0.99 with it (m = 8 for kappa = 10, F = 0.99).
    """
    for name, value in (("target_fidelity", target_fidelity), ("kappa", kappa)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise UsageError(f"{name}: must be a number, got {value!r}")
    if not (0 < target_fidelity < 1):
        raise UsageError(f"target_fidelity: must be in (0, 1), got {target_fidelity!r}")
    if not (kappa >= 1 and math.isfinite(kappa)):
        raise UsageError(f"kappa: must be finite and >= 1, got {kappa!r}")
    m = math.ceil(math.log2(kappa)) + math.ceil(0.5 * math.log2(1.0 / (1.0 - target_fidelity)))
    if signed:
        m += 1
    return int(min(max(m, 2), MAX_CLOCK_QUBITS))


def clock_eigenvalues(m: int, t: float, signed: bool) -> np.ndarray:
    """lambda'_k = 2 pi k' / (2^m t) for each clock value k (k' = k - 2^m for k >= 2^(m-1) if signed)."""
    k = np.arange(2**m, dtype=np.float64)
    if signed:
        k = np.where(k >= 2 ** (m - 1), k - 2**m, k)
    return 2 * np.pi * k / (2**m * t)


def reciprocal_angles(lams: np.ndarray, c: float) -> np.ndarray:
    """theta_k = 2 arcsin(clip(C / lambda_k, -1, 1)), 0 where lambda_k = 0."""
    out = np.zeros_like(lams)
    nz = lams != 0
    out[nz] = 2 * np.arcsin(np.clip(c / lams[nz], -1.0, 1.0))
    return out


def scaled_system(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(A / 2^ea, b / 2^eb, ea, eb): the validated system with max|A_ij| and max|b_i| brought near 1
    by exact powers of two when they lie outside [2^-64, 2^64] (else ea = 0 or eb = 0)."""
    M0 = validate_symmetric(A)
    v = validate_vector(b, M0.shape[0])
    Ms, ea = power_of_two_scaled(M0)
    vs, eb = power_of_two_scaled(v)
    return Ms, vs, ea, eb


def solution_scale(norm_factor: float, shift: int) -> float:
    """norm_factor 2^shift, refused with a UsageError when it overflows or underflows to 0 (then
    x = A^-1 b cannot be represented either). A subnormal result is kept: x then lies in the
    subnormal range and keeps fewer digits, as the input b did."""
    out = to_scale(norm_factor, shift)
    if not np.isfinite(out) or out == 0.0:
        raise UsageError(
            f"b: the solution x = A^-1 b of this system has scale about 2^{int(np.frexp(norm_factor)[1]) + shift}, "
            "outside the float64 range; rescale A or b"
        )
    return out


def build_hhl(
    A: np.ndarray,
    b: np.ndarray,
    *,
    clock_qubits: int | None = None,
    target_fidelity: float = 0.99,
    bounds: SpectrumBounds | None = None,
) -> SolverCircuit:
    """Build the HHL circuit for A x = b (see module docstring). Qubits: system 0..n-1,
    clock n..n+m-1, flag n+m."""
    M0, v, ea, eb = scaled_system(A, b)
    N = M0.shape[0]
    M = pad_to_power_of_two(M0)
    size = padded_size(N)
    bp = pad_vector(v, size)
    bounds = exact_bounds(M0) if bounds is None else bounds.scaled(ea)
    n = int(round(math.log2(size)))
    signed = bounds.signed
    kappa = bounds.kappa
    m = clock_qubits if clock_qubits is not None else choose_clock_qubits(kappa, target_fidelity, signed)
    if isinstance(m, bool) or not (isinstance(m, (int, np.integer)) and 1 <= m <= MAX_CLOCK_QUBITS):
        raise UsageError(f"clock_qubits: must be an integer in [1, {MAX_CLOCK_QUBITS}], got {m!r}")
    m = int(m)
    scale = bounds.lambda_max_abs
    Ap = M / scale
    t = 2 * np.pi * ((0.5 - 2.0**-m) if signed else (1.0 - 2.0**-m))
    lams = clock_eigenvalues(m, t, signed)
    lam_min = 1.0 / kappa
    grid = np.abs(lams[lams != 0])
    # C: the largest value not above lambda_min' and not above the smallest grid value that
    # lambda_min' can round to, so that the eigenvalues' own bins are never clipped
    step = 2 * np.pi / (2**m * t)
    c = float(min(lam_min, max(grid.min(), lam_min - 0.5 * step)))

    sys_r = QuantumRegister(n, "x")
    clk_r = QuantumRegister(m, "clock")
    flg_r = QuantumRegister(1, "flag")
    qc = QuantumCircuit(sys_r, clk_r, flg_r, name="HHL")
    qc.append(state_preparation(bp), sys_r[:])

    qpe = QuantumCircuit(sys_r, clk_r, name="QPE")
    qpe.h(clk_r)
    for j in range(m):
        qpe.append(controlled_evolution_gate(Ap, t * 2**j), [clk_r[j], *sys_r])
    qpe.append(QFTGate(m).inverse(), clk_r[:])
    qc.append(qpe.to_gate(label="QPE"), [*sys_r, *clk_r])
    qc.append(UCRYGate(list(reciprocal_angles(lams, c))), [flg_r[0], *clk_r])
    qc.append(qpe.to_gate(label="QPE").inverse(), [*sys_r, *clk_r])

    flags = {n + m: 1}
    flags.update({n + j: 0 for j in range(m)})
    norm_factor = solution_scale(float(np.linalg.norm(bp) / (c * scale)), eb - ea)
    return SolverCircuit(
        circuit=qc,
        system_qubits=list(range(n)),
        flags=flags,
        norm_factor=norm_factor,
        original_size=N,
        method="hhl",
        details={
            "clock_qubits": m,
            "clock_capped": clock_qubits is None and m == MAX_CLOCK_QUBITS,
            "evolution_time": float(t),
            "scale": to_scale(float(scale), ea),
            "reciprocal_constant": c,
            "kappa": float(kappa),
            "signed": signed,
            "padded_size": size,
        },
    )
