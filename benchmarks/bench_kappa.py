"""Scheduler-science benchmark: the paper's Table II on this machine, pruning time, and how loose
the determinant bound gets.

Prints (all seconds are MEASURED wall clock on this machine, best of --repeats):
  1. Table II: seconds of each kappa estimator (bound, lanczos, exact) on a dense SPD matrix with
     kappa = 100 at N = 10, 100, 1000, 10000, plus Lanczos on the pruned CSR matrix (what the
     scheduler sees after pruning). Targets on 2 cores: Lanczos at N = 10^4 under 0.5 s.
  2. Symmetric pruning seconds at the same sizes (d = 1% and 10% of N), on the Table II matrix and
     on a random symmetric one. Target: N = 10^4 under 5 s. The first call of the process (numba
     JIT compile, or loading its on-disk cache) is timed apart on a small matrix; the table shows
     warm calls. --numpy-fallback times the pure-numpy path instead (QNEWTON_NO_NUMBA=1 does the
     same). Run with NUMBA_CACHE_DIR=$(mktemp -d) to time a cold compile.
  1a. The same timings on an indefinite matrix with the same |eigenvalues| (N <= 2000).
  1b. Seconds per dense matvec at the largest N, the bytes it reads and the bandwidth that implies:
     the floor under Lanczos on dense input (iterations x seconds per matvec).
  3. bound / true kappa for random SPD matrices with kappa = 100 at N = 2, 10, 50, 200.
  4. The Jennings et al. Q* reference checks from DESIGN.md.

    .venv/bin/python benchmarks/bench_kappa.py            # full run (exact eigvalsh at N = 10^4 takes minutes)
    .venv/bin/python benchmarks/bench_kappa.py --quick    # N up to 1000
    .venv/bin/python benchmarks/bench_kappa.py --sizes 10000 --max-exact 0 --threads 2

Threads. Every timing runs at a fixed BLAS/OpenMP (threadpoolctl) and torch thread count,
1 by default (--threads N to change it, --threads 0 to leave the libraries' defaults), because
multi-threaded BLAS timings on a shared machine depend on what else runs. The counts actually in
force (read back from threadpoolctl and torch) are printed with every figure as [threads ...].
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qnewton.analysis.kappa import estimate_kappa  # noqa: E402
from qnewton.analysis import pruning  # noqa: E402
from qnewton.analysis.pruning import symmetric_prune  # noqa: E402
from qnewton.costs.quantum import expected_queries, query_count  # noqa: E402


def spd_known_spectrum(lam: np.ndarray, seed: int, reflections: int = 3) -> np.ndarray:
    """Dense SPD Q diag(lam) Q^T with Q a product of random Householder reflections: O(n^2) to build,
    eigenvalues known exactly."""
    rng = np.random.default_rng(seed)
    n = lam.size
    A = np.diag(lam.astype(np.float64))
    for _ in range(reflections):
        v = rng.standard_normal(n)
        v /= np.linalg.norm(v)
        Av = A @ v
        vAv = float(v @ Av)
        # (I - 2vv^T) A (I - 2vv^T) = A - 2 v (Av)^T - 2 (Av) v^T + 4 (v^T A v) v v^T
        A -= 2.0 * np.outer(v, Av)
        A -= 2.0 * np.outer(Av, v)
        A += 4.0 * vAv * np.outer(v, v)
    A += A.T
    A *= 0.5
    return A


_THREAD_TAG = "[threads: not set]"


def set_threads(count: int) -> str:
    """Limit BLAS/OpenMP (threadpoolctl) and torch to `count` threads (0: leave the defaults) and
    return the tag printed with every timing: the thread counts read back from the libraries."""
    global _THREAD_TAG, _LIMITS
    from threadpoolctl import threadpool_info, threadpool_limits

    if count > 0:
        _LIMITS = threadpool_limits(count)  # kept alive for the whole run
    try:
        import torch

        if count > 0:
            torch.set_num_threads(count)
        torch_threads = str(torch.get_num_threads())
    except ImportError:
        torch_threads = "not installed"
    pools = sorted({f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()})
    _THREAD_TAG = f"[threads: {', '.join(pools) or 'no BLAS pool found'}; torch {torch_threads}]"
    return _THREAD_TAG


_LIMITS = None


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def time_estimators(A: np.ndarray, n: int, repeats: int, max_exact: int) -> tuple:
    """Best-of-`repeats` seconds and results of the bound and Lanczos estimates of A (one repeat
    above N = 1000), the exact one up to `max_exact` ("skipped" beyond), and the bound as printed
    text (e^log when it overflows)."""
    reps = repeats if n <= 1000 else 1
    tb, eb = best_time(lambda: estimate_kappa(A, "bound"), reps)
    tl, el = best_time(lambda: estimate_kappa(A, "lanczos"), reps)
    if n <= max_exact:
        te, ee = best_time(lambda: estimate_kappa(A, "exact"), reps)
        te_s, ee_s = f"{te:9.4g}", f"{ee.value:11.5g}"
    else:
        te_s, ee_s = f"{'skipped':>9}", f"{'-':>11}"
    bound_text = f"{eb.value:12.4g}" if math.isfinite(eb.value) else f"e^{eb.log_value:.1f}".rjust(12)
    return tb, eb, tl, el, te_s, ee_s, bound_text


def table2(sizes: list[int], repeats: int, max_exact: int) -> None:
    print("Table II (this machine): seconds of kappa estimation, dense SPD, true kappa = 100")
    print(f"  {'N':>6}  {'bound s':>9}  {'lanczos s':>9}  {'exact s':>9}  {'bound kappa':>12}  {'lanczos kappa':>13}  {'exact kappa':>11}")
    rows = []
    for n in sizes:
        lam = np.geomspace(1.0, 100.0, n)
        A = spd_known_spectrum(lam, seed=n)
        tb, eb, tl, el, te_s, ee_s, bound_text = time_estimators(A, n, repeats, max_exact)
        print(f"  {n:>6}  {tb:9.4g}  {tl:9.4g}  {te_s}  {bound_text}  {el.value:13.5g}  {ee_s}  {_THREAD_TAG}", flush=True)
        # Lanczos variants and pruning on the same matrix
        reps = repeats if n <= 1000 else 1
        tl2, el2 = best_time(lambda: estimate_kappa(A, "lanczos", tol=1e-2), reps)
        d1 = max(2, math.ceil(0.01 * n))
        d10 = max(2, math.ceil(0.10 * n))
        tp1, P = best_time(lambda: symmetric_prune(A, d1), reps)
        tp10, _ = best_time(lambda: symmetric_prune(A, d10), reps)
        S = sp.csr_matrix(P)
        ts, es = best_time(lambda: estimate_kappa(S, "lanczos"), reps)
        del A, P
        rng = np.random.default_rng(n)
        G = rng.standard_normal((n, n))
        G += G.T
        tpr, _ = best_time(lambda: symmetric_prune(G, d1), reps)
        tpr10, _ = best_time(lambda: symmetric_prune(G, d10), reps)
        del G
        rows.append((n, tl, el, tl2, el2, d1, ts, es, tp1, d10, tp10, tpr, tpr10))
        del S
    print("  (paper Table II, H100: 0.1, 0.7, 6.2, 13.0 ms for the bound at N = 10, 100, 1000, 10000)")
    print("\nLanczos variants (seconds, estimate) and symmetric pruning seconds on the same matrices")
    print(f"  {'N':>6}  {'dense tol=1e-3':>20}  {'dense tol=1e-2':>20}  {'pruned CSR d=1%, tol=1e-3':>26}  "
          f"{'prune d=1%':>14}  {'prune d=10%':>16}  {'random d=1%':>11}  {'random d=10%':>12}")
    for n, tl, el, tl2, el2, d1, ts, es, tp1, d10, tp10, tpr, tpr10 in rows:
        print(f"  {n:>6}  {tl:9.4g} s {el.value:8.4g}  {tl2:9.4g} s {el2.value:8.4g}  {ts:9.4g} s {es.value:14.4g}  "
              f"{tp1:9.4g} s d={d1:<4}{tp10:9.4g} s d={d10:<5}{tpr:9.4g} s  {tpr10:10.4g} s  {_THREAD_TAG}")
        if n == 10000:
            worst = max(tp1, tp10, tpr, tpr10)
            print(f"  targets at N = 10^4: Lanczos dense {tl:.3g} s / {tl2:.3g} s (< 0.5 s: "
                  f"{'PASS' if min(tl, tl2) < 0.5 else 'FAIL'}), pruned CSR {ts:.3g} s (< 0.5 s: "
                  f"{'PASS' if ts < 0.5 else 'FAIL'}); pruning, slowest of the four {worst:.3g} s "
                  f"({'PASS' if worst < 5 else 'FAIL'} < 5 s)  {_THREAD_TAG}")
    print("  pruned CSR: the kappa of the matrix the scheduler prices; the pruned matrix's kappa differs from the dense one's")
    print("  the Table II matrices are diag + a few Householder reflections: low-rank-dominated off-diagonals")
    print("  (every row's largest entries sit in the same columns), the hard case for the candidate-based pruning;")
    print("  'random' is a dense symmetric Gaussian matrix")


def table2_indefinite(sizes: list[int], repeats: int, max_exact: int) -> None:
    """Table II's timings on the indefinite matrix with the same |eigenvalues| (every third one
    negative): bound via LDL^T, Lanczos with its second run on A^2, exact via eigvalsh."""
    print("\nTable II, indefinite variant: same |lambda| in [1, 100], every third eigenvalue negative (true kappa = 100)")
    print(f"  {'N':>6}  {'bound s':>9}  {'lanczos s':>9}  {'exact s':>9}  {'bound kappa':>12}  {'lanczos kappa':>13}  "
          f"{'A^2 steps':>9}  {'exact kappa':>11}")
    for n in sizes:
        if n > 2000:
            print(f"  {n:>6}  skipped (N > 2000: the A^2 run needs hundreds of dense matvecs)")
            continue
        lam = np.geomspace(1.0, 100.0, n) * np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
        A = spd_known_spectrum(lam, seed=n)
        tb, eb, tl, el, te_s, ee_s, bound_text = time_estimators(A, n, repeats, max_exact)
        steps = el.details.get("iterations_square", "-")
        print(f"  {n:>6}  {tb:9.4g}  {tl:9.4g}  {te_s}  {bound_text}  {el.value:13.5g}  {steps!s:>9}  {ee_s}  "
              f"{_THREAD_TAG}", flush=True)


def first_call_seconds() -> float:
    """Seconds of the process's first symmetric_prune calls (both diagonal modes) on a 1000 x 1000
    matrix: the numba JIT compile (or loading its cache) plus two passes of a few ms."""
    rng = np.random.default_rng(0)
    n = max(200, pruning._COMPILED_MIN_N)  # large enough for the compiled path
    G = rng.standard_normal((n, n))
    G += G.T
    t0 = time.perf_counter()
    symmetric_prune(G, 4)
    symmetric_prune(G, 4, diagonal="compete")
    return time.perf_counter() - t0


def matvec_floor(n: int, iterations: int) -> None:
    """Dense matvec seconds at size n and what they imply for Lanczos on dense input."""
    A = spd_known_spectrum(np.geomspace(1.0, 100.0, n), seed=n)
    x = np.random.default_rng(1).standard_normal(n)
    t64, _ = best_time(lambda: A @ x, 5)
    A32 = A.astype(np.float32)
    x32 = x.astype(np.float32)
    t32, _ = best_time(lambda: A32 @ x32, 5)
    del A, A32
    gb64, gb32 = n * n * 8 / 1e9, n * n * 4 / 1e9
    print(f"\nDense matvec floor at N = {n}: float64 {t64 * 1e3:.1f} ms ({gb64:.2f} GB read, {gb64 / t64:.1f} GB/s), "
          f"float32 {t32 * 1e3:.1f} ms ({gb32:.2f} GB, {gb32 / t32:.1f} GB/s)  {_THREAD_TAG}")
    print(f"  Lanczos needs one matvec per step; {iterations} steps (tol 1e-3 above) x {t64 * 1e3:.0f} ms = "
          f"{iterations * t64:.2f} s in float64; 0.5 s allows {0.5 / t64:.1f} float64 or {0.5 / t32:.1f} float32 matvecs  "
          f"{_THREAD_TAG}")


def bound_ratios(sizes: list[int], seeds: int) -> None:
    print("\nHow loose is the paper's estimator: bound / true kappa, random SPD, true kappa = 100")
    print(f"  {'N':>4}  {'spectrum':>9}  {'trace form (mean)':>17}  {'log10':>7}  {'Frobenius form':>14}  {'log10':>7}")
    for n in sizes:
        for kind in ("uniform", "geometric"):
            r_tr, r_fr = [], []
            for seed in range(seeds):
                rng = np.random.default_rng(1000 + seed)
                if kind == "uniform":
                    lam = np.concatenate([[1.0, 100.0], rng.uniform(1.0, 100.0, max(0, n - 2))])
                else:
                    lam = np.geomspace(1.0, 100.0, n)
                Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
                A = (Q * lam) @ Q.T
                A = 0.5 * (A + A.T)
                true = float(np.max(lam) / np.min(lam))
                r_tr.append(estimate_kappa(A, "bound", form="trace").log_value - math.log(true))
                r_fr.append(estimate_kappa(A, "bound", form="frobenius").log_value - math.log(true))
            lt, lf = float(np.mean(r_tr)), float(np.mean(r_fr))

            def show(logr: float) -> str:
                return f"{math.exp(logr):.4g}" if logr < 700 else f"e^{logr:.0f}"

            print(f"  {n:>4}  {kind:>9}  {show(lt):>17}  {lt / math.log(10):7.2f}  {show(lf):>14}  {lf / math.log(10):7.2f}")


def reference_checks() -> None:
    print("\nJennings et al. Q* reference checks (alpha = 1, eps = 0.01; DESIGN.md values)")
    print(f"  {'kappa':>7}  {'Q*':>12}  {'DESIGN':>9}  {'E[queries]':>12}  {'DESIGN':>9}")
    for kappa, q_ref, e_ref in ((10.0, 2.209e3, 5.693e3), (100.0, 2.209e4, 5.694e4), (1e4, 3.342e6, 8.613e6)):
        q = query_count(kappa, 0.01, 1.0)
        e = expected_queries(kappa, 0.01, 1.0)
        ok = abs(q / q_ref - 1) < 5e-4 and abs(e / e_ref - 1) < 5e-4
        print(f"  {kappa:>7g}  {q:12.5g}  {q_ref:9.4g}  {e:12.5g}  {e_ref:9.4g}  {'ok' if ok else 'MISMATCH'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10, 100, 1000 only")
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated N list (overrides --quick)")
    parser.add_argument("--numpy-fallback", action="store_true", help="time the pure-numpy pruning path (no numba)")
    parser.add_argument("--skip-extras", action="store_true", help="skip the bound-ratio table and the Q* checks")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs for N <= 1000 (default 3)")
    parser.add_argument("--max-exact", type=int, default=10000, help="skip eigvalsh above this N (default 10000)")
    parser.add_argument("--seeds", type=int, default=5, help="random matrices per N for the bound/true ratio (default 5)")
    parser.add_argument("--threads", "--blas-threads", dest="threads", type=int, default=1,
                        help="BLAS/OpenMP and torch threads for every timing (default 1; 0 leaves the libraries' "
                             "defaults); the counts in force are printed with every figure")
    args = parser.parse_args()
    if args.threads < 0:
        parser.error(f"--threads: must be >= 0, got {args.threads}")
    sizes = [10, 100, 1000] if args.quick else [10, 100, 1000, 10000]
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if args.numpy_fallback:
        pruning._compiled_greedy = None
    import os

    tag = set_threads(args.threads)
    print(f"machine: {os.cpu_count()} CPUs; requested threads: {args.threads or 'library defaults'}; in force: {tag}; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    first_call = first_call_seconds()
    print(f"pruning path at N >= {pruning._COMPILED_MIN_N}: {pruning.pruning_backend()}; first call of the process (JIT compile or cache load): "
          f"{first_call:.2f} s  {_THREAD_TAG}")
    table2(sizes, args.repeats, args.max_exact)
    table2_indefinite(sizes, args.repeats, args.max_exact)
    big = max(sizes)
    if big >= 1000:
        it = estimate_kappa(spd_known_spectrum(np.geomspace(1.0, 100.0, big), seed=big), "lanczos").details["iterations"]
        matvec_floor(big, int(it))
    if not args.skip_extras:
        bound_ratios([2, 10, 50, 200], args.seeds)
        reference_checks()
    print(f"load average {os.getloadavg()[0]:.2f} at end (other processes on this machine inflate the timings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
