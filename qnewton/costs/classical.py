"""Classical solve-time models: LU (the paper's R_c = C N^3) and conjugate gradients.

Q-Newton Sec. IV-C: "R_c = C * N^3, where C is a constant factor that can be easily determined
through a benchmark calibration". `LUCostModel.fit` times `ClassicalSolver` on this machine at
several N and fits C by least squares on N^3 (C = sum t N^3 / sum N^6), reporting R^2 and the
relative residual at each N so the user sees where the cubic law holds (small N is dominated
by call overhead).

The fair classical rival of a quantum solver on a sparse, well-conditioned matrix is conjugate
gradients: about N d sqrt(kappa) ln(2 / eps) multiply-adds (sqrt(kappa) ln(2/eps) iterations of
one d-sparse matrix-vector product each, rounded up), priced at a multiply-add rate measured
with a sparse matrix-vector product on this machine (`measure_multiply_add_rate`).

Profiles: `qnewton calibrate classical` writes both fits to a JSON profile (default
$QNEWTON_CACHE/classical.json, else ~/.cache/qnewton/classical.json), which
`classical_cost_model` loads; without one it fits quickly (about a second) and says so in the
model's `source`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import scipy.sparse as sp

from qnewton.errors import UsageError

ClassicalModelKind = Literal["lu", "cg", "best"]
CLASSICAL_MODEL_KINDS: tuple[str, ...] = ("lu", "cg", "best")
PROFILE_FORMAT = "qnewton-classical-profile"
PROFILE_VERSION = 1

#: The trainer's default C of R_c = C N^3 and CG multiply-add rate when no profile is saved, fixed
#: so that two identical `qnewton train` runs schedule identically (a fit from the wall clock
#: differs from run to run, e.g. 1.91e-11 and 2.43e-11, and can flip a decision). Measured with
#: `qnewton calibrate classical --threads 1 --sizes 128,256,384,512,1024 --repeats 5`, three runs
#: on the idle 2-core development machine (Intel Xeon, load 0.5): C = 2.13e-11, 2.15e-11 and
#: 1.84e-11 s (the sizes are the trainer's Hessian blocks on digits); CG rate 8.3e8, 6.1e8 and
#: 9.8e8 multiply-adds/s; the median of each, rounded.
PINNED_LU_CONSTANT = 2.1e-11
PINNED_CG_RATE = 8.3e8
PINNED_SOURCE = ("C = 2.1e-11 s per N^3 and CG rate 8.3e8 multiply-adds/s, medians of `qnewton calibrate "
                 "classical --threads 1` at N = 128..1024 on the 2-core development machine (docs/training.md)")

QUICK_SIZES: tuple[int, ...] = (128, 256, 384, 512)
DEFAULT_SIZES: tuple[int, ...] = (250, 500, 1000, 1500, 2000, 3000)


def default_profile_path() -> Path:
    """$QNEWTON_CACHE/classical.json if QNEWTON_CACHE is set, else ~/.cache/qnewton/classical.json."""
    root = os.environ.get("QNEWTON_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "qnewton"
    return base / "classical.json"


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise UsageError(f"{name}: must be a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: must be a positive number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise UsageError(f"{name}: must be a positive finite number, got {value!r}")
    return v


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UsageError(f"n: must be a positive integer, got {n!r}")
    return int(n)


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


@dataclass(frozen=True)
class LUCostModel:
    """R_c = C N^3 seconds (paper Sec. IV-C). source: where C came from; fit_info: the
    measurements and fit quality behind C (sizes, seconds, r2, relative_residuals) when fitted."""

    constant: float
    source: str = "given"
    fit_info: dict[str, Any] = field(default_factory=dict)
    name: str = "lu"

    def __post_init__(self) -> None:
        _positive("constant", self.constant)

    def seconds(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> float:
        """R_c = C N^3 seconds (sparsity and kappa are ignored: a dense factorization)."""
        n = _check_n(n)
        return float(self.constant) * float(n) ** 3

    @classmethod
    def fit(cls, sizes: Sequence[int] = QUICK_SIZES, repeats: int = 3, seed: int = 0) -> "LUCostModel":
        """MEASURE `ClassicalSolver` at `sizes` on this machine and fit C (least squares on N^3)."""
        for n in sizes:
            _check_n(n)
        secs = time_classical_solver(sizes, repeats=repeats, seed=seed)
        result = fit_cubic(sizes, secs)
        return cls(result["constant"], source=f"fitted on this machine at N={list(sizes)}", fit_info=result)

    def describe(self) -> str:
        """One line: the formula, C and where C came from."""
        return f"LU: R_c = {self.constant:.4g} * N^3 s ({self.source})"


@dataclass(frozen=True)
class CGCostModel:
    """Conjugate gradients: N d sqrt(kappa) ln(2/eps) multiply-adds at a measured rate."""

    multiply_adds_per_second: float
    epsilon: float = 0.01
    source: str = "given"
    name: str = "cg"

    def __post_init__(self) -> None:
        _positive("multiply_adds_per_second", self.multiply_adds_per_second)
        eps = _positive("epsilon", self.epsilon)
        if eps >= 1:
            raise UsageError(f"epsilon: must lie in (0, 1), got {eps:g}")

    def multiply_adds(self, n: int, sparsity: int, kappa: float) -> float:
        """N d sqrt(kappa) ln(2/eps) multiply-adds (inf for kappa = inf)."""
        n = _check_n(n)
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, np.integer)) or sparsity < 1:
            raise UsageError(f"sparsity: must be an integer >= 1, got {sparsity!r}")
        k = float(kappa)
        if math.isnan(k) or k < 1:
            raise UsageError(f"kappa: must be >= 1, got {kappa!r}")
        return float(n) * float(sparsity) * math.sqrt(k) * math.log(2.0 / self.epsilon)

    def seconds(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> float:
        """multiply_adds(N, d, kappa) / the measured multiply-add rate."""
        if sparsity is None or kappa is None:
            raise UsageError("cg cost model: needs the sparsity d and kappa")
        return self.multiply_adds(n, sparsity, kappa) / float(self.multiply_adds_per_second)

    def describe(self) -> str:
        """One line: the formula, the rate, eps and its source."""
        return f"CG: N d sqrt(kappa) ln(2/eps) multiply-adds at {self.multiply_adds_per_second:.3g}/s, eps={self.epsilon:g} ({self.source})"


@dataclass(frozen=True)
class BestClassicalCostModel:
    """The cheaper of LU and CG for each matrix."""

    lu: LUCostModel
    cg: CGCostModel
    name: str = "best"

    @property
    def source(self) -> str:
        """Where both constants came from."""
        return f"lu: {self.lu.source}; cg: {self.cg.source}"

    def choose(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> tuple[float, str]:
        """(seconds, "lu" or "cg"): the cheaper model for this matrix (LU when d or kappa is unknown)."""
        lu = self.lu.seconds(n)
        if sparsity is None or kappa is None:
            return lu, "lu"
        cg = self.cg.seconds(n, sparsity, kappa)
        return (cg, "cg") if cg < lu else (lu, "lu")

    def seconds(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> float:
        """Seconds of the cheaper of LU and CG."""
        return self.choose(n, sparsity, kappa)[0]

    def describe(self) -> str:
        """One line naming both models."""
        return f"best of [{self.lu.describe()}] and [{self.cg.describe()}]"


ClassicalCostModel = LUCostModel | CGCostModel | BestClassicalCostModel


# ----------------------------------------------------------------------------- profiles


def _blas_limit(threads: int | None) -> Any:
    """A threadpoolctl context limiting BLAS to `threads` (None: leave the libraries' setting)."""
    import contextlib

    if threads is None:
        return contextlib.nullcontext()
    import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS first: a limit only reaches loaded libraries
    from threadpoolctl import threadpool_limits

    return threadpool_limits(int(threads), user_api="blas")


def calibrate(
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 3,
    seed: int = 0,
    cg_n: int = 20000,
    cg_d: int = 32,
    threads: int | None = 1,
) -> dict[str, Any]:
    """MEASURE this machine: LU/Cholesky solve times at `sizes` (fit C) and a CSR multiply-add rate.

    threads: BLAS threads during the timings (default 1, the trainer's default; None leaves the
    libraries' choice). It is recorded in the profile: C fitted under other threading than the
    solves it prices is wrong by up to an order of magnitude on a loaded machine.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UsageError(f"threads: must be a positive integer or None, got {threads!r}")
    with _blas_limit(threads):
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


def write_profile(profile: dict[str, Any], path: str | Path) -> Path:
    """Write the profile JSON atomically (temp file in the same folder, then os.replace; missing
    folders are created; mode 0o666 minus the umask). Path problems -> one-line UsageError."""
    from qnewton.files import write_text_atomic

    text = json.dumps(profile, indent=2, sort_keys=True) + "\n"
    return write_text_atomic(path, text, field="profile", make_parents=True)


def load_profile(path: str | Path) -> dict[str, Any]:
    """Read and validate a classical profile JSON (one-line UsageError on any problem)."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"profile: no such file {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"profile: cannot read {path} as JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise UsageError(f"profile: {path} is not a {PROFILE_FORMAT} file")
    try:
        _positive("lu.constant", data["lu"]["constant"])
        _positive("cg.multiply_adds_per_second", data["cg"]["multiply_adds_per_second"])
    except (KeyError, TypeError):
        raise UsageError(f"profile: {path} lacks lu.constant or cg.multiply_adds_per_second") from None
    return data


_QUICK_FIT_CACHE: dict[str, dict[str, Any]] = {}


QUICK_FIT_BLAS_THREADS = 1


def _quick_profile() -> dict[str, Any]:
    """Quick fit at one BLAS thread (the default of `qnewton calibrate classical` and of the
    trainer, so `qnewton cost` and training price the classical solve alike; several BLAS threads
    stall on a loaded two-core machine), cached per process."""
    key = f"quick:{QUICK_FIT_BLAS_THREADS}"
    if key not in _QUICK_FIT_CACHE:
        with _blas_limit(QUICK_FIT_BLAS_THREADS):
            secs = time_classical_solver(QUICK_SIZES, repeats=3)
            lu = fit_cubic(QUICK_SIZES, secs)
            cg = measure_multiply_add_rate(20000, 16, repeats=5)
        _QUICK_FIT_CACHE[key] = {"lu": lu, "cg": cg, "blas_threads": QUICK_FIT_BLAS_THREADS}
    return _QUICK_FIT_CACHE[key]


def classical_cost_model(
    kind: ClassicalModelKind = "lu", profile: str | Path | None = None, *, epsilon: float = 0.01
) -> LUCostModel | CGCostModel | BestClassicalCostModel:
    """Build the classical model `kind` ("lu", "cg", "best") from a saved profile.

    profile: a path; None means `default_profile_path()` if that file exists, else a quick fit
    on this machine (about a second, cached for the process), recorded in the model's `source`.
    epsilon: the CG tolerance.
    """
    if kind not in CLASSICAL_MODEL_KINDS:
        raise UsageError(f"classical model: must be one of {', '.join(CLASSICAL_MODEL_KINDS)}, got {kind!r}")
    if profile is not None or default_profile_path().is_file():
        where = Path(profile).expanduser() if profile is not None else default_profile_path()
        data = load_profile(where)
        threads = data.get("blas_threads", "unrecorded")
        source = f"profile {where} (BLAS threads {'library default' if threads is None else threads})"
    else:
        data = _quick_profile()
        source = (f"quick fit on this machine at {data['blas_threads']} BLAS thread(s) (no profile at "
                  f"{default_profile_path()}; run `qnewton calibrate classical`)")
    lu = LUCostModel(float(data["lu"]["constant"]), source=source, fit_info=dict(data["lu"]))
    cg = CGCostModel(float(data["cg"]["multiply_adds_per_second"]), epsilon=epsilon, source=source)
    if kind == "lu":
        return lu
    if kind == "cg":
        return cg
    return BestClassicalCostModel(lu, cg)
