"""The Newton part of one Q-Newton step (paper Algorithm 2, lines 4-17), block by block.

For each Hessian block H_B with gradient g_B:

    R_B = H_B + eps I                 regularize (Sec. V-D), exactly symmetric
    R_B <- fix(R_B)                   indefinite treatment (below): R_B made positive definite
    d   = choose_sparsity(R_B, spec)  oracle sparsity (default: the 50 % mass rule of Sec. IV-C on the
                                      off-diagonal entries, `offdiag-mass:50`)
    P_B = symmetric_prune(R_B, d)     what a quantum solver is given (Sec. IV-D)
    P_B <- fix(P_B)                   pruning can break definiteness again: fixed the same way
    decision = scheduler.decide(P_B, g_B, sparsity=d, classical_matrix=R_B)
                                      kappa estimate, R_c (priced on the matrix the classical
                                      solver gets) vs R_q = t_query E[queries] (priced on P_B)
    x_B = solve(P_B, g_B)             quantum (emulated or circuit) solver, or
    x_B = solve(R_B, g_B)             classical solver (Cholesky, LU fallback); the classical
                                      solver gets the unpruned matrix unless prune_classical
    theta_B <- theta_B - beta x_B     (done by the caller)

So the quantum solver always gets the fixed-then-pruned-then-fixed matrix P_B, and the classical
solver the fixed R_B (or P_B with prune_classical). The ledger's `kappa_exact` is the exact
condition number of the matrix that was actually solved, and `kappa_exact_of` says which ("R":
the treated unpruned matrix, also when d = N and nothing was pruned; "P": the pruned one). The
classical cost `classical_seconds_model` is priced on the matrix the classical solver gets
(`classical_priced_on`, "R" or "P"): its size, and for a CG-type model its row nonzeros and kappa.

Indefinite systems (`indefinite`). A Newton direction x = R^-1 g with R indefinite can satisfy
g.x > 0 and still be harmful: along an eigenvector with a negative eigenvalue the quadratic
model's curvature is negative, so the step heads for a saddle or a maximum of the model, and the
loss can rise although the first-order test passes. Three treatments:

- "damping" (default): Levenberg-Marquardt style damping, R + mu I positive definite. The search
  is Nocedal & Wright, Numerical Optimization (2nd ed., 2006), Algorithm 3.3 ("Cholesky with
  added multiple of the identity"): first try mu = 0 (a positive definite R is left as it is);
  if that Cholesky factorization fails, start from mu0 = max(beta, beta - min_i R_ii) with
  beta = 1e-3 max|R_ij| (the book's beta = 1e-3, scaled by the matrix's largest entry so the
  rule does not depend on the units of the loss), and double mu until the factorization of
  R + mu1 I succeeds. The first such mu1 only just exceeds -lambda_min(R), which can leave an
  eigenvalue near zero and an enormous step along it, so one more doubling is applied:
  mu = 2 mu1. Then every eigenvalue of R + mu I is larger than mu1 > |lambda_min(R)|: the
  curvature along every direction is at least the magnitude of the most negative one (as the
  saddle-free rule below gives for that direction), and ||x|| <= ||g|| / mu1.
  Where the search starts (`damping_start`): "lanczos" (default) estimates lambda_min(R) with a
  Lanczos run (a few dozen products with R, O(N^2) each; exact eigvalsh below N = 128) and sets
  mu = 2 ((1 + 0.1) |theta - r| + beta) rounded up to four significant bits, theta the smallest
  Ritz value and r its residual norm, so that theta - r <= lambda_min (error bound and guarantee in
  `qnewton.analysis.damping`): every eigenvalue of R + mu I is then again at least |lambda_min(R)|,
  and ONE Cholesky factorization of R + mu I verifies it and is kept as the damped matrix's shared
  factor (below). If that factorization fails, doubling continues from 2 mu. "doubling" is the
  schedule above (one factorization per try, none kept), for reproducing runs made before the
  Lanczos start existed. The record carries "start" and "lambda_min_estimate" (theta, residual,
  lower, matvecs; "lambda_min_estimate_pruned" for P). The damped
  system is the Levenberg-Marquardt
  subproblem min g.d + 1/2 d^T (B + lambda I) d of the seed paper 001 (its eq. 7). Its eq. 8
  chooses lambda from the gradient norm and a step-size sequence; it does not by itself make
  B + lambda I positive definite and it would carry state from step to step (a resumed run would
  then need it in the checkpoint), so it is not used: mu is chosen afresh for every block from the
  matrix alone, and an already positive definite matrix is left untouched (mu = 0).
- "saddle-free": the saddle-free Newton method of Dauphin, Pascanu, Gulcehre, Cho, Ganguli and
  Bengio, "Identifying and attacking the saddle point problem in high-dimensional non-convex
  optimization" (NeurIPS 2014): H = V diag(lambda) V^T is replaced by |H| = V diag(|lambda|) V^T,
  plus the damping eps I, i.e. R = |H| + eps I. Directions of negative curvature are then
  followed downhill instead of towards the saddle. It needs a full eigendecomposition
  (eigh, about 9 N^3 flops) and is applied only to blocks whose R = H + eps I is not positive
  definite; if |H| + eps I is still not positive definite (eps = 0 and H singular), damping is
  added on top.
- "none": the system is solved as it is (the behaviour before this treatment existed, kept for
  reproducing older runs).

Every block whose matrix a treatment changed carries `indefinite_fix` in its ledger entry
({"method", "mu" for R, "mu_pruned" for P, "attempts", and with damping "start" and the lambda_min
estimates}; null when nothing changed) and is counted in NewtonResult.indefinite_fixes. The
factorization attempts and the Lanczos estimate are MEASURED in the regularize_prune stage, since
they are part of preparing the system; the one factorization that verified a Lanczos start is the
damped matrix's shared factor and is attributed like a definiteness test's (below).

Kronecker-factored blocks (`factors`, from the K-FAC curvature). A block whose curvature is
K = G (x) A (A: c x c input factor, G: o x o output-gradient factor; the gradient g_B laid out as
the o x c matrix M) is never formed or inverted whole. K + eps I is replaced by the product of
two damped factors with the pi-damping split of Martens and Grosse (2015, Sec. 6.3):

    pi  = sqrt((tr A / c) / (tr G / o)),   gamma = sqrt(eps)
    R_A = A + pi gamma I,   R_G = G + (gamma / pi) I
    x_B = vec(R_G^-1 M R_A^-1)         (R_G (x) R_A = K + eps I + gamma (pi I (x) G + A (x) I / pi))

Each damped factor then goes through the same per-matrix pipeline as a Hessian block (treatment,
sparsity, pruning, scheduling decision, solve): two decisions per block, each with its own N,
kappa and sparsity, and each a ledger record (`factor` "G" or "A", `block`, `damping`, `pi`,
`right_hand_sides`). R_G is solved against the c columns of M, then R_A against the o columns of
(R_G^-1 M)^T; the scheduler prices a factor for that many right-hand sides (a quantum solver
prepares one solution state per column) and the quantum solver runs once per column. The
safeguard below applies to the combined x_B. The quantum solver's noise is reseeded from
[*noise_seed, block, 0] for G and [*noise_seed, block, 1] for A.

One factorization per matrix. The definiteness test of the treatment above is a Cholesky
factorization; when it succeeds its factor (`qnewton.analysis.factor.CholeskyFactor`) is kept and
handed to the kappa bound (log det P from the pivots) and to the solver of that same matrix
(classical, or the emulated QLSA's exact solve), so each matrix is factored once. Attribution in
the MEASURED stages: the factorization's seconds go to the first stage that uses the factor
beyond the test: kappa_estimate for P's factor when the bound used it, else solve when the
solver used it; a factor only the test used stays in regularize_prune. So with d = N (P is R) or
prune_classical, kappa_estimate holds the factorization and solve only the triangular solves.
Precision (`factor_precision`, `definiteness_factor`): "float64", or "mixed" (float32 factor,
float64-refined solves, certified as a definiteness test by one refined solve against the block's
g; a float64 test wherever the float32 one is in doubt; `qnewton.analysis.factor`), or "auto"
(default: mixed from N = MIXED_MIN_N on). The large arrays of a solve (the float32 factors and P)
go back to the process's `Workspace` afterwards and are written over by the next step.
Each matrix the step builds (R, P, a damped matrix) is checked once where it is made and then
marked read-only and validated (`qnewton.analysis._validate.mark_validated`), so sparsity,
pruning, the scheduler and the estimator do not re-scan its N^2 entries.

Safeguard (the last guard, after any treatment): -x_B must be a descent direction for the
mini-batch loss, i.e. g_B . x_B > 0, and x_B must be finite. An emulated or circuit solver's error,
or the treatment "none", can give a direction that fails this test. Such a block is recorded
(`safeguard` in its ledger entry) and takes the scaled gradient step x_B = fallback_scale * g_B
instead; the trainer sets fallback_scale = sgd_lr / newton_lr, so the block moves exactly as one
SGD step would.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import scipy.linalg

from qnewton.analysis._validate import mark_validated
from qnewton.analysis.damping import LambdaMinEstimate, damping_shift, lambda_min_estimate
from qnewton.analysis.factor import (FACTOR_PRECISIONS, MIXED_MIN_N, CholeskyFactor, cholesky, cholesky_mixed,
                                     resolve_precision)
from qnewton.analysis.pruning import choose_sparsity, symmetric_prune
from qnewton.analysis.regularize import regularize
from qnewton.analysis.scaling import SAFE_EXPONENT, binary_exponent, max_abs
from qnewton.enums import SolverKind
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready
from qnewton.newton.protocols import LinearSolver, Reseedable
from qnewton.newton.records import decision_record, merge_fixes
from qnewton.newton.scheduler import Scheduler


#: Treatments of a system that is not positive definite (module docstring).
INDEFINITE_TREATMENTS: tuple[str, ...] = ("damping", "saddle-free", "none")

#: beta of the damping schedule, relative to max|A_ij| (Nocedal & Wright, Algorithm 3.3: 1e-3).
DAMPING_BETA = 1e-3

#: Where the damping search starts (module docstring): "lanczos" (default), an estimate of
#: lambda_min and one verifying factorization; "doubling", the schedule of earlier versions.
DAMPING_STARTS: tuple[str, ...] = ("lanczos", "doubling")

#: Doublings tried before giving up (mu then exceeds max|A_ij| * N * 2^100, far past Gershgorin's
#: bound max_i sum_j |A_ij|, beyond which A + mu I is always positive definite).
DAMPING_MAX_ATTEMPTS = 128


@dataclass
class NewtonResult:
    """Directions x_B (float64), one ledger entry per block, MEASURED stage seconds, the MODELED
    quantum seconds of the blocks that went to the quantum solver, the number of blocks whose
    direction the safeguard replaced and the number whose matrix the indefinite treatment changed."""

    directions: list[np.ndarray]
    blocks: list[dict[str, Any]]
    measured_seconds: dict[str, float]
    modeled_quantum_seconds: float
    decision_counts: dict[str, int]
    safeguards: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    indefinite_fixes: int = 0


@dataclass(frozen=True)
class KroneckerSystem:
    """A block's curvature as G (x) A (module docstring, "Kronecker-factored blocks"): A (c x c),
    G (o x o) symmetric float64, and index (o x c) the block-vector position of each entry of the
    gradient's matrix form M (M[i, j] = g[index[i, j]])."""

    A: np.ndarray
    G: np.ndarray
    index: np.ndarray


def exact_kappa(A: np.ndarray) -> float:
    """kappa_2(A) = max|lambda| / min|lambda| for symmetric A (eigvalsh); inf if singular."""
    lam = np.abs(np.linalg.eigvalsh(A))
    lo = float(lam.min())
    return float(lam.max()) / lo if lo > 0 else math.inf


def is_positive_definite(A: np.ndarray) -> bool:
    """True when a Cholesky factorization of the symmetric matrix A succeeds (A is positive definite
    to working precision); False for indefinite, singular or non-finite A."""
    try:
        scipy.linalg.cho_factor(A, lower=True, check_finite=True)
    except (np.linalg.LinAlgError, ValueError):
        return False
    return True


def _shifted(A: np.ndarray, mu: float) -> np.ndarray:
    """A + mu I as a new array (one copy of A; no N x N identity is built). Entry for entry the same
    numbers as A + mu * np.eye(N)."""
    out = np.array(A, dtype=np.float64, copy=True)
    out.flat[:: A.shape[0] + 1] += mu
    return out


def damp_to_definite(A: np.ndarray, max_attempts: int = DAMPING_MAX_ATTEMPTS, *,
                     known_indefinite: bool = False, start: str = "doubling") -> tuple[np.ndarray, float, int]:
    """(A + mu I, mu, factorization attempts); `damp_factored` without the factor and the estimate.
    start "doubling" (this function's default, the rule of earlier versions): mu1 is the first value
    of the schedule mu0, 2 mu0, 4 mu0, ... for which A + mu1 I has a Cholesky factorization
    (Nocedal & Wright, Algorithm 3.3; mu0 in the module docstring) and mu = 2 mu1, so that every
    eigenvalue of A + mu I exceeds mu1 > |lambda_min(A)|. start "lanczos": mu from an estimate of
    lambda_min (`qnewton.analysis.damping`), verified by one factorization. A positive definite A
    comes back unchanged with mu = 0. If no mu up to 2^max_attempts mu0 works (non-finite A), A
    comes back unchanged with mu = nan. known_indefinite: the caller's own factorization of A
    already failed (it counts as attempt 1)."""
    fixed, mu, attempts, _, _ = damp_factored(A, max_attempts, known_indefinite=known_indefinite, start=start)
    return fixed, mu, attempts


def definiteness_factor(A: np.ndarray, precision: str = "float64", rhs: np.ndarray | None = None, *,
                        estimate_first: bool = False, workspace: "Workspace | None" = None,
                        ) -> tuple[CholeskyFactor | None, LambdaMinEstimate | None, int]:
    """(factor, estimate, factorizations): the definiteness test of A as one Cholesky factorization
    whose factor is kept (None: A is not positive definite in float64).

    precision "float64": `cholesky(A)`. "mixed" (and "auto" from MIXED_MIN_N on): the float32
    factor certified by a refined solve against rhs (`qnewton.analysis.factor`, "Mixed
    precision"); when the refinement does not converge, or spotrf fails, the float64 test decides,
    since a float32 failure alone does not prove A indefinite. estimate_first: after a failed
    float32 factorization, first a Lanczos estimate of lambda_min (`qnewton.analysis.damping`);
    theta + r < 0 proves A indefinite and the float64 test is skipped (the estimate is returned
    for the damping search, which needs it anyway). workspace: where the float32 array to factor
    in comes from (`Workspace`)."""
    if resolve_precision(precision, int(A.shape[0])) == "float64":
        return cholesky(A), None, 1
    work = None if workspace is None else workspace.take(A.shape, np.float32, "F")
    factor, status = cholesky_mixed(A, rhs, work=work)
    if factor is None and workspace is not None:
        workspace.give(work, references=1)  # `work` itself is the one other reference
    if factor is not None:
        return factor, None, 1
    estimate = None
    if status == "float32-failed" and estimate_first:
        scale = float(max_abs(A)) if A.size else 0.0
        if 0 < scale < math.inf and abs(binary_exponent(scale)) <= SAFE_EXPONENT:
            estimate = lambda_min_estimate(A)
        if estimate is not None and estimate.proves_indefinite():
            return None, estimate, 1
    return cholesky(A), estimate, 2


def damp_factored(A: np.ndarray, max_attempts: int = DAMPING_MAX_ATTEMPTS, *, known_indefinite: bool = False,
                  start: str = "doubling", estimate: LambdaMinEstimate | None = None, precision: str = "float64",
                  rhs: np.ndarray | None = None, workspace: "Workspace | None" = None,
                  ) -> tuple[np.ndarray, float, int, CholeskyFactor | None, LambdaMinEstimate | None]:
    """(A + mu I, mu, attempts, Cholesky factor of the returned matrix or None, the lambda_min
    estimate or None): the damping search of `damp_to_definite` (module docstring, "Indefinite
    systems"). With start "lanczos", mu = `damping_shift(estimate)` and the one factorization that
    verifies A + mu I is kept for the kappa bound and the solver (attempts 2 with the failed test);
    if it fails (the estimate missed lambda_min), the doubling rule continues from 2 mu and the
    result is as with "doubling" (no factor kept). estimate: one already computed for A.
    precision, rhs: how the kept factorizations are made (`definiteness_factor`); the doubling
    tries stay float64 tests."""
    if start not in DAMPING_STARTS:
        raise UsageError(f"damping_start: must be one of {', '.join(DAMPING_STARTS)}, got {start!r}")
    if not known_indefinite:
        factor, _, _ = definiteness_factor(A, precision, rhs, workspace=workspace)
        if factor is not None:
            return A, 0.0, 1, factor, None
    scale = float(max_abs(A)) if A.size else 0.0
    if not math.isfinite(scale):
        return A, math.nan, 1, None, None
    beta = DAMPING_BETA * scale if scale > 0 else DAMPING_BETA
    mu = max(beta, beta - float(np.min(np.diagonal(A))))
    first = 2
    if start == "lanczos":
        if estimate is None and 0 < scale and abs(binary_exponent(scale)) <= SAFE_EXPONENT:
            estimate = lambda_min_estimate(A)
        if estimate is not None:
            shift = damping_shift(estimate, beta)
            damped = _shifted(A, shift)
            factor, _, _ = definiteness_factor(damped, precision, rhs, workspace=workspace)
            if factor is not None:
                return damped, shift, 2, factor, estimate
            del damped
            mu, first = 2.0 * shift, 3
    for attempt in range(first, max_attempts + 2):
        if is_positive_definite(_shifted(A, mu)):
            return _shifted(A, 2.0 * mu), 2.0 * mu, attempt, None, estimate
        mu *= 2.0
        if not math.isfinite(mu):
            break
    return A, math.nan, max_attempts + 1, None, estimate


def saddle_free(R: np.ndarray, eps: float) -> np.ndarray:
    """|H| + eps I for R = H + eps I: the eigenvalues lambda of H replaced by |lambda| (Dauphin et al.
    2014, module docstring), the eigenvectors kept; exactly symmetric."""
    lam, V = np.linalg.eigh(R)
    out = (V * (np.abs(lam - eps) + eps)) @ V.T
    return (out + out.T) / 2.0


def _check_device(device: Any, scheduler: Scheduler) -> Any:
    """None (the numpy path) or a torch.device for the torch path (`qnewton.newton.torch_path`).
    The torch path prices the classical side on N alone, so it takes the LU cost model only."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"device: not a torch device: {device!r}") from None
    if scheduler._classical_uses_kappa():
        raise UsageError("device: the torch path supports the LU classical cost model only (classical_model = lu)")
    return dev


class Workspace:
    """Large N x N arrays handed from one block's solve to the next instead of being allocated
    afresh: the float32 arrays the mixed-precision factors are made in and the pruned matrix P.
    A fresh 1.2 GiB array costs its page faults on first write (0.2-1.7 s at N = 12,730 here,
    depending on how fragmented memory is); a reused one does not. At most `per_kind` arrays of
    each (shape, dtype, order) are kept, and only from N = min_n (MIXED_MIN_N) on. An array is
    given back only when nothing but the step refers to it; it is then writeable again and its old
    contents are garbage."""

    def __init__(self, per_kind: int = 2, min_n: int = MIXED_MIN_N) -> None:
        self.per_kind = int(per_kind)
        self.min_n = int(min_n)
        self._free: dict[tuple[tuple[int, ...], str, str], list[np.ndarray]] = {}

    @staticmethod
    def _key(shape: tuple[int, ...], dtype: Any, order: str) -> tuple[tuple[int, ...], str, str]:
        return tuple(int(n) for n in shape), np.dtype(dtype).str, order

    def take(self, shape: tuple[int, ...], dtype: Any, order: str) -> np.ndarray | None:
        """A kept array of that shape, dtype and order ("C" or "F"), or None."""
        free = self._free.get(self._key(shape, dtype, order))
        return free.pop() if free else None

    def give(self, arr: np.ndarray | None, *, references: int = 0) -> None:
        """Keep `arr` for a later take(). references: how many references to it the caller still
        holds besides the argument (the array is kept only when there are no others)."""
        if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[0] < self.min_n or not arr.flags.owndata:
            return
        if sys.getrefcount(arr) > 2 + references:  # the argument and getrefcount's own
            return
        order = "C" if arr.flags.c_contiguous else "F" if arr.flags.f_contiguous else None
        if order is None:
            return
        free = self._free.setdefault(self._key(arr.shape, arr.dtype, order), [])
        if len(free) < self.per_kind and not any(a is arr for a in free):
            arr.flags.writeable = True
            free.append(arr)

    def clear(self) -> None:
        self._free.clear()


#: The one workspace of this process: every NewtonStep (each method of a run has its own) takes
#: from and gives to it, so at most 2 arrays of each kind stay allocated between steps
#: (2.5 GiB at N = 12,730: two float32 factors and one P). `release_workspace()` frees them.
_WORKSPACE = Workspace()


def release_workspace() -> None:
    """Free the arrays the Newton steps of this process keep for reuse (`Workspace`)."""
    _WORKSPACE.clear()


def _factor_record(factor: CholeskyFactor | None) -> dict[str, Any] | None:
    """The ledger's description of a kept factor: its precision, and for a mixed-precision one the
    refinement steps of its solves and whether a float64 factorization replaced it."""
    if factor is None:
        return None
    out: dict[str, Any] = {"precision": factor.precision}
    if factor.precision == "mixed":
        out["refinement_steps"] = int(getattr(factor, "refinement_steps", 0))
        out["float64_fallback"] = getattr(factor, "fallback", None) is not None
    return out


def _solve(solver: LinearSolver, A: np.ndarray, g: np.ndarray, decision: Any,
           factor: CholeskyFactor | None) -> Any:
    """solver.solve(A, g[, decision]), handing over the shared Cholesky factor of A when the solver
    takes one (`accepts_factorization`)."""
    args = (A, g) if decision is None else (A, g, decision)
    if factor is not None and getattr(solver, "accepts_factorization", False):
        return solver.solve(*args, factorization=factor)
    return solver.solve(*args)


class NewtonStep:
    """Computes block Newton directions with a scheduler and two solvers (see module docstring).

    indefinite: "damping" (default), "saddle-free" or "none", how a system that is not positive
    definite is treated before it is priced and solved (module docstring).
    damping_start: "lanczos" (default) or "doubling", where the damping search starts (module
    docstring, "Indefinite systems").
    """

    def __init__(
        self,
        scheduler: Scheduler,
        classical_solver: LinearSolver,
        quantum_solver: LinearSolver,
        *,
        eps: float = 1.0,
        sparsity: int | float | str = "offdiag-mass:50",
        prune_classical: bool = False,
        exact_kappa_max_n: int = 256,
        fallback_scale: float = 0.1,
        indefinite: str = "damping",
        device: Any = None,
        damping_start: str = "lanczos",
        factor_precision: str = "auto",
    ) -> None:
        if not isinstance(scheduler, Scheduler):
            raise UsageError(f"scheduler: must be a qnewton.newton.Scheduler, got {type(scheduler).__name__}")
        for field_name, solver in (("classical_solver", classical_solver), ("quantum_solver", quantum_solver)):
            if not isinstance(solver, LinearSolver):
                raise UsageError(f"{field_name}: must be a linear solver (solve(A, b, decision)), got {type(solver).__name__}")
        if indefinite not in INDEFINITE_TREATMENTS:
            raise UsageError(f"indefinite: must be one of {', '.join(INDEFINITE_TREATMENTS)}, got {indefinite!r}")
        self.scheduler = scheduler
        self.classical_solver = classical_solver
        self.quantum_solver = quantum_solver
        self.eps = float(eps)
        self.sparsity = sparsity
        self.prune_classical = bool(prune_classical)
        self.exact_kappa_max_n = int(exact_kappa_max_n)
        self.fallback_scale = float(fallback_scale)
        if damping_start not in DAMPING_STARTS:
            raise UsageError(f"damping_start: must be one of {', '.join(DAMPING_STARTS)}, got {damping_start!r}")
        self.indefinite = str(indefinite)
        self.damping_start = str(damping_start)
        if factor_precision not in FACTOR_PRECISIONS:
            raise UsageError(f"factor_precision: must be one of {', '.join(FACTOR_PRECISIONS)}, got {factor_precision!r}")
        self.factor_precision = str(factor_precision)
        self.workspace = _WORKSPACE
        self.device = _check_device(device, scheduler)
        self.damping_schedule = (DAMPING_BETA, DAMPING_MAX_ATTEMPTS)

    def _treat(self, A: np.ndarray, *, unpruned: bool, shift: float | None = None) -> tuple[np.ndarray, dict[str, Any] | None]:
        """A made positive definite by this step's treatment, and what was done (None: unchanged).
        Saddle-free applies to the unpruned R only; the pruned matrix is damped if pruning broke it.
        shift: the multiple of I that regularization added to A (default eps)."""
        fixed, fix, _ = self._treat_factored(A, unpruned=unpruned, shift=shift)
        return fixed, fix

    def _treat_factored(self, A: np.ndarray, *, unpruned: bool, shift: float | None = None,
                        rhs: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any] | None, CholeskyFactor | None]:
        """`_treat`, plus the Cholesky factor of the returned matrix when the treatment produced it
        (A positive definite as it is: the test IS the factorization that the kappa bound and the
        solvers reuse; or the damped A + mu I whose factorization verified the Lanczos start). None
        with "none", after saddle-free, or after damping by doubling. rhs: the right-hand side that
        certifies a mixed-precision factor (`definiteness_factor`)."""
        if self.indefinite == "none":
            return A, None, None
        lanczos = self.indefinite == "damping" and self.damping_start == "lanczos"
        factor, estimate, tries = definiteness_factor(A, self.factor_precision, rhs, estimate_first=lanczos,
                                                      workspace=self.workspace)
        if factor is not None:
            return A, None, factor
        if unpruned and self.indefinite == "saddle-free":
            fixed, mu, attempts = damp_to_definite(saddle_free(A, self.eps if shift is None else shift))
            return mark_validated(fixed), {"method": "saddle-free", "mu": mu if mu else None,
                                           "attempts": attempts + tries}, None
        fixed, mu, attempts, factor, estimate = damp_factored(A, known_indefinite=True, start=self.damping_start,
                                                              estimate=estimate, precision=self.factor_precision,
                                                              rhs=rhs, workspace=self.workspace)
        attempts += tries - 1
        fix = {"method": "damping", "mu": mu, "attempts": attempts, "start": self.damping_start,
               "lambda_min_estimate": None if estimate is None else estimate.to_dict()}
        return mark_validated(fixed), fix, factor

    def _solve_system(
        self,
        R: np.ndarray,
        b: np.ndarray,
        stages: dict[str, float],
        reseed: list[int] | None,
        *,
        shift: float | None = None,
    ) -> tuple[np.ndarray, dict[str, Any], Any, dict[str, Any] | None]:
        """One regularized system R x = b through treat -> prune -> treat -> decide -> solve (module
        docstring); b may hold k right-hand sides as columns, priced as k solves by the scheduler and
        solved column by column by the quantum solver. Returns (x, ledger fields, decision, fix)."""
        t0 = time.perf_counter()
        R = mark_validated(R)
        R, fix_r, factor_r = self._treat_factored(R, unpruned=True, shift=shift, rhs=b)
        d = choose_sparsity(R, self.sparsity)
        pruned = d < R.shape[0]
        pruned_buffer = self.workspace.take(R.shape, np.float64, "C") if pruned else None
        P = mark_validated(symmetric_prune(R, d, out=pruned_buffer)) if pruned else R
        pruned_buffer = P if pruned else None
        P, fix_p, factor_p = self._treat_factored(P, unpruned=False, rhs=b) if pruned else (P, None, factor_r)
        t1 = time.perf_counter()
        # Shared factorizations (module docstring): each one's seconds are moved out of
        # regularize_prune into the first stage that uses it (kappa bound, then solve).
        unclaimed = {id(f): f for f in (factor_r, factor_p) if f is not None}
        stages["regularize_prune"] += t1 - t0 - sum(f.seconds for f in unclaimed.values())
        classical_matrix = P if (self.prune_classical or not pruned) else R
        rhs = 1 if b.ndim == 1 else int(b.shape[1])
        decision = self.scheduler.decide(
            P, b, sparsity=d, classical_matrix=None if classical_matrix is P else classical_matrix,
            factorization=factor_p, **({} if rhs == 1 else {"right_hand_sides": rhs}),
        )
        t2 = time.perf_counter()
        kappa_s = float(decision.timings.get("kappa_estimate", 0.0))
        if (factor_p is not None and id(factor_p) in unclaimed
                and decision.extra.get("kappa_details", {}).get("shared_factorization")):
            kappa_s += unclaimed.pop(id(factor_p)).seconds
        stages["kappa_estimate"] += kappa_s
        stages["decision"] += max(0.0, (t2 - t1) - float(decision.timings.get("kappa_estimate", 0.0)))
        if reseed is not None and isinstance(self.quantum_solver, Reseedable):
            self.quantum_solver.reseed(reseed)
        t2 = time.perf_counter()
        if decision.solver == SolverKind.QUANTUM:
            solved = P
            if b.ndim == 1:
                result = _solve(self.quantum_solver, P, b, decision, factor_p)
                used = factor_p
            else:
                result = self._solve_columns(P, b, decision)
                used = None
        else:
            solved = classical_matrix
            used = factor_p if classical_matrix is P else factor_r
            result = _solve(self.classical_solver, classical_matrix, b, None, used)
        t3 = time.perf_counter()
        if used is not None and result.info.get("shared_factor") and id(used) in unclaimed:
            t3 += unclaimed.pop(id(used)).seconds
        stages["regularize_prune"] += sum(f.seconds for f in unclaimed.values())  # only the definiteness test used it
        factorization = {"R": _factor_record(factor_r), "P": _factor_record(factor_p) if pruned else "R"}
        buffers = [f.c for f in {id(f): f for f in (factor_r, factor_p) if f is not None}.values()
                   if f.precision == "mixed" and f.fallback is None]
        del factor_r, factor_p, used, unclaimed
        stages["solve"] += t3 - t2
        # diagnostics for the ledger, outside every timed stage
        kappa_true = exact_kappa(solved) if solved.shape[0] <= self.exact_kappa_max_n else None
        fix = None
        if fix_r is not None or fix_p is not None:
            fix = merge_fixes(fix_r, fix_p)
        fields = decision_record(n=P.shape[0], sparsity=d, decision=decision, kappa_true=kappa_true,
                                 solved_unpruned=solved is R, classical_on_unpruned=classical_matrix is R,
                                 result=result, fix=fix)
        fields["factorization"] = factorization
        x = np.asarray(result.x, dtype=np.float64).reshape(b.shape)
        # the large arrays of this system go back to the workspace (each only if nothing else holds it)
        del P, R, solved, classical_matrix, result
        while buffers:
            self.workspace.give(buffers.pop())
        if pruned_buffer is not None:
            self.workspace.give(pruned_buffer, references=1)
        return x, fields, decision, fix

    def _solve_columns(self, P: np.ndarray, B: np.ndarray, decision: Any) -> Any:
        """The quantum solver run once per column of B (one solution state each), with the decision's
        cost split evenly over the columns; MEASURED and MODELED seconds summed."""
        from dataclasses import replace

        k = B.shape[1]
        per = replace(decision, quantum_seconds=decision.quantum_seconds / k,
                      readout_seconds=decision.readout_seconds / k, expected_queries=decision.expected_queries / k)
        results = [self.quantum_solver.solve(P, B[:, j], per) for j in range(k)]
        first = results[0]
        return type(first)(
            x=np.stack([np.asarray(r.x, dtype=np.float64).reshape(-1) for r in results], axis=1),
            method=first.method,
            kind=first.kind,
            measured_seconds=float(sum(r.measured_seconds for r in results)),
            modeled_quantum_seconds=float(sum(r.modeled_quantum_seconds for r in results)),
            info={"right_hand_sides": k, "first_column": first.info},
        )

    def _safeguard(self, g: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, str | None]:
        """(direction, g.x, reason or None): x itself if finite with g.x > 0, else fallback_scale * g."""
        gx = float(g @ x) if np.all(np.isfinite(x)) else math.nan
        safeguard = None
        if not np.all(np.isfinite(x)):
            safeguard = "non-finite direction"
        elif not gx > 0:
            safeguard = f"not a descent direction (g.x = {gx:.3e} <= 0)"
        if safeguard is not None:
            x = self.fallback_scale * g
        return x, gx, safeguard

    def compute(
        self,
        hessians: list[np.ndarray | None],
        gradients: list[np.ndarray],
        *,
        noise_seed: Sequence[int] | None = None,
        names: list[str] | None = None,
        curvature: str | None = None,
        factors: list[KroneckerSystem | None] | None = None,
        release_inputs: bool = False,
    ) -> NewtonResult:
        """Newton directions x_B for every block (H_B, g_B), one ledger record per inversion, and the
        MEASURED seconds of the stages regularize_prune (with the indefinite treatment),
        kappa_estimate, decision and solve (module docstring). With `noise_seed`, a reseedable
        quantum solver restarts its noise stream from [*noise_seed, i] before block i, so a step's
        noise depends only on the seed, never on what ran before it (runs and resumed runs repeat
        bit for bit). release_inputs: set hessians[i] to None once R_i is built, so that a caller
        who passes its only reference lets H_i go (at N = 12,730 one copy less at the peak); the step
        then owns H_i and builds R_i in its memory where it can (`regularize(..., overwrite=True)`).

        curvature: the name of the curvature kind the matrices come from, written into every record.
        factors: per block None, or a `KroneckerSystem`; such a block is solved through its two
        factors (`factored_direction`: two inversions, two records, H_B unused and may be None)."""
        if self.device is not None:  # the dense work in torch on that device (qnewton.newton.torch_path)
            if factors is not None and any(f is not None for f in factors):
                raise UsageError("device: the Kronecker-factored step (curvature kfac) runs on the CPU only; "
                                 "use --device cpu")
            from qnewton.newton.torch_path import compute_on_device

            result = compute_on_device(self, hessians, gradients, device=self.device, noise_seed=noise_seed,
                                       names=names, release_inputs=release_inputs, result_type=NewtonResult)
            for record in result.blocks:
                record.setdefault("curvature", curvature)
            return result
        stages = {"regularize_prune": 0.0, "kappa_estimate": 0.0, "decision": 0.0, "solve": 0.0}
        counts = {"quantum": 0, "classical": 0}
        modeled = 0.0
        directions: list[np.ndarray] = []
        records: list[dict[str, Any]] = []
        safeguards = 0
        fixes = 0
        for index, (H, g) in enumerate(zip(hessians, gradients)):
            g = np.asarray(g, dtype=np.float64).reshape(-1)
            name = names[index] if names else str(index)
            system = factors[index] if factors else None
            if system is not None:
                x, block_records = self.factored_direction(system, g, stages, noise_seed=noise_seed, index=index)
                x, gx, safeguard = self._safeguard(g, x)
                safeguards += safeguard is not None
                fixes += any(r["indefinite_fix"] is not None for r in block_records)
                for record in block_records:
                    counts[record["decision"]] += 1
                    modeled += float(record["modeled_quantum_seconds"])
                    records.append({"name": f"{name}.{record['factor']}", "block": name, "curvature": curvature,
                                    **record, "g_dot_x": json_ready(gx), "safeguard": safeguard})
                directions.append(x)
                continue
            if release_inputs and isinstance(hessians, list):
                hessians[index] = None  # type: ignore[call-overload]
            R = regularize(H, self.eps, overwrite=release_inputs)  # owned: R takes H's memory
            H = None
            reseed = None if noise_seed is None else [*noise_seed, index]
            x, fields, decision, fix = self._solve_system(R, g, stages, reseed)
            counts[decision.solver] += 1
            modeled += float(fields["modeled_quantum_seconds"])
            fixes += fix is not None
            x, gx, safeguard = self._safeguard(g, x)
            safeguards += safeguard is not None
            directions.append(x)
            records.append({"name": name, **fields, "curvature": curvature, "g_dot_x": json_ready(gx),
                            "safeguard": safeguard})
        return NewtonResult(directions, records, stages, modeled, counts, safeguards,
                            extra={"indefinite": self.indefinite, "indefinite_fixes": fixes},
                            indefinite_fixes=fixes)

    def factored_direction(
        self,
        system: KroneckerSystem,
        g: np.ndarray,
        stages: dict[str, float],
        *,
        noise_seed: Sequence[int] | None = None,
        index: int = 0,
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """x = (G (x) A + damping)^-1 g through the two factors (module docstring, "Kronecker-factored
        blocks"): with pi = sqrt((tr A / dim A) / (tr G / dim G)) and gamma = sqrt(eps),

            R_A = A + pi gamma I,   R_G = G + (gamma / pi) I,   X = R_G^-1 M R_A^-1,

        M the gradient in the factors' matrix layout. Each factor is one decision (its own N, kappa,
        sparsity, solver), priced for its number of right-hand sides. Returns x in block order and
        the two ledger records (G first, then A)."""
        A, G = system.A, system.G
        gamma = math.sqrt(self.eps)
        mean_a = float(np.trace(A)) / A.shape[0]
        mean_g = float(np.trace(G)) / G.shape[0]
        pi = math.sqrt(mean_a / mean_g) if mean_a > 0 and mean_g > 0 and math.isfinite(mean_a / mean_g) else 1.0
        t0 = time.perf_counter()
        shift_g, shift_a = gamma / pi, gamma * pi
        R_G = G + shift_g * np.eye(G.shape[0])
        R_A = A + shift_a * np.eye(A.shape[0])
        M = g[system.index]
        stages["regularize_prune"] += time.perf_counter() - t0
        records = []
        seed_g = None if noise_seed is None else [*noise_seed, index, 0]
        Y, fields_g, _, _ = self._solve_system(R_G, M, stages, seed_g, shift=shift_g)
        seed_a = None if noise_seed is None else [*noise_seed, index, 1]
        Xt, fields_a, _, _ = self._solve_system(R_A, np.ascontiguousarray(Y.T), stages, seed_a, shift=shift_a)
        for factor, fields, shift, rhs in (("G", fields_g, shift_g, M.shape[1]), ("A", fields_a, shift_a, M.shape[0])):
            records.append({"factor": factor, **fields, "damping": shift, "pi": pi, "right_hand_sides": int(rhs)})
        x = np.empty_like(g)
        x[system.index.reshape(-1)] = Xt.T.reshape(-1)
        return x, records
