"""The curvature-based peers (qnewton.methods.curvature_based) through `qnewton train`: they learn
digits with the same report keys as the other methods, count their gradient evaluations, and
bad hyper-parameters are one line and exit 2 with nothing written."""

from __future__ import annotations

import json

import pytest
import torch

from qnewton.cli import main
from qnewton.methods import get_method
from qnewton.methods.curvature_based import METHODS

NAMES = tuple(m.name for m in METHODS)
TINY = ["--hidden", "8", "--train-limit", "400", "--batch-size", "64", "--quiet", "--eval-every", "5"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", NAMES)
def test_curvature_peer_learns_digits_through_the_cli(name, tmp_path):
    argv = ["train", "--runs-dir", str(tmp_path), "--name", "curv", "--method", f"{name},sgd",
            "--steps", "40", "--target-accuracy", "0.99", *TINY]
    assert main(argv) == 0
    report = json.loads((tmp_path / "curv" / "report.json").read_text())
    assert list(report) == [name, "sgd"]
    keys = set(report["sgd"])
    floors = {"adahessian": 0.7}
    row = report[name]
    assert set(row) == keys  # the same report keys as every other method
    assert row["steps"] == 40 and row["status"] == "completed"
    # 40 steps of batch 64 on 400 images, chance 0.1
    assert row["test_accuracy"] > floors.get(name, 0.8), row["test_accuracy"]
    assert row["modeled_quantum_seconds_per_step"] == 0.0
    # S2QN takes a second gradient on the same samples every step (Algorithm 1 line 5); SKQN-B2
    # two passes for the layers' outputs and output gradients
    per_step = {"s4qn": 2, "skqn-l": 2, "skqn-b1": 2, "skqn-b2": 3}.get(name, 1)
    assert row["gradient_evaluations"] == row["steps"] * per_step
    ledger = [json.loads(line) for line in (tmp_path / "curv" / name / "ledger.jsonl").read_text().splitlines()]
    assert len(ledger) == 40
    first, last = ledger[0]["loss"], sum(r["loss"] for r in ledger[-5:]) / 5
    assert last < 0.5 * first, (name, first, last)  # the mini-batch loss at least halves (from ~2.3)


BAD = [
    ("adahessian", "lr=-1", "lr"),
    ("adahessian", "hessian_power=1.5", "hessian_power"),
    ("adahessian", "hessian_distribution=uniform", "hessian_distribution"),
    ("lookahead", "k=0", "k"),
    ("lookahead", "alpha=1.5", "alpha"),
    ("lookahead", "optimizer=rmsprop", "optimizer"),
    ("kfac", "damping=0", "damping"),
    ("kfac", "decay=1.0", "decay"),
    ("kfac", "update_interval=0", "update_interval"),
    ("kfac", "fisher_type=exact", "fisher_type"),
    ("newton-cg", "cg_iters=0", "cg_iters"),
    ("newton-cg", "curvature=fisher", "curvature"),
    ("newton-cg", "damping=-1", "damping"),
    ("ssn", "hessian_fraction=0", "hessian_fraction"),
    ("ssn", "blocks=diag", "blocks"),
    ("lm", "alpha=-1", "alpha"),
    ("lm", "r1=5", "r2"),
    ("s4qn", "memory=-1", "memory"),
    ("skqn-l", "gamma=0", "gamma"),
    ("skqn-b1", "sketch_size=0", "sketch_size"),
    ("skqn-b2", "P_type=diag", "P_type"),
]


@pytest.mark.parametrize("method, options, field", [b for b in BAD if b[0] in NAMES])
def test_bad_method_options_are_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, method, options, field):
    argv = ["train", "--runs-dir", str(tmp_path / "runs"), "--name", "bad", "--method", method, "--steps", "3",
            "--method-options", options, *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qnewton train: error:") and field in err[0], err
    assert not (tmp_path / "runs").exists()


def test_every_curvature_peer_declares_its_hyper_parameters():
    from qnewton.methods.curvature_based import ADAHESSIAN_DEFAULTS, LOOKAHEAD_DEFAULTS, _defaults
    from qnewton.optim.curvature_based.adaptive import AdaHessianOptimizer, make_lookahead

    assert ADAHESSIAN_DEFAULTS == _defaults(AdaHessianOptimizer)
    assert LOOKAHEAD_DEFAULTS == _defaults(make_lookahead)
    for name in NAMES:
        info = get_method(name)
        assert info.defaults, name
        assert "lr" in info.defaults, name


@pytest.mark.parametrize("method, options, field", [("ssn", "blocks=full,max_block=100", "max_block"),
                                                     ("s4qn", "max_params=100", "max_params")])
def test_a_model_the_method_refuses_is_one_line_before_anything_is_written(tmp_path, capsys, method, options, field):
    argv = ["train", "--runs-dir", str(tmp_path / "runs"), "--name", "bad", "--method", method, "--steps", "3",
            "--method-options", options, *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qnewton train: error:") and field in err[0], err
    assert not (tmp_path / "runs").exists()
