"""Spectrum bounds that size the HHL clock and the QSVT polynomial.

Both circuits need an interval containing the eigenvalue magnitudes of A:
[lambda_min_abs, lambda_max_abs], kappa = lambda_max_abs / lambda_min_abs, and whether A is
indefinite (signed eigenvalues). The Q-Newton paper assumes kappa is known (it estimates it from
det and trace, Sec. IV-B); for the small blocks simulated here we compute the bounds exactly with
eigvalsh by default (an O(N^3) classical step we label as such), or take them from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    @classmethod
    def from_kappa(cls, A: np.ndarray, kappa: float, signed: bool = False) -> "SpectrumBounds":
        """Bounds from a condition-number estimate: lambda_max_abs = ||A||_2, lambda_min_abs = ||A||_2 / kappa.

        An over-estimate of kappa is safe (more clock bits or a longer polynomial); an
        under-estimate clips the smallest eigenvalues and lowers the fidelity.
        """
        if not (np.isfinite(kappa) and kappa >= 1):
            raise UsageError(f"kappa: must be finite and >= 1, got {kappa!r}")
        norm = float(np.linalg.norm(np.asarray(A, dtype=np.float64), 2))
        if norm == 0:
            raise UsageError("A: is the zero matrix")
        return cls(norm / float(kappa), norm, bool(signed))


def exact_bounds(A: np.ndarray, *, singular_rtol: float = 1e-12) -> SpectrumBounds:
    """Exact bounds from eigvalsh; raises UsageError for a (numerically) singular A."""
    w = np.linalg.eigvalsh(A)
    mags = np.abs(w)
    hi = float(mags.max())
    lo = float(mags.min())
    if hi == 0 or lo <= singular_rtol * hi:
        raise UsageError(f"A: is singular or numerically singular (kappa > {1 / singular_rtol:.0e})")
    return SpectrumBounds(lo, hi, bool(np.any(w < 0)))
