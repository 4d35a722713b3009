"""The task protocol the trainer is written against.

A task owns a run's data and model family. The trainer asks it for:

- `build_model()`: the model, initialized from the run seed (the same for every method), and
  `template_model()`: the same model on the meta device (names and shapes, nothing allocated),
  for size checks and checkpoint checks before anything is written;
- `n_train`: the number of training examples; the step's examples are
  `batch_indices(seed, step, n_train, batch_size)` (the same for every method);
- `batch(step, indices)`: the step's `qnewton.curvature.Batch` (inputs, targets, loss_fn), whose
  loss must be the MEAN of per-example losses, J = (1/N) sum_n l_n (the curvature kinds assume
  it, `qnewton.curvature.functional.check_mean_reduction`);
- `evaluate(model)`: metrics on the evaluation split, a dict with "loss" and, where it makes
  sense, "accuracy" (the report keeps them under `test_loss` / `test_accuracy`; the evaluation
  split is `eval_split`);
- `reached_target(metrics)`: the target criterion (e.g. accuracy >= target_accuracy, or
  loss <= target_loss), and `target_text(config)` describing it in one phrase for the reports;
  `evaluation_split(config)` names the split (both are class methods: the reports call them
  without loading data).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from qnewton.curvature import Batch


class Task(ABC):
    """A training task (module docstring). Subclasses are built from the run's `TrainConfig`."""

    #: the `--model` name
    name: ClassVar[str] = ""

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def from_data(cls, config: Any, data: Any) -> "Task":
        """The task on data already loaded (the type depends on the task)."""
        raise TypeError(f"task {cls.name or cls.__name__}: cannot be built from a {type(data).__name__}")

    # ------------------------------------------------------------------ model
    @abstractmethod
    def new_model(self) -> nn.Module:
        """A fresh model with the default initialization of the current torch RNG state."""

    def build_model(self) -> nn.Module:
        """The model initialized from the run seed (identical for every method)."""
        torch.manual_seed(self.config.seed)
        return self.new_model()

    def template_model(self) -> nn.Module:
        """The model on the meta device: names and shapes without allocating a weight."""
        with torch.device("meta"):
            return self.new_model()

    # ------------------------------------------------------------------ data
    @property
    @abstractmethod
    def n_train(self) -> int:
        """Number of training examples (the mini-batches are drawn from 0..n_train-1)."""

    @abstractmethod
    def batch(self, step: int, indices: torch.Tensor) -> Batch:
        """The mini-batch of `step` made of training examples `indices`."""

    # ------------------------------------------------------------------ metrics
    @abstractmethod
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics of `model` on the evaluation split: "loss" and, where it makes sense, "accuracy"."""

    def batch_accuracy(self, batch: Batch, logits: torch.Tensor | None) -> float | None:
        """The ledger's `batch_accuracy` of a step whose last evaluation gave `logits` (None: the
        task has no accuracy, or there was no evaluation)."""
        return None

    @abstractmethod
    def reached_target(self, metrics: dict[str, float]) -> bool:
        """Whether `metrics` (from `evaluate`) meet the run's target."""

    @classmethod
    @abstractmethod
    def target_text(cls, config: Any) -> str:
        """The target of a run with `config`, in a few words: "accuracy 0.95", "loss 4.5" (the
        reports put the split in front)."""

    @classmethod
    def evaluation_split(cls, config: Any) -> str:
        """The split `evaluate` measures for a run with `config`: "test" or "validation"."""
        return "validation" if float(getattr(config, "validation_fraction", 0.0) or 0.0) > 0 else "test"

    @property
    def eval_split(self) -> str:
        """The split `evaluate` measures."""
        return self.evaluation_split(self.config)

    def describe(self) -> str:
        """One phrase for report.md: the data and the model."""
        return f"Data {self.config.data}, model {self.name}"
