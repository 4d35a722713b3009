"""Every registered method, table-driven (in the spirit of torch's OptimizerInfo): it builds, one
step on a tiny model gives a finite loss that does not grow much, the optimizer state round-trips
through a weights-only checkpoint, and the trainer records its gradient evaluations. Then the
peer methods through `qnewton train`: they learn digits, their report rows have the Newton
methods' keys, and bad hyper-parameters are one line and exit 2 with nothing written."""

import io
import json
import math

import pytest
import torch

from qnewton.cli import main
from qnewton.methods import get_method, method_names
from qnewton.optim.quasi_newton import BFGS, SLIMQN, NonlinearCG
from qnewton.train.config import TrainConfig
from qnewton.train.data import load_dataset
from qnewton.train.method_run import MethodRun
from qnewton.train.setup import query_time_model, resolve_classical_model

PEERS = ("momentum", "nesterov", "adagrad", "rmsprop", "adam", "lbfgs", "bfgs", "slimqn", "ncg")
TINY = ["--hidden", "8", "--train-limit", "400", "--batch-size", "64", "--quiet", "--eval-every", "5"]


@pytest.fixture(scope="module")
def tiny_data():
    return load_dataset("digits", train_limit=200)


def make_run(name: str, data, tmp_path) -> MethodRun:
    config = TrainConfig(method=name, hidden="4", batch_size=64, sgd_steps=1, blocks="tensor", steps=5,
                         classical_constant="pinned", cg_rate="pinned", seed=0)
    info = get_method(name)
    query_time = classical = None
    if info.uses_curvature:
        query_time = query_time_model(config)
        classical, config, _ = resolve_classical_model(config)
    return MethodRun(config, name, data, tmp_path, classical_model=classical, query_time=query_time, quiet=True,
                     on_step=None)


@pytest.mark.parametrize("name", method_names())
def test_every_registered_method_steps_and_round_trips_its_state(name, tiny_data, tmp_path):
    run = make_run(name, tiny_data, tmp_path)
    first = run.one_step(0)
    second = run.one_step(1)
    assert math.isfinite(first["loss"]) and math.isfinite(second["loss"])
    assert second["loss"] < first["loss"] * 1.5
    assert first["gradient_evaluations"] >= 1
    if not get_method(name).needs_closure:
        assert first["gradient_evaluations"] == 1
    # the optimizer state through torch.save / torch.load(weights_only=True), as the checkpoint does it
    buf = io.BytesIO()
    torch.save({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    twin = make_run(name, tiny_data, tmp_path)
    twin.model.load_state_dict(saved["model"])
    twin.optimizer.load_state_dict(saved["optimizer"])
    rng = torch.get_rng_state()
    a = run.one_step(2)
    torch.set_rng_state(rng)
    b = twin.one_step(2)
    assert a["loss"] == b["loss"]
    for p, q in zip(run.model.parameters(), twin.model.parameters()):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7), name


def test_quasi_newton_state_stays_float64_after_loading(tiny_data, tmp_path):
    run = make_run("bfgs", tiny_data, tmp_path)
    run.one_step(0)
    run.one_step(1)
    state = run.optimizer.state_dict()
    twin = make_run("bfgs", tiny_data, tmp_path)
    twin.optimizer.load_state_dict(state)
    assert twin.optimizer.inverse_hessian().dtype == torch.float64
    assert torch.equal(twin.optimizer.inverse_hessian(), run.optimizer.inverse_hessian())


@pytest.mark.parametrize("make, message", [
    (lambda p: BFGS(p, lr=-1.0), "lr"),
    (lambda p: BFGS(p, line_search="exact"), "line_search"),
    (lambda p: BFGS(p, c1=0.5, c2=0.4), "c2"),
    (lambda p: BFGS(p, max_params=10), "max_params"),
    (lambda p: SLIMQN(p, momentum=1.0), "momentum"),
    (lambda p: SLIMQN(p, beta1=-0.1), "beta1"),
    (lambda p: SLIMQN(p, M=0), "M"),
    (lambda p: SLIMQN(p, L=0), "L"),
    (lambda p: SLIMQN(p, tau0=0.0), "tau0"),
    (lambda p: SLIMQN(p, sigma_L=1.0), "sigma_L"),
    (lambda p: SLIMQN(p, sigma_H=0.5), "sigma_H"),
    (lambda p: NonlinearCG(p, beta_type="HS"), "beta_type"),
    (lambda p: NonlinearCG(p, restart=-1), "restart"),
])
def test_bad_hyper_parameters_are_value_errors_naming_the_parameter(make, message):
    params = torch.nn.Linear(4, 3).parameters()
    with pytest.raises(ValueError, match=rf"^{message}:"):
        make(params)


@pytest.mark.parametrize("method, options, field", [
    ("slimqn", "M=0", "M"),
    ("slimqn", "momentum=1.5", "momentum"),
    ("bfgs", "lr=-0.1", "lr"),
    ("ncg", "beta_type=HS", "beta_type"),
    ("adam", "beta2=1.0", "beta2"),
    ("momentum", "lr=-1", "lr"),
    ("lbfgs", "history_size=0", "history_size"),
    ("lbfgs", "line_search=backtracking", "line_search"),
])
def test_bad_method_options_are_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, method, options, field):
    argv = ["train", "--runs-dir", str(tmp_path / "runs"), "--name", "bad", "--method", method, "--steps", "3",
            "--method-options", options, *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qnewton train: error:") and field in err[0], err
    assert not (tmp_path / "runs").exists()


def test_peer_methods_learn_digits_through_the_cli_with_the_newton_report_keys(tmp_path):
    methods = ",".join(PEERS + ("classical",))
    argv = ["train", "--runs-dir", str(tmp_path), "--name", "peers", "--method", methods, "--steps", "40",
            "--sgd-steps", "5", "--target-accuracy", "0.99", "--method-options", "slimqn.L=5,rmsprop.lr=0.01", *TINY]
    assert main(argv) == 0
    report = json.loads((tmp_path / "peers" / "report.json").read_text())
    assert list(report) == [*PEERS, "classical"]
    newton_keys = set(report["classical"])
    assert "gradient_evaluations" in newton_keys and "gradient_evaluations_to_target" in newton_keys
    # 40 steps of batch 64 on 400 images (chance 0.1): every method must be well on its way
    floors = {"bfgs": 0.7}  # dense BFGS on 650 parameters builds its H from 40 pairs only
    for name in PEERS:
        row = report[name]
        assert set(row) == newton_keys, name
        assert row["steps"] == 40 and row["status"] == "completed"
        assert row["test_accuracy"] > floors.get(name, 0.8), (name, row["test_accuracy"])
        assert row["modeled_quantum_seconds_per_step"] == 0.0
        if get_method(name).needs_closure and name != "slimqn":
            assert row["gradient_evaluations"] > row["steps"], name  # line searches evaluate more than once
        else:
            assert row["gradient_evaluations"] == row["steps"], name
        ledger = [json.loads(line) for line in (tmp_path / "peers" / name / "ledger.jsonl").read_text().splitlines()]
        assert sum(r["gradient_evaluations"] for r in ledger) == row["gradient_evaluations"]
    assert report["classical"]["gradient_evaluations"] == 40


def test_breast_cancer_logistic_regression_trains(tmp_path):
    argv = ["train", "--runs-dir", str(tmp_path), "--name", "lr", "--method", "bfgs,adam", "--data", "breast-cancer",
            "--hidden", "", "--steps", "30", "--batch-size", "1000", "--target-accuracy", "0.99", "--quiet"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "lr" / "report.json").read_text())
    for name in ("bfgs", "adam"):
        assert report[name]["test_accuracy"] > 0.93, (name, report[name]["test_accuracy"])
