"""Measuring the classical solver on this machine: C of R_c = C N^3 and a CG multiply-add rate.

Q-Newton Sec. IV-C: "R_c = C * N^3, where C is a constant factor that can be easily determined
through a benchmark calibration". `time_classical_solver` times `ClassicalSolver` at several N
(best of a few repeats) on random SPD matrices, and `fit_cubic` fits C by least squares on N^3
(C = sum t N^3 / sum N^6), reporting R^2 and the relative residual at each N so the user sees
where the cubic law holds (small N is dominated by call overhead). `measure_multiply_add_rate`
times a CSR matrix-vector product, the work of one CG iteration.

`calibrate_classical` does both under a fixed number of BLAS threads and returns the profile
that `qnewton.calibrate.classical_profile` saves. Everything here reads the wall clock, so two
calls give different numbers; the cost models only ever see them through a saved profile, a
pinned constant, or an explicit request for a fresh fit.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from qnewton.costs.classical import LUCostModel
from qnewton.errors import UsageError

PROFILE_FORMAT = "qnewton-classical-profile"
PROFILE_VERSION = 1

#: Sizes of the quick fit (about a second) and of `qnewton calibrate classical` by default.
QUICK_SIZES: tuple[int, ...] = (128, 256, 384, 512)
DEFAULT_SIZES: tuple[int, ...] = (250, 500, 1000, 1500, 2000, 3000)
#: BLAS threads of the quick fit: the default of `qnewton calibrate classical` and of the trainer,
#: so that a fit prices the solves the way they run (several threads stall on a loaded machine).
QUICK_FIT_BLAS_THREADS = 1


def blas_limit(threads: int | None) -> Any:
    """A threadpoolctl context limiting BLAS to `threads` (None: leave the libraries' setting)."""
    if threads is None:
        return contextlib.nullcontext()
    import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS first: a limit only reaches loaded libraries
    from threadpoolctl import threadpool_limits

    return threadpool_limits(int(threads), user_api="blas")


def _spd_test_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    B = rng.standard_normal((n, n))
    A = B @ B.T / n
    A[np.diag_indices(n)] += 1.0
    return A


def time_classical_solver(sizes: Sequence[int], repeats: int = 3, seed: int = 0) -> list[float]:
    """MEASURED seconds of `ClassicalSolver.solve` (best of `repeats`) on random SPD matrices."""
    from qnewton.solvers.classical import ClassicalSolver

    solver = ClassicalSolver()
    rng = np.random.default_rng(seed)
    warm = _spd_test_matrix(64, rng)
    solver.solve(warm, np.ones(64))  # first call pays imports and thread start-up
    out = []
    for n in sizes:
        A = _spd_test_matrix(int(n), rng)
        b = rng.standard_normal(int(n))
        best = math.inf
        for _ in range(max(1, repeats)):
            best = min(best, solver.solve(A, b).measured_seconds)
        out.append(best)
    return out


def fit_cubic(sizes: Sequence[int], seconds: Sequence[float]) -> dict[str, Any]:
    """Least squares of t = C N^3: C = sum t N^3 / sum N^6, with R^2 and relative residuals."""
    N = np.asarray(sizes, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if N.size == 0 or N.size != t.size:
        raise UsageError("sizes, seconds: need equally long, non-empty lists")
    x = N**3
    C = float(np.dot(t, x) / np.dot(x, x))
    pred = C * x
    ss_res = float(np.sum((t - pred) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    rel = ((pred - t) / t).tolist()
    return {"constant": C, "r2": r2, "relative_residuals": rel, "sizes": N.astype(int).tolist(), "seconds": t.tolist()}


def measure_multiply_add_rate(n: int = 20000, d: int = 32, repeats: int = 20, seed: int = 0) -> dict[str, Any]:
    """MEASURED multiply-adds per second of a CSR matrix-vector product (n rows, d nonzeros each)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), d)
    cols = rng.integers(0, n, size=n * d)
    M = sp.csr_matrix((rng.standard_normal(n * d), (rows, cols)), shape=(n, n))
    x = rng.standard_normal(n)
    M @ x  # warm up
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        M @ x
        best = min(best, time.perf_counter() - t0)
    nnz = int(M.nnz)
    return {"multiply_adds_per_second": nnz / best, "n": n, "nnz": nnz, "seconds_per_matvec": best}


def fit_lu_model(sizes: Sequence[int] = QUICK_SIZES, repeats: int = 3, seed: int = 0) -> LUCostModel:
    """MEASURE `ClassicalSolver` at `sizes` on this machine and return the LU model of the fitted C."""
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise UsageError(f"sizes: each N must be a positive integer, got {n!r}")
    secs = time_classical_solver(sizes, repeats=repeats, seed=seed)
    result = fit_cubic(sizes, secs)
    return LUCostModel(result["constant"], source=f"fitted on this machine at N={list(sizes)}", fit_info=result)


def calibrate_classical(
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 3,
    seed: int = 0,
    cg_n: int = 20000,
    cg_d: int = 32,
    threads: int | None = 1,
) -> dict[str, Any]:
    """MEASURE this machine: solve times at `sizes` (fit C) and a CSR multiply-add rate; return
    the profile (a JSON-ready dict, see docs/cost-model.md for its fields).

    threads: BLAS threads during the timings (default 1, the trainer's default; None leaves the
    libraries' choice). It is recorded in the profile: C fitted under other threading than the
    solves it prices is wrong by up to an order of magnitude on a loaded machine.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UsageError(f"threads: must be a positive integer or None, got {threads!r}")
    with blas_limit(threads):
        secs = time_classical_solver(sizes, repeats=repeats, seed=seed)
        cg = measure_multiply_add_rate(cg_n, cg_d, seed=seed)
    lu = fit_cubic(sizes, secs)
    lu["solver"] = "qnewton.solvers.classical.ClassicalSolver (Cholesky, LU fallback), best of %d" % repeats
    return {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "blas_threads": threads,
        "lu": lu,
        "cg": cg,
    }


_QUICK_FIT_CACHE: dict[str, dict[str, Any]] = {}


def quick_profile() -> dict[str, Any]:
    """A quick fit (about a second: N = 128..512 and a short CSR timing) at one BLAS thread, cached
    for the process: {"lu": {...}, "cg": {...}, "blas_threads": 1}. Only made on request
    (`constant="fit"`, `--classical-constant fit`); it differs from run to run."""
    key = f"quick:{QUICK_FIT_BLAS_THREADS}"
    if key not in _QUICK_FIT_CACHE:
        with blas_limit(QUICK_FIT_BLAS_THREADS):
            secs = time_classical_solver(QUICK_SIZES, repeats=3)
            lu = fit_cubic(QUICK_SIZES, secs)
            cg = measure_multiply_add_rate(20000, 16, repeats=5)
        _QUICK_FIT_CACHE[key] = {"lu": lu, "cg": cg, "blas_threads": QUICK_FIT_BLAS_THREADS}
    return _QUICK_FIT_CACHE[key]
