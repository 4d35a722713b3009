"""Seconds per stage of one Q-Newton step (paper Algorithm 2), against one Cholesky factorization of
the same N and, for the Hessian, against a matmul of the same FLOP count.

Models: the default 64-16-10 MLP (1,210 parameters) and a 784-16-10 MLP (12,730 parameters, the
paper's DNN size, Table I), random data, batch 256, the full Hessian (one block) unless
--blocks says otherwise. Stages: forward_backward, hessian, regularize_prune, kappa_estimate,
decision, solve, update (as in the ledger; the shared Cholesky factorization of each matrix is
counted in the first stage that uses it, see qnewton.newton.step). The Hessian stage's matmul
FLOPs are counted with torch.utils.flop_counter.FlopCounterMode in an untimed pass (matrix
products only; elementwise work is not counted) and compared with the time of one square float
matmul of the same FLOP count (2 n^3 = F): ratio = t_hessian / t_matmul. For N > 4000 one
float64 Cholesky factorization of a random N x N positive definite matrix is timed before and
after the step (the machine may be shared: their mean is the unit, the load average is printed),
and the step from the Hessian through the solve is given in such factorizations.

What counts in the ratio "Newton step = k Cholesky factorizations": the MEASURED stages hessian,
regularize_prune, kappa_estimate, decision and solve (forward_backward and update are left out:
they are the same for SGD), divided by one Cholesky factorization of a random positive definite
matrix of the same N. Every factorization the step does is inside those stages: the definiteness
test of R and of P (its factor is kept and its seconds moved to the stage that first reuses it:
kappa_estimate for P's, solve for R's; see qnewton.newton.step), failed tests, the damping search
(one verifying factorization with --damping-start lanczos, one per try with doubling) and any
factorization a solver or the kappa bound does itself. Nothing is left out or subtracted: the
emulated QLSA's solve is in `solve` too (the trainer's PROJECTED time subtracts it, this ratio
does not). The benchmark also counts the dense factorizations of size N that ran during the step
(scipy cho_factor, cholesky, lu_factor, ldl, failed ones included) and splits the ratio into
them and everything else. With the default pruned P != R the step does at least two
factorizations (R for its test and the classical solve, P for its test, the kappa bound and the
emulated QLSA), so the ratio is 2 plus the rest when those are float64 factorizations. With
--factor-precision auto (the default, as in the trainer) or mixed, the step factors at N >= 4096 in
float32 and refines every solve to float64 accuracy (qnewton.analysis.factor, "Mixed precision");
the unit stays ONE FLOAT64 factorization, and the time of one float32 factorization of the same N is
printed beside it. --factor-precision float64 measures the step of earlier versions.

Memory: a 12,730^2 float64 Hessian is 1.21 GiB. The step keeps R, its Cholesky factor, P and its
factor (four N^2 arrays) at its peak; R is built in the input H's memory (the step owns H here). The peak resident
size of the process is printed. --device cuda runs the Hessian and the step's dense work in torch
on the GPU (one line on stderr and the CPU when there is none); --dtype float32 computes the
Hessian in float32 (the analysis and the solves stay float64).
Run: `.venv/bin/python benchmarks/bench_step.py --models 784-16-10 --threads 2`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import resource
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's qnewton, not another install

from qnewton.curvature import curvature, make_blocks
from qnewton.train.models import MLP
from qnewton.newton import NewtonStep


def matmul_seconds(flops: float, dtype: torch.dtype, repeats: int = 3,
                   device: torch.device | None = None) -> tuple[float, int]:
    """Best seconds of one square matmul of `flops` FLOPs (2 n^3 = F), on the CPU or on `device`."""
    n = max(2, int(round((flops / 2.0) ** (1.0 / 3.0))))
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    _sync(device)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best, n


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def cholesky_seconds(n: int, repeats: int = 1, device: torch.device | None = None,
                     dtype: type = np.float64) -> float:
    """Best wall-clock seconds of one Cholesky factorization (scipy cho_factor, the classical
    solver's factorization; float64 unless `dtype`) of an N x N symmetric positive definite matrix
    (random entries in [-1, 1], symmetrized, plus N on the diagonal: positive definite by
    Gershgorin's theorem)."""
    import scipy.linalg

    rng = np.random.default_rng(0)
    a = rng.uniform(-1.0, 1.0, size=(n, n))
    a += a.T
    a *= 0.5
    a[np.diag_indices(n)] += n
    a = a.astype(dtype)
    best = math.inf
    if device is not None:  # the device path's factorization: torch.linalg.cholesky_ex on the device
        at = torch.from_numpy(a).to(device)
        del a
        torch.linalg.cholesky_ex(at)
        _sync(device)
        for _ in range(repeats):
            t = time.perf_counter()
            torch.linalg.cholesky_ex(at)
            _sync(device)
            best = min(best, time.perf_counter() - t)
        return best
    for _ in range(repeats):
        t = time.perf_counter()
        scipy.linalg.cho_factor(a, lower=True, check_finite=False)
        best = min(best, time.perf_counter() - t)
    del a
    return best


class FactorizationCounter:
    """Counts the dense O(N^3) factorizations (scipy cho_factor, cholesky, lu_factor, ldl) of
    matrices of at least `min_n` rows while active, failed ones included, and their wall-clock
    seconds (MEASURED). The step's ratio to one Cholesky factorization then splits into these
    factorizations and the rest (Hessian, regularization, sparsity, pruning, Lanczos, decision,
    triangular solves)."""

    NAMES = ("cho_factor", "cholesky", "lu_factor", "ldl")

    def __init__(self, min_n: int) -> None:
        self.min_n = min_n
        self.calls: list[tuple[str, int, float, bool]] = []
        self._saved: dict[str, object] = {}

    def __enter__(self) -> "FactorizationCounter":
        import scipy.linalg

        for name in self.NAMES:
            real = getattr(scipy.linalg, name)
            self._saved[name] = real

            def counted(a, *args, _real=real, _name=name, **kw):
                big = getattr(a, "ndim", 0) == 2 and a.shape[0] >= self.min_n
                label = _name if getattr(a, "dtype", np.float64) == np.float64 else f"{_name} {a.dtype}"
                t = time.perf_counter()
                try:
                    out = _real(a, *args, **kw)
                except Exception:
                    if big:
                        self.calls.append((label, int(a.shape[0]), time.perf_counter() - t, False))
                    raise
                if big:
                    self.calls.append((label, int(a.shape[0]), time.perf_counter() - t, True))
                return out

            setattr(scipy.linalg, name, counted)
        return self

    def __exit__(self, *exc: object) -> None:
        import scipy.linalg

        for name, real in self._saved.items():
            setattr(scipy.linalg, name, real)


def bench(sizes: tuple[int, ...], blocks: str, dtype: torch.dtype, policy: str, chunk: int | None, repeats: int,
          sparsity: str = "mass:50", device: torch.device | None = None, eps: float = 1.0,
          damping_start: str = "lanczos", factor_precision: str = "auto") -> dict:
    from qnewton.calibrate import classical_cost_model
    from qnewton.costs.quantum import QuantumCostModel
    from qnewton.costs.query_time import PAPER_GATE_TIME, GateTimeModel
    from qnewton.newton import Scheduler
    from qnewton.solvers.classical import ClassicalSolver
    from qnewton.solvers.emulated import EmulatedQLSASolver

    torch.manual_seed(0)
    model = MLP(sizes[0], sizes[1:-1], sizes[-1])
    x = torch.randn(256, sizes[0])
    y = torch.randint(0, sizes[-1], (256,))
    blk = make_blocks(model, blocks)
    scheduler = Scheduler(policy=policy, kappa_method="bound",
                          quantum=QuantumCostModel(query_time=GateTimeModel(PAPER_GATE_TIME)),
                          classical=classical_cost_model("lu")[0])
    step = NewtonStep(scheduler, ClassicalSolver(), EmulatedQLSASolver(0.01), eps=eps, sparsity=sparsity,
                      exact_kappa_max_n=0, device=device, damping_start=damping_start,
                      factor_precision=factor_precision)
    out: dict = {"model": "-".join(map(str, sizes)), "parameters": model.num_parameters(), "blocks": blocks,
                 "block_sizes": [b.size for b in blk], "hessian_dtype": str(dtype).replace("torch.", ""),
                 "policy": policy, "runs": []}
    for r in range(repeats):
        sec = {}
        t = time.perf_counter()
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        sec["forward_backward"] = time.perf_counter() - t
        if r == 0:  # FLOPs counted in an untimed pass (the counter itself slows the computation down)
            with FlopCounterMode(display=False) as fc:
                curv = curvature(model, blk, x, y, dtype=dtype, chunk_size=chunk, device=device)
            out["hessian_matmul_flops"] = float(fc.get_total_flops())
            del curv
        _sync(device)
        t = time.perf_counter()
        curv = curvature(model, blk, x, y, dtype=dtype, chunk_size=chunk, device=device)
        _sync(device)
        sec["hessian"] = time.perf_counter() - t
        if device is None:
            hessians, gradients = [c.H.double().numpy() for c in curv], [c.g.double().numpy() for c in curv]
        else:
            hessians, gradients = [c.H for c in curv], [c.g for c in curv]
        del curv  # as the trainer does: the step releases each H once it is regularized
        with FactorizationCounter(max(2, min(out["block_sizes"]) // 2) if device is None else 10**12) as fc:
            res = step.compute(hessians, gradients, release_inputs=True)
        sec.update(res.measured_seconds)
        out.setdefault("factorizations", []).append(
            [{"kind": k, "n": n, "seconds": t, "succeeded": ok} for k, n, t, ok in fc.calls])
        t = time.perf_counter()
        with torch.no_grad():
            params = dict(model.named_parameters())
            for b, d in zip(blk, res.directions):
                off = 0
                for name, shape in zip(b.names, b.shapes):
                    p = params[name]
                    p.sub_(torch.as_tensor(d[off:off + p.numel()], dtype=p.dtype).reshape(shape))
                    off += p.numel()
        sec["update"] = time.perf_counter() - t
        out["runs"].append(sec)
        out["decisions"] = res.decision_counts
        out["block_records"] = [{k: b[k] for k in ("n", "sparsity", "log_kappa_estimate", "decision",
                                                    "quantum_seconds_model", "classical_seconds_model",
                                                    "indefinite_fix", "factorization")}
                                for b in res.blocks]
        del res
    best = {k: min(run[k] for run in out["runs"]) for k in out["runs"][0]}
    out["best_seconds"] = best
    t_mm, n_mm = matmul_seconds(out["hessian_matmul_flops"], dtype, device=device)
    out["matmul_equivalent"] = {"n": n_mm, "seconds": t_mm, "ratio_hessian_over_matmul": best["hessian"] / t_mm}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="64-16-10,784-16-10", help="comma-separated layer sizes, e.g. 64-16-10")
    ap.add_argument("--blocks", default="full", choices=["full", "layer", "tensor"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="Hessian dtype")
    ap.add_argument("--policy", default="classical-only", choices=["classical-only", "hybrid", "quantum-only"])
    ap.add_argument("--chunk", type=int, default=0, help="chunked reverse-over-reverse Hessian (0: auto: "
                    "2048 for models over 4000 parameters, else unchunked forward-over-reverse)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sparsity", default="mass:50", help="oracle sparsity rule (the trainer's default is offdiag-mass:50)")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (the trainer's default is 1)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where the Hessian and the step's dense work run (cuda: torch on the GPU; without a usable "
                         "GPU one line on stderr and the CPU)")
    ap.add_argument("--eps", type=float, default=1.0, help="regularization H + eps I (a small eps, e.g. 0.01, "
                    "leaves the random-init Hessian indefinite, so the damping search is measured)")
    ap.add_argument("--damping-start", default="lanczos", choices=["lanczos", "doubling"],
                    help="where the damping search of an indefinite block starts (the trainer's default: lanczos)")
    ap.add_argument("--factor-precision", default="auto", choices=["auto", "float64", "mixed"],
                    help="precision of the step's Cholesky factorizations (the trainer's default: auto, mixed "
                         "float32/float64 from N = 4096 on; CPU path only)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    from qnewton.newton.torch_path import resolve_device

    device = resolve_device(args.device, prog="bench_step")
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    torch.set_num_threads(args.threads)
    import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS first: a limit only reaches loaded libraries
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads, user_api="blas")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}, device {device or 'cpu (numpy path)'}"
          + (f" ({torch.cuda.get_device_name(device)})" if device is not None else ""))
    results = []
    for spec in args.models.split(","):
        sizes = tuple(int(s) for s in spec.split("-"))
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        chunk = args.chunk or (2048 if n_params > 4000 else None)
        gib = n_params ** 2 * 8 / 2**30
        print(f"\n== MLP {spec}: {n_params} parameters, blocks {args.blocks}; one float64 Hessian = {gib:.2f} GiB; "
              f"Hessian dtype {args.dtype}" + (f", chunk {chunk}" if chunk else ""))
        t_chol_before = cholesky_seconds(n_params, device=device) if n_params > 4000 else None
        r = bench(sizes, args.blocks, dtype, args.policy, chunk, args.repeats, args.sparsity, device, args.eps,
                  args.damping_start, args.factor_precision)
        results.append(r)
        for k, v in r["best_seconds"].items():
            print(f"  {k:>17}: {v:9.4f} s")
        total = sum(r["best_seconds"].values())
        print(f"  {'total':>17}: {total:9.4f} s   (best of {args.repeats})")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        r["peak_rss_bytes"] = peak
        print(f"  peak resident memory of this process so far: {peak / 2**30:.2f} GiB = "
              f"{peak / (n_params ** 2 * 8):.2f} float64 Hessians (interpreter and torch included)")
        newton = sum(v for k, v in r["best_seconds"].items() if k not in ("forward_backward", "update"))
        t_after = cholesky_seconds(n_params, device=device)
        t_chol = t_after if t_chol_before is None else 0.5 * (t_chol_before + t_after)
        r["cholesky_seconds"] = t_chol
        r["newton_step_over_cholesky"] = newton / t_chol
        where = f"{args.threads} threads" if device is None else str(device)
        both = "" if t_chol_before is None else f" (mean of {t_chol_before:.4f} s before and {t_after:.4f} s after the step)"
        print(f"  one float64 Cholesky of N = {n_params}: {t_chol:.4f} s{both}, {where}, load average "
              f"{os.getloadavg()[0]:.2f}; Newton step (hessian through solve) = {newton:.4f} s = "
              f"{newton / t_chol:.2f} Cholesky factorizations")
        if device is None and n_params > 4000:
            t32 = cholesky_seconds(n_params, dtype=np.float32)
            r["cholesky_float32_seconds"] = t32
            print(f"  one float32 Cholesky of the same N (what --factor-precision mixed factors in): {t32:.4f} s = "
                  f"{t32 / t_chol:.2f} float64 Cholesky factorizations")
        mm = r["matmul_equivalent"]
        print(f"  Hessian matmul FLOPs {r['hessian_matmul_flops']:.3e}; same-FLOP matmul n={mm['n']} takes "
              f"{mm['seconds']:.4f} s; ratio hessian/matmul = {mm['ratio_hessian_over_matmul']:.1f}")
        print(f"  decisions ({args.policy}): {r['decisions']}")
        best_run = min(range(len(r["runs"])), key=lambda i: sum(r["runs"][i].values()))
        calls = r["factorizations"][best_run] if r.get("factorizations") else []
        if calls and device is None:
            fsec = sum(c["seconds"] for c in calls)
            rest = sum(v for k, v in r["runs"][best_run].items() if k not in ("forward_backward", "update")) - fsec
            print(f"  where the ratio goes (fastest repeat): {len(calls)} dense factorizations of N >= "
                  f"{calls[0]['n']} ({', '.join(c['kind'] + ('' if c['succeeded'] else ' FAILED') for c in calls)}) "
                  f"took {fsec:.2f} s = {fsec / t_chol:.2f} Cholesky; everything else (Hessian, regularization, "
                  f"Lanczos, sparsity, pruning, kappa bound from the shared factor, decision, triangular solves) "
                  f"{rest:.2f} s = {rest / t_chol:.2f} Cholesky")
            r["ratio_split"] = {"factorizations": len(calls), "factorization_seconds": fsec, "other_seconds": rest}
        for rec in r["block_records"]:
            print(f"  block n={rec['n']}: factorizations {rec.get('factorization')}")
            if rec.get("indefinite_fix"):
                print(f"  block n={rec['n']}: indefinite, fix {rec['indefinite_fix']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
