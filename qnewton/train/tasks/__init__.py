"""Training tasks: what `qnewton train --model NAME` trains, on which data, with which loss and
metrics. The trainer (`qnewton.train.method_run`, `runner`, `resume`, `setup`) only talks to a
`qnewton.train.tasks.base.Task`; it never looks at the data or the model itself.

The registry `TASKS` maps a `--model` name to "module:Class" (imported only when a run builds
the task, so that building the command line parser stays light) and the data sets the task
accepts. Adding a task is one module with a `Task` subclass plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qnewton.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from qnewton.train.tasks.base import Task

CLASSIFICATION_DATA = ("digits", "breast-cancer", "mnist", "mnist5k")
TEXT_DATA = ("shakespeare", "wikitext")
#: per-model defaults of the language models (docs/transformers.md)
LM_DEFAULTS: dict[str, Any] = {"batch_size": 32, "sgd_steps": 5, "sgd_lr": 0.5, "eps": 0.5, "curvature": "ef",
                               "blocks": "layer", "max_newton_block": 4160}


@dataclass(frozen=True)
class TaskEntry:
    """One registered task: where its class lives ("module:Class"), the `--data` values it accepts
    and a one-line description (for `--help` and error messages)."""

    target: str
    data: tuple[str, ...]
    description: str
    #: defaults of the per-model options (`qnewton.train.config.MODEL_DEFAULTS`) for this task
    defaults: dict[str, Any] = field(default_factory=dict)


#: --model NAME -> task. Add a task here (one line) after writing its module.
TASKS: dict[str, TaskEntry] = {
    "mlp": TaskEntry("qnewton.train.tasks.classification:ClassificationTask", CLASSIFICATION_DATA,
                     "multilayer perceptron classifier (--hidden), cross-entropy, accuracy"),
    "bert-tiny": TaskEntry("qnewton.train.tasks.language:BertTinyTask", TEXT_DATA,
                           "BertForMaskedLM (Table I sizes), masked-token cross-entropy", LM_DEFAULTS),
    "mistral-tiny": TaskEntry("qnewton.train.tasks.language:MistralTinyTask", TEXT_DATA,
                              "MistralForCausalLM (Table I sizes), next-token cross-entropy", LM_DEFAULTS),
    "autoencoder": TaskEntry("qnewton.train.tasks.autoencoder:AutoencoderTask", ("digits",),
                             "deep autoencoder of the digits pixels in [0, 1] (--hidden, linear middle layer), pixel "
                             "cross-entropy, target --target-loss (paper 001 Sec. 6.2, scaled down)"),
}


def task_names() -> tuple[str, ...]:
    """The `--model` values, in registry order."""
    return tuple(TASKS)


def check_task_data(model: str, data: str) -> None:
    """UsageError (one line) unless task `model` exists and accepts data set `data`."""
    entry = TASKS.get(model)
    if entry is None:
        raise UsageError(f"model: must be one of {', '.join(TASKS)}, got {model!r}")
    if data not in entry.data:
        raise UsageError(f"data: model {model} trains on {', '.join(entry.data)}, not on {data!r}")


def task_class(model: str) -> type["Task"]:
    """The class of task `model` (imports its module)."""
    check_task_data(model, TASKS[model].data[0] if model in TASKS else "")
    module_name, _, class_name = TASKS[model].target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_task(config: Any) -> "Task":
    """The task of a run: `config.model`'s class built from the config (this loads its data; every
    problem with the data or the options is a one-line UsageError)."""
    check_task_data(config.model, config.data)
    return task_class(config.model)(config)


def as_task(config: Any, data_or_task: Any) -> "Task":
    """`data_or_task` if it is a Task, else a classification `Dataset` wrapped in the task of
    `config.model` (callers written before the task layer pass the Dataset)."""
    from qnewton.train.tasks.base import Task

    if isinstance(data_or_task, Task):
        return data_or_task
    return task_class(config.model).from_data(config, data_or_task)


__all__ = ["TASKS", "TaskEntry", "task_names", "check_task_data", "task_class", "make_task", "as_task",
           "CLASSIFICATION_DATA"]
