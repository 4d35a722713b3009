"""table3-dnn split into one task per training run (untuned): the same rows as the whole-seed
run, SGD and classical-only run once and shared; a tuned seed stays one task."""

from __future__ import annotations

from pathlib import Path

from qnewton.experiments.config import load_config
from qnewton.experiments.runner import run_experiment
from qnewton.experiments.spec import RunContext

TINY = """
name = "table3-dnn"
seeds = 1
[params]
classical_constant = 1e-10
profiles = ["attosecond", "ibm_sherbrooke"]
readouts = ["free"]
kappa_methods = ["bound"]
methods = ["sgd", "classical", "qnewton"]
hidden = "4"
steps = 4
sgd_budget = 6
sgd_steps = 2
batch_size = 64
eval_every = 2
tune = false
"""

VARYING = ("measured_", "projected_")


def _stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(VARYING)} for r in rows]


def test_table3_split_gives_the_whole_seed_rows(tmp_path: Path) -> None:
    path = tmp_path / "t3.toml"
    path.write_text(TINY, encoding="utf-8")
    cfg = load_config(path)
    exp = cfg.experiment
    tasks = exp.seed_tasks(cfg.params, 0)
    # sgd and classical once, qnewton once per profile
    assert [(t["profile"], t["method"]) for t in tasks] == [
        ("attosecond", "sgd"), ("attosecond", "classical"), ("attosecond", "qnewton"), ("ibm_sherbrooke", "qnewton")]
    split = run_experiment(cfg, out=tmp_path / "split")
    whole = exp.run_seed(cfg.params, 0, RunContext(work_dir=tmp_path / "whole"))
    assert _stable(split.raw["comparison"]) == _stable([{"seed": 0, **r} for r in whole["comparison"]])
    rows = split.raw["comparison"]
    assert [(r["profile"], r["method"], r["shared_run"]) for r in rows] == [
        ("attosecond", "sgd", 0), ("attosecond", "classical", 0), ("attosecond", "qnewton", 0),
        ("ibm_sherbrooke", "sgd", 1), ("ibm_sherbrooke", "classical", 1), ("ibm_sherbrooke", "qnewton", 0)]
    assert rows[0]["steps"] == 6 and rows[2]["steps"] == 4 and rows[2]["test_accuracy"] > 0


def test_tuned_table3_seed_is_one_task() -> None:
    cfg = load_config("table3-dnn", quick=True)
    assert cfg.params.tune and cfg.experiment.seed_tasks(cfg.params, 0) == [{"part": "seed"}]
