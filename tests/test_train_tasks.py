"""The trainer's task layer (`qnewton.train.tasks`): the MLP classification task reproduces the
trainer's earlier behaviour exactly, `--model` picks a registered task and refuses data it cannot
use, and a new task is one class plus one registry line (a small autoencoder with an MSE loss,
defined here, trains through `run_training` and its loss falls)."""

import json
import math

import pytest
import torch
from torch import nn

from qnewton.cli import main
from qnewton.curvature import Batch
from qnewton.errors import UsageError
from qnewton.train import tasks
from qnewton.train.config import TrainConfig
from qnewton.train.data import load_dataset
from qnewton.train.method_run import MethodRun, evaluate
from qnewton.train.models import MLP
from qnewton.train.runner import run_training
from qnewton.train.setup import build_model, template_model
from qnewton.train.tasks import TASKS, TaskEntry, as_task, make_task
from qnewton.train.tasks.base import Task
from qnewton.train.tasks.classification import ClassificationTask


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over examples of the per-example mean squared error."""
    return ((pred - target) ** 2).flatten(1).mean(1).mean()


class ToyAutoencoder(Task):
    """64 -> 4 -> 64 tanh autoencoder of the digits features, MSE loss, no accuracy."""

    name = "toy-ae"

    def __init__(self, config, data=None):
        super().__init__(config)
        self.data = data if data is not None else load_dataset("digits", train_limit=config.train_limit)
        self.x = torch.as_tensor(self.data.x_train, dtype=torch.float32)
        self.x_test = torch.as_tensor(self.data.x_test, dtype=torch.float32)

    def new_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(64, 4), nn.Tanh(), nn.Linear(4, 64))

    @property
    def n_train(self) -> int:
        return self.x.shape[0]

    def batch(self, step, indices):
        return Batch(self.x[indices], self.x[indices], mse)

    @torch.no_grad()
    def evaluate(self, model):
        return {"loss": float(mse(model(self.x_test), self.x_test))}

    def reached_target(self, metrics):
        return metrics["loss"] <= self.config.eps  # (a toy: reuses a float option as the target)

    @classmethod
    def target_text(cls, config):
        return f"loss {config.eps:g}"


@pytest.fixture()
def toy_registered(monkeypatch):
    monkeypatch.setitem(TASKS, "toy-ae", TaskEntry(f"{__name__}:ToyAutoencoder", ("digits",), "toy autoencoder"))


def test_registry_lists_the_mlp_and_refuses_unknown_models_and_data():
    assert tasks.task_names()[0] == "mlp"
    assert TrainConfig().model == "mlp"
    with pytest.raises(UsageError, match=r"^model: must be one of mlp.*got 'resnet'"):
        TrainConfig(model="resnet")
    with pytest.raises(UsageError, match=r"^data: model mlp trains on digits, breast-cancer, mnist, mnist5k"):
        tasks.check_task_data("mlp", "shakespeare")


def test_classification_task_matches_the_mlp_and_the_old_evaluation():
    cfg = TrainConfig(hidden="8", train_limit=300, seed=3)
    data = load_dataset("digits", train_limit=300)
    task = make_task(cfg)
    assert isinstance(task, ClassificationTask) and task.n_train == 300
    model = task.build_model()
    torch.manual_seed(3)
    ref = MLP(64, (8,), 10, "tanh")
    for (n, p), (m, q) in zip(model.named_parameters(), ref.named_parameters()):
        assert n == m and torch.equal(p, q)
    assert [tuple(p.shape) for p in template_model(cfg, data).parameters()] == [(8, 64), (8,), (10, 8), (10,)]
    assert all(p.is_meta for p in task.template_model().parameters())
    acc, loss = evaluate(model, torch.as_tensor(data.x_test, dtype=torch.float32), torch.as_tensor(data.y_test))
    assert task.evaluate(model) == {"loss": loss, "accuracy": acc}
    idx = torch.tensor([0, 5, 7])
    batch = task.batch(0, idx)
    assert torch.equal(batch.inputs, torch.as_tensor(data.x_train[[0, 5, 7]], dtype=torch.float32))
    assert torch.equal(batch.targets, torch.as_tensor(data.y_train[[0, 5, 7]]))
    assert task.reached_target({"accuracy": 0.95, "loss": 1.0}) and not task.reached_target({"accuracy": 0.9, "loss": 0.1})
    # the pre-task call with a Dataset still works and builds the same model
    assert torch.equal(build_model(cfg, data).layers[0].weight, model.layers[0].weight)
    assert as_task(cfg, task) is task
    assert task.eval_split == "test" and TrainConfig(validation_fraction=0.2).validation_fraction > 0
    assert as_task(TrainConfig(validation_fraction=0.2), data).eval_split == "validation"


def test_method_run_accepts_a_dataset_or_a_task_with_identical_steps(tmp_path):
    cfg = TrainConfig(method="sgd", hidden="4", batch_size=32, train_limit=200, steps=3, seed=1)
    data = load_dataset("digits", train_limit=200)
    a = MethodRun(cfg, "sgd", data, tmp_path / "a", classical_model=None, query_time=None, quiet=True, on_step=None)
    b = MethodRun(cfg, "sgd", make_task(cfg), tmp_path / "b", classical_model=None, query_time=None, quiet=True,
                  on_step=None)
    ra, rb = [a.one_step(s)["loss"] for s in range(3)], [b.one_step(s)["loss"] for s in range(3)]
    assert ra == rb and ra[2] < ra[0]


def test_a_new_task_is_one_class_and_one_registry_line(toy_registered, tmp_path):
    cfg = TrainConfig(model="toy-ae", method="sgd,qnewton", steps=12, sgd_steps=2, batch_size=64, train_limit=300,
                      sgd_lr=0.5, eps=0.0 + 0.05, blocks="tensor", eval_every=4, classical_constant="pinned",
                      runs_dir=str(tmp_path), name="ae", stop_at_target=False)
    report = run_training(cfg)
    for method in ("sgd", "qnewton"):
        rows = [json.loads(line) for line in (tmp_path / "ae" / method / "ledger.jsonl").read_text().splitlines()]
        assert len(rows) == 12 and all(r["batch_accuracy"] is None for r in rows)
        assert rows[-1]["loss"] < 0.9 * rows[0]["loss"]
        assert report[method]["test_accuracy"] is None and math.isfinite(report[method]["test_loss"])
    assert report["qnewton"]["newton_steps"] == 10
    text = (tmp_path / "ae" / "report.md").read_text()
    assert "model toy-ae" in text and "target test loss 0.05" in text


def test_cli_model_option_one_line_errors(tmp_path, capsys):
    rc = main(["train", "--model", "resnet", "--runs-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"qnewton train: error: model: must be one of {', '.join(tasks.task_names())}, got 'resnet'"]
    assert list(tmp_path.iterdir()) == []
