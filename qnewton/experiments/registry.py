"""The experiments this project reproduces, by name.

Each experiment lives in its own module under `qnewton.experiments.catalog` and exposes
`EXPERIMENT` (a `qnewton.experiments.spec.Experiment`). Modules are imported on first use so
that `qnewton experiment list` stays fast and one broken dependency affects one experiment.
"""

from __future__ import annotations

import importlib

from qnewton.errors import UsageError
from qnewton.experiments.spec import Experiment

#: name -> (module under qnewton.experiments.catalog, paper reference, one-line title)
CATALOG: dict[str, tuple[str, str, str]] = {
    "table2-kappa-time": ("table2_kappa_time", "Table II", "Condition-number estimation time against N, and estimate against true kappa"),
    "table3-dnn": ("table3_dnn", "Table III", "SGD, classical-only, quantum-only and Q-Newton on the DNN: steps, seconds per step, accuracy"),
    "fig1-sparsity": ("fig1_sparsity", "Fig. 1", "Accuracy against oracle sparsity ratio; per-step inversion costs with the scheduler's choices"),
    "fig5-cost-scaling": ("fig5_cost_scaling", "Fig. 5", "Classical and quantum solver cost against kappa and against sparsity d"),
    "fig6-row-sparsity": ("fig6_row_sparsity", "Fig. 6", "Histograms of the p%-sparsity of Hessian rows at step 0 and step 10"),
    "fig8-regularization": ("fig8_regularization", "Fig. 8", "Final accuracy and kappa against the regularization coefficient"),
    "peers": ("peers", "papers 002-004", "Q-Newton against first-order, quasi-Newton and CG peers, tuned the same way on a validation split"),
    "ft-crossover": ("ft_crossover", "Sec. IV-C / Fig. 5 / Table III", "Quantum solve on error-corrected hardware (qdk resource estimator) against LU / CG: crossovers, qubits"),
    "readout-cost": ("readout_cost", "Table III + Sec. IV-E", "Table III with SWAP-test readout priced in: does the quantum advantage survive?"),
    "table4-transformers": ("table4_transformers", "Table IV", "SGD, Adam, classical-only, quantum-only and Q-Newton on the tiny Mistral: steps to a target loss, measured/modeled/projected seconds, per-layer decisions"),
    "fig2-transformers": ("fig2_transformers", "Fig. 2", "Training and validation loss of SGD, Adam and Newton on the tiny BERT and Mistral; steps Newton saves"),
}


def experiment_names() -> list[str]:
    return list(CATALOG)


def get_experiment(name: str) -> Experiment:
    """The registered experiment `name`; UsageError naming the known ones otherwise."""
    if name not in CATALOG:
        raise UsageError(f"experiment: unknown name {name!r} (known: {', '.join(CATALOG)})")
    module = importlib.import_module(f"qnewton.experiments.catalog.{CATALOG[name][0]}")
    experiment = module.EXPERIMENT
    if experiment.name != name:  # pragma: no cover - catalog consistency
        raise RuntimeError(f"catalog entry {name!r} holds experiment {experiment.name!r}")
    return experiment
