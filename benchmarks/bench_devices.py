"""The same training run on the CPU (numpy/scipy path) and on a CUDA GPU (`--device cuda`), compared.

Runs `qnewton train` twice with the same seed, data and options, once with --device cpu and once
with --device cuda (or only the devices named in --devices), and prints per method:

* agreement: the largest relative difference of the per-step training loss over the whole run,
  of the final test loss and test accuracy, and whether every Newton step sent the same number
  of blocks to each solver (the quantum/classical decisions);
* MEASURED seconds: the mean wall clock of a Newton step (Hessian through update) on each device,
  and their ratio (both taken in this one run, on this one machine, with the thread count shown).

Without a usable GPU the cuda run falls back to the CPU (one line on stderr) and the comparison
is CPU against CPU's torch path. The differences come from floating-point rounding in different
kernels (cuBLAS/cuSOLVER against OpenBLAS/LAPACK); a discrete choice (the sparsity d, a damping
attempt, the quantum/classical decision) can flip where two candidates tie to rounding, and the
trajectories then part. The figures go to --json as well.

Run: `.venv/bin/python benchmarks/bench_devices.py --data digits --hidden 16 --blocks full --steps 30`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's qnewton, not another install


def _ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), 1e-300)


def run(device: str, args: argparse.Namespace, root: Path) -> tuple[dict, dict[str, list[dict]], float]:
    from qnewton.train.config import TrainConfig
    from qnewton.train.runner import run_training

    cfg = TrainConfig(runs_dir=str(root), name=device, device=device, method=args.methods, data=args.data,
                      hidden=args.hidden, blocks=args.blocks, steps=args.steps, seed=args.seed,
                      threads=args.threads, **({"sgd_steps": args.sgd_steps} if args.sgd_steps else {}))
    t = time.perf_counter()
    report = run_training(cfg)
    wall = time.perf_counter() - t
    ledgers = {m: _ledger(Path(r["ledger"])) for m, r in report.items() if isinstance(r, dict) and "ledger" in r}
    return report, ledgers, wall


def newton_seconds(rows: list[dict]) -> float | None:
    sec = [r["measured_seconds_total"] for r in rows if r.get("phase") == "newton"]
    return sum(sec) / len(sec) if sec else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--hidden", default="16")
    ap.add_argument("--blocks", default="full", choices=["full", "layer", "tensor"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--sgd-steps", type=int, default=0, help="SGD warm-up steps (0: the trainer's default)")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    devices = args.devices.split(",")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, threads {args.threads}, cpus {os.cpu_count()}, GPU {gpu}, load average "
          f"{os.getloadavg()[0]:.2f}; data {args.data}, hidden {args.hidden}, blocks {args.blocks}, "
          f"{args.steps} steps, seed {args.seed}", flush=True)
    out: dict = {"gpu": gpu, "threads": args.threads, "args": vars(args), "devices": {}}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for dev in devices:
            report, ledgers, wall = run(dev, args, Path(tmp))
            runs[dev] = (report, ledgers)
            out["devices"][dev] = {"wall_seconds": wall, "report": {m: {k: v for k, v in r.items() if k != "ledger"}
                                                                    for m, r in report.items() if isinstance(r, dict)}}
            print(f"  {dev}: {wall:.1f} s wall (MEASURED)", flush=True)
    if len(devices) < 2:
        for m, rows in runs[devices[0]][1].items():
            r = runs[devices[0]][0][m]
            print(f"  {m}: test loss {r['test_loss']:.6f}, test accuracy {r['test_accuracy']:.4f}, "
                  f"MEASURED s per Newton step {newton_seconds(rows)}")
        out["rows"] = {m: rows for m, rows in runs[devices[0]][1].items()}
    else:
        a, b = devices[:2]
        out["comparison"] = {}
        print(f"\n| method | max rel. diff of step losses | test loss {a} / {b} | test accuracy {a} / {b} | "
              f"same decisions | MEASURED s per Newton step {a} / {b} (ratio) |")
        print("|---|---|---|---|---|---|")
        for m in runs[a][1]:
            la, lb = runs[a][1][m], runs[b][1][m]
            ra, rb = runs[a][0][m], runs[b][0][m]
            losses = [_rel(x["loss"], y["loss"]) for x, y in zip(la, lb)]
            same = [x.get("decision_counts") == y.get("decision_counts") for x, y in zip(la, lb)
                    if x.get("phase") == "newton"]
            ta, tb = newton_seconds(la), newton_seconds(lb)
            row = {"steps": (len(la), len(lb)), "max_rel_loss_diff": max(losses) if losses else None,
                   "test_loss": (ra["test_loss"], rb["test_loss"]),
                   "test_accuracy": (ra["test_accuracy"], rb["test_accuracy"]),
                   "same_decisions": all(same), "newton_steps": len(same),
                   "newton_seconds": (ta, tb)}
            out["comparison"][m] = row
            ratio = f"{ta / tb:.1f}x" if ta and tb else "-"
            print(f"| {m} | {row['max_rel_loss_diff']:.2e} | {ra['test_loss']:.6f} / {rb['test_loss']:.6f} | "
                  f"{ra['test_accuracy']:.4f} / {rb['test_accuracy']:.4f} | {all(same)} ({len(same)} Newton steps) | "
                  + (f"{ta:.3f} / {tb:.3f} ({ratio}) |" if ta and tb else "- |"), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
