"""readout-cost: Table III again with the SWAP-test readout priced in (paper Sec. IV-E).

The paper treats reading H^-1 g out of the quantum state as free. A SWAP-test (or any
tomography-style) readout of an N-vector to precision delta needs on the order of N / delta^2
repetitions of the whole solver, which `qnewton.costs.quantum.QuantumCostModel(readout=
"swap-test")` prices. We run quantum-only and Q-Newton with readout "free" and "swap-test" at
the same per-query time and ask whether the quantum advantage survives.
"""

from __future__ import annotations

from pathlib import Path

from qnewton.experiments.comparison import (TUNING_COLUMNS, TUNING_KEYS, TUNING_TITLE, ComparisonParams, comparison_seed,
                                              plot_tables)
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables

COLUMNS = (
    "tuned", "sgd_lr", "newton_lr", "sgd_steps", "eps", "steps", "test_accuracy", "measured_seconds_per_step_without_emulation", "modeled_quantum_seconds_per_step", "modeled_quantum_seconds_per_newton_step_median", "inversions_with_infinite_quantum_cost",
    "modeled_quantum_total_seconds", "projected_total_seconds", "quantum_inversions", "classical_inversions",
)


def run_seed(p: ComparisonParams, seed: int, ctx: RunContext) -> Tables:
    return comparison_seed(p, seed, ctx, "readout")


def plot(p: ComparisonParams, tables: Tables, out: Path) -> list[Path]:
    return plot_tables(p, tables, out, "readout-cost", "Free readout vs SWAP-test readout")


EXPERIMENT = Experiment(
    name="readout-cost",
    title="Table III with SWAP-test readout priced in: does the quantum advantage survive?",
    paper="Table III + Sec. IV-E",
    params_type=ComparisonParams,
    tables=(TableSpec("comparison", ("profile", "readout", "kappa_method", "method"),
                      "Free vs SWAP-test readout: MEASURED seconds here, MODELED quantum seconds apart", COLUMNS),
            TableSpec("tuning", TUNING_KEYS, TUNING_TITLE, TUNING_COLUMNS)),
    run_seed=run_seed,
    plot=plot,
    uses_data=True,
)
