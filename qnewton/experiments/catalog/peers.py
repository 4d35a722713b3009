"""peers: Q-Newton against the optimizers people use for second-order training, on equal footing.

Every method of the list (any registered names; the default list is in experiments/peers.toml,
plus `optional_methods` when they are registered, e.g. the NAQ family) trains the same model from
the same initialization (the run's seed) on the same mini-batch sequence (`batch_indices`), on two
tasks:

* ``digits``: the 64-16-10 tanh MLP on scikit-learn's digits (the trainer's default task);
* ``autoencoder``: seed paper 001's deep-autoencoder setting scaled down (the ``autoencoder`` task
  of `qnewton.train.tasks`: digits pixels in [0, 1], D-32-16-8-16-32-D with a linear code layer,
  pixel cross-entropy); its target is a test reconstruction LOSS (``autoencoder_target_loss``), not
  an accuracy, and it compares its own list of methods (``autoencoder_methods``: the S2QN paper's
  SKQN-L/B1/B2 against SGD, Adam, L-BFGS, K-FAC and Q-Newton); the Newton methods use the
  curvature ``autoencoder_curvature`` (K-FAC blocks by default) there;
* ``breast-cancer``: multinomial logistic regression (``hidden = ""``, 30 -> 2) on scikit-learn's
  breast-cancer set, a convex problem whose training-loss optimum scipy's L-BFGS-B finds to high
  precision; each method's distance to it is reported (``train_loss_gap``). The standardized
  training split is linearly separable, so the optimum is the infimum 0, approached as the weights
  grow without bound: the gap is then the final training loss itself.

Protocol: with ``tune = true`` every method gets its learning rate (Newton methods: step size and
damping eps) from the same small sweep on a validation split (`qnewton.experiments.tuning`: grids
per method from ``[params.grids]``, else `DEFAULT_GRIDS`; same step budget; same criterion); the
quantum-only and Q-Newton methods take the classical-only method's choice (the same step with a
different solver), and the Newton warm-up runs at SGD's chosen rate when SGD is compared. Then each
method trains once more at its chosen values on the whole training part, evaluated on the test
split.

Reported per task and method ("peers" table): steps and loss-and-gradient evaluations to the
target test accuracy, final test loss and accuracy, MEASURED seconds per step (wall clock here, at
``threads`` BLAS/torch threads), for the Newton family the MODELED quantum seconds per step (at the
per-query time of ``profile``) and the PROJECTED total (measured - emulated-QLSA seconds +
modeled); a "curves" table of test loss and accuracy against steps and cumulative measured seconds,
drawn in peers-<task>.png.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qnewton.experiments.params import require
from qnewton.experiments.plotting import errorline, figure, save, series
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables
from qnewton.experiments.training import TrainingParams, as_float, base_config, classical_constant, ledger_rows, time_model
from qnewton.experiments.tuning import (TUNE_AS, TuningResult, check_grids, method_grid, split_values, tune_family,
                                      tuning_rows, warmup)

Task = Literal["digits", "breast-cancer", "autoencoder"]
GridValue = int | float | str | bool


@dataclass(frozen=True)
class PeersParams(TrainingParams):
    """methods: the registered methods to compare (an unknown name is an error); optional_methods:
    compared too when registered (skipped with a log line otherwise); tasks: digits (MLP) and/or
    breast-cancer (logistic regression); logreg_batch_size: mini-batch of the logistic regression
    (0 = the whole training split, i.e. full-batch); logreg_target_accuracy: its target;
    logreg_steps: its step budget (0 = steps); logreg_stop_at_target: stop a logistic-regression
    run at the target (default false: every method runs the whole budget, so the final training
    loss of each, and its gap to scipy's optimum, compare at the same step count); profile: the
    per-query time of the Newton methods' modeled quantum seconds ("gate:SECONDS" or a calibration
    profile); tune: choose hyper-parameters on a validation split first; validation_fraction: its
    share of the training part; grids: per-method validation grids over --method-options keys or
    train options, e.g. {adam = {lr = [0.001, 0.01]}} (methods not named use `DEFAULT_GRIDS`);
    autoencoder_*: the autoencoder task's methods (registered names), hidden layer sizes, target
    test loss, step budget (0 = steps), mini-batch (0 = batch_size), the Newton methods' curvature
    there, and grids that replace `grids` for that task (same rule, same criterion)."""

    methods: tuple[str, ...] = ("sgd", "momentum", "adam", "lbfgs", "bfgs", "slimqn", "ncg", "classical", "qnewton")
    optional_methods: tuple[str, ...] = ()
    tasks: tuple[Task, ...] = ("digits", "breast-cancer")
    logreg_batch_size: int = 0
    logreg_target_accuracy: float = 0.95
    logreg_steps: int = 0
    logreg_stop_at_target: bool = False
    profile: str = "attosecond"
    tune: bool = True
    validation_fraction: float = 0.2
    grids: dict[str, dict[str, tuple[GridValue, ...]]] = field(default_factory=dict)
    autoencoder_methods: tuple[str, ...] = ("sgd", "adam", "lbfgs", "kfac", "skqn-l", "skqn-b1", "skqn-b2", "qnewton")
    autoencoder_hidden: str = "32,16,8,16,32"
    autoencoder_target_loss: float = 25.0
    autoencoder_steps: int = 0
    autoencoder_batch_size: int = 0
    autoencoder_curvature: str = "kfac"
    autoencoder_grids: dict[str, dict[str, tuple[GridValue, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        from qnewton.experiments.training import check_profiles
        from qnewton.methods import method_names

        known = method_names()
        require(len(self.methods) > 0 and len(set(self.methods)) == len(self.methods), "methods",
                "list each method once, at least one")
        for m in self.methods:
            require(m in known, "methods", f"unknown method {m!r} (registered: {', '.join(known)})")
        require(len(self.tasks) > 0 and len(set(self.tasks)) == len(self.tasks), "tasks", "list each task once, at least one")
        require(self.logreg_batch_size >= 0, "logreg_batch_size", f"must be >= 0 (0 = full batch), got {self.logreg_batch_size}")
        require(self.logreg_steps >= 0, "logreg_steps", f"must be >= 0 (0 = steps), got {self.logreg_steps}")
        require(0.0 < self.logreg_target_accuracy <= 1.0, "logreg_target_accuracy",
                f"must lie in (0, 1], got {self.logreg_target_accuracy}")
        require(0.0 < self.validation_fraction < 1.0, "validation_fraction", f"must lie in (0, 1), got {self.validation_fraction}")
        check_profiles((self.profile,), "profile")
        if "autoencoder" in self.tasks:
            require(len(self.autoencoder_methods) > 0 and len(set(self.autoencoder_methods)) == len(self.autoencoder_methods),
                    "autoencoder_methods", "list each method once, at least one")
            for m in self.autoencoder_methods:
                require(m in known, "autoencoder_methods", f"unknown method {m!r} (registered: {', '.join(known)})")
        require(math.isfinite(self.autoencoder_target_loss) and self.autoencoder_target_loss > 0, "autoencoder_target_loss",
                f"must be a positive number, got {self.autoencoder_target_loss}")
        require(self.autoencoder_steps >= 0, "autoencoder_steps", f"must be >= 0 (0 = steps), got {self.autoencoder_steps}")
        require(self.autoencoder_batch_size >= 0, "autoencoder_batch_size",
                f"must be >= 0 (0 = batch_size), got {self.autoencoder_batch_size}")
        require(all(part.strip().isdigit() and int(part) > 0 for part in self.autoencoder_hidden.split(",")),
                "autoencoder_hidden", f"must be positive layer sizes separated by commas, got {self.autoencoder_hidden!r}")
        check_grids(self.grids, known)
        check_grids(self.autoencoder_grids, known, "autoencoder_grids")

    def compared(self) -> tuple[str, ...]:
        """The methods of this run: `methods`, then the registered `optional_methods`."""
        from qnewton.methods import method_names

        known = method_names()
        return tuple(self.methods) + tuple(m for m in self.optional_methods if m in known and m not in self.methods)

    def task_methods(self, task: str) -> tuple[str, ...]:
        """The methods compared on `task`: `autoencoder_methods` on the autoencoder, else `compared()`."""
        return tuple(self.autoencoder_methods) if task == "autoencoder" else self.compared()

    def task_grids(self, task: str) -> dict[str, dict[str, tuple[GridValue, ...]]]:
        """The validation grids of `task`: `grids`, with `autoencoder_grids` on top for the autoencoder."""
        return {**self.grids, **self.autoencoder_grids} if task == "autoencoder" else dict(self.grids)

    def task_steps(self, task: str) -> int:
        """The step budget of `task`."""
        if task == "breast-cancer":
            return self.logreg_steps or self.steps
        if task == "autoencoder":
            return self.autoencoder_steps or self.steps
        return self.steps


def target_text(p: PeersParams, task: str) -> str:
    """The target of `task` in a few words (the table's `target` column)."""
    if task == "autoencoder":
        return f"test loss <= {p.autoencoder_target_loss:g}"
    return f"test accuracy >= {p.logreg_target_accuracy if task == 'breast-cancer' else p.target_accuracy:g}"


def task_options(p: PeersParams, task: str, method: str = "") -> dict[str, Any]:
    """The TrainConfig options that define a task (for `method`: the autoencoder's Newton methods
    get `autoencoder_curvature`)."""
    if task == "autoencoder":
        from qnewton.methods import get_method

        options: dict[str, Any] = {"model": "autoencoder", "data": "digits", "hidden": p.autoencoder_hidden,
                                   "target_loss": p.autoencoder_target_loss, "steps": p.task_steps(task),
                                   "batch_size": p.autoencoder_batch_size or p.batch_size}
        if method and get_method(method).uses_curvature:
            options["curvature"] = p.autoencoder_curvature
        return options
    if task == "breast-cancer":
        return {"data": "breast-cancer", "hidden": "", "batch_size": p.logreg_batch_size or 100000,
                "target_accuracy": p.logreg_target_accuracy, "steps": p.logreg_steps or p.steps,
                "stop_at_target": p.logreg_stop_at_target}
    return {"data": "digits"}


def run_method(p: PeersParams, seed: int, ctx: RunContext, *, name: str, method: str, task: str,
               values: dict[str, Any], **extra: Any) -> tuple[dict[str, Any], Path]:
    """One training run of `method` on `task` at grid `values`; returns (its report entry, run dir)."""
    from qnewton.methods import get_method
    from qnewton.train.runner import run_training

    if ctx.work_dir is None:
        raise ValueError("RunContext.work_dir is required for training experiments")
    options, method_options = split_values(method, values)
    info = get_method(method)
    cost = {"classical_constant": classical_constant(p, ctx)} if info.uses_curvature else {}
    run_name = f"{name}-seed{seed}"
    config = base_config(p, name=run_name, runs_dir=str(ctx.work_dir), method=method, seed=seed,
                         checkpoint_every=max(p.steps, 1), method_options=method_options,
                         **{**time_model(p.profile), **task_options(p, task, method), **cost, **extra, **options})
    run_dir = ctx.work_dir / run_name
    report = run_training(config, run_dir=run_dir, quiet=True)
    return report[method], run_dir


def tune_task(p: PeersParams, seed: int, ctx: RunContext, task: str, methods: tuple[str, ...]) -> dict[str, TuningResult]:
    """Validation tuning of every method of `task` that has a grid (Newton variants through
    `TUNE_AS`); keyed by the tuned method."""
    results: dict[str, TuningResult] = {}
    order = ["sgd"] if "sgd" in methods else []
    order += [m for m in dict.fromkeys(TUNE_AS.get(m, m) for m in methods) if m != "sgd"]
    for method in order:
        grid = method_grid(method, p.task_grids(task))
        if not grid:
            continue
        fixed = warmup(method, results)

        def run(index: int, values: dict[str, Any], method: str = method, fixed: dict[str, Any] = fixed) -> dict[str, Any]:
            entry, _ = run_method(p, seed, ctx, name=f"peers-{task}-tune-{method}-{index:02d}", method=method, task=task,
                                  values=values, validation_fraction=p.validation_fraction, **fixed)
            return entry

        results[method] = tune_family(method, method, grid, run)
        ctx.log(f"  {task}: tuned {method} on the validation split: {results[method].chosen.label}")
    return results



def optimum_train_loss(data: Any) -> float:
    """The minimum (infimum) over W, b of the mean softmax cross-entropy of x W^T + b on the
    training split, by scipy's L-BFGS-B to gtol 1e-10 (float64)."""
    from scipy.optimize import minimize

    x, y = data.x_train, data.y_train
    k, d = data.num_classes, x.shape[1]

    def f_and_g(w: np.ndarray) -> tuple[float, np.ndarray]:
        weight, bias = w[:k * d].reshape(k, d), w[k * d:]
        z = x @ weight.T + bias
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        prob = np.exp(z - lse[:, None])
        f = float(np.mean(lse - z[np.arange(len(y)), y]))
        prob[np.arange(len(y)), y] -= 1.0
        prob /= len(y)
        return f, np.concatenate([(prob.T @ x).ravel(), prob.sum(axis=0)])

    res = minimize(f_and_g, np.zeros(k * d + k), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-16, "maxiter": 20000})
    return float(res.fun)


def final_train_loss(run_dir: Path, method: str, data: Any) -> float:
    """Mean cross-entropy on the whole training split of the model in the method's final checkpoint."""
    import torch

    from qnewton.train.models import MLP

    state = torch.load(run_dir / method / "checkpoint.pt", weights_only=True)["model"]
    model = MLP(data.num_features, (), data.num_classes, "tanh").double()
    model.load_state_dict({k: v.double() for k, v in state.items()})
    with torch.no_grad():
        logits = model(torch.as_tensor(data.x_train, dtype=torch.float64))
        return float(torch.nn.functional.cross_entropy(logits, torch.as_tensor(data.y_train)))


def run_seed(p: PeersParams, seed: int, ctx: RunContext) -> Tables:
    from qnewton.methods import get_method
    from qnewton.train.data import load_dataset

    skipped = [m for m in p.optional_methods if m not in p.compared()]
    if skipped:
        ctx.log(f"  not registered, skipped: {', '.join(skipped)}")
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []
    for task in p.tasks:
        methods = p.task_methods(task)
        tuned = tune_task(p, seed, ctx, task, methods) if p.tune else {}
        optimum = data = None
        if task == "breast-cancer":
            data = load_dataset("breast-cancer")
            optimum = optimum_train_loss(data)
        for method in methods:
            chosen = tuned.get(TUNE_AS.get(method, method))
            values = dict(chosen.values) if chosen else {}
            entry, run_dir = run_method(p, seed, ctx, name=f"peers-{task}-{method}", method=method, task=task,
                                        values=values, **warmup(method, tuned))
            info = get_method(method)
            row: dict[str, Any] = {
                "task": task, "method": method, "target": target_text(p, task),
                "settings": chosen.chosen.label if chosen else "defaults",
                "tuned": int(chosen is not None), "steps": entry["steps"], "steps_to_target": entry["steps_to_target"],
                "gradient_evaluations_to_target": entry.get("gradient_evaluations_to_target"),
                "gradient_evaluations": entry.get("gradient_evaluations"),
                "test_loss": entry["test_loss"], "test_accuracy": entry["test_accuracy"],
                "measured_seconds_per_step": entry["measured_seconds_per_step"], "threads": p.threads,
                "modeled_quantum_seconds_per_step": entry["modeled_quantum_seconds_per_step"] if info.uses_curvature else None,
                "projected_total_seconds": entry["total_projected_seconds"] if info.uses_curvature else None,
                "measured_total_seconds": entry["total_measured_seconds"], "status": entry["status"],
            }
            if optimum is not None:
                final = final_train_loss(run_dir, method, data)
                row.update(final_train_loss=final, optimum_train_loss=optimum, train_loss_gap=final - optimum)
            rows.append(row)
            elapsed = 0.0
            for r in ledger_rows(run_dir, method):
                elapsed += as_float(r.get("measured_seconds_total", 0.0))
                if r.get("test_loss") is not None:
                    acc = r.get("test_accuracy")
                    curves.append({"task": task, "method": method, "step": int(r["step"]) + 1,
                                   "test_loss": as_float(r["test_loss"]),
                                   "test_accuracy": as_float(acc) if acc is not None else None,
                                   "measured_seconds": elapsed})
            gap = f", train-loss gap {row['train_loss_gap']:.3g}" if optimum is not None else ""
            metric = (f"test acc {row['test_accuracy']:.4f}" if row["test_accuracy"] is not None
                      else f"test loss {row['test_loss']:.4g}")
            ctx.log(f"  {task} / {method} ({row['settings']}): {row['steps']} steps, to target "
                    f"{row['steps_to_target']} steps / {row['gradient_evaluations_to_target']} gradients, "
                    f"{metric}, measured {row['measured_seconds_per_step']:.3g} s/step{gap}")
        budgets = {m: p.task_steps(task) for m in tuned}
        tuning += [{"task": task, **r} for r in tuning_rows(list(tuned.values()), budgets)]
    return {"peers": rows, "curves": curves, "tuning": tuning}


def plot(p: PeersParams, tables: Tables, out: Path) -> list[Path]:
    paths = []
    curves = tables.get("curves", [])
    for task in p.tasks:
        # the autoencoder has no accuracy: one row of panels (test loss) instead of two
        panels = [("test_loss", "test loss")] + ([] if task == "autoencoder" else [("test_accuracy", "test accuracy")])
        fig, axes = figure(ncols=2, nrows=len(panels), width=5.5, height=3.8)
        for i, method in enumerate(p.task_methods(task)):
            style = ("-", "--", ":")[(i // 10) % 3]  # the colour cycle has 10 colours
            for (col, _), (ax_steps, ax_time) in zip(panels, axes):
                xs, ys, es = series(curves, "step", col, task=task, method=method)
                if xs.size and np.isfinite(ys).any():
                    errorline(ax_steps, xs, ys, es, method, marker=".", linestyle=style)
                ts, ys2, es2 = series(curves, "measured_seconds", col, task=task, method=method)
                if ts.size and np.isfinite(ys2).any():
                    errorline(ax_time, ts, ys2, es2, method, marker=".", linestyle=style)
        for (_, label), (ax_steps, ax_time) in zip(panels, axes):
            ax_steps.set_xlabel("step")
            ax_time.set_xlabel("MEASURED seconds (wall clock here, cumulative)")
            ax_time.set_xscale("log")
            for ax in (ax_steps, ax_time):
                ax.set_ylabel(label)
        axes[0][0].set_yscale("log")
        axes[0][1].set_yscale("log")
        if task == "autoencoder":
            for ax in axes[0]:
                ax.axhline(p.autoencoder_target_loss, color="0.5", linewidth=0.8, linestyle="--")
        axes[0][0].legend(fontsize=7, ncol=2)
        what = "test reconstruction loss" if task == "autoencoder" else "test loss and accuracy"
        fig.suptitle(f"peers on {task}: {what} against steps and measured seconds")
        paths.append(save(fig, out / f"peers-{task}.png"))
    return paths


COLUMNS = ("target", "settings", "steps", "steps_to_target", "gradient_evaluations_to_target", "gradient_evaluations", "test_loss",
           "test_accuracy", "measured_seconds_per_step", "threads", "modeled_quantum_seconds_per_step",
           "projected_total_seconds", "train_loss_gap")

EXPERIMENT = Experiment(
    name="peers",
    title="Q-Newton against first-order, quasi-Newton and CG peers, tuned the same way on a validation split",
    paper="papers 002-004",
    params_type=PeersParams,
    tables=(TableSpec("peers", ("task", "method"),
                      "Peers on equal footing: same model, data, seed and batches; hyper-parameters from the same "
                      "validation sweep. MEASURED = wall clock here (threads column); MODELED = quantum cost model "
                      "(Newton family only); PROJECTED = measured - emulation + modeled; train_loss_gap = final training "
                      "loss - scipy's optimum (logistic regression only)", COLUMNS),
            TableSpec("curves", ("task", "method", "step"), "Test loss and accuracy at each evaluation, with the "
                      "cumulative MEASURED seconds", ("test_loss", "test_accuracy", "measured_seconds")),
            TableSpec("tuning", ("task", "family", "candidate"), "Validation sweep of each method (family = the tuned "
                      "method): same budget, reached target first, then fewest steps, then lowest validation loss",
                      ("step_budget", "validation_steps_to_target", "validation_accuracy", "validation_loss", "rank",
                       "chosen", "chosen_at_grid_edge"))),
    run_seed=run_seed,
    plot=plot,
)
