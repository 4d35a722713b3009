"""table2-kappa-time: how long condition-number estimation takes, and how good it is.

Paper Table II reports the time of its condition-number estimate (the determinant-and-trace
bound of Merikoski et al., the paper's ref. [24]) for N x N matrices: 0.1, 0.7, 6.2 and 13.0 ms
at N = 10, 100, 1000, 10000 (on an NVIDIA H100). We time each estimator of
`qnewton.analysis.kappa.estimate_kappa` ("bound", "lanczos", "exact") on this machine's CPU and
compare each estimate with the true kappa.

Test matrices: A = Q diag(lambda) Q^T with Q the orthogonal factor of a Gaussian matrix (seeded)
and lambda geometrically spaced in [1/kappa, 1], so the true kappa_2(A) = kappa by construction.
The "indefinite" spectrum flips the sign of every third eigenvalue (same |lambda|, same kappa =
max|lambda| / min|lambda|), which is what a Hessian block away from a minimum looks like.

Threads: every timing runs with BLAS and torch limited to `threads` (1 by default; 0 leaves the
libraries' choice), and the count actually in force, read back from threadpoolctl, is a column of
both tables. Multi-threaded timings on a shared machine mostly measure the other load.
MEASURED columns (measured_ms) are wall-clock milliseconds here; nothing in this experiment
is modeled.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from qnewton.enums import KappaMethod
from qnewton.experiments.params import require, require_nonempty_sorted_positive
from qnewton.experiments.plotting import errorline, figure, save, series
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables

#: Paper Table II: N -> milliseconds of condition-number estimation (H100).
PAPER_TABLE2_MS = {10: 0.1, 100: 0.7, 1000: 6.2, 10000: 13.0}


@dataclass(frozen=True)
class Params:
    """sizes: matrix sizes N; estimators: which estimate_kappa methods to time;
    kappas: true condition numbers of the test matrices; repeats: timed calls per estimate
    (the median is reported); exact_repeats: timed calls of the (slow) exact reference;
    exact_max_n: largest N for which the exact eigendecomposition runs; spectra: "definite"
    (all eigenvalues positive) and/or "indefinite" (every third one negative); threads: BLAS and
    torch threads during the timings (0 = the libraries' choice)."""

    sizes: tuple[int, ...] = (10, 100, 1000, 2000)
    estimators: tuple[KappaMethod, ...] = tuple(KappaMethod)
    kappas: tuple[float, ...] = (10.0, 100.0, 10000.0)
    repeats: int = 2
    exact_repeats: int = 1
    exact_max_n: int = 2000
    spectra: tuple[Literal["definite", "indefinite"], ...] = ("definite", "indefinite")
    threads: int = 1

    def __post_init__(self) -> None:
        require_nonempty_sorted_positive(self.sizes, "sizes")
        require(all(n >= 2 for n in self.sizes), "sizes", f"every N must be >= 2, got {list(self.sizes)}")
        require(max(self.sizes) <= 20000, "sizes", f"N above 20000 needs more than 3 GiB per matrix, got {max(self.sizes)}")
        require(len(self.estimators) > 0 and len(set(self.estimators)) == len(self.estimators), "estimators", "list each estimator once, at least one")
        require_nonempty_sorted_positive(self.kappas, "kappas")
        require(all(k > 1 for k in self.kappas), "kappas", f"every kappa must be > 1, got {list(self.kappas)}")
        require(1 <= self.repeats <= 100, "repeats", f"must be in 1..100, got {self.repeats}")
        require(1 <= self.exact_repeats <= 100, "exact_repeats", f"must be in 1..100, got {self.exact_repeats}")
        require(self.exact_max_n >= 2, "exact_max_n", f"must be >= 2, got {self.exact_max_n}")
        require(len(self.spectra) > 0 and len(set(self.spectra)) == len(self.spectra), "spectra",
                "list each spectrum once, at least one")
        require(0 <= self.threads <= 1024, "threads", f"must be in 0..1024 (0 = the libraries' choice), got {self.threads}")


def test_matrix(n: int, kappa: float, rng: np.random.Generator, spectrum: str = "definite") -> tuple[np.ndarray, float]:
    """A symmetric N x N matrix with condition number max|lambda|/min|lambda| = `kappa` (and that
    value): positive definite, or with every third eigenvalue negated for "indefinite"."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q *= np.sign(np.diag(r))  # Haar-distributed Q
    mag = np.geomspace(1.0 / kappa, 1.0, n)
    lam = mag.copy()
    if spectrum == "indefinite":
        lam[1::3] *= -1.0
    a = (q * lam) @ q.T
    a = 0.5 * (a + a.T)
    return a, float(mag[-1] / mag[0])


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[int]:
    """Limit BLAS (threadpoolctl) and torch to `threads` threads (0: leave them) and yield the
    largest BLAS thread count actually in force, read back from threadpoolctl."""
    import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS first: a limit only reaches loaded libraries
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    before = torch.get_num_threads()
    limiter = threadpool_limits(threads, user_api="blas") if threads > 0 else contextlib.nullcontext()
    try:
        with limiter:
            if threads > 0:
                torch.set_num_threads(threads)
            pools = [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]
            yield max(pools) if pools else 0
    finally:
        torch.set_num_threads(before)


def _time_estimate(a: np.ndarray, method: str, repeats: int) -> tuple[list[float], object]:
    from qnewton.analysis.kappa import estimate_kappa

    times, est = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        est = estimate_kappa(a, method=method)
        times.append(time.perf_counter() - t0)
    return times, est


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    with pinned_threads(p.threads) as threads:
        ctx.log(f"  BLAS threads in force: {threads}")
        return _run_seed(p, seed, ctx, threads)


def _run_seed(p: Params, seed: int, ctx: RunContext, threads: int) -> Tables:
    rng = np.random.default_rng(seed)
    detail, timing = [], []
    for spectrum in p.spectra:
        for n in p.sizes:
            _time_size(p, n, spectrum, rng, ctx, threads, detail, timing)
    return {"table2": timing, "kappa_accuracy": detail}


def _time_size(p: Params, n: int, spectrum: str, rng: np.random.Generator, ctx: RunContext, threads: int,
               detail: list[dict], timing: list[dict]) -> None:
    per_estimator: dict[str, list[float]] = {}
    for kappa in p.kappas:
        a, true_kappa = test_matrix(n, kappa, rng, spectrum)
        for method in p.estimators:
            if method == KappaMethod.EXACT and n > p.exact_max_n:
                continue
            reps = p.exact_repeats if method == KappaMethod.EXACT else p.repeats
            times, est = _time_estimate(a, method, reps)
            ms = 1e3 * float(np.median(times))
            per_estimator.setdefault(method, []).append(ms)
            log_value = float(est.log_value)
            detail.append({
                "spectrum": spectrum,
                "n": n,
                "kappa_true": true_kappa,
                "estimator": method,
                "measured_ms": ms,
                "log10_kappa_estimate": log_value / math.log(10.0),
                "log10_estimate_over_true": (log_value - math.log(true_kappa)) / math.log(10.0),
                "estimate_finite": int(math.isfinite(float(est.value))),
                "threads": threads,
            })
        ctx.log(f"  {spectrum} N={n} kappa={kappa:g}: " + ", ".join(f"{m} {per_estimator[m][-1]:.2f} ms" for m in per_estimator))
    for method, values in per_estimator.items():
        timing.append({"spectrum": spectrum, "n": n, "estimator": method, "measured_ms": float(np.mean(values)),
                       "paper_ms_bound": PAPER_TABLE2_MS.get(n), "threads": threads})


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    fig, axes = figure(ncols=2)
    ax = axes[0][0]
    for spectrum, style in zip(p.spectra, ("-", "--")):
        for method in p.estimators:
            xs, ys, es = series(tables["table2"], "n", "measured_ms", estimator=method, spectrum=spectrum)
            if xs.size:
                errorline(ax, xs, ys, es, label=f"{method}, {spectrum} (CPU, {p.threads or 'default'} thread(s))",
                          linestyle=style)
    ax.plot(list(PAPER_TABLE2_MS), list(PAPER_TABLE2_MS.values()), "k*", markersize=10, label="paper Table II (H100)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("matrix size N")
    ax.set_ylabel("estimation time (ms, measured)")
    ax.set_title("Table II: kappa estimation time")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    styles = ["-", "--", ":", "-."]
    for i, kappa in enumerate(sorted({r["kappa_true"] for r in tables["kappa_accuracy"]})):
        for method in p.estimators:
            sel = [r for r in tables["kappa_accuracy"] if r["estimator"] == method and r["kappa_true"] == kappa
                   and r.get("spectrum", "definite") == p.spectra[0]]
            if not sel:
                continue
            xs, ys, es = series(sel, "n", "log10_estimate_over_true")
            errorline(ax, xs, ys, es, label=f"{method}, kappa={kappa:g}", linestyle=styles[i % 4])
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("matrix size N")
    ax.set_ylabel("log10(estimate / true kappa)")
    ax.set_title(f"estimate against the true kappa ({p.spectra[0]})")
    ax.legend(fontsize=7)
    return [save(fig, out / "table2-kappa-time.png")]


EXPERIMENT = Experiment(
    name="table2-kappa-time",
    title="Condition-number estimation time against N, and estimate against true kappa",
    paper="Table II",
    params_type=Params,
    tables=(
        TableSpec("table2", ("spectrum", "n", "estimator"),
                  "Kappa estimation time (ms, MEASURED on this machine at the BLAS thread count shown), averaged over the test kappas",
                  ("measured_ms", "paper_ms_bound", "threads")),
        TableSpec("kappa_accuracy", ("spectrum", "n", "kappa_true", "estimator"), "Estimate against the true kappa (log10 ratio; 0 = exact)",
                  ("log10_kappa_estimate", "log10_estimate_over_true", "measured_ms", "threads")),
    ),
    run_seed=run_seed,
    plot=plot,
)
