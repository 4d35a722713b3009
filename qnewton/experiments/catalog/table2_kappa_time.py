"""table2-kappa-time: how long condition-number estimation takes, and how good it is.

Paper Table II reports the time of its condition-number estimate (the determinant-and-trace
bound of Merikoski et al., the paper's ref. [24]) for N x N matrices: 0.1, 0.7, 6.2 and 13.0 ms
at N = 10, 100, 1000, 10000 (on an NVIDIA H100). We time each estimator of
`qnewton.analysis.kappa.estimate_kappa` ("bound", "lanczos", "exact") on this machine's CPU and
compare each estimate with the true kappa.

Test matrices: A = Q diag(lambda) Q^T with Q the orthogonal factor of a Gaussian matrix (seeded)
and lambda geometrically spaced in [1/kappa, 1], so the true kappa_2(A) = kappa by construction.
MEASURED columns (measured_ms) are wall-clock milliseconds here; nothing in this experiment
is modeled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
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
    exact_max_n: largest N for which the exact eigendecomposition runs."""

    sizes: tuple[int, ...] = (10, 100, 1000, 2000)
    estimators: tuple[KappaMethod, ...] = tuple(KappaMethod)
    kappas: tuple[float, ...] = (10.0, 100.0, 10000.0)
    repeats: int = 2
    exact_repeats: int = 1
    exact_max_n: int = 2000

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


def test_matrix(n: int, kappa: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A symmetric positive definite N x N matrix with condition number `kappa` (and that value)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q *= np.sign(np.diag(r))  # Haar-distributed Q
    lam = np.geomspace(1.0 / kappa, 1.0, n)
    a = (q * lam) @ q.T
    a = 0.5 * (a + a.T)
    return a, float(lam[-1] / lam[0])


def _time_estimate(a: np.ndarray, method: str, repeats: int) -> tuple[list[float], object]:
    from qnewton.analysis.kappa import estimate_kappa

    times, est = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        est = estimate_kappa(a, method=method)
        times.append(time.perf_counter() - t0)
    return times, est


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    rng = np.random.default_rng(seed)
    detail, timing = [], []
    for n in p.sizes:
        per_estimator: dict[str, list[float]] = {}
        for kappa in p.kappas:
            a, true_kappa = test_matrix(n, kappa, rng)
            for method in p.estimators:
                if method == KappaMethod.EXACT and n > p.exact_max_n:
                    continue
                reps = p.exact_repeats if method == KappaMethod.EXACT else p.repeats
                times, est = _time_estimate(a, method, reps)
                ms = 1e3 * float(np.median(times))
                per_estimator.setdefault(method, []).append(ms)
                log_value = float(est.log_value)
                detail.append({
                    "n": n,
                    "kappa_true": true_kappa,
                    "estimator": method,
                    "measured_ms": ms,
                    "log10_kappa_estimate": log_value / math.log(10.0),
                    "log10_estimate_over_true": (log_value - math.log(true_kappa)) / math.log(10.0),
                    "estimate_finite": int(math.isfinite(float(est.value))),
                })
            ctx.log(f"  N={n} kappa={kappa:g}: " + ", ".join(f"{m} {per_estimator[m][-1]:.2f} ms" for m in per_estimator))
        for method, values in per_estimator.items():
            timing.append({"n": n, "estimator": method, "measured_ms": float(np.mean(values)),
                           "paper_ms_bound": PAPER_TABLE2_MS.get(n)})
    return {"table2": timing, "kappa_accuracy": detail}


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    fig, axes = figure(ncols=2)
    ax = axes[0][0]
    for method in p.estimators:
        xs, ys, es = series(tables["table2"], "n", "measured_ms", estimator=method)
        if xs.size:
            errorline(ax, xs, ys, es, label=f"{method} (this machine, CPU)")
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
            sel = [r for r in tables["kappa_accuracy"] if r["estimator"] == method and r["kappa_true"] == kappa]
            if not sel:
                continue
            xs, ys, es = series(sel, "n", "log10_estimate_over_true")
            errorline(ax, xs, ys, es, label=f"{method}, kappa={kappa:g}", linestyle=styles[i % 4])
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("matrix size N")
    ax.set_ylabel("log10(estimate / true kappa)")
    ax.set_title("estimate against the true kappa")
    ax.legend(fontsize=7)
    return [save(fig, out / "table2-kappa-time.png")]


EXPERIMENT = Experiment(
    name="table2-kappa-time",
    title="Condition-number estimation time against N, and estimate against true kappa",
    paper="Table II",
    params_type=Params,
    tables=(
        TableSpec("table2", ("n", "estimator"), "Kappa estimation time (ms, MEASURED on this machine), averaged over the test kappas",
                  ("measured_ms", "paper_ms_bound")),
        TableSpec("kappa_accuracy", ("n", "kappa_true", "estimator"), "Estimate against the true kappa (log10 ratio; 0 = exact)",
                  ("log10_kappa_estimate", "log10_estimate_over_true", "measured_ms")),
    ),
    run_seed=run_seed,
    plot=plot,
)
