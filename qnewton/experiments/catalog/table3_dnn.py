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
"""

from __future__ import annotations

from pathlib import Path

from qnewton.experiments.comparison import (TUNING_COLUMNS, TUNING_KEYS, TUNING_TITLE, ComparisonParams, comparison_seed,
                                              plot_tables)
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables

COLUMNS = (
    "tuned", "sgd_lr", "newton_lr", "sgd_steps", "eps", "steps", "steps_to_target", "test_accuracy", "measured_seconds_per_step", "measured_seconds_per_step_without_emulation",
    "modeled_quantum_seconds_per_step", "modeled_quantum_seconds_per_newton_step_median", "inversions_with_infinite_quantum_cost", "projected_total_seconds", "quantum_inversions", "classical_inversions",
    "paper_total_steps", "paper_seconds_per_step", "paper_total_seconds",
)


def run_seed(p: ComparisonParams, seed: int, ctx: RunContext) -> Tables:
    return comparison_seed(p, seed, ctx, "table3")


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
)
