"""Quantum signal processing phase factors for a real odd polynomial, by a numpy Newton solver.

Convention (Wx, as in Dong, Lin, Ni, Wang 2022-2023, "infinite/robust QSP"): with
W(x) = exp(i arccos(x) X) = [[x, i sqrt(1-x^2)], [i sqrt(1-x^2), x]],

    U_Phi(x) = e^{i phi_0 Z} W(x) e^{i phi_1 Z} W(x) ... W(x) e^{i phi_d Z},

and we solve g(x, Phi) = Im <0|U_Phi(x)|0> = f(x) for a real polynomial f of degree d and parity
d mod 2 with |f| < 1 on [-1, 1]. Phases are symmetric (phi_j = phi_{d-j}), so an odd f of degree
d has d~ = (d+1)/2 free phases. Matching f at the d~ positive Chebyshev nodes
x_k = cos((2k-1) pi / (4 d~)) determines f; we run Newton's method on these d~ equations from
Phi = 0 (where g = 0 and the Jacobian is about 2 I in Chebyshev coordinates), with a
exact Jacobian computed in O(d^2) from prefix/suffix products. This converges in a handful
of steps for ||f||_inf <= 0.9.

The QSVT circuit uses the reflection convention: with R(x) = [[x, s], [s, -x]], s = sqrt(1-x^2)
(what a Hermitian block encoding such as our dilation acts as on each eigenvalue's 2-d subspace),

    V_Psi(x) = e^{i psi_0 Z} R(x) e^{i psi_1 Z} ... R(x) e^{i psi_d Z},
    psi_0 = phi_0 + pi/4, psi_j = phi_j + pi/2 (0 < j < d), psi_d = phi_d + pi/4,

and W = i e^{i pi/4 Z} R' e^{i pi/4 Z} with R' = Z R Z (a basis sign that the Z phases do not
see), so <0|V_Psi|0> = i^d <0|U_Phi|0> (checked numerically in tests/test_quantum_qsvt.py):
for odd d, Re <0|V_Psi|0> = -(-1)^((d-1)/2) Im <0|U_Phi|0>. `reflection_phases` folds that sign into
the target, so Re <0|V_Psi(x)|0> = f(x). pyqsp (optional extra `qsp`) is not needed.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev as C

from qnewton.errors import UsageError


def _w_response(phases: np.ndarray, x: np.ndarray) -> np.ndarray:
    """<0|U_Phi(x)|0> for each x (Wx convention)."""
    x = np.asarray(x, dtype=np.float64)
    s = np.sqrt(np.clip(1 - x * x, 0, None))
    # state as (K, 2) column acting from the right: U |0>; build from the right end
    a = np.exp(1j * phases[-1]) * np.ones_like(x, dtype=np.complex128)  # component |0>
    bb = np.zeros_like(a)  # component |1>
    for phi in phases[-2::-1]:
        a, bb = x * a + 1j * s * bb, 1j * s * a + x * bb
        a = np.exp(1j * phi) * a
        bb = np.exp(-1j * phi) * bb
    return a


def _w_response_and_gradient(phases: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """<0|U_Phi(x)|0> and its derivatives d/d phi_j, shape (K,) and (K, d+1), in O(d K).

    U = A_j e^{i phi_j Z} B_j with A_j the product left of phase j and B_j right of it, so
    d U_00 / d phi_j = <0|A_j (iZ) e^{i phi_j Z} B_j|0> = i (a_j[0] c_j[0] - a_j[1] c_j[1]) with the
    row vector a_j = <0|A_j and the column c_j = e^{i phi_j Z} B_j |0>.
    """
    x = np.asarray(x, dtype=np.float64)
    s = np.sqrt(np.clip(1 - x * x, 0, None))
    d = len(phases) - 1
    K = x.shape[0]
    # backward: columns c_j = e^{i phi_j Z} W e^{i phi_{j+1} Z} ... W e^{i phi_d Z} |0>
    c0 = np.empty((d + 1, K), dtype=np.complex128)
    c1 = np.empty((d + 1, K), dtype=np.complex128)
    u0 = np.exp(1j * phases[d]) * np.ones(K, dtype=np.complex128)
    u1 = np.zeros(K, dtype=np.complex128)
    c0[d], c1[d] = u0, u1
    for j in range(d - 1, -1, -1):
        u0, u1 = x * u0 + 1j * s * u1, 1j * s * u0 + x * u1
        u0, u1 = np.exp(1j * phases[j]) * u0, np.exp(-1j * phases[j]) * u1
        c0[j], c1[j] = u0, u1
    value = c0[0]
    grad = np.empty((K, d + 1), dtype=np.complex128)
    # forward: rows a_j = <0| e^{i phi_0 Z} W ... W  (left of phase j)
    a0 = np.ones(K, dtype=np.complex128)
    a1 = np.zeros(K, dtype=np.complex128)
    for j in range(d + 1):
        grad[:, j] = 1j * (a0 * c0[j] - a1 * c1[j])
        if j < d:
            a0, a1 = a0 * np.exp(1j * phases[j]), a1 * np.exp(-1j * phases[j])
            a0, a1 = a0 * x + a1 * 1j * s, a0 * 1j * s + a1 * x
    return value, grad


def reflection_response(psi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """<0|V_Psi(x)|0> for each x (reflection convention)."""
    x = np.asarray(x, dtype=np.float64)
    s = np.sqrt(np.clip(1 - x * x, 0, None))
    a = np.exp(1j * psi[-1]) * np.ones_like(x, dtype=np.complex128)
    bb = np.zeros_like(a)
    for p in psi[-2::-1]:
        a, bb = x * a + s * bb, s * a - x * bb
        a = np.exp(1j * p) * a
        bb = np.exp(-1j * p) * bb
    return a


def _full_phases(reduced: np.ndarray, d: int) -> np.ndarray:
    """Symmetric phases (length d+1) from the d~ reduced ones (phi_0 .. phi_{d~-1})."""
    if d % 2 == 1:
        return np.concatenate([reduced, reduced[::-1]])
    return np.concatenate([reduced, reduced[-2::-1]])


def _real_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """coeffs as a non-empty 1-D float64 array of finite numbers, or a one-line UsageError."""
    try:
        c = np.asarray(coeffs, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"coeffs: must be real numbers ({str(exc).splitlines()[0]})") from None
    if c.size == 0 or not np.all(np.isfinite(c)):
        raise UsageError("coeffs: must be a non-empty list of finite Chebyshev coefficients")
    return c


def solve_phases(coeffs: np.ndarray, *, tol: float = 1e-12, max_iter: int = 50) -> np.ndarray:
    """Symmetric Wx-convention phases with Im <0|U_Phi(x)|0> = sum_k coeffs[k] T_k(x).

    coeffs: Chebyshev coefficients of an odd real polynomial (coeffs[even] ~ 0), sup norm < 1.
    Returns phases of length d + 1. Raises UsageError if Newton's method does not converge.
    """
    c = _real_coefficients(coeffs)
    d = len(c) - 1
    while d > 0 and c[d] == 0:
        d -= 1
    if d % 2 == 0 or np.max(np.abs(c[0::2])) > 1e-12 * max(1.0, np.max(np.abs(c))):
        raise UsageError("coeffs: QSP phase solver here takes an odd polynomial of odd degree")
    c = c[: d + 1]
    dt = (d + 1) // 2
    k = np.arange(1, dt + 1)
    nodes = np.cos((2 * k - 1) * np.pi / (4 * dt))
    target = C.chebval(nodes, c)
    if np.max(np.abs(target)) >= 1:
        raise UsageError("coeffs: polynomial must satisfy |f| < 1 for QSP")

    # d phi_j / d reduced_k: 1 where the symmetric expansion puts reduced_k at position j
    expand = np.zeros((d + 1, dt))
    for j in range(d + 1):
        expand[j, min(j, d - j)] = 1.0

    red = np.zeros(dt)
    res = np.full(dt, np.inf)
    for _ in range(max_iter):
        value, grad = _w_response_and_gradient(_full_phases(red, d), nodes)
        res = value.imag - target
        if np.max(np.abs(res)) < tol:
            return _full_phases(red, d)
        J = grad.imag @ expand
        red = red - np.linalg.solve(J, res)
    if np.max(np.abs(res)) < 1e-9:
        return _full_phases(red, d)
    raise UsageError(f"coeffs: QSP phase solver did not converge (residual {np.max(np.abs(res)):.2e})")


def reflection_phases(coeffs: np.ndarray, **kwargs) -> np.ndarray:
    """Reflection-convention phases Psi with Re <0|V_Psi(x)|0> = sum_k coeffs[k] T_k(x) (odd)."""
    c = _real_coefficients(coeffs)
    d = len(c) - 1
    while d > 0 and c[d] == 0:
        d -= 1
    sign = 1.0 if ((d - 1) // 2) % 2 else -1.0
    phi = solve_phases(sign * c[: d + 1], **kwargs)
    psi = phi + np.pi / 2
    psi[0] = phi[0] + np.pi / 4
    psi[-1] = phi[-1] + np.pi / 4
    return psi
