"""The classification task (`--model mlp`): an MLP (`qnewton.train.models.MLP`, `--hidden`,
`--activation`) on a labelled data set of `qnewton.train.data` (digits, breast-cancer, mnist,
mnist5k), mean cross-entropy loss, accuracy and loss on the test split (or on the validation
split when `validation_fraction` > 0), target: accuracy >= `target_accuracy`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qnewton.curvature import Batch
from qnewton.train.data import Dataset, load_dataset
from qnewton.train.models import MLP
from qnewton.train.tasks.base import Task


class ClassificationTask(Task):
    """An MLP classifier on a `Dataset` (module docstring)."""

    name = "mlp"

    def __init__(self, config: Any, data: Dataset | None = None) -> None:
        super().__init__(config)
        if data is None:
            data = load_dataset(config.data, data_dir=config.data_dir, test_fraction=config.test_fraction,
                                train_limit=config.train_limit, validation_fraction=config.validation_fraction)
            data = data.validation_view() if config.validation_fraction > 0 else data
        self.data = data
        self.x_train = torch.as_tensor(data.x_train, dtype=torch.float32)
        self.y_train = torch.as_tensor(data.y_train)
        self.x_test = torch.as_tensor(data.x_test, dtype=torch.float32)
        self.y_test = torch.as_tensor(data.y_test)

    @classmethod
    def from_data(cls, config: Any, data: Any) -> "ClassificationTask":
        if not isinstance(data, Dataset):
            return super().from_data(config, data)  # type: ignore[return-value]
        return cls(config, data)

    def new_model(self) -> MLP:
        return MLP(self.data.num_features, self.config.hidden_sizes(), self.data.num_classes, self.config.activation)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    def batch(self, step: int, indices: torch.Tensor) -> Batch:
        return Batch(self.x_train[indices], self.y_train[indices])

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Mean cross-entropy and accuracy on the evaluation split, without gradients."""
        logits = model(self.x_test)
        loss = float(torch.nn.functional.cross_entropy(logits, self.y_test))
        acc = float((logits.argmax(dim=1) == self.y_test).double().mean())
        return {"loss": loss, "accuracy": acc}

    def batch_accuracy(self, batch: Batch, logits: torch.Tensor | None) -> float | None:
        """Fraction of the batch classified correctly (`BatchClosure.batch_accuracy`)."""
        if logits is None or logits.dim() != 2:
            return None
        return float((logits.argmax(1) == batch.targets).double().mean())

    def reached_target(self, metrics: dict[str, float]) -> bool:
        return metrics["accuracy"] >= self.config.target_accuracy

    @classmethod
    def target_text(cls, config: Any) -> str:
        return f"accuracy {config.target_accuracy:g}"

    def describe(self) -> str:
        return f"Data {self.config.data}, hidden {self.config.hidden}"
