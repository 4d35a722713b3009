"""table3-dnn: paper Table III on the DNN -- SGD, classical-only, quantum-only and Q-Newton.

Paper (MNIST, 784-16-10, batch 2048, H100, gate time 1e-18 s): steps 1500/1000/1000/1000,
seconds per step 0.14/1.06/0.17/0.15, total 204/1064/170/123 s. We run the four methods at
the paper's gate time (calibration profile "attosecond", 1e-18 s per query) and at the
ibm_sherbrooke calibration (per-query time of a transpiled block-encoding circuit on that
device), with free readout as in the paper. See `qnewton.experiments.comparison`.

With ``tune = true`` (the default of experiments/table3-dnn.toml) SGD and the Newton methods run at
hyper-parameters chosen by the same rule on a validation split (`qnewton.experiments.tuning`); the
"tuning" table lists every candidate's validation score and the choice. A step count compared
against an untuned baseline measures the baseline's learning rate as much as the method.

Tasks (for `--workers` / `--scheduler`): without tuning, one task per training run of a seed,
i.e. per (profile, readout, kappa method, method), except that SGD and classical-only, which never
consult the quantum cost model, run once per seed and their row is repeated for the other
settings (marked shared_run = 1), as in the whole-seed run. With tuning, a seed stays one task:
its Newton grid runs at the rate the SGD grid chose, and its final runs at the values both grids
chose, an order that independent tasks cannot express.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from pathlib import Path

from qnewton.experiments.comparison import (INDEPENDENT, TUNING_COLUMNS, TUNING_KEYS, TUNING_TITLE, ComparisonParams,
                                              comparison_seed, plot_tables, run_comparison)
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Task, Tables, concat_tables

KEYS = ("profile", "readout", "kappa_method", "method")

COLUMNS = (
    "tuned", "sgd_lr", "newton_lr", "sgd_steps", "eps", "steps", "steps_to_target", "test_accuracy", "measured_seconds_per_step", "measured_seconds_per_step_without_emulation",
    "modeled_quantum_seconds_per_step", "modeled_quantum_seconds_per_newton_step_median", "inversions_with_infinite_quantum_cost", "projected_total_seconds", "quantum_inversions", "classical_inversions",
    "paper_total_steps", "paper_seconds_per_step", "paper_total_seconds",
)


def run_seed(p: ComparisonParams, seed: int, ctx: RunContext) -> Tables:
    return comparison_seed(p, seed, ctx, "table3")


def _settings(p: ComparisonParams) -> list[tuple[str, str, str, str]]:
    """Every (profile, readout, kappa method, method) of a seed, in the order of its rows."""
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in product(p.profiles, p.readouts, p.kappa_methods, p.methods)]


def tasks(p: ComparisonParams, seed: int) -> list[Task]:
    """One task per training run (untuned), or the whole seed (tuned); see the module docstring."""
    if p.tune:
        return [{"part": "seed"}]
    out: list[Task] = []
    seen: set[str] = set()
    for setting in _settings(p):
        method = setting[3]
        if method in INDEPENDENT:
            if method in seen:
                continue
            seen.add(method)
        out.append({"part": "run", **dict(zip(KEYS, setting))})
    return out


def run_task(p: ComparisonParams, seed: int, task: Task, ctx: RunContext) -> Tables:
    if task["part"] == "seed":
        return run_seed(p, seed, ctx)
    if task["part"] != "run":
        raise ValueError(f"table3-dnn: unknown task part {task['part']!r}")
    one = replace(p, profiles=(task["profile"],), readouts=(task["readout"],),
                  kappa_methods=(task["kappa_method"],), methods=(task["method"],))
    return {"comparison": run_comparison(one, seed, ctx, "table3"), "tuning": []}


def merge(p: ComparisonParams, seed: int, parts: list[Tables]) -> Tables:
    """The rows of the whole-seed run from the runs' rows: every setting in order, SGD's and
    classical-only's one run repeated for the settings they do not depend on."""
    if p.tune:
        return concat_tables(parts)
    found = {tuple(str(r[k]) for k in KEYS): r for part in parts for r in part.get("comparison", [])}
    first: dict[str, dict] = {}
    rows = []
    for setting in _settings(p):
        method = setting[3]
        if method in INDEPENDENT and method in first:
            row = dict(first[method])
            row.update(dict(zip(KEYS[:3], setting[:3])))
            row["shared_run"] = 1
        else:
            row = dict(found[setting])
            first.setdefault(method, row)
        rows.append(row)
    return {"comparison": rows, "tuning": []}


def plot(p: ComparisonParams, tables: Tables, out: Path) -> list[Path]:
    return plot_tables(p, tables, out, "table3-dnn", "Table III: four methods on the DNN")


EXPERIMENT = Experiment(
    name="table3-dnn",
    title="SGD, classical-only, quantum-only and Q-Newton on the DNN: steps, seconds per step, accuracy",
    paper="Table III",
    params_type=ComparisonParams,
    tables=(TableSpec("comparison", ("profile", "readout", "kappa_method", "method"),
                      "Table III on this machine: MEASURED seconds (wall clock here) and MODELED quantum seconds kept apart; "
                      "projected = measured - emulation + modeled", COLUMNS),
            TableSpec("tuning", TUNING_KEYS, TUNING_TITLE, TUNING_COLUMNS)),
    run_seed=run_seed,
    plot=plot,
    uses_data=True,
    tasks=tasks,
    run_task=run_task,
    merge=merge,
)
