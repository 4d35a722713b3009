"""Block encoding of a real symmetric matrix by exact unitary dilation.

A unitary U on a ancilla qubits plus n system qubits is an (alpha, a)-block encoding of A when

    (<0|^a (x) I) U (|0>^a (x) I) = A / alpha.

For a real symmetric N x N matrix A with N = 2^n we use the one-ancilla reflection dilation

    B = A / alpha,   S = sqrt(I - B^2),   U = [[B, S], [S, -B]],

which is unitary, real, symmetric and its own inverse (U^2 = I because B and S commute), so
QSVT needs no separate U^dagger. alpha defaults to the spectral norm ||A||_2, the smallest value
for which the dilation exists; then the eigenvalues of B fill [-1, -1/kappa] u [1/kappa, 1].
This is the exact unitary dilation for small N: a dense 2N x 2N unitary, so the
transpiled gate count grows like 4^(n+1); it is a stand-in for the sparse-access oracle the Q-Newton
paper assumes (Sec. IV-C, alpha ~ d max|A_ij| there) and lets us count what one query costs on
hardware when it is synthesized exactly.

Qubit order (Qiskit is little-endian): system qubits 0..n-1, the ancilla is qubit n, the most
significant one, so the top-left N x N block of U is the ancilla-|0> block.

Sizes that are not a power of two are padded (`pad_to_power_of_two`) with a diagonal block
c I_(N'-N). The default c = ||A||_2 keeps ||A||_2, the spectrum's extreme magnitudes and hence
kappa unchanged (c is already an eigenvalue magnitude of A). Padding with zeros ("zero") makes
the padded matrix singular (kappa = inf) even though a right-hand side padded with zeros never
touches the zero block in exact arithmetic; we keep it only as an option for comparison.

Extreme scales: the dilation needs only A / alpha, so `block_encode` works on A divided by a
power of two that brings max|A_ij| near 1 (exact) and reports alpha in the caller's units;
`spectral_norm` and the padding constant are computed the same way, so matrices with entries
near 1e300 or 1e-300 (subnormal ones included) give the same unitary as their rescaled copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import UnitaryGate

from qnewton.analysis.scaling import power_of_two_scaled, to_scale
from qnewton.errors import UsageError

PadFill = Literal["norm", "zero"]

#: Relative tolerance for "A is symmetric".
SYMMETRY_RTOL = 1e-10


@dataclass
class BlockEncoding:
    """An (alpha, num_ancillas)-block encoding: <0|U|0> = A_padded / alpha.

    circuit: QuantumCircuit on num_system_qubits + num_ancillas qubits (system first, ancillas last).
    alpha: subnormalization (float, > 0).
    num_ancillas: ancilla qubits that must be |0> before and after (post-selected).
    num_system_qubits: n = log2 of the padded size.
    matrix: the padded float64 matrix that is encoded (A_padded; its top-left block is A).
    original_size: N before padding.
    """

    circuit: QuantumCircuit
    alpha: float
    num_ancillas: int
    num_system_qubits: int
    matrix: np.ndarray | None = None
    original_size: int | None = None

    @property
    def num_qubits(self) -> int:
        """System plus ancilla qubits of the encoding circuit."""
        return self.num_system_qubits + self.num_ancillas

    def unitary(self) -> np.ndarray:
        """The dense unitary of the circuit (for checks on small sizes)."""
        from qiskit.quantum_info import Operator

        return Operator(self.circuit).data


def validate_symmetric(A: np.ndarray, name: str = "A") -> np.ndarray:
    """Return A as a float64 exactly symmetric square matrix, or raise UsageError naming the fault."""
    if np.iscomplexobj(A):
        raise UsageError(f"{name}: must be a real matrix, got complex entries")
    try:
        M = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: must be a real numeric matrix ({exc})") from None
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise UsageError(f"{name}: must be a non-empty square matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise UsageError(f"{name}: contains NaN or infinite entries")
    S, e = power_of_two_scaled(M)  # the difference and the mean of entries near 1e308 would overflow
    defect = float(np.max(np.abs(S - S.T)))
    if defect > SYMMETRY_RTOL * float(np.max(np.abs(S))):
        raise UsageError(f"{name}: must be symmetric (max |A - A^T| = {to_scale(defect, e):.3g})")
    if e:
        return np.ldexp(0.5 * (S + S.T), e)
    return 0.5 * (M + M.T)


def real_matrix(A: np.ndarray, name: str = "A") -> np.ndarray:
    """A as a non-empty, finite, real float64 2-D array (any shape), or a one-line UsageError."""
    if np.iscomplexobj(A):
        raise UsageError(f"{name}: must be a real matrix, got complex entries")
    try:
        M = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: must be a real numeric matrix ({str(exc).splitlines()[0]})") from None
    if M.ndim != 2 or M.size == 0:
        raise UsageError(f"{name}: must be a non-empty matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise UsageError(f"{name}: contains NaN or infinite entries")
    return M


def spectral_norm(A: np.ndarray) -> float:
    """||A||_2 computed on A / 2^e (max|A_ij| / 2^e near 1) and multiplied back; UsageError if A
    is not a finite real matrix or the norm itself exceeds the float64 range."""
    S, e = power_of_two_scaled(real_matrix(A))
    norm = to_scale(float(np.linalg.norm(S, 2)), e)
    if not np.isfinite(norm):
        raise UsageError("A: its spectral norm exceeds the float64 range; divide A (and b) by a power of two")
    return norm


def padded_size(n: int) -> int:
    """Smallest power of two >= n (and >= 2, so that there is at least one system qubit)."""
    return max(2, 1 << (int(n) - 1).bit_length())


def pad_to_power_of_two(A: np.ndarray, fill: PadFill = "norm") -> np.ndarray:
    """Embed A (N x N) in the top-left corner of an N' x N' matrix, N' = padded_size(N).

    The new diagonal block is c I with c = ||A||_2 ("norm", keeps kappa) or c = 0 ("zero",
    makes the padded matrix singular). Right-hand sides are padded with zeros.
    """
    M = validate_symmetric(A)
    n = M.shape[0]
    size = padded_size(n)
    if size == n:
        return M.copy()
    if fill not in ("norm", "zero"):
        raise UsageError(f"fill: must be 'norm' or 'zero', got {fill!r}")
    c = spectral_norm(M) if fill == "norm" else 0.0
    out = np.zeros((size, size))
    out[:n, :n] = M
    out[np.arange(n, size), np.arange(n, size)] = c
    return out


def dilation_unitary(B: np.ndarray) -> np.ndarray:
    """U = [[B, S], [S, -B]] with S = sqrt(I - B^2), for symmetric B with ||B||_2 <= 1."""
    w, V = np.linalg.eigh(B)
    if np.max(np.abs(w)) > 1 + 1e-12:
        raise UsageError(f"alpha: too small, ||A/alpha||_2 = {np.max(np.abs(w)):.6g} > 1")
    s = np.sqrt(np.clip(1.0 - w * w, 0.0, None))
    S = (V * s) @ V.T
    S = 0.5 * (S + S.T)
    Bs = 0.5 * (B + B.T)
    return np.block([[Bs, S], [S, -Bs]])


def block_encode(A: np.ndarray, alpha: float | None = None, *, fill: PadFill = "norm") -> BlockEncoding:
    """Exact one-ancilla block encoding of a real symmetric matrix A (padded to a power of two).

    alpha: subnormalization; default ||A||_2 (must be >= ||A||_2). Returns a BlockEncoding whose
    circuit holds one UnitaryGate labelled "U_A" on n + 1 qubits (system 0..n-1, ancilla n).
    A / alpha is formed from A / 2^e and alpha / 2^e (module docstring).
    """
    M = pad_to_power_of_two(A, fill=fill)
    S, e = power_of_two_scaled(M)
    norm_s = float(np.linalg.norm(S, 2))
    if norm_s == 0.0:
        raise UsageError("A: is the zero matrix")
    norm = to_scale(norm_s, e)
    if not np.isfinite(norm):
        raise UsageError("A: its spectral norm exceeds the float64 range; divide A (and b) by a power of two")
    if alpha is None:
        alpha_s, alpha = norm_s, norm
    else:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise UsageError(f"alpha: must be a number, got {alpha!r}")
        alpha = float(alpha)
        alpha_s = to_scale(alpha, -e)
    if not (np.isfinite(alpha) and alpha_s >= norm_s * (1 - 1e-12)):
        raise UsageError(f"alpha: must be >= ||A||_2 = {norm:.6g}, got {alpha!r}")
    n = int(round(np.log2(M.shape[0])))
    U = dilation_unitary(S / alpha_s)
    qc = QuantumCircuit(n + 1, name="U_A")
    qc.append(UnitaryGate(U, label="U_A", check_input=False), list(range(n + 1)))
    return BlockEncoding(
        circuit=qc,
        alpha=alpha,
        num_ancillas=1,
        num_system_qubits=n,
        matrix=M,
        original_size=int(np.asarray(A).shape[0]),
    )
