"""Time and peak memory of one Newton step per curvature kind (hessian, ggn, ef, mc-fisher, kfac).

Models: the digits MLP 64-16-10 (1,210 parameters) and the 784-16-10 MLP (12,730 parameters, the
paper's DNN size), random data, batch 256, one block per layer (--blocks layer). For each model
and kind, one fresh Python process (so peak memory is that case's alone) builds the model,
computes the curvature of every block once on 8 examples (warm-up, not timed) and then on the
batch (MEASURED `curvature_s`) and runs the Newton step on it
with the classical-only policy (MEASURED `newton_s`: regularize, prune, kappa bound, decision,
Cholesky solve; for K-FAC the two factor solves per layer). Blocks larger than --newton-max-n
skip the Newton step (a dense 12,560-parameter block takes minutes to factorize at one thread).

Memory: `peak_MB` is the process's peak resident set (getrusage ru_maxrss) minus its resident set
just before the curvature was computed, i.e. what the curvature and the step added.
The thread count (torch and BLAS, pinned with --threads, default 1) is printed with every line.

Run: `.venv/bin/python benchmarks/bench_curvature.py [--models 64-16-10,784-16-10]
[--kinds hessian,ggn,ef,mc-fisher,kfac] [--threads 1] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

KINDS = ("hessian", "ggn", "ef", "mc-fisher", "kfac")
MODELS = ("64-16-10", "784-16-10")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_case(model_spec: str, kind: str, blocks: str, batch: int, newton_max_n: int) -> dict:
    """Run one (model, kind) in this process and return its measurements."""
    import resource

    import torch

    from qnewton.costs.classical import PINNED_LU_CONSTANT, LUCostModel
    from qnewton.costs.quantum import QuantumCostModel
    from qnewton.curvature import Batch, make_blocks
    from qnewton.methods.newton import build_curvature
    from qnewton.newton import NewtonStep, Scheduler
    from qnewton.newton.step import KroneckerSystem
    from qnewton.solvers.classical import ClassicalSolver
    from qnewton.solvers.emulated import EmulatedQLSASolver
    from qnewton.train.models import MLP

    sizes = [int(s) for s in model_spec.split("-")]
    torch.manual_seed(0)
    model = MLP(sizes[0], sizes[1:-1], sizes[-1])
    x = torch.randn(batch, sizes[0])
    y = torch.randint(0, sizes[-1], (batch,))
    blk = make_blocks(model, blocks)
    curvature = build_curvature(kind, torch.float64)
    step = NewtonStep(Scheduler(policy="classical-only", kappa_method="bound", quantum=QuantumCostModel(),
                                classical=LUCostModel(PINNED_LU_CONSTANT)),
                      ClassicalSolver(), EmulatedQLSASolver(0.01, seed=0), eps=1.0)
    with torch.enable_grad():  # warm-up on 8 examples: torch.func's first-call set-up is not timed
        curvature(model, Batch(x[:8], y[:8]), blk)
    base = _rss_mb()
    t0 = time.perf_counter()
    with torch.enable_grad():
        curv = curvature(model, Batch(x, y), blk)
    t_curv = time.perf_counter() - t0
    small = [c for c in curv if (c.factors is not None or c.block.size <= newton_max_n)]
    t1 = time.perf_counter()
    result = step.compute(
        [None if c.factors is not None else c.H.double().numpy() for c in small], [c.g.double().numpy() for c in small],
        factors=[None if c.factors is None else KroneckerSystem(c.factors.A.double().numpy(),
                                                                c.factors.G.double().numpy(), c.factors.index.numpy())
                 for c in small] or None,
        curvature=kind)
    t_newton = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "model": model_spec, "kind": kind, "blocks": blocks, "batch": batch,
        "block_sizes": [c.block.size for c in curv],
        "curvature_s": t_curv, "newton_s": t_newton,
        "newton_blocks": len(small), "decisions": sum(result.decision_counts.values()),
        "peak_MB": peak - base, "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--blocks", default="layer", choices=("layer", "tensor"))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--newton-max-n", type=int, default=4096)
    parser.add_argument("--json", default=None)
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # MODEL:KIND, run in this process
    args = parser.parse_args(argv)
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        model_spec, kind = args.case.split(":")
        print(json.dumps(one_case(model_spec, kind, args.blocks, args.batch, args.newton_max_n)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    rows = []
    print(f"{'model':<10} {'kind':<10} {'blocks':<22} {'curvature s':>11} {'newton s':>9} {'decisions':>9} "
          f"{'peak MB':>8} {'threads':>7}")
    for model_spec in args.models.split(","):
        for kind in args.kinds.split(","):
            cmd = [sys.executable, os.path.abspath(__file__), "--case", f"{model_spec}:{kind}", "--blocks", args.blocks,
                   "--batch", str(args.batch), "--threads", str(args.threads), "--newton-max-n", str(args.newton_max_n)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{model_spec:<10} {kind:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            sizes = ",".join(map(str, row["block_sizes"]))
            newton = f"{row['newton_s']:9.3f}" if row["newton_blocks"] else f"{'skipped':>9}"
            print(f"{model_spec:<10} {kind:<10} {sizes:<22} {row['curvature_s']:11.3f} {newton} {row['decisions']:9d} "
                  f"{row['peak_MB']:8.0f} {row['threads']:7d}")
    print("MEASURED wall-clock seconds of one curvature computation and one classical-only Newton step (batch "
          f"{args.batch}, float64); peak MB = peak resident set minus the resident set before the curvature.")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
