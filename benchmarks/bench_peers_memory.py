"""Time and peak memory per step of the curvature-based peer methods on the digits MLP.

For each method (default: adahessian, lookahead, kfac, newton-cg, ssn, lm, s4qn, skqn-l,
skqn-b1, skqn-b2, and adam for reference) one fresh Python process (so the peak memory is that method's alone) builds the
digits MLP 64-H-10 (--hidden, default 16: 1,210 parameters) through the method registry with its
default hyper-parameters, takes 2 warm-up steps (not timed) on mini-batches of --batch-size
digits images, then --steps MEASURED steps the way the trainer takes them (`step(closure)` for
methods that evaluate the loss themselves, else closure() then step()).

Printed per method: MEASURED wall-clock seconds per step (median over the timed steps), the
gradient evaluations per step, and `peak_MB`: the process's peak resident set (getrusage
ru_maxrss) minus its resident set just before the first step, i.e. what the optimizer's steps
added. The thread count (torch, pinned with --threads, default 1) is printed with every line.
No modeled (quantum) time is involved: these are classical optimizers.

Run: `.venv/bin/python benchmarks/bench_peers_memory.py [--methods kfac,lm] [--hidden 16]
[--batch-size 64] [--steps 10] [--threads 1] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# the checkout this script belongs to, ahead of any installed copy of qnewton
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("adahessian", "lookahead", "kfac", "newton-cg", "ssn", "lm", "s4qn", "skqn-l", "skqn-b1", "skqn-b2", "adam")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_case(method: str, hidden: int, batch_size: int, steps: int) -> dict:
    """Run one method in this process and return its measurements."""
    import resource

    import torch

    from qnewton.curvature.base import Batch
    from qnewton.methods import MethodContext, build_optimizer, get_method
    from qnewton.methods.registry import resolve_hyper
    from qnewton.train.data import load_dataset
    from qnewton.train.method_run import CountingClosure, gradient_evaluations
    from qnewton.train.models import MLP
    from qnewton.optim.step_report import StepReport

    data = load_dataset("digits")
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    torch.manual_seed(0)
    model = MLP(x.shape[1], [hidden], 10)
    info = get_method(method)
    opt = build_optimizer(method, MethodContext(model=model, blocks=[], options={}, hyper=resolve_hyper(method, "")))
    generator = torch.Generator().manual_seed(0)
    times, evals = [], []
    rss0 = _rss_mb()
    for step in range(steps + 2):
        idx = torch.randperm(x.shape[0], generator=generator)[:batch_size]
        closure = CountingClosure(model, Batch(x[idx], y[idx]))
        t0 = time.perf_counter()
        if info.needs_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()
        elapsed = time.perf_counter() - t0
        if step >= 2:
            times.append(elapsed)
            evals.append(gradient_evaluations(opt, StepReport(phase=info.phase), closure))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"method": method, "parameters": sum(p.numel() for p in model.parameters()), "batch_size": batch_size,
            "step_s": statistics.median(times), "gradient_evaluations_per_step": statistics.mean(evals),
            "peak_MB": max(0.0, peak - rss0), "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(one_case(args.one, args.hidden, args.batch_size, args.steps)))
        return 0
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    for method in [m for m in args.methods.split(",") if m]:
        out = subprocess.run([sys.executable, __file__, "--one", method, "--hidden", str(args.hidden), "--batch-size",
                              str(args.batch_size), "--steps", str(args.steps), "--threads", str(args.threads)],
                             capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            print(f"{method}: failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['method']:<11} params={row['parameters']} batch={row['batch_size']} "
              f"step={row['step_s'] * 1e3:8.2f} ms (MEASURED, median)  grad_evals/step={row['gradient_evaluations_per_step']:.1f}  "
              f"peak={row['peak_MB']:7.1f} MB  threads={row['threads']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
