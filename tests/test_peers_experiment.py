"""The `peers` experiment: per-method validation grids from the TOML, every method on the same
seed and batches, the reported columns, the logistic-regression optimum, and bad grids."""

import json
from pathlib import Path

import pytest

from qnewton.errors import UsageError
from qnewton.experiments.catalog.peers import optimum_train_loss
from qnewton.experiments.config import load_config
from qnewton.experiments.runner import run_experiment
from qnewton.experiments.tuning import DEFAULT_GRIDS, LR_GRID, method_grid, split_values
from qnewton.methods import get_method, method_names
from qnewton.train.data import load_dataset

TINY = """
name = "peers"
seeds = 1
[params]
methods = ["sgd", "bfgs", "slimqn", "classical"]
optional_methods = ["not-a-method-yet"]
tasks = ["digits", "breast-cancer"]
hidden = "4"
blocks = "tensor"
steps = 12
batch_size = 64
sgd_steps = 4
eval_every = 4
train_limit = 300
classical_constant = 1.4e-11
validation_fraction = 0.2
[params.grids]
sgd = {sgd_lr = [0.0001, 0.5]}
adam = {lr = [0.01]}
bfgs = {lr = [1.0]}
slimqn = {lr = [0.1], L = [3]}
classical = {newton_lr = [1.0], eps = [1.0]}
"""


def test_default_grids_and_where_their_values_go():
    assert method_grid("adam") == DEFAULT_GRIDS["adam"]
    assert method_grid("adam", {"adam": {"lr": [0.5]}}) == {"lr": (0.5,)}
    assert method_grid("nesterov")["lr"] == DEFAULT_GRIDS["nesterov"]["lr"]
    # every registered method with an lr has a grid; the Newton family tunes step size and eps
    for name in method_names():
        grid = method_grid(name)
        if "lr" in get_method(name).defaults:
            assert grid, name
    assert method_grid("classical") == {"newton_lr": (0.5, 1.0), "eps": (0.1, 1.0)}
    assert split_values("adam", {"lr": 0.003}) == ({}, "adam.lr=0.003")
    assert split_values("slimqn", {"lr": 0.1, "L": 5}) == ({}, "slimqn.lr=0.1,slimqn.L=5")
    assert split_values("classical", {"newton_lr": 0.5, "eps": 1.0}) == ({"newton_lr": 0.5, "eps": 1.0}, "")
    with pytest.raises(ValueError, match="grids.adam.beta9"):
        split_values("adam", {"beta9": 0.9})
    assert LR_GRID == tuple(sorted(LR_GRID))


def test_peers_runs_every_method_on_both_tasks_with_tuned_settings(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(TINY)
    out = run_experiment(load_config(path), out=tmp_path / "r")
    rows = {(r["task"], r["method"]): r for r in out.raw["peers"]}
    methods = ("sgd", "bfgs", "slimqn", "classical")
    assert set(rows) == {(t, m) for t in ("digits", "breast-cancer") for m in methods}
    for (task, method), row in rows.items():
        assert row["tuned"] == 1 and row["threads"] == 1
        assert row["steps"] >= 4 and row["gradient_evaluations"] >= row["steps"]
        assert row["measured_seconds_per_step"] > 0
        if method == "classical":
            assert row["modeled_quantum_seconds_per_step"] is not None and row["projected_total_seconds"] is not None
        else:
            assert row["modeled_quantum_seconds_per_step"] is None
        if task == "breast-cancer":
            assert row["train_loss_gap"] == pytest.approx(row["final_train_loss"] - row["optimum_train_loss"])
            assert row["train_loss_gap"] > -1e-9
    assert rows[("digits", "bfgs")]["gradient_evaluations"] > rows[("digits", "bfgs")]["steps"]  # its line search
    assert rows[("digits", "sgd")]["settings"] == "sgd_lr=0.5"  # 1e-4 cannot compete over 12 steps
    # the tuning table holds every candidate, scored on the validation split
    tuning = [r for r in out.raw["tuning"] if r["task"] == "digits"]
    assert [(r["family"], r["candidate"]) for r in tuning] == [
        ("sgd", "sgd_lr=0.0001"), ("sgd", "sgd_lr=0.5"), ("bfgs", "lr=1"),
        ("slimqn", "lr=0.1,L=3"), ("classical", "newton_lr=1,eps=1")]
    runs = tmp_path / "r" / "peers" / "runs"
    cfg = json.loads((runs / "peers-digits-tune-slimqn-00-seed0" / "config.json").read_text())
    assert cfg["validation_fraction"] == 0.2 and cfg["method_options"] == "slimqn.lr=0.1,slimqn.L=3"
    final = json.loads((runs / "peers-breast-cancer-classical-seed0" / "config.json").read_text())
    assert final["validation_fraction"] == 0.0 and final["hidden"] == "" and final["data"] == "breast-cancer"
    assert final["sgd_lr"] == 0.5  # the Newton warm-up at SGD's chosen rate
    # same initialization and batches: the first ledger losses agree across methods of a task
    first = {m: json.loads((runs / f"peers-digits-{m}-seed0" / m / "ledger.jsonl").read_text().splitlines()[0])["loss"]
             for m in ("sgd", "slimqn", "classical")}
    assert len(set(first.values())) == 1
    # curves: test accuracy by step and by cumulative measured seconds, plots written
    curves = [r for r in out.raw["curves"] if r["task"] == "digits" and r["method"] == "slimqn"]
    assert [r["step"] for r in curves] == [4, 8, 12]
    assert all(b["measured_seconds"] > a["measured_seconds"] for a, b in zip(curves, curves[1:]))
    assert {p.name for p in out.files} >= {"peers-digits.png", "peers-breast-cancer.png"}


def test_breast_cancer_optimum_is_the_separable_infimum():
    data = load_dataset("breast-cancer")
    assert data.x_train.shape == (426, 30) and data.num_classes == 2
    assert 0.0 <= optimum_train_loss(data) < 1e-6


@pytest.mark.parametrize("edit, field", [
    ('methods = ["sgd", "bfgs", "slimqn", "classical"]', "methods"),
    ("adam = {lr = [0.01]}", "grids.adam.beta9"),
    ("adam = {lr = [0.01]}", "grids.adamx"),
    ("adam = {lr = [0.01]}", "grids.adam.lr"),
    ("adam = {lr = [0.01]}", "autoencoder_grids.adamx"),
])
def test_bad_peers_parameters_are_one_line_errors(tmp_path: Path, edit: str, field: str) -> None:
    replacement = {
        "methods": 'methods = ["sgd", "nonexistent"]',
        "grids.adam.beta9": "adam = {beta9 = [0.9]}",
        "grids.adamx": "adamx = {lr = [0.01]}",
        "grids.adam.lr": "adam = {lr = [0.01, 0.01]}",
        "autoencoder_grids.adamx": "adam = {lr = [0.01]}\n[params.autoencoder_grids]\nadamx = {lr = [0.01]}",
    }[field]
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(edit, replacement))
    with pytest.raises(UsageError, match=field.replace(".", r"\.")) as info:
        load_config(path)
    assert "\n" not in str(info.value)


TINY_AE = """
name = "peers"
seeds = 1
[params]
methods = ["sgd"]
tasks = ["autoencoder"]
autoencoder_methods = ["sgd", "adam", "skqn-b1"]
autoencoder_hidden = "8,4,8"
autoencoder_steps = 8
autoencoder_target_loss = 40.0
batch_size = 64
eval_every = 4
steps = 12
classical_constant = 1.4e-11
[params.autoencoder_grids]
sgd = {sgd_lr = [0.3]}
adam = {lr = [0.001, 0.03]}
skqn-b1 = {alpha = [10.0]}
"""


def test_peers_autoencoder_task_has_a_loss_target_and_its_own_methods(tmp_path: Path) -> None:
    path = tmp_path / "ae.toml"
    path.write_text(TINY_AE)
    out = run_experiment(load_config(path), out=tmp_path / "r")
    rows = {r["method"]: r for r in out.raw["peers"]}
    assert set(rows) == {"sgd", "adam", "skqn-b1"} and {r["task"] for r in rows.values()} == {"autoencoder"}
    for row in rows.values():
        assert row["target"] == "test loss <= 40" and row["test_accuracy"] is None
        assert row["steps"] <= 8 and 0 < row["test_loss"] < 44.0  # below the random network's loss
    assert rows["adam"]["settings"] == "lr=0.03"  # 1e-3 cannot leave 44 in 8 steps
    assert rows["adam"]["steps_to_target"] is not None
    runs = tmp_path / "r" / "peers" / "runs"
    cfg = json.loads((runs / "peers-autoencoder-skqn-b1-seed0" / "config.json").read_text())
    assert cfg["model"] == "autoencoder" and cfg["hidden"] == "8,4,8" and cfg["target_loss"] == 40.0
    assert cfg["method_options"] == "skqn-b1.alpha=10.0"
    tuning = [r["candidate"] for r in out.raw["tuning"] if r["family"] == "adam"]
    assert tuning == ["lr=0.001", "lr=0.03"]
    curves = [r for r in out.raw["curves"] if r["method"] == "adam"]
    assert curves and all(r["test_accuracy"] is None and r["test_loss"] > 0 for r in curves)
    assert "peers-autoencoder.png" in {p.name for p in out.files}


def test_quick_settings_include_the_autoencoder() -> None:
    cfg = load_config("experiments/peers.toml", quick=True)
    p = cfg.params
    assert "autoencoder" in p.tasks and {"skqn-b1", "kfac", "qnewton"} <= set(p.task_methods("autoencoder"))
    assert p.task_steps("autoencoder") <= 20 and p.task_grids("autoencoder")["adam"] == {"lr": (0.03,)}
    full = load_config("experiments/peers.toml").params
    assert full.task_methods("autoencoder") == ("sgd", "adam", "lbfgs", "kfac", "skqn-l", "skqn-b1", "skqn-b2", "qnewton")
    assert full.autoencoder_curvature == "kfac" and full.autoencoder_target_loss == 25.0


@pytest.mark.slow
def test_quick_run_writes_the_autoencoder_table(tmp_path: Path) -> None:
    out = run_experiment(load_config("experiments/peers.toml", quick=True), out=tmp_path / "r")
    ae = [r for r in out.raw["peers"] if r["task"] == "autoencoder"]
    assert {r["method"] for r in ae} == {"sgd", "adam", "kfac", "skqn-b1", "qnewton"}
    assert all(r["test_accuracy"] is None and r["test_loss"] > 0 for r in ae)
    assert "autoencoder" in (tmp_path / "r" / "peers" / "peers.md").read_text()
