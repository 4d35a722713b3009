"""fig8-regularization: final accuracy and condition number against eps in H + eps I.

Paper Fig. 8 (Sec. V-D): on the DNN, sweeping the regularization coefficient eps (log scale)
trades accuracy against the condition number; around eps = 1 kappa falls by ~10^3 with only a
marginal loss of accuracy. Here: one Newton training run per eps (`method`, default classical,
so that solver noise plays no part), recording the final test accuracy and, from the ledger,
the exact condition number kappa_2 of every regularized Hessian block the run inverted (median
over the Newton steps of the largest block kappa, and at the last step) and the scheduler's
kappa estimate. The default config prunes nothing (`sparsity = "1.0"`), so kappa is that of
H + eps I itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from qnewton.experiments.params import require
from qnewton.experiments.plotting import errorline, figure, save, series
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables, Task
from qnewton.experiments.training import TrainingParams, as_float, ledger_rows, train


@dataclass(frozen=True)
class Params(TrainingParams):
    """eps_values: regularization coefficients (increasing); method: the Newton method trained;
    exact_kappa_max_n: blocks up to this size get their exact kappa (eigvalsh) in the ledger."""

    eps_values: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
    method: Literal["classical", "quantum", "qnewton"] = "classical"
    exact_kappa_max_n: int = 4096

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.eps_values) > 0 and list(self.eps_values) == sorted(set(self.eps_values)), "eps_values",
                f"must be strictly increasing and non-empty, got {list(self.eps_values)}")
        require(all(e > 0 for e in self.eps_values), "eps_values", f"every eps must be > 0 (log scale), got {list(self.eps_values)}")
        require(self.exact_kappa_max_n >= 1, "exact_kappa_max_n", f"must be >= 1, got {self.exact_kappa_max_n}")


def eps_row(p: Params, seed: int, eps: float, ctx: RunContext) -> dict:
    """One Newton training run with H + eps I; its final accuracy and the kappas of its ledger."""
    report, run_dir = train(p, seed, ctx, name=f"fig8-eps{eps:g}", method=p.method, eps=float(eps),
                            stop_at_target=False, exact_kappa_max_n=p.exact_kappa_max_n)
    entry = report[p.method]
    newton = [r for r in ledger_rows(run_dir, p.method) if r["phase"] == "newton" and r["blocks"]]
    exact = [max(as_float(b["kappa_exact"]) for b in r["blocks"]) for r in newton
             if all(b["kappa_exact"] is not None for b in r["blocks"])]
    bound = [max(as_float(b["log_kappa_estimate"]) for b in r["blocks"]) / math.log(10.0) for r in newton]
    blocks = sum(len(r["blocks"]) for r in newton)
    ctx.log(f"  eps {eps:g}: test accuracy {entry['test_accuracy']:.4f}, median kappa "
            f"{np.median(exact) if exact else float('nan'):.3g}")
    return {
        "eps": float(eps),
        "test_accuracy": entry["test_accuracy"],
        "test_loss": entry["test_loss"],
        "log10_kappa_exact_median": float(np.log10(np.median(exact))) if exact else None,
        "log10_kappa_exact_last": float(np.log10(exact[-1])) if exact else None,
        "log10_kappa_estimate_median": float(np.median(bound)) if bound else None,
        "safeguard_fraction": entry.get("safeguard_blocks", 0) / blocks if blocks else None,
        "quantum_inversions": entry.get("decisions", {}).get("quantum", 0),
        "modeled_quantum_total_seconds": entry["total_modeled_quantum_seconds"],
    }


def tasks(p: Params, seed: int) -> list[Task]:
    """One task per eps value: the training runs are independent."""
    return [{"eps": float(e)} for e in p.eps_values]


def run_task(p: Params, seed: int, task: Task, ctx: RunContext) -> Tables:
    return {"regularization": [eps_row(p, seed, float(task["eps"]), ctx)]}


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    """Every eps of the seed in order, in this process."""
    return {"regularization": [eps_row(p, seed, float(e), ctx) for e in p.eps_values]}


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    fig, axes = figure()
    ax = axes[0][0]
    rows = tables["regularization"]
    xs, ys, es = series(rows, "eps", "test_accuracy")
    errorline(ax, xs, ys, es, label="final test accuracy", color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("regularization coefficient eps (H + eps I)")
    ax.set_ylabel("final test accuracy", color="tab:blue")
    ax.axvline(1.0, color="grey", linestyle=":")
    ax2 = ax.twinx()
    xs, ys, es = series(rows, "eps", "log10_kappa_exact_median")
    errorline(ax2, xs, ys, es, label="log10 kappa (exact, median over steps)", color="tab:red", marker="s")
    ax2.set_ylabel("log10 kappa_2(H + eps I)", color="tab:red")
    ax.set_title("Fig. 8: accuracy and kappa vs regularization")
    return [save(fig, out / "fig8-regularization.png")]


EXPERIMENT = Experiment(
    name="fig8-regularization",
    title="Final accuracy and kappa against the regularization coefficient",
    paper="Fig. 8",
    params_type=Params,
    tables=(TableSpec("regularization", ("eps",), "Final test accuracy and condition number against eps",
                      ("test_accuracy", "log10_kappa_exact_median", "log10_kappa_exact_last", "log10_kappa_estimate_median",
                       "safeguard_fraction", "test_loss")),),
    run_seed=run_seed,
    plot=plot,
    uses_data=True,
    tasks=tasks,
    run_task=run_task,
)
