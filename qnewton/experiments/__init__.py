"""Reproductions of the Q-Newton paper's DNN tables and figures, one command each.

    qnewton experiment list
    qnewton experiment run NAME [--quick] [--seeds N] [--data-dir PATH] [--out DIR]

`registry` names the experiments, `config` reads ``experiments/<name>.toml``, `runner` runs
the seeds and writes ``results/<name>/`` (`results`, `aggregate`, `plotting`), and each
experiment lives in `qnewton.experiments.catalog`.
"""

from qnewton.experiments.config import ExperimentConfig, load_config
from qnewton.experiments.registry import experiment_names, get_experiment
from qnewton.experiments.runner import RunOutcome, run_experiment

__all__ = ["ExperimentConfig", "RunOutcome", "experiment_names", "get_experiment", "load_config", "run_experiment"]
