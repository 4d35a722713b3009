"""The Table III comparison, shared by `table3-dnn` and `readout-cost`.

For each variant (per-query time profile x readout model) the four methods of paper Table III
run from the same initialization on the same mini-batches: SGD, classical-only, quantum-only
and Q-Newton (hybrid scheduler). SGD and classical-only never consult the quantum cost model,
so they run once and their rows are repeated for every variant (column `shared_run` = 1).

Per method we report: steps run, steps to the target test accuracy (None when not reached),
MEASURED seconds per step on this machine (all stages, including the classical emulation of
the QLSA), MEASURED seconds per step without the emulated-QLSA solves, MODELED quantum seconds
per step (R_q = t_query * E[queries] + readout; Sec. IV-C), total measured, total modeled, and
the "projected" total = measured - emulation + modeled (what the paper's Table III reports:
classical work as measured plus quantum work as modeled). Measured and modeled are separate
columns; the projected total is the one place they are added, and it says so.

With ``tune = true`` every method runs at hyper-parameters chosen by one documented rule on a
validation split (`qnewton.experiments.tuning`): SGD's learning rate from its grid, the Newton
methods' step size, warm-up length and eps from theirs (the warm-up at SGD's chosen rate). The
"tuning" table lists every candidate with its validation score and marks the chosen one; the
comparison rows say which values each method ran with (``tuned`` = 1). The final runs train on
the whole training part and report steps to the target and accuracy on the TEST split, which no
tuning run sees. With ``tune = false`` every method runs at the fixed values of the parameters,
so SGD's step count says as much about its learning rate as about SGD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qnewton.enums import KappaMethod, Readout
from qnewton.experiments.params import require
from qnewton.experiments.plotting import figure, save
from qnewton.experiments.aggregate import value
from qnewton.experiments.spec import RunContext, Tables
from qnewton.experiments.training import TrainingParams, as_float, check_profiles, ledger_rows, time_model, train
from qnewton.experiments.tuning import FAMILY_OF, TUNED_WITH, TuningResult, tune_family, tuning_rows

Method = Literal["sgd", "classical", "quantum", "qnewton"]
INDEPENDENT = ("sgd", "classical")  # never consult the quantum cost model

#: Paper Table III (DNN, MNIST, H100 + 1e-18 s gate time): total steps, seconds/step, total seconds.
PAPER_TABLE3 = {
    "sgd": (1500, 0.14, 204.0),
    "classical": (1000, 1.06, 1064.0),
    "quantum": (1000, 0.17, 170.0),
    "qnewton": (1000, 0.15, 123.0),
}


@dataclass(frozen=True)
class ComparisonParams(TrainingParams):
    """profiles: per-query time models ("gate:SECONDS" or a calibration profile name);
    readouts: readout cost models; kappa_methods: the scheduler's kappa estimators ("bound" is
    the paper's determinant/trace bound, astronomically loose for N ~ 1000; "lanczos" is close
    to the true kappa); methods: which of the four methods to run; sgd_budget: step budget
    of the SGD method (0 = `steps`; SGD steps are cheap and SGD needs more of them, paper Table III
    gives it 1500 against Newton's 1000).

    tune: choose each method's hyper-parameters on a validation split before the comparison runs
    (`qnewton.experiments.tuning`); validation_fraction: the share of the training images held out
    for it; tune_sgd_lr: the SGD grid; tune_newton_lr x tune_sgd_steps x tune_eps: the Newton grid.
    Without `tune` the grids are unused and every method runs at sgd_lr, newton_lr, sgd_steps, eps."""

    profiles: tuple[str, ...] = ("attosecond", "ibm_sherbrooke")
    readouts: tuple[Readout, ...] = (Readout.FREE,)
    kappa_methods: tuple[KappaMethod, ...] = (KappaMethod.BOUND, KappaMethod.LANCZOS)
    methods: tuple[Method, ...] = ("sgd", "classical", "quantum", "qnewton")
    sgd_budget: int = 0
    tune: bool = False
    validation_fraction: float = 0.2
    tune_sgd_lr: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0)
    tune_newton_lr: tuple[float, ...] = (0.5, 1.0)
    tune_sgd_steps: tuple[int, ...] = (10, 40)
    tune_eps: tuple[float, ...] = (0.1, 1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 < self.validation_fraction < 1.0, "validation_fraction",
                f"must lie in (0, 1), got {self.validation_fraction}")
        for name in ("tune_sgd_lr", "tune_newton_lr", "tune_sgd_steps", "tune_eps"):
            grid = getattr(self, name)
            require(len(grid) > 0 and len(set(grid)) == len(grid), name, f"list each value once, at least one, got {list(grid)}")
        require(all(v > 0 for v in self.tune_sgd_lr), "tune_sgd_lr", f"every rate must be > 0, got {list(self.tune_sgd_lr)}")
        require(all(v > 0 for v in self.tune_newton_lr), "tune_newton_lr",
                f"every step size must be > 0, got {list(self.tune_newton_lr)}")
        require(not self.tune or all(0 <= v < self.steps for v in self.tune_sgd_steps), "tune_sgd_steps",
                f"every warm-up length must lie in [0, steps = {self.steps}), got {list(self.tune_sgd_steps)}")
        require(all(v >= 0 for v in self.tune_eps), "tune_eps", f"every eps must be >= 0, got {list(self.tune_eps)}")
        require(self.sgd_budget >= 0, "sgd_budget", f"must be >= 0 (0 = steps), got {self.sgd_budget}")
        check_profiles(self.profiles, "profiles")
        require(len(set(self.profiles)) == len(self.profiles), "profiles", "list each profile once")
        require(len(self.readouts) > 0 and len(set(self.readouts)) == len(self.readouts), "readouts", "list each readout once, at least one")
        require(len(self.kappa_methods) > 0 and len(set(self.kappa_methods)) == len(self.kappa_methods), "kappa_methods",
                "list each estimator once, at least one")
        require(len(self.methods) > 0 and len(set(self.methods)) == len(self.methods), "methods", "list each method once, at least one")


def ledger_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """From one method's ledger: the median MODELED quantum seconds of a Newton step, and how
    many inversions had an infinite modeled quantum cost (kappa estimate infinite: the bound
    overflowing, or a pruned block that is singular or indefinite)."""
    newton = [r for r in rows if r.get("phase") == "newton" and r.get("blocks")]
    per_step = [as_float(r.get("modeled_quantum_seconds", 0.0)) for r in newton]
    blocks = [b for r in newton for b in r["blocks"]]
    infinite = [b for b in blocks if not np.isfinite(as_float(b.get("quantum_seconds_model")))]
    return {
        "modeled_quantum_seconds_per_newton_step_median": float(np.median(per_step)) if per_step else 0.0,
        "inversions_with_infinite_quantum_cost": len(infinite),
        "quantum_inversions_with_infinite_cost": sum(1 for b in infinite if b.get("decision") == "quantum"),
        "median_sparsity_d": float(np.median([b["sparsity"] for b in blocks])) if blocks else None,
    }


def honest_totals(row: dict[str, Any]) -> dict[str, Any]:
    """The trainer sums only the finite modeled quantum seconds (and counts the infinite ones
    apart). An inversion SENT to the quantum solver at an infinite modeled cost makes the modeled
    total infinite; say so in the total columns and keep the finite part in its own column."""
    row["modeled_quantum_seconds_per_step_finite_part"] = row["modeled_quantum_seconds_per_step"]
    if row.get("quantum_inversions_with_infinite_cost", 0) > 0:
        for key in ("modeled_quantum_seconds_per_step", "modeled_quantum_total_seconds", "projected_total_seconds"):
            row[key] = float("inf")
    return row


def method_row(entry: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one method's report.json entry that the comparison tables show."""
    steps = int(entry["steps"])
    emulation = float(entry.get("total_emulation_measured_seconds", 0.0))
    measured = float(entry["total_measured_seconds"])
    decisions = entry.get("decisions", {})
    return {
        "steps": steps,
        "steps_to_target": entry.get("steps_to_target"),
        "reached_target": int(entry.get("steps_to_target") is not None),
        "test_accuracy": entry.get("test_accuracy"),
        "measured_seconds_per_step": float(entry["measured_seconds_per_step"]),
        "measured_seconds_per_step_without_emulation": (measured - emulation) / steps if steps else 0.0,
        "modeled_quantum_seconds_per_step": float(entry["modeled_quantum_seconds_per_step"]),
        "measured_total_seconds": measured,
        "measured_emulation_total_seconds": emulation,
        "modeled_quantum_total_seconds": float(entry["total_modeled_quantum_seconds"]),
        "projected_total_seconds": float(entry["total_projected_seconds"]),
        "quantum_inversions": int(decisions.get("quantum", 0)),
        "classical_inversions": int(decisions.get("classical", 0)),
        "safeguard_blocks": int(entry.get("safeguard_blocks", 0)),
        "status": entry.get("status", ""),
    }


def tuning_grids(p: ComparisonParams) -> dict[str, dict[str, tuple[Any, ...]]]:
    """The grid of each method family (see `qnewton.experiments.tuning`)."""
    return {"sgd": {"sgd_lr": p.tune_sgd_lr},
            "newton": {"newton_lr": p.tune_newton_lr, "sgd_steps": p.tune_sgd_steps, "eps": p.tune_eps}}


def step_budget(p: ComparisonParams, family: str) -> int:
    """The step budget of a family's runs: SGD's own budget (sgd_budget, else steps), steps otherwise.
    Tuning candidates get the same budget as the final runs of their family."""
    return (p.sgd_budget or p.steps) if family == "sgd" else p.steps


def tune_methods(p: ComparisonParams, seed: int, ctx: RunContext, tag: str) -> dict[str, TuningResult]:
    """Tune the families the comparison needs, for one seed, on the validation split: SGD always (its
    chosen rate is also the Newton methods' warm-up rate), then the Newton family if a Newton method
    is compared. Each candidate is a training run on `Dataset.validation_view` (the trainer never
    sees the test split)."""
    grids = tuning_grids(p)

    def runner(family: str, fixed: dict[str, Any]) -> Any:
        method = TUNED_WITH[family]

        def run(index: int, values: dict[str, Any]) -> dict[str, Any]:
            report, _ = train(p, seed, ctx, name=f"{tag}-tune-{family}-{index:02d}", method=method,
                              validation_fraction=p.validation_fraction, steps=step_budget(p, family),
                              **{**fixed, **values})
            return report[method]
        return run

    results = {"sgd": tune_family("sgd", TUNED_WITH["sgd"], grids["sgd"], runner("sgd", {}))}
    ctx.log(f"  tuned sgd on the validation split: {results['sgd'].chosen.label}{edge_note(results['sgd'])}")
    if any(FAMILY_OF.get(m) == "newton" for m in p.methods):
        warmup = {"sgd_lr": results["sgd"].values["sgd_lr"]}
        results["newton"] = tune_family("newton", TUNED_WITH["newton"], grids["newton"], runner("newton", warmup))
        ctx.log(f"  tuned newton (classical-only, warm-up at sgd_lr={warmup['sgd_lr']:g}) on the validation split: "
                f"{results['newton'].chosen.label}{edge_note(results['newton'])}")
    return results


def edge_note(result: TuningResult) -> str:
    """A log note when a chosen value lies at an end of its grid (the optimum may lie beyond)."""
    edge = result.at_grid_edge
    return f" (at the end of its grid: {', '.join(edge)}; a value beyond it may do better)" if edge else ""


def method_settings(p: ComparisonParams, method: str, tuned: dict[str, TuningResult] | None) -> dict[str, Any]:
    """The hyper-parameters `method` runs with: the tuned ones, else the fixed parameters."""
    if tuned is None:
        values: dict[str, Any] = {"sgd_lr": p.sgd_lr, "newton_lr": p.newton_lr, "sgd_steps": p.sgd_steps, "eps": p.eps}
    else:
        values = {**tuned["sgd"].values, **(tuned["newton"].values if "newton" in tuned else {})}
    if FAMILY_OF.get(method, "newton") == "sgd":
        return {"sgd_lr": values["sgd_lr"]}
    return values


def comparison_seed(p: ComparisonParams, seed: int, ctx: RunContext, tag: str) -> Tables:
    """One seed of the comparison: with `tune`, the tuning first ("tuning" table), then the
    comparison rows at the chosen values ("comparison" table)."""
    tuned = tune_methods(p, seed, ctx, tag) if p.tune else None
    budgets = {family: step_budget(p, family) for family in ("sgd", "newton")}
    return {"comparison": run_comparison(p, seed, ctx, tag, tuned=tuned),
            "tuning": tuning_rows(list(tuned.values()), budgets) if tuned else []}


def run_comparison(p: ComparisonParams, seed: int, ctx: RunContext, tag: str, *,
                   tuned: dict[str, TuningResult] | None = None) -> list[dict[str, Any]]:
    """Rows keyed by (profile, readout, kappa_method, method) for one seed; each method runs at
    `method_settings` (tuned values when `tuned` is given) and its row records them."""
    rows: list[dict[str, Any]] = []
    shared: dict[str, dict[str, Any]] = {}
    for profile in p.profiles:
        for readout in p.readouts:
            for kappa_method in p.kappa_methods:
                for method in p.methods:
                    if method in INDEPENDENT and method in shared:
                        row = dict(shared[method])
                        row["shared_run"] = 1
                    else:
                        safe = profile.replace(":", "_").replace("/", "_")
                        settings = method_settings(p, method, tuned)
                        report, run_dir = train(p, seed, ctx, name=f"{tag}-{method}-{safe}-{readout}-{kappa_method}",
                                                method=method, readout=readout, kappa_method=kappa_method,
                                                **({"steps": p.sgd_budget} if method == "sgd" and p.sgd_budget else {}),
                                                **settings, **time_model(profile))
                        row = honest_totals({**method_row(report[method]), **ledger_summary(ledger_rows(run_dir, method))})
                        row.update({"tuned": int(tuned is not None), "sgd_lr": settings["sgd_lr"],
                                    **{k: settings.get(k) for k in ("newton_lr", "sgd_steps", "eps")}})
                        row["shared_run"] = 0
                        if method in INDEPENDENT:
                            shared[method] = row
                        ctx.log(f"  {profile} / {readout} / kappa {kappa_method} / {method}: {row['steps']} steps, "
                                f"acc {row['test_accuracy']:.4f}, measured {row['measured_seconds_per_step']:.3g} s/step, "
                                f"modeled quantum {row['modeled_quantum_seconds_per_step']:.3g} s/step, "
                                f"{row['quantum_inversions']} quantum / {row['classical_inversions']} classical inversions")
                    paper = PAPER_TABLE3[method]
                    rows.append({"profile": profile, "readout": readout, "kappa_method": kappa_method, "method": method, **row,
                                 "classical_constant": ctx.extra.get("classical_constant", p.classical_constant or None),
                                 "paper_total_steps": paper[0], "paper_seconds_per_step": paper[1],
                                 "paper_total_seconds": paper[2]})
    return rows


def plot_comparison(p: ComparisonParams, rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    variants = []
    for r in rows:
        v = (r["profile"], r["readout"], r["kappa_method"])
        if v not in variants:
            variants.append(v)
    fig, axes = figure(ncols=3, width=5.2, height=5.2)
    width = 0.8 / max(len(variants), 1)
    x = np.arange(len(p.methods))
    def finite(values: list[float]) -> np.ndarray:
        arr = np.array(values, dtype=np.float64)
        return np.where(np.isfinite(arr) & (arr > 0), arr, np.nan)  # inf/0 cannot be drawn on a log axis

    for i, (profile, readout, kappa_method) in enumerate(variants):
        sel = {r["method"]: r for r in rows if (r["profile"], r["readout"], r["kappa_method"]) == (profile, readout, kappa_method)}
        label = f"{profile}, {readout} readout, kappa {kappa_method}"
        steps = [value(sel[m], "steps") if m in sel else np.nan for m in p.methods]
        axes[0][0].bar(x + i * width, steps, width, label=label)
        per_meas = [value(sel[m], "measured_seconds_per_step_without_emulation") if m in sel else np.nan for m in p.methods]
        per_model = [value(sel[m], "modeled_quantum_seconds_per_step") if m in sel else np.nan for m in p.methods]
        axes[0][1].bar(x + i * width, finite(per_meas), width / 2, label=f"measured (no emulation), {label}")
        axes[0][1].bar(x + i * width + width / 2, finite(per_model), width / 2, hatch="//",
                       label=f"modeled quantum, {label}")
        total = [value(sel[m], "projected_total_seconds") if m in sel else np.nan for m in p.methods]
        axes[0][2].bar(x + i * width, finite(total), width, label=label)
    for ax, ylabel in zip(axes[0], ["steps run (stop at target)", "seconds per step", "projected total seconds"]):
        ax.set_xticks(x + 0.4 - width / 2, list(p.methods))
        ax.set_ylabel(ylabel)
    axes[0][1].set_yscale("log")
    axes[0][2].set_yscale("log")
    axes[0][0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1)
    axes[0][1].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    axes[0][1].set_title("per step: MEASURED vs MODELED (apart)\n(missing bar = 0 or inf, see table)", fontsize=9)
    axes[0][2].set_title("projected: measured - emulation + modeled\n(missing bar = inf, see table)", fontsize=9)
    fig.suptitle(title)
    return save(fig, path)


def comparison_tables(rows: list[dict[str, Any]]) -> Tables:
    return {"comparison": rows}


#: The "tuning" table of the comparison experiments: one row per grid candidate and seed.
TUNING_KEYS = ("family", "candidate")
TUNING_COLUMNS = ("step_budget", "validation_steps_to_target", "validation_reached_target", "validation_accuracy",
                  "validation_loss", "rank", "chosen", "chosen_at_grid_edge")
TUNING_TITLE = ("Hyper-parameters chosen on the VALIDATION split (never the test split), same step budget for every "
                "candidate of a family: reached the target first, then fewest steps, ties and misses by lowest final "
                "validation loss; chosen = share of seeds that chose it; chosen_at_grid_edge = the chosen values that lie at "
                "an end of their grid, where a better value may lie beyond it. Empty when tune = false")


def plot_tables(p: ComparisonParams, tables: Tables, out: Path, name: str, title: str) -> list[Path]:
    return [plot_comparison(p, tables["comparison"], out / f"{name}.png", title)]
