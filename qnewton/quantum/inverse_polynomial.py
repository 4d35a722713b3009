"""An odd polynomial approximating 1/x on [1/kappa, 1], bounded by 1 on [-1, 1], for QSVT inversion.

Following Childs, Kothari, Somma (2017) and Gilyen, Su, Low, Wiebe (2019, Lemma 40-ish
construction), start from the odd polynomial

    f_b(x) = (1 - (1 - x^2)^b) / x,     relative error  |x f_b(x) - 1| = (1 - x^2)^b <= exp(-b / kappa^2)

on |x| >= 1/kappa, so b = ceil(kappa^2 ln(2 / eps)) gives relative error eps / 2. Its degree 2b - 1 is
O(kappa^2), but its Chebyshev coefficients decay fast: truncating the Chebyshev series at degree
D = O(kappa log(kappa / eps)) keeps the error below eps. We pick the smallest odd D that does
(checked on a dense grid), then rescale P(x) = f_D(x) / M with M = sup_[-1,1] |f_D| / max_norm so
that |P| <= max_norm < 1 on [-1, 1], as QSVT requires. On [1/kappa, 1], P(x) ~ 1 / (M x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.polynomial import chebyshev as C

from qnewton.errors import UsageError

#: Degree cap: a polynomial above this is not something we simulate.
MAX_DEGREE = 4001


@dataclass(frozen=True)
class InversePolynomial:
    """P(x) = sum_k coeffs[k] T_k(x), odd, |P| <= max_norm on [-1, 1], P(x) ~ 1 / (M x) on [1/kappa, 1].

    degree: odd degree D. M: the scale (x P(x) ~ 1 / M). max_relative_error: max over a grid of
    [1/kappa, 1] of |M x P(x) - 1|. max_norm: sup_[-1,1] |P| (target value, met on a dense grid).
    b: the exponent of the smooth function that was truncated.
    """

    kappa: float
    epsilon: float
    b: int
    degree: int
    coeffs: np.ndarray
    scale: float
    max_relative_error: float
    max_norm: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return C.chebval(np.asarray(x, dtype=np.float64), self.coeffs)

    def odd_coefficients(self) -> np.ndarray:
        """[c_1, c_3, ..., c_D]."""
        return self.coeffs[1::2].copy()


def chebyshev_coefficients(f: Callable[[np.ndarray], np.ndarray], degree: int) -> np.ndarray:
    """Chebyshev interpolation coefficients c_0..c_degree of f at the degree+1 first-kind nodes (DCT-II, O(n log n))."""
    from scipy.fft import dct

    m = degree + 1
    nodes = np.cos(np.pi * (np.arange(m) + 0.5) / m)
    y = dct(f(nodes), type=2) / m
    y[0] /= 2
    return y


def smooth_inverse(x: np.ndarray, b: int) -> np.ndarray:
    """f_b(x) = (1 - (1 - x^2)^b) / x, evaluated stably (f_b(0) = 0 by continuity; odd)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    nz = x != 0
    xs = x[nz]
    out[nz] = -np.expm1(b * np.log1p(-np.minimum(xs * xs, 1.0))) / xs
    return out


def _sup_norm(c: np.ndarray, grid: np.ndarray) -> float:
    """max |p| on [0, 1] (p odd): dense grid, then a bounded 1-d refinement around the peak."""
    from scipy.optimize import minimize_scalar

    vals = np.abs(C.chebval(grid, c))
    k = int(np.argmax(vals))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(lambda x: -abs(C.chebval(x, c)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12})
    return float(max(vals[k], -res.fun)) * (1 + 1e-9)


def inverse_polynomial(kappa: float, epsilon: float = 1e-2, max_norm: float = 0.9) -> InversePolynomial:
    """The shortest odd Chebyshev truncation of f_b with relative error <= epsilon on [1/kappa, 1]."""
    for name, value in (("kappa", kappa), ("epsilon", epsilon), ("max_norm", max_norm)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise UsageError(f"{name}: must be a number, got {value!r}")
    if not (math.isfinite(kappa) and kappa >= 1):
        raise UsageError(f"kappa: must be finite and >= 1, got {kappa!r}")
    if not (0 < epsilon < 1):
        raise UsageError(f"epsilon: must be in (0, 1), got {epsilon!r}")
    if not (0 < max_norm < 1):
        raise UsageError(f"max_norm: must be in (0, 1), got {max_norm!r}")
    kappa, epsilon = float(kappa), float(epsilon)
    # kappa^2 and kappa / epsilon overflow to inf for kappa ~ 1e200 or a subnormal epsilon: cap
    # them (any exponent or degree beyond the caps fails the degree search below anyway)
    b_f = kappa * kappa * math.log(2.0 / epsilon)
    b = max(1, math.ceil(b_f)) if b_f < 2.0**62 else 2**62
    # coefficients beyond ~ kappa log(kappa/eps) are negligible: sample at a generous degree
    est_f = kappa * math.log(kappa / epsilon + 2.0)
    est = math.ceil(est_f) if est_f < 16 * MAX_DEGREE else 16 * MAX_DEGREE
    # (and never beyond 16 MAX_DEGREE: the search below stops at MAX_DEGREE, and an uncapped
    # sample size for kappa ~ 1e9 would ask for terabytes before the degree check fails)
    deg_full = min(2 * b - 1, 16 * est + 63, 16 * MAX_DEGREE + 63)
    if deg_full % 2 == 0:
        deg_full += 1
    full = chebyshev_coefficients(lambda x: smooth_inverse(x, b), deg_full)
    full[0::2] = 0.0  # exactly odd
    grid = np.concatenate([np.linspace(1.0 / kappa, 1.0, 4001), 1.0 / kappa * (1 + np.logspace(-6, 0, 200))])
    grid = grid[grid <= 1.0]
    whole = np.linspace(0.0, 1.0, 8001)
    # partial sums S_D(x) = sum_{k odd <= D} c_k cos(k theta), updated incrementally in D
    theta = np.arccos(grid)
    partial = np.zeros_like(grid)
    for D in range(1, min(deg_full, MAX_DEGREE) + 1, 2):
        partial += full[D] * np.cos(D * theta)
        rel = float(np.max(np.abs(grid * partial - 1.0)))
        if rel <= epsilon:
            c = full[: D + 1].copy()
            sup = _sup_norm(c, whole)
            scale = sup / max_norm
            return InversePolynomial(
                kappa=float(kappa),
                epsilon=float(epsilon),
                b=b,
                degree=D,
                coeffs=c / scale,
                scale=scale,
                max_relative_error=rel,
                max_norm=float(max_norm),
            )
    raise UsageError(f"kappa: {kappa:.3g} needs a polynomial above degree {MAX_DEGREE} for epsilon {epsilon}")
