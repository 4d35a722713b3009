"""The method registry: a method added in a few lines runs through `qnewton train` untouched."""

import json

import pytest
import torch

from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.methods import MethodInfo, all_methods, get_method, method_names, register_method, unregister_method
from qnewton.train.config import TrainConfig

TINY = ["--hidden", "8", "--train-limit", "400", "--batch-size", "64", "--quiet", "--eval-every", "5"]


@pytest.fixture
def adam_method():
    info = register_method(MethodInfo(
        "adam-toy", lambda ctx: torch.optim.Adam(ctx.model.parameters(), lr=0.01), "Adam at lr 0.01"))
    yield info
    unregister_method(info.name)


def test_a_registered_torch_optimizer_trains_through_the_cli(tmp_path, adam_method):
    argv = ["train", "--runs-dir", str(tmp_path), "--name", "toy", "--method", "adam-toy", "--steps", "60",
            "--target-accuracy", "0.99", *TINY]
    assert main(argv) == 0
    report = json.loads((tmp_path / "toy" / "report.json").read_text())
    row = report["adam-toy"]
    # same keys as the built-in methods, and the model learned
    sgd_keys = set(json.loads(json.dumps(report)).get("adam-toy"))
    assert {"steps", "test_accuracy", "measured_seconds_per_step", "modeled_quantum_seconds_per_step",
            "decisions", "status"} <= sgd_keys
    assert row["steps"] == 60 and row["other_steps"] == 60 and row["sgd_steps"] == 0
    assert row["test_accuracy"] > 0.85, row["test_accuracy"]
    assert row["modeled_quantum_seconds_per_step"] == 0.0
    rows = [json.loads(line) for line in (tmp_path / "toy" / "adam-toy" / "ledger.jsonl").read_text().splitlines()]
    assert rows[0]["phase"] == "first-order" and rows[-1]["loss"] < rows[0]["loss"]
    # resume of a finished run is a no-op, and the optimizer state round-trips through the checkpoint
    assert main(["train", "--resume", str(tmp_path / "toy"), "--quiet"]) == 0


def test_several_methods_in_one_run_share_seed_and_batches(tmp_path, adam_method):
    argv = ["train", "--runs-dir", str(tmp_path), "--name", "pair", "--method", "sgd,adam-toy", "--steps", "5",
            "--target-accuracy", "0.99", *TINY]
    assert main(argv) == 0
    report = json.loads((tmp_path / "pair" / "report.json").read_text())
    assert list(report) == ["sgd", "adam-toy"]
    first = [json.loads((tmp_path / "pair" / m / "ledger.jsonl").read_text().splitlines()[0])["loss"]
             for m in ("sgd", "adam-toy")]
    assert first[0] == first[1]  # same initial model, same first batch


def test_registry_contents_and_errors():
    assert all_methods() == ("sgd", "classical", "quantum", "qnewton")
    assert set(all_methods()) <= set(method_names())
    assert get_method("qnewton").uses_curvature and get_method("qnewton").policy == "hybrid"
    assert not get_method("sgd").uses_curvature
    # the noise ids of the paper's methods are fixed; new methods get a hash of their name
    assert [get_method(m).seed_id for m in all_methods()] == [0, 1, 2, 3]
    assert MethodInfo("x-y", lambda ctx: None).seed_id == MethodInfo("x-y", lambda ctx: None).seed_id
    with pytest.raises(UsageError, match="unknown method 'nope'"):
        get_method("nope")
    with pytest.raises(UsageError, match="method: unknown method"):
        TrainConfig(method="sgd,nope")
    with pytest.raises(UsageError, match="distinct"):
        TrainConfig(method="sgd,sgd")
    with pytest.raises(ValueError, match="already registered"):
        register_method(MethodInfo("sgd", lambda ctx: None))
    with pytest.raises(ValueError, match="reserved"):
        MethodInfo("all", lambda ctx: None)


def test_unknown_method_on_the_cli_is_one_line(tmp_path, capsys):
    assert main(["train", "--runs-dir", str(tmp_path), "--method", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown method 'nope'" in err
    assert not any(tmp_path.iterdir())


@pytest.fixture
def tunable_method():
    """A method with its own hyper-parameters: lr (float), memory (int) and nesterov (bool)."""
    seen = []

    def factory(ctx):
        seen.append(dict(ctx.hyper))
        if ctx.hyper["memory"] < 1:
            raise ValueError(f"memory: must be >= 1, got {ctx.hyper['memory']}")
        return torch.optim.SGD(ctx.model.parameters(), lr=ctx.hyper["lr"], momentum=0.9 if ctx.hyper["nesterov"] else 0.0,
                               nesterov=ctx.hyper["nesterov"])

    info = register_method(MethodInfo("tunable-toy", factory, "SGD with its own hyper-parameters",
                                      defaults={"lr": 0.05, "memory": 3, "nesterov": False}))
    yield seen
    unregister_method(info.name)


def test_method_options_reach_the_factory_typed_and_the_model_learns(tmp_path, tunable_method):
    argv = ["train", "--runs-dir", str(tmp_path), "--name", "t", "--method", "tunable-toy", "--steps", "40",
            "--method-options", "lr=0.5, tunable-toy.memory=7,nesterov=true", "--target-accuracy", "0.99", *TINY]
    assert main(argv) == 0
    assert tunable_method[-1] == {"lr": 0.5, "memory": 7, "nesterov": True}
    report = json.loads((tmp_path / "t" / "report.json").read_text())
    assert report["tunable-toy"]["test_accuracy"] > 0.85
    saved = json.loads((tmp_path / "t" / "config.json").read_text())
    assert saved["method_options"].replace(" ", "") == "lr=0.5,tunable-toy.memory=7,nesterov=true"


@pytest.mark.parametrize("options, message", [
    ("lr=abc", "method_options: tunable-toy.lr must be a number, got 'abc'"),
    ("memory=2.5", "method_options: tunable-toy.memory must be an integer, got '2.5'"),
    ("nesterov=maybe", "method_options: tunable-toy.nesterov must be true or false"),
    ("mom=0.9", "'mom' is not a hyper-parameter of any method of this run (sgd: none; tunable-toy: lr, memory, nesterov)"),
    ("sgd.lr=0.1", "'lr' is not a hyper-parameter of sgd (known: none)"),
    ("adam.lr=0.1", "'adam' is not a method of this run"),
    ("lr", "each item is KEY=VALUE"),
    ("memory=0", "method_options: tunable-toy: memory: must be >= 1, got 0"),
])
def test_bad_method_options_are_one_line_and_write_nothing(tmp_path, capsys, tunable_method, options, message):
    argv = ["train", "--runs-dir", str(tmp_path), "--method", "sgd,tunable-toy", "--steps", "3",
            "--method-options", options, *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not any(tmp_path.iterdir())


def test_list_methods_shows_hyper_parameters(capsys, tunable_method):
    assert main(["train", "--list-methods"]) == 0
    out = capsys.readouterr().out
    assert "tunable-toy" in out and "--method-options: lr=0.05, memory=3, nesterov=False" in out
    assert "train options: --sgd-lr, --momentum" in out


def test_an_optimizer_refusing_the_model_writes_nothing(tmp_path, capsys, monkeypatch):
    """Every optimizer is built on a throwaway model before the run folder is touched: a dense
    quasi-Newton matrix over the size limit is one line, not a half-made run."""
    monkeypatch.setenv("QNEWTON_MAX_MATRIX_ELEMENTS", "1000")
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), "--method", "sgd,naq", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("qnewton train: error: method: naq:") and "limit" in err, err
    assert not (tmp_path / "runs").exists()
