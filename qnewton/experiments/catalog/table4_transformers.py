"""table4-transformers: paper Table IV on the tiny Mistral -- SGD, Adam, classical-only,
quantum-only and Q-Newton, with per-layer decisions.

Paper (Table IV, Mistral of Table I: hidden 64, 4 layers, WikiText, H100): the Newton methods
reach the target loss in fewer steps than SGD and Adam, and Q-Newton's projected time per step
is the lowest of the Newton methods. We train the model of `qnewton train --model mistral-tiny`
(docs/transformers.md) at the sizes of the experiment file on the Shakespeare blocks.

Protocol (the same rule as table3-dnn and peers, `qnewton.experiments.tuning`): with ``tune =
true`` SGD's learning rate, Adam's learning rate and the Newton family's step size and eps are
chosen by the validation sweep on a HELD-OUT part of the training blocks (``validation_fraction``
of them, fixed; `qnewton.train.tasks.language.hold_out_training_blocks`): candidates train on
the rest and are scored there. The final runs then train on all training blocks and every
reported loss is on the data set's VALIDATION blocks, which no candidate saw. Criterion: reached
``target_loss`` first, then fewest steps, then lowest held-out loss. The quantum-only and
Q-Newton methods take the classical-only choice (the same step, another solver); the Newton
warm-up (``sgd_steps``) and the SGD steps of the blocks above ``max_newton_block`` run at SGD's
chosen rate.

Columns ("table4"): steps and steps to the target validation loss, final validation loss and
token accuracy, MEASURED seconds per step (wall clock here, at ``threads`` torch/BLAS threads)
and per Newton step, MODELED quantum seconds per step (the quantum solves priced at the
per-query time of ``profile``; 0 for classical-only, empty for SGD/Adam), PROJECTED seconds
(the trainer's total_projected_seconds = measured - emulated-QLSA seconds + modeled, also per
step), and the decision totals. "decisions": per method and block (module name) the number of
Newton steps in which that block was solved by the quantum solver, by LU, or took a first-order
step (blocks above ``max_newton_block``); per method the counts sum to Newton steps x blocks.
"curves": training batch loss and validation loss at each evaluation step (table4-curves.png).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnewton.experiments.params import require
from qnewton.experiments.plotting import errorline, figure, save, series
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables
from qnewton.experiments.training import as_float, check_profiles, ledger_rows, time_model
from qnewton.experiments.tuning import (TUNE_AS, TuningResult, check_grids, method_grid, split_values, tune_family,
                                       tuning_rows, warmup)

GridValue = int | float | str | bool
LM_MODELS = ("bert-tiny", "mistral-tiny")
#: methods whose budget is `sgd_budget` (cheap steps); the others (Newton) get `steps`
FIRST_ORDER = ("sgd", "adam")
#: validation grids when the experiment file gives none
LM_GRIDS: dict[str, dict[str, tuple[GridValue, ...]]] = {
    "sgd": {"sgd_lr": (0.1, 0.3, 1.0)},
    "adam": {"lr": (0.003, 0.01, 0.03)},
    "classical": {"newton_lr": (0.5, 1.0), "eps": (0.1, 0.5)},
}


@dataclass(frozen=True)
class LMParams:
    """Options of the transformer experiments (`qnewton train --help` explains each train option).

    models: bert-tiny and/or mistral-tiny. methods: registered methods ("sgd", "adam", "classical",
    "quantum", "qnewton"). lm_hidden, lm_layers, lm_heads, block_len, vocab_size, max_blocks: the
    model and data sizes. steps: the Newton methods' budget (the first ``sgd_steps`` are SGD);
    sgd_budget: SGD's and Adam's budget. sgd_lr, adam_lr, newton_lr, eps: used when ``tune`` is
    false. max_newton_block: blocks above it take SGD steps (0 = the model's default, 4160).
    target_loss: validation loss that counts as reached. profile: per-query time of the MODELED
    quantum seconds ("gate:SECONDS" or a calibration profile; "attosecond" = the paper's 1e-18 s).
    classical_constant: C of R_c = C N^3 (0 = this machine's saved profile, else the pinned
    default). threads: torch/BLAS threads of every run. tune, validation_fraction, grids: the
    validation sweep on held-out training blocks (module docstring)."""

    models: tuple[str, ...] = ("mistral-tiny",)
    methods: tuple[str, ...] = ("sgd", "adam", "classical", "quantum", "qnewton")
    data: str = "shakespeare"
    lm_hidden: int = 16
    lm_layers: int = 2
    lm_heads: int = 2
    block_len: int = 32
    vocab_size: int = 1024
    max_blocks: str = ",128,128"
    batch_size: int = 32
    steps: int = 40
    sgd_budget: int = 200
    sgd_steps: int = 5
    sgd_lr: float = 0.5
    adam_lr: float = 0.01
    newton_lr: float = 1.0
    eps: float = 0.5
    max_newton_block: int = 0
    target_loss: float = 6.0
    eval_every: int = 5
    profile: str = "attosecond"
    classical_constant: float = 1.4e-11
    threads: int = 1
    tune: bool = True
    validation_fraction: float = 0.2
    grids: dict[str, dict[str, tuple[GridValue, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from qnewton.methods import method_names

        known = method_names()
        require(len(self.models) > 0 and len(set(self.models)) == len(self.models), "models", "list each model once, at least one")
        for m in self.models:
            require(m in LM_MODELS, "models", f"unknown model {m!r} (choose from {', '.join(LM_MODELS)})")
        require(len(self.methods) > 0 and len(set(self.methods)) == len(self.methods), "methods",
                "list each method once, at least one")
        for m in self.methods:
            require(m in known, "methods", f"unknown method {m!r} (registered: {', '.join(known)})")
        require(self.sgd_budget >= 1, "sgd_budget", f"must be >= 1, got {self.sgd_budget}")
        require(self.classical_constant >= 0, "classical_constant", f"must be >= 0, got {self.classical_constant}")
        require(self.threads >= 0, "threads", f"must be >= 0 (0 = the libraries' choice), got {self.threads}")
        require(self.max_newton_block >= 0, "max_newton_block", f"must be >= 0 (0 = the model's default), got {self.max_newton_block}")
        require(0.0 < self.validation_fraction < 1.0, "validation_fraction", f"must lie in (0, 1), got {self.validation_fraction}")
        check_profiles((self.profile,), "profile")
        check_grids(self.grids, known)
        for model in self.models:  # the trainer checks the rest, one line per bad value
            lm_config(self, model, method=self.methods[0], seed=0, name="check", runs_dir=".")

    def budget(self, method: str) -> int:
        return self.sgd_budget if method in FIRST_ORDER else self.steps

    def grid(self, method: str) -> dict[str, tuple[Any, ...]]:
        if method in self.grids:
            return {k: tuple(v) for k, v in self.grids[method].items()}
        if method in LM_GRIDS:
            return dict(LM_GRIDS[method])
        return method_grid(method)


def lm_config(p: LMParams, model: str, *, method: str, seed: int, name: str, runs_dir: str, **overrides: Any) -> Any:
    """The TrainConfig of one run of `method` on `model` (overrides: TrainConfig fields)."""
    from qnewton.methods import get_method
    from qnewton.train.config import TrainConfig

    values: dict[str, Any] = dict(
        model=model, data=p.data, lm_hidden=p.lm_hidden, lm_layers=p.lm_layers, lm_heads=p.lm_heads,
        block_len=p.block_len, vocab_size=p.vocab_size, max_blocks=p.max_blocks, batch_size=p.batch_size,
        steps=p.budget(method), sgd_steps=p.sgd_steps, sgd_lr=p.sgd_lr, newton_lr=p.newton_lr, eps=p.eps,
        target_loss=p.target_loss, eval_every=p.eval_every, stop_at_target=False, threads=p.threads or None,
        method=method, seed=seed, name=name, runs_dir=runs_dir, checkpoint_every=max(p.budget(method), 1),
        **time_model(p.profile))
    if p.max_newton_block:
        values["max_newton_block"] = p.max_newton_block
    if get_method(method).uses_curvature:
        values["classical_constant"] = p.classical_constant or None
    if method == "adam" and "method_options" not in overrides:
        values["method_options"] = f"adam.lr={p.adam_lr!r}"
    values.update(overrides)
    return TrainConfig(**values)


def run_method(p: LMParams, model: str, seed: int, ctx: RunContext, *, name: str, method: str,
               values: dict[str, Any], **extra: Any) -> tuple[dict[str, Any], Path]:
    """One training run; returns (the method's report entry, run dir)."""
    from qnewton.train.runner import run_training

    if ctx.work_dir is None:
        raise ValueError("RunContext.work_dir is required for training experiments")
    options, method_options = split_values(method, values)
    if method_options:
        options["method_options"] = method_options
    run_name = f"{name}-seed{seed}"
    config = lm_config(p, model, method=method, seed=seed, name=run_name, runs_dir=str(ctx.work_dir), **{**extra, **options})
    run_dir = ctx.work_dir / run_name
    report = run_training(config, run_dir=run_dir, quiet=True)
    return report[method], run_dir


def tune_model(p: LMParams, model: str, seed: int, ctx: RunContext, prefix: str) -> dict[str, TuningResult]:
    """The validation sweep of every tuned family of `model` (SGD first: the Newton warm-up runs
    at its chosen rate), scored on the held-out training blocks."""
    results: dict[str, TuningResult] = {}
    order = ["sgd"] if "sgd" in p.methods else []
    order += [m for m in dict.fromkeys(TUNE_AS.get(m, m) for m in p.methods) if m != "sgd"]
    for method in order:
        grid = p.grid(method)
        if not grid:
            continue
        fixed = warmup(method, results)

        def run(index: int, values: dict[str, Any], method: str = method, fixed: dict[str, Any] = fixed) -> dict[str, Any]:
            entry, _ = run_method(p, model, seed, ctx, name=f"{prefix}-{model}-tune-{method}-{index:02d}", method=method,
                                  values=values, validation_fraction=p.validation_fraction, **fixed)
            return entry

        results[method] = tune_family(method, method, grid, run)
        ctx.log(f"  {model}: tuned {method} on held-out training blocks: {results[method].chosen.label}")
    return results



def block_decisions(ledger: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per block name: how many Newton steps solved it quantum / classical or gave it a
    first-order step (from the ledger's per-block records)."""
    counts: dict[str, dict[str, int]] = {}
    for row in ledger:
        if row.get("phase") != "newton":
            continue
        for block in row.get("blocks") or []:
            c = counts.setdefault(str(block.get("name")), {"quantum": 0, "classical": 0, "first_order": 0})
            decision = str(block.get("decision", "")).replace("-", "_")
            if decision in c:
                c[decision] += 1
    return counts


def newton_steps(ledger: list[dict[str, Any]]) -> int:
    return sum(1 for r in ledger if r.get("phase") == "newton")


def curve_rows(model: str, method: str, ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training batch loss and validation loss at every evaluation step (step = steps done)."""
    rows = []
    for r in ledger:
        if r.get("test_loss") is not None:
            rows.append({"model": model, "method": method, "step": int(r["step"]) + 1, "train_loss": as_float(r.get("loss")),
                         "val_loss": as_float(r["test_loss"]), "val_accuracy": as_float(r.get("test_accuracy"))})
    return rows


def train_all(p: LMParams, seed: int, ctx: RunContext, prefix: str) -> Tables:
    """Tune (when asked), then train every method on every model; the rows of all tables."""
    from qnewton.methods import get_method

    rows: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []
    for model in p.models:
        tuned = tune_model(p, model, seed, ctx, prefix) if p.tune else {}
        for method in p.methods:
            chosen = tuned.get(TUNE_AS.get(method, method))
            values = dict(chosen.values) if chosen else {}
            entry, run_dir = run_method(p, model, seed, ctx, name=f"{prefix}-{model}-{method}", method=method,
                                        values=values, **warmup(method, tuned))
            ledger = ledger_rows(run_dir, method)
            info = get_method(method)
            n_newton = newton_steps(ledger)
            per_block = block_decisions(ledger)
            newton_seconds = [as_float(r.get("measured_seconds_total")) for r in ledger if r.get("phase") == "newton"]
            steps = int(entry["steps"])
            projected = entry.get("total_projected_seconds") if info.uses_curvature else None
            quantum = sum(c["quantum"] for c in per_block.values())
            classical = sum(c["classical"] for c in per_block.values())
            first_order = sum(c["first_order"] for c in per_block.values())
            settings = chosen.chosen.label if chosen else untuned_label(p, method)
            row: dict[str, Any] = {
                "model": model, "method": method, "settings": settings, "tuned": int(chosen is not None),
                "steps": steps, "steps_to_target": entry.get("steps_to_target"), "target_loss": p.target_loss,
                "final_val_loss": as_float(entry.get("test_loss")), "final_val_accuracy": as_float(entry.get("test_accuracy")),
                "measured_seconds_per_step": as_float(entry.get("measured_seconds_per_step")), "threads": p.threads,
                "measured_seconds_per_newton_step": (sum(newton_seconds) / len(newton_seconds)) if newton_seconds else None,
                "modeled_quantum_seconds_per_step": (as_float(entry.get("modeled_quantum_seconds_per_step"))
                                                     if info.uses_curvature else None),
                "projected_total_seconds": projected,
                "projected_seconds_per_step": (float(projected) / steps) if projected is not None and steps else None,
                "measured_total_seconds": as_float(entry.get("total_measured_seconds")),
                "newton_steps": n_newton, "blocks": len(per_block), "quantum_blocks": quantum,
                "classical_blocks": classical, "first_order_blocks": first_order, "status": entry.get("status", ""),
            }
            rows.append(row)
            for name, c in per_block.items():
                decisions.append({"model": model, "method": method, "block": name, **c, "newton_steps": n_newton})
            curves += curve_rows(model, method, ledger)
            to_target = row["steps_to_target"] if row["steps_to_target"] is not None else "not reached"
            modeled = row["modeled_quantum_seconds_per_step"]
            ctx.log(f"  {model} / {method} ({settings}): {steps} steps, to val loss {p.target_loss:g}: {to_target}, "
                    f"final val loss {row['final_val_loss']:.4f}, measured {row['measured_seconds_per_step']:.3g} s/step"
                    + (f", modeled quantum {modeled:.3g} s/step, decisions q/c/first-order {quantum}/{classical}/{first_order}"
                       if modeled is not None else ""))
        budgets = {m: p.budget(m) for m in tuned}
        tuning += [{"model": model, **r} for r in tuning_rows(list(tuned.values()), budgets)]
    return {"table4": rows, "decisions": decisions, "curves": curves, "tuning": tuning}


def untuned_label(p: LMParams, method: str) -> str:
    from qnewton.methods import get_method

    if method == "sgd":
        return f"sgd_lr={p.sgd_lr:g}"
    if method == "adam":
        return f"lr={p.adam_lr:g}"
    if get_method(method).uses_curvature:
        return f"newton_lr={p.newton_lr:g},eps={p.eps:g}"
    return "defaults"


def run_seed(p: LMParams, seed: int, ctx: RunContext) -> Tables:
    return train_all(p, seed, ctx, "table4")


def plot_curves(p: LMParams, tables: Tables, out: Path, stem: str, title: str) -> list[Path]:
    """Training (batch) and validation loss against steps, one row of panels per model."""
    curves = tables.get("curves", [])
    fig, axes = figure(ncols=2, nrows=len(p.models), width=5.5, height=3.8)
    for (ax_train, ax_val), model in zip(axes, p.models):
        for method in p.methods:
            for ax, col in ((ax_train, "train_loss"), (ax_val, "val_loss")):
                xs, ys, es = series(curves, "step", col, model=model, method=method)
                if xs.size:
                    errorline(ax, xs, ys, es, method, marker=".")
        for ax, label in ((ax_train, "training loss (batch)"), (ax_val, "validation loss")):
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.set_title(f"{model}: {label}")
            if math.isfinite(p.target_loss) and ax is ax_val:
                ax.axhline(p.target_loss, color="grey", linestyle=":", linewidth=1)
        ax_val.legend(fontsize=7)
    fig.suptitle(title)
    return [save(fig, out / f"{stem}.png")]


def plot(p: LMParams, tables: Tables, out: Path) -> list[Path]:
    return plot_curves(p, tables, out, "table4-curves", "Table IV setting: loss against steps (validation blocks)")


COLUMNS = ("settings", "steps", "steps_to_target", "target_loss", "final_val_loss", "final_val_accuracy",
           "measured_seconds_per_step", "measured_seconds_per_newton_step", "threads", "modeled_quantum_seconds_per_step",
           "projected_seconds_per_step", "projected_total_seconds", "newton_steps", "quantum_blocks", "classical_blocks",
           "first_order_blocks")
DECISION_COLUMNS = ("quantum", "classical", "first_order", "newton_steps")
CURVE_COLUMNS = ("train_loss", "val_loss", "val_accuracy")
DECISIONS_TABLE = TableSpec("decisions", ("model", "method", "block"), "Per block: Newton steps solved quantum, "
                            "classical (LU), or first-order (block above max_newton_block)", DECISION_COLUMNS)
CURVES_TABLE = TableSpec("curves", ("model", "method", "step"), "Training batch loss and validation loss at each "
                         "evaluation step", CURVE_COLUMNS)
TUNING_TABLE = TableSpec("tuning", ("model", "family", "candidate"),
                         "Validation sweep on held-out training blocks (family = the tuned method): same budget, reached "
                         "the target loss first, then fewest steps, then lowest held-out loss",
                         ("step_budget", "validation_steps_to_target", "validation_loss", "rank", "chosen", "chosen_at_grid_edge"))

EXPERIMENT = Experiment(
    name="table4-transformers",
    title="SGD, Adam, classical-only, quantum-only and Q-Newton on the tiny Mistral: steps to a target loss, "
          "measured/modeled/projected seconds, per-layer decisions",
    paper="Table IV",
    params_type=LMParams,
    tables=(TableSpec("table4", ("model", "method"),
                      "Table IV here: losses on the VALIDATION blocks (tuning used held-out training blocks); MEASURED "
                      "= wall clock here (threads column); MODELED = quantum cost model at the profile's per-query time; "
                      "PROJECTED = measured - emulated QLSA + modeled", COLUMNS),
            DECISIONS_TABLE, CURVES_TABLE, TUNING_TABLE),
    run_seed=run_seed,
    plot=plot,
)
