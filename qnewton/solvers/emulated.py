"""Emulated quantum linear-system solver (QLSA): exact solve, then the QLSA's output error.

No fault-tolerant quantum computer exists, so (like the paper) the quantum solve is emulated.
A QLSA returns the normalized state |x> = x / ||x|| of A x = b within trace distance eps_q
(Jennings et al. 2023, the paper's ref. [16]); the norm ||x|| is recovered by the readout.
`EmulatedQLSASolver.solve` therefore

1. solves A x = b exactly in float64 (Cholesky when A is positive definite, LU otherwise);
2. perturbs the unit vector u = x / ||x||: u' = (u + t v) / ||u + t v|| with v a random unit
   vector orthogonal to u and t = tan(theta), theta drawn uniformly in [0, 2 arcsin(eps_q / 2)],
   so the 2-norm distance satisfies ||u' - u|| = 2 sin(theta / 2) <= eps_q (and the trace
   distance sin(theta) <= 2 sin(theta / 2) <= eps_q as well);
3. returns x' = ||x|| u'.

A and b are validated (finite, real, matching sizes) and solved at unit scale: both are first
multiplied by powers of two (exact) when their entries lie outside [2^-1000, 2^1000], and x' is
multiplied back, so the norm ||x|| and the perturbation never over- or underflow on the way.

Its MEASURED time is the wall clock of this emulation; its MODELED quantum time is the
scheduler's R_q, Decision.quantum_seconds (which already includes the modeled readout seconds;
Decision.readout_seconds is the readout part of it), when a decision is passed, else 0 (with
info["modeled_seconds_source"] saying so). The noise comes from a numpy Generator that
the trainer reseeds per step (`reseed`), which keeps runs and resumed runs bitwise reproducible.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import scipy.linalg

from qnewton.analysis.scaling import power_of_two_scaled, stable_norm
from qnewton.errors import UsageError
from qnewton.solvers.base import SOLVE_WINDOW, SolveResult, as_real_array, rescale_solution


class EmulatedQLSASolver:
    """LinearSolver (kind "quantum") emulating a QLSA with 2-norm error <= epsilon_q on x/||x||."""

    name = "emulated-qlsa"
    kind = "quantum"

    def __init__(self, epsilon_q: float = 0.01, seed: int | Sequence[int] | None = 0) -> None:
        if isinstance(epsilon_q, bool) or not isinstance(epsilon_q, (int, float)) or not (0 <= epsilon_q < 1):
            raise UsageError(f"epsilon_q: must be a number in [0, 1), got {epsilon_q!r}")
        self.epsilon_q = float(epsilon_q)
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int | Sequence[int]) -> None:
        """Restart the noise stream (the trainer passes [seed, method, step, block])."""
        self.rng = np.random.default_rng(seed)

    def solve(self, A: np.ndarray, b: np.ndarray, decision: Any | None = None) -> SolveResult:
        """Solve A x = b exactly, perturb x/||x|| within eps_q (module docstring); MODELED seconds from `decision`."""
        start = time.perf_counter()
        A = as_real_array(A, "A")
        b = as_real_array(b, "b").reshape(-1)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] != b.shape[0] or A.shape[0] == 0:
            raise UsageError(f"A: expected a non-empty square matrix matching b, got {A.shape} and {b.shape}")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise UsageError("A, b: must be finite")
        A, ea = power_of_two_scaled(A, window=SOLVE_WINDOW)
        b, eb = power_of_two_scaled(b, window=SOLVE_WINDOW)
        info: dict[str, Any] = {"epsilon_q": self.epsilon_q}
        try:
            factor = scipy.linalg.cho_factor(A, lower=True, check_finite=True)
            x = scipy.linalg.cho_solve(factor, b)
            info["exact_method"] = "cholesky"
        except (np.linalg.LinAlgError, ValueError):
            try:
                x = scipy.linalg.solve(A, b, check_finite=False)
                info["exact_method"] = "lu"
            except (np.linalg.LinAlgError, ValueError) as exc:
                x = np.full_like(b, np.nan)
                info["exact_method"] = f"failed: {exc}"
        norm = stable_norm(x)
        if math.isfinite(norm) and norm > 0 and self.epsilon_q > 0 and x.size > 1:
            u = x / norm
            v = self.rng.standard_normal(x.size)
            v -= u * float(u @ v)
            vn = float(np.linalg.norm(v))
            theta = float(self.rng.uniform(0.0, 2.0 * math.asin(self.epsilon_q / 2.0)))
            if vn > 0:
                w = u + math.tan(theta) * (v / vn)
                u2 = w / np.linalg.norm(w)
                info["state_error"] = float(np.linalg.norm(u2 - u))
                x = norm * u2
        else:
            info["state_error"] = 0.0
        if not str(info["exact_method"]).startswith("failed"):  # a failed solve stays NaN, no scale note
            x = rescale_solution(x, eb - ea, info)
        modeled = 0.0
        if decision is not None:
            modeled = float(getattr(decision, "quantum_seconds", 0.0))  # solve + readout, both modeled
            info["modeled_seconds_source"] = "scheduler"
            info["modeled_readout_seconds"] = float(getattr(decision, "readout_seconds", 0.0))
        else:
            info["modeled_seconds_source"] = "none (no decision passed)"
        return SolveResult(
            x=x,
            method="emulated-qlsa",
            kind="quantum",
            measured_seconds=time.perf_counter() - start,
            modeled_quantum_seconds=modeled,
            info=info,
        )
