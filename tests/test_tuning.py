"""Hyper-parameters chosen on a validation split: the split itself, the trainer option that
evaluates on it, the choice rule, and the tuning runs of the comparison (which must never touch
the test split)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.experiments.comparison import ComparisonParams, method_settings, tune_methods
from qnewton.experiments.config import load_config
from qnewton.experiments.runner import run_experiment
from qnewton.experiments.spec import RunContext
from qnewton.experiments.tuning import Candidate, choose, grid_points, rank_key, tune_family
from qnewton.train.data import load_dataset


# ------------------------------------------------------------------ the validation split


def test_validation_split_is_fixed_stratified_and_leaves_the_test_split_alone() -> None:
    plain = load_dataset("digits")
    a = load_dataset("digits", validation_fraction=0.2)
    b = load_dataset("digits", validation_fraction=0.2)
    assert a.x_val is not None and a.y_val is not None
    assert plain.x_val is None
    # same split every time (no seed involved), held out of the training part only
    assert np.array_equal(a.x_val, b.x_val) and np.array_equal(a.y_val, b.y_val)
    assert len(a.y_train) + len(a.y_val) == len(plain.y_train)
    assert np.array_equal(a.y_test, plain.y_test)
    assert len(a.y_val) == math.ceil(0.2 * len(plain.y_train))
    # stratified: every class in the validation split, in about its training share
    counts = np.bincount(a.y_val, minlength=10) / len(a.y_val)
    assert np.all(np.abs(counts - np.bincount(plain.y_train, minlength=10) / len(plain.y_train)) < 0.02)
    # standardized with the remaining training images only
    assert np.allclose(a.x_train.mean(axis=0), 0.0, atol=1e-9)
    view = a.validation_view()
    assert view.x_test is a.x_val and view.y_test is a.y_val
    assert not any(np.shares_memory(v, a.x_test) for v in (view.x_train, view.x_test, view.x_val))


def test_validation_fraction_bad_values_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="validation_fraction"):
        load_dataset("digits", validation_fraction=1.0)
    code = main(["train", "--method", "sgd", "--validation-fraction", "1.5", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "validation_fraction" in err
    assert not (tmp_path / "runs").exists()


def _poison_test_split(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Make every data set the trainer loads carry a test split that raises if evaluated (labels
    out of range, NaN features); returns, per load, whether a validation split was held out."""
    import qnewton.train.runner as runner

    real = runner.load_dataset
    loaded: list[bool] = []

    def poisoned(*args, **kwargs):
        data = real(*args, **kwargs)
        data.x_test = np.full_like(data.x_test, np.nan)
        data.y_test = np.full_like(data.y_test, -1)
        loaded.append(data.x_val is not None)
        return data

    monkeypatch.setattr(runner, "load_dataset", poisoned)
    return loaded


def test_trainer_with_validation_fraction_never_evaluates_the_test_split(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from qnewton.train.config import TrainConfig
    from qnewton.train.runner import run_training

    base = dict(method="sgd", hidden="4", steps=10, eval_every=5, batch_size=64, runs_dir=str(tmp_path))
    loaded = _poison_test_split(monkeypatch)
    report = run_training(TrainConfig(name="val", validation_fraction=0.2, **base))["sgd"]
    assert loaded and 0.0 < report["test_accuracy"] <= 1.0 and math.isfinite(report["test_loss"])
    assert json.loads((tmp_path / "val" / "config.json").read_text())["validation_fraction"] == 0.2
    md = (tmp_path / "val" / "report.md").read_text()
    assert "measured on the VALIDATION split" in md
    assert "| val acc | val loss |" in md and "test acc |" not in md and "target validation accuracy" in md
    with pytest.raises(IndexError):  # the same poison does reach a run that evaluates on the test split
        run_training(TrainConfig(name="test", **base))


# ------------------------------------------------------------------ the choice rule


def _c(i: int, steps_to_target: int | None, loss: float, acc: float = 0.5) -> Candidate:
    return Candidate(index=i, values={"sgd_lr": float(i)}, steps=100, steps_to_target=steps_to_target,
                     validation_accuracy=acc, validation_loss=loss, status="completed")


def test_choice_rule_fewest_steps_then_loss_any_hit_beats_any_miss() -> None:
    diverged, slow, fast_high_loss, fast_low_loss, miss_low_loss = (
        _c(0, None, math.inf, 0.1), _c(1, 60, 0.2), _c(2, 30, 0.5), _c(3, 30, 0.3), _c(4, None, 0.01, 0.94))
    cands = [diverged, slow, fast_high_loss, fast_low_loss, miss_low_loss]
    assert choose(cands) is fast_low_loss
    order = sorted(cands, key=rank_key)
    assert order == [fast_low_loss, fast_high_loss, slow, miss_low_loss, diverged]
    assert choose([diverged, _c(5, None, 2.0)]).index == 5  # all miss: lowest validation loss
    assert choose([_c(7, 10, 0.4), _c(6, 10, 0.4)]).index == 6  # full tie: grid order
    assert len(grid_points({"newton_lr": (0.5, 1.0), "sgd_steps": (10, 40), "eps": (0.1, 1.0)})) == 8


def test_tune_family_scores_what_the_runs_report() -> None:
    reports = {0.1: {"steps": 50, "steps_to_target": None, "test_accuracy": 0.9, "test_loss": 0.4, "status": "completed"},
               1.0: {"steps": 20, "steps_to_target": 20, "test_accuracy": 0.96, "test_loss": 0.2, "status": "completed"},
               9.0: {"steps": 50, "steps_to_target": None, "test_accuracy": 0.1, "test_loss": float("nan"),
                     "status": "completed"}}
    seen: list[float] = []

    def run(index: int, values: dict) -> dict:
        seen.append(values["sgd_lr"])
        return reports[values["sgd_lr"]]

    res = tune_family("sgd", "sgd", {"sgd_lr": (0.1, 1.0, 9.0)}, run)
    assert seen == [0.1, 1.0, 9.0]
    assert res.values == {"sgd_lr": 1.0} and res.at_grid_edge == ()
    assert tune_family("sgd", "sgd", {"sgd_lr": (0.1, 1.0)}, run).at_grid_edge == ("sgd_lr",)  # best at the top
    assert res.candidates[2].validation_loss == math.inf  # a non-finite loss is scored as the worst


# ------------------------------------------------------------------ tuning runs on real data


def test_tuner_picks_the_learning_rate_that_learns_without_touching_the_test_split(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _poison_test_split(monkeypatch)
    p = ComparisonParams(methods=("sgd",), hidden="4", steps=60, batch_size=64, eval_every=5, target_accuracy=0.8,
                         tune=True, tune_sgd_lr=(1e6, 1e-4, 0.5), profiles=("attosecond",), kappa_methods=("lanczos",))
    ctx = RunContext(work_dir=tmp_path)
    tuned = tune_methods(p, 0, ctx, "t")
    assert set(tuned) == {"sgd"}  # no Newton method compared: no Newton grid run
    res = tuned["sgd"]
    by_lr = {c.values["sgd_lr"]: c for c in res.candidates}
    assert res.values == {"sgd_lr": 0.5}
    assert by_lr[0.5].steps_to_target is not None
    assert by_lr[1e6].steps_to_target is None and by_lr[1e6].validation_loss > 100  # diverged
    assert by_lr[1e-4].steps_to_target is None  # learns nothing in the budget
    assert loaded == [True, True, True]  # every run held out the validation split (and evaluated on it)
    for i in range(3):
        cfg = json.loads((tmp_path / f"t-tune-sgd-{i:02d}-seed0" / "config.json").read_text())
        assert cfg["validation_fraction"] == 0.2 and cfg["steps"] == 60
    assert method_settings(p, "sgd", tuned) == {"sgd_lr": 0.5}
    assert method_settings(p, "qnewton", None) == {"sgd_lr": p.sgd_lr, "newton_lr": p.newton_lr,
                                                   "sgd_steps": p.sgd_steps, "eps": p.eps}


TINY_TUNED_TABLE3 = """
name = "table3-dnn"
seeds = 1
[params]
profiles = ["attosecond"]
kappa_methods = ["lanczos"]
methods = ["sgd", "classical", "qnewton"]
hidden = "4"
steps = 8
sgd_budget = 40
batch_size = 64
eval_every = 2
target_accuracy = 0.6
classical_constant = 1e-10
tune = true
tune_sgd_lr = [1e-4, 0.5]
tune_newton_lr = [1.0]
tune_sgd_steps = [2, 4]
tune_eps = [1.0]
"""


def test_tuned_table3_records_grid_scores_choice_and_runs_methods_at_it(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TINY_TUNED_TABLE3)
    out = run_experiment(load_config(path), out=tmp_path / "r")
    tuning = out.raw["tuning"]
    assert [(r["family"], r["candidate"]) for r in tuning] == [
        ("sgd", "sgd_lr=0.0001"), ("sgd", "sgd_lr=0.5"),
        ("newton", "newton_lr=1,sgd_steps=2,eps=1"), ("newton", "newton_lr=1,sgd_steps=4,eps=1")]
    chosen = {r["family"]: r for r in tuning if r["chosen"] == 1}
    assert set(chosen) == {"sgd", "newton"} and sum(r["chosen"] for r in tuning) == 2
    assert chosen["sgd"]["sgd_lr"] == 0.5 and chosen["sgd"]["validation_reached_target"] == 1
    assert chosen["sgd"]["chosen_at_grid_edge"] == "sgd_lr"  # 0.5 is the top of [1e-4, 0.5]
    assert "newton_lr" not in chosen["newton"]["chosen_at_grid_edge"]  # a one-value grid has no edge to report
    assert {r["step_budget"] for r in tuning if r["family"] == "sgd"} == {40}
    assert {r["step_budget"] for r in tuning if r["family"] == "newton"} == {8}
    assert all(r["tuned_with"] == ("sgd" if r["family"] == "sgd" else "classical") for r in tuning)
    rows = {r["method"]: r for r in out.raw["comparison"]}
    assert all(r["tuned"] == 1 for r in rows.values())
    assert rows["sgd"]["sgd_lr"] == 0.5 and rows["sgd"]["newton_lr"] is None
    for m in ("classical", "qnewton"):  # the Newton methods share the Newton choice, warm-up at SGD's rate
        assert rows[m]["sgd_lr"] == 0.5 and rows[m]["sgd_steps"] == chosen["newton"]["sgd_steps"]
    runs = tmp_path / "r" / "table3-dnn" / "runs"
    newton_cfg = json.loads((runs / "table3-tune-newton-01-seed0" / "config.json").read_text())
    assert newton_cfg["method"] == "classical" and newton_cfg["sgd_lr"] == 0.5 and newton_cfg["validation_fraction"] == 0.2
    final = json.loads((runs / "table3-qnewton-attosecond-free-lanczos-seed0" / "config.json").read_text())
    assert final["validation_fraction"] == 0.0  # the final runs report on the test split
    assert final["sgd_steps"] == chosen["newton"]["sgd_steps"] and final["sgd_lr"] == 0.5
    assert (tmp_path / "r" / "table3-dnn" / "tuning.md").read_text().count("\n| newton |") == 2


def test_tune_grid_values_are_checked_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TINY_TUNED_TABLE3.replace("tune_sgd_steps = [2, 4]", "tune_sgd_steps = [2, 8]"))
    assert main(["experiment", "run", "table3-dnn", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tune_sgd_steps" in err and "steps = 8" in err
    assert not (tmp_path / "r").exists()
