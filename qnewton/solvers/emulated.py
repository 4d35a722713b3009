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
3. with readout "swap-test", reads u' and ||x|| out with the shot noise the priced shot count
   implies (below); with readout "free" (the paper's assumption) they are taken as they are;
4. returns x' = ||x|| u' (or the read-out estimates of both).

Readout noise (readout "swap-test"). `qnewton.costs.quantum` prices the readout as N overlaps,
each estimated to precision delta with M = ceil(1 / delta^2) shots, each shot one full run of the
solver. The emulation draws exactly that estimation error. Each component u'_i is read as the mean
of M outcomes +-1 whose expectation is u'_i (an interference test of the solution state against a
reference state that carries the sign, the SWAP/Hadamard test of Buhrman, Cleve, Watrous and de
Wolf 2001): k_i ~ Binomial(M, (1 + u'_i) / 2) and the estimate is 2 k_i / M - 1, whose standard
error sqrt(1 - u'_i^2) / sqrt(M) is at most delta. The estimate is renormalized to a unit vector
(the state is unit by construction), so the vector error is about delta sqrt(N) for a spread-out
u'. Components with |u'_i| below about delta come out with the wrong sign with a probability near
1/2; the number of such sign errors is recorded in info["readout_sign_errors"]. The norm is read
from the post-selection rate, as in HHL (Harrow, Hassidim and Lloyd 2009: a run succeeds with
probability proportional to ||x||^2, with a known constant): over the readout's N M runs, each
succeeding with the cost model's probability p = 0.39 - 0.201 eps_q (Jennings et al. Theorem 1,
`qnewton.costs.quantum.success_probability_bound`), the observed rate p_hat ~ Binomial(N M, p) / (N M)
gives ||x'|| = ||x|| sqrt(p_hat / p), a relative error of about sqrt((1 - p) / (p N M)) / 2. The
readout kind and delta are taken from the decision the solver receives (decision.extra["readout"]
and ["readout_precision"], what the scheduler priced), else from the constructor's `readout` and
`readout_precision`. The readout draws come after the state error's draws from the same stream, so
free and swap-test runs share their state errors, and a reseeded solver repeats them bit for bit.
A shot count beyond 2^62 (delta below about 2e-10) is treated as an exact readout and noted.

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

from qnewton.analysis._validate import is_validated
from qnewton.analysis.factor import factor_for
from qnewton.analysis.scaling import power_of_two_scaled, stable_norm
from qnewton.costs.quantum import EPSILON_MAX, success_probability_bound
from qnewton.enums import Readout, choices
from qnewton.newton.decision import Decision
from qnewton.errors import UsageError
from qnewton.solvers.base import SOLVE_WINDOW, SolveResult, as_real_array, rescale_solution


class EmulatedQLSASolver:
    """LinearSolver (kind "quantum") emulating a QLSA with 2-norm error <= epsilon_q on x/||x||."""

    name = "emulated-qlsa"
    kind = "quantum"

    def __init__(
        self,
        epsilon_q: float = 0.01,
        seed: int | Sequence[int] | None = 0,
        *,
        readout: str = "free",
        readout_precision: float = 0.01,
    ) -> None:
        if isinstance(epsilon_q, bool) or not isinstance(epsilon_q, (int, float)) or not (0 <= epsilon_q < 1):
            raise UsageError(f"epsilon_q: must be a number in [0, 1), got {epsilon_q!r}")
        self.epsilon_q = float(epsilon_q)
        self.readout = _check_readout(readout)
        self.readout_precision = _check_precision(readout_precision)
        self.rng = np.random.default_rng(seed)

    def _readout_settings(self, decision: Decision | None) -> tuple[str, float]:
        """(readout kind, delta): the decision's (what was priced) when it carries them, else ours."""
        extra = decision.extra if decision is not None else None
        readout, precision = self.readout, self.readout_precision
        if isinstance(extra, dict):
            if extra.get("readout") is not None:
                readout = _check_readout(extra["readout"])
            if extra.get("readout_precision") is not None:
                precision = _check_precision(extra["readout_precision"])
        return readout, precision

    def _read_out(self, x: np.ndarray, precision: float, info: dict[str, Any]) -> np.ndarray:
        """x as the swap-test readout would estimate it: shot noise on every component of x/||x||
        and on the norm (module docstring). A zero or non-finite x is returned as it is."""
        norm = stable_norm(x)
        if not (math.isfinite(norm) and norm > 0):
            return x
        shots = math.ceil(1.0 / (precision * precision)) if precision > 2.0 ** -31 else math.inf
        if not shots <= 2 ** 62:
            info["readout_note"] = "shot count beyond 2^62: read out exactly"
            return x
        u = x / norm
        k = self.rng.binomial(int(shots), np.clip((1.0 + u) / 2.0, 0.0, 1.0))
        u_hat = 2.0 * k / shots - 1.0
        info["readout_shots_per_component"] = int(shots)
        info["readout_sign_errors"] = int(np.count_nonzero(np.sign(u_hat) != np.sign(u)))
        runs = int(shots) * x.size
        # Theorem 1's bound needs 0 < eps <= 0.24: eps_q = 0 takes the eps -> 0 limit 0.39
        p = success_probability_bound(min(max(self.epsilon_q, 1e-300), EPSILON_MAX))
        if runs <= 2 ** 62:
            rate = float(self.rng.binomial(runs, p)) / runs
            norm_hat = norm * math.sqrt(rate / p)
        else:
            norm_hat = norm
        info["readout_norm_relative_error"] = abs(norm_hat - norm) / norm
        length = float(np.linalg.norm(u_hat))
        if length == 0.0:
            info["readout_error"] = float(np.linalg.norm(u))
            return np.zeros_like(x)
        u_hat = u_hat / length
        info["readout_error"] = float(np.linalg.norm(u_hat - u))
        return norm_hat * u_hat

    def reseed(self, seed: int | Sequence[int]) -> None:
        """Restart the noise stream (the trainer passes [seed, method, step, block])."""
        self.rng = np.random.default_rng(seed)

    #: solve() takes a `qnewton.analysis.factor.CholeskyFactor` of A (the Newton step's shared one)
    accepts_factorization = True

    def solve(self, A: np.ndarray, b: np.ndarray, decision: Decision | None = None, *,
              factorization: Any = None) -> SolveResult:
        """Solve A x = b exactly, perturb x/||x|| within eps_q (module docstring); MODELED seconds from `decision`.

        factorization: a CholeskyFactor of this very array A (`qnewton.analysis.factor`), used for
        the exact solve of step 1 instead of a new factorization (info["shared_factor"])."""
        start = time.perf_counter()
        A = as_real_array(A, "A")
        b = as_real_array(b, "b").reshape(-1)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] != b.shape[0] or A.shape[0] == 0:
            raise UsageError(f"A: expected a non-empty square matrix matching b, got {A.shape} and {b.shape}")
        if not ((is_validated(A) or np.all(np.isfinite(A))) and np.all(np.isfinite(b))):
            raise UsageError("A, b: must be finite")
        shared = factor_for(factorization, A)
        A, ea = power_of_two_scaled(A, window=SOLVE_WINDOW)
        b, eb = power_of_two_scaled(b, window=SOLVE_WINDOW)
        info: dict[str, Any] = {"epsilon_q": self.epsilon_q}
        try:
            if shared is not None and ea == 0:
                x = shared.solve(b)
                info["shared_factor"] = True
            else:
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
        x = self.emulate_output(x, decision, info)
        if not str(info["exact_method"]).startswith("failed"):  # a failed solve stays NaN, no scale note
            x = rescale_solution(x, eb - ea, info)
        modeled = 0.0
        if decision is not None:
            modeled = float(decision.quantum_seconds)  # solve + readout, both modeled
            info["modeled_seconds_source"] = "scheduler"
            info["modeled_readout_seconds"] = float(decision.readout_seconds)
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

    def emulate_output(self, x: np.ndarray, decision: Decision | None, info: dict[str, Any]) -> np.ndarray:
        """Steps 2-4 of the module docstring on the exact solution x (a float64 vector of a system
        at unit scale): the QLSA's state error, then the readout; the draws come from this solver's
        stream. Also used by the device path of the Newton step, which solves exactly on the GPU."""
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
        readout, precision = self._readout_settings(decision)
        info["readout"] = readout
        if readout == "swap-test":
            info["readout_precision"] = precision
            x = self._read_out(x, precision, info)
        return x


def _check_readout(readout: Any) -> str:
    if readout not in choices(Readout):
        raise UsageError(f"readout: must be one of {', '.join(choices(Readout))}, got {readout!r}")
    return str(readout)


def _check_precision(precision: Any) -> float:
    if isinstance(precision, bool) or not isinstance(precision, (int, float)) or not (0.0 < precision < 1.0):
        raise UsageError(f"readout_precision: must be a number in (0, 1), got {precision!r}")
    return float(precision)
