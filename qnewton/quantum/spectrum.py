"""Spectrum bounds that size the HHL clock and the QSVT polynomial.

Both circuits need an interval containing the eigenvalue magnitudes of A:
[lambda_min_abs, lambda_max_abs], kappa = lambda_max_abs / lambda_min_abs, and whether A is
indefinite (signed eigenvalues). The Q-Newton paper assumes kappa is known (it estimates it from
det and trace, Sec. IV-B); for the small blocks simulated here we compute the bounds exactly with
eigvalsh by default (an O(N^3) classical step we label as such), or take them from the caller.

The eigenvalues are computed on A divided by a power of two that brings max|A_ij| near 1 (exact;
kappa and the signs do not change) and reported in the caller's units (a smallest eigenvalue in
the subnormal range keeps about log2(lambda / 2^-1074) bits); a matrix whose eigenvalues would
overflow or underflow to 0 in those units is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnewton.analysis.scaling import power_of_two_scaled, to_scale
from qnewton.errors import UsageError


@dataclass(frozen=True)
class SpectrumBounds:
    """lambda_min_abs <= |lambda_i| <= lambda_max_abs for every eigenvalue; signed: some lambda_i < 0."""

    lambda_min_abs: float
    lambda_max_abs: float
    signed: bool

    def __post_init__(self) -> None:
        lo, hi = self.lambda_min_abs, self.lambda_max_abs
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
            raise UsageError(f"spectrum bounds: need 0 < lambda_min_abs <= lambda_max_abs, got ({lo!r}, {hi!r})")

    @property
    def kappa(self) -> float:
        """lambda_max_abs / lambda_min_abs (the condition number for symmetric A)."""
        return self.lambda_max_abs / self.lambda_min_abs

    def scaled(self, e: int) -> "SpectrumBounds":
        """The bounds of A / 2^e (exact unless a bound leaves the float64 range)."""
        if not e:
            return self
        return SpectrumBounds(to_scale(self.lambda_min_abs, -e), to_scale(self.lambda_max_abs, -e), self.signed)

    @classmethod
    def from_kappa(cls, A: np.ndarray, kappa: float, signed: bool = False) -> "SpectrumBounds":
        """Bounds from a condition-number estimate: lambda_max_abs = ||A||_2, lambda_min_abs = ||A||_2 / kappa.

        An over-estimate of kappa is safe (more clock bits or a longer polynomial); an
        under-estimate clips the smallest eigenvalues and lowers the fidelity.
        """
        if not (np.isfinite(kappa) and kappa >= 1):
            raise UsageError(f"kappa: must be finite and >= 1, got {kappa!r}")
        from qnewton.quantum.block_encoding import spectral_norm

        norm = spectral_norm(A)
        if norm == 0:
            raise UsageError("A: is the zero matrix")
        return cls(norm / float(kappa), norm, bool(signed))


def exact_bounds(A: np.ndarray, *, singular_rtol: float = 1e-12) -> SpectrumBounds:
    """Exact bounds from eigvalsh (on A rescaled by a power of two, module docstring); raises
    UsageError for a (numerically) singular A or one whose eigenvalues leave the float64 range."""
    from qnewton.quantum.block_encoding import real_matrix

    M = real_matrix(A)
    if M.shape[0] != M.shape[1]:
        raise UsageError(f"A: must be a square matrix, got shape {M.shape}")
    S, e = power_of_two_scaled(M)
    w = np.linalg.eigvalsh(S)
    mags = np.abs(w)
    hi = float(mags.max())
    lo = float(mags.min())
    if hi == 0 or lo <= singular_rtol * hi:
        raise UsageError(f"A: is singular or numerically singular (kappa > {1 / singular_rtol:.0e})")
    lo_c, hi_c = to_scale(lo, e), to_scale(hi, e)
    if not np.isfinite(hi_c):
        raise UsageError(
            f"A: its largest eigenvalue magnitude (about 2^{e + int(np.frexp(hi)[1])}) exceeds the float64 range; "
            "divide A and b by the same power of two"
        )
    if lo_c == 0.0:
        raise UsageError(
            f"A: its smallest eigenvalue magnitude (about 2^{e + int(np.frexp(lo)[1])}) underflows float64; "
            "multiply A and b by the same power of two"
        )
    return SpectrumBounds(lo_c, hi_c, bool(np.any(w < 0)))
