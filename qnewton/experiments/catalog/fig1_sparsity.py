"""fig1-sparsity: accuracy against oracle sparsity, and per-step inversion costs (paper Fig. 1).

Left (paper Fig. 1 left, Sec. V-C): Newton training whose Hessian blocks are pruned to an
oracle sparsity d = ceil(ratio * N) (symmetric pruning, Sec. IV-D), for ratios 0.025 to 1; the
final test accuracy against the ratio. The paper: no noticeable decline down to about 40 %.
By default the classical solver is given the pruned matrix (`prune_classical`), so pruning is
the only difference between the runs (no emulated-QLSA noise); `accuracy_method = "quantum"`
uses quantum-only Newton instead.

Right (paper Fig. 1 right): over one Q-Newton run (default settings, mass-rule sparsity), the
MODELED quantum cost R_q and the MODELED classical cost R_c = C N^3 of every inversion, and the
scheduler's choice. Both are cost-model predictions (seconds), not measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from qnewton.experiments.aggregate import value
from qnewton.experiments.params import require
from qnewton.experiments.plotting import errorline, figure, save, series
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables, Task, concat_tables
from qnewton.experiments.training import TrainingParams, as_float, check_profiles, ledger_rows, time_model, train


@dataclass(frozen=True)
class Params(TrainingParams):
    """ratios: oracle sparsity d / N for the accuracy sweep (1.0 = unpruned);
    accuracy_method: the Newton method of the sweep; trace_profile: per-query time model of the
    Q-Newton run whose per-step costs are traced ("gate:SECONDS" or a calibration profile)."""

    ratios: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
    accuracy_method: Literal["classical", "quantum"] = "classical"
    trace_profile: str = "attosecond"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.ratios) > 0 and list(self.ratios) == sorted(set(self.ratios)), "ratios",
                f"must be strictly increasing and non-empty, got {list(self.ratios)}")
        require(all(0 < r <= 1 for r in self.ratios), "ratios", f"every ratio must lie in (0, 1], got {list(self.ratios)}")
        check_profiles((self.trace_profile,), "trace_profile")


def accuracy_row(p: Params, seed: int, ratio: float, ctx: RunContext) -> dict:
    """One point of the left panel: a Newton run with blocks pruned to d = ceil(ratio * N)."""
    report, run_dir = train(p, seed, ctx, name=f"fig1-ratio{ratio:g}", method=p.accuracy_method,
                            sparsity=repr(float(ratio)), prune_classical=True, stop_at_target=False)
    entry = report[p.accuracy_method]
    newton = [r for r in ledger_rows(run_dir, p.accuracy_method) if r["phase"] == "newton"]
    ds = [b["sparsity"] / b["n"] for r in newton for b in r["blocks"]]
    ctx.log(f"  ratio {ratio:g}: test accuracy {entry['test_accuracy']:.4f}")
    return {
        "sparsity_ratio": float(ratio),
        "test_accuracy": entry["test_accuracy"],
        "test_loss": entry["test_loss"],
        "steps_to_target": entry["steps_to_target"],
        "mean_d_over_n": float(np.mean(ds)) if ds else None,
        "safeguard_blocks": entry.get("safeguard_blocks", 0),
    }


def trace_rows(p: Params, seed: int, ctx: RunContext) -> list[dict]:
    """The right panel: per-inversion MODELED costs and decisions of one Q-Newton run."""
    report, run_dir = train(p, seed, ctx, name="fig1-trace", method="qnewton", stop_at_target=False,
                            **time_model(p.trace_profile))
    trace = []
    for r in ledger_rows(run_dir, "qnewton"):
        if r["phase"] != "newton":
            continue
        for b in r["blocks"]:
            trace.append({
                "step": int(r["step"]),
                "block": b["name"],
                "n": int(b["n"]),
                "sparsity": int(b["sparsity"]),
                "log10_kappa_estimate": as_float(b["log_kappa_estimate"]) / math.log(10.0),
                "modeled_quantum_seconds": as_float(b["quantum_seconds_model"]),
                "modeled_classical_seconds": as_float(b["classical_seconds_model"]),
                "chose_quantum": int(b["decision"] == "quantum"),
            })
    q = sum(t["chose_quantum"] for t in trace)
    ctx.log(f"  Q-Newton trace ({p.trace_profile}): {q} quantum / {len(trace) - q} classical inversions")
    return trace


def tasks(p: Params, seed: int) -> list[Task]:
    """One task per sparsity ratio (independent training runs) and one for the Q-Newton trace."""
    return [{"part": "accuracy", "sparsity_ratio": float(r)} for r in p.ratios] + [{"part": "trace"}]


def run_task(p: Params, seed: int, task: Task, ctx: RunContext) -> Tables:
    if task["part"] == "accuracy":
        return {"accuracy": [accuracy_row(p, seed, float(task["sparsity_ratio"]), ctx)], "trace": []}
    if task["part"] == "trace":
        return {"accuracy": [], "trace": trace_rows(p, seed, ctx)}
    raise ValueError(f"fig1-sparsity: unknown task part {task['part']!r}")


def run_seed(p: Params, seed: int, ctx: RunContext) -> Tables:
    """Every task of the seed in order, in this process."""
    return concat_tables([run_task(p, seed, t, ctx) for t in tasks(p, seed)])


def plot(p: Params, tables: Tables, out: Path) -> list[Path]:
    fig, axes = figure(ncols=2, width=5.5)
    ax = axes[0][0]
    xs, ys, es = series(tables["accuracy"], "sparsity_ratio", "test_accuracy")
    errorline(ax, xs, ys, es, label=f"{p.accuracy_method} Newton, pruned Hessian")
    ax.axvline(0.4, color="grey", linestyle=":", label="paper: stable above ~40 %")
    finite = ys[np.isfinite(ys)]
    if finite.size:  # a y-range that does not magnify seed noise into a trend
        ax.set_ylim(max(0.0, min(float(finite.min()) - 0.05, 0.8)), 1.0)
    ax.set_xscale("log")
    ax.set_xlabel("oracle sparsity ratio d / N")
    ax.set_ylabel("final test accuracy")
    ax.set_title("Fig. 1 left: accuracy vs oracle sparsity")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    trace = tables["trace"]
    for block, marker in zip(sorted({r["block"] for r in trace}), "os^vD"):
        rows = [r for r in trace if r["block"] == block]
        steps = np.array([r["step"] for r in rows])
        rq = np.array([value(r, "modeled_quantum_seconds") for r in rows])
        rc = np.array([value(r, "modeled_classical_seconds") for r in rows])
        chose = np.array([value(r, "chose_quantum") for r in rows]) >= 0.5
        ax.plot(steps, rq, "-", color="tab:blue", alpha=0.6, label=f"quantum R_q, block {block}")
        ax.plot(steps, rc, "--", color="tab:orange", alpha=0.6, label=f"classical R_c, block {block}")
        best = np.where(chose, rq, rc)
        ax.scatter(steps[chose], best[chose], marker=marker, color="tab:blue", s=14, zorder=3)
        ax.scatter(steps[~chose], best[~chose], marker=marker, color="tab:orange", s=14, zorder=3)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("MODELED inversion seconds")
    ax.set_title(f"Fig. 1 right: per-step cost, {p.trace_profile}\n(markers = scheduler's pick; gaps = infinite R_q)", fontsize=9)
    ax.legend(fontsize=6)
    return [save(fig, out / "fig1-sparsity.png")]


EXPERIMENT = Experiment(
    name="fig1-sparsity",
    title="Accuracy against oracle sparsity ratio; per-step inversion costs with the scheduler's choices",
    paper="Fig. 1",
    params_type=Params,
    tables=(
        TableSpec("accuracy", ("sparsity_ratio",), "Final test accuracy against oracle sparsity ratio d/N (Fig. 1 left)",
                  ("test_accuracy", "test_loss", "mean_d_over_n", "safeguard_blocks")),
        TableSpec("trace", ("step", "block"), "Per-step MODELED inversion costs of one Q-Newton run (Fig. 1 right)",
                  ("n", "sparsity", "log10_kappa_estimate", "modeled_quantum_seconds", "modeled_classical_seconds", "chose_quantum")),
    ),
    run_seed=run_seed,
    plot=plot,
    uses_data=True,
    tasks=tasks,
    run_task=run_task,
)
