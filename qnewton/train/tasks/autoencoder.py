"""The deep-autoencoder task (`--model autoencoder`) of S2QN's experiments (paper 001, Sec. 6.2).

The paper trains the D-1000-500-250-30-250-500-1000-D autoencoder of Hinton and Salakhutdinov
(2006) on MNIST, CURVES and FACES, with the cross-entropy loss on MNIST and CURVES. This task is
that setting scaled down so that the Newton methods stay feasible on this machine:

* data: scikit-learn's 8x8 digits (`--data digits`), the raw pixels 0..16 divided by 16, so every
  input lies in [0, 1] and is its own target (the class labels are used only to split the set:
  the same fixed stratified test split, random_state 0, as the classification task, and the same
  stratified validation split when `validation_fraction` > 0; nothing is standardized, because
  the targets must stay in [0, 1]);
* model: Linear layers of sizes D-H1-...-Hk-D from `--hidden` (the peers experiment uses
  64-32-16-8-16-32-64: 2,080 + 528 + 136 + 144 + 544 + 2,112 = 5,544 parameters, largest layer
  block 2,112), `--activation` (tanh or relu) after every hidden layer except the middle one,
  the code layer, which is linear as in Hinton and Salakhutdinov's network; the last layer gives
  one logit per pixel, read through a sigmoid;
* loss: the cross-entropy of the pixels under the sigmoid outputs, summed over the D pixels of
  an image and averaged over the images of the batch,
  J = (1/B) sum_n sum_i -[x_ni log s(z_ni) + (1 - x_ni) log(1 - s(z_ni))],
  i.e. the mean of per-image losses the curvature code assumes. Its minimum over all outputs is
  the pixels' own entropy (not 0), because the targets are grey levels, not bits;
* metric: the same loss on the evaluation split (test, or validation while tuning); no accuracy;
* target: evaluation loss <= `--target-loss` (reached_target), e.g. 25 for the peers experiment:
  every method first reaches the plateau of about 27.2 where the network outputs the mean image,
  and the target asks it to leave that plateau.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from qnewton.curvature import Batch
from qnewton.errors import UsageError
from qnewton.train.tasks.base import Task

#: the task's only data set (pixels scaled to [0, 1], see the module docstring)
AUTOENCODER_DATA = ("digits",)


def pixel_cross_entropy(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """J = (1/B) sum_n sum_i BCE(sigmoid(z_ni), x_ni): per-image cross-entropy summed over pixels,
    averaged over the B images (paper 001 Sec. 6.2's loss for MNIST)."""
    return nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / logits.shape[0]


def pixel_entropy(x: torch.Tensor) -> float:
    """The least possible value of `pixel_cross_entropy` on images x: their mean summed pixel entropy."""
    x = x.double().clamp(1e-12, 1 - 1e-12)
    return float(-(x * x.log() + (1 - x) * (1 - x).log()).sum() / x.shape[0])


def load_digit_pixels(test_fraction: float = 0.25, validation_fraction: float = 0.0,
                      train_limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, evaluation) images of scikit-learn's digits, pixels / 16 in [0, 1]; the evaluation
    split is the test split, or the validation split of the training part when
    `validation_fraction` > 0 (both the classification task's fixed stratified splits)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from qnewton.train.data import split_validation

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    if not 0.0 < test_fraction < 1.0:
        raise UsageError(f"test_fraction: must lie in (0, 1), got {test_fraction:g}")
    n_test = math.ceil(test_fraction * y.size)
    if n_test < 10 or y.size - n_test < 10:
        raise UsageError(f"test_fraction: {test_fraction:g} leaves {n_test} test and {y.size - n_test} training images")
    x_tr, x_te, y_tr, _ = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=0)
    if validation_fraction > 0:
        x_tr, y_tr, x_te, _ = split_validation(x_tr, y_tr, validation_fraction, "digits")
    if train_limit:
        x_tr = x_tr[:train_limit]
    return x_tr, x_te


class Autoencoder(nn.Module):
    """D-H1-...-Hk-D: Linear layers, `activation` after each hidden layer but the middle (code) one,
    one logit per pixel out."""

    def __init__(self, features: int, hidden: tuple[int, ...], activation: str = "tanh") -> None:
        super().__init__()
        if not hidden:
            raise UsageError("hidden: the autoencoder needs at least one hidden layer (e.g. 32,16,8,16,32)")
        if activation not in ("tanh", "relu"):
            raise UsageError(f"activation: must be tanh or relu, got {activation!r}")
        sizes = (features, *hidden, features)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.code_layer = (len(hidden) - 1) // 2  # index of the middle hidden layer: linear
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = torch.tanh if self.activation == "tanh" else torch.relu
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last and i != self.code_layer:
                x = act(x)
        return x


class AutoencoderTask(Task):
    """A deep autoencoder on the digits pixels (module docstring)."""

    name = "autoencoder"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if config.target_loss is not None and not (math.isfinite(config.target_loss) and config.target_loss > 0):
            raise UsageError(f"target_loss: must be a positive number, got {config.target_loss!r}")
        x_tr, x_ev = load_digit_pixels(config.test_fraction, config.validation_fraction, config.train_limit)
        self.x_train = torch.as_tensor(x_tr, dtype=torch.float32)
        self.x_eval = torch.as_tensor(x_ev, dtype=torch.float32)

    def new_model(self) -> Autoencoder:
        return Autoencoder(self.x_train.shape[1] if hasattr(self, "x_train") else 64, tuple(self.config.hidden_sizes()),
                           self.config.activation)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    def batch(self, step: int, indices: torch.Tensor) -> Batch:
        x = self.x_train[indices]
        return Batch(x, x, pixel_cross_entropy)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """The reconstruction loss (`pixel_cross_entropy`) on the evaluation split."""
        return {"loss": float(pixel_cross_entropy(model(self.x_eval), self.x_eval))}

    def reached_target(self, metrics: dict[str, float]) -> bool:
        target = self.config.target_loss
        return target is not None and metrics["loss"] <= target

    @classmethod
    def target_text(cls, config: Any) -> str:
        return f"loss {config.target_loss:g}" if config.target_loss is not None else "none"

    def describe(self) -> str:
        sizes = "-".join(str(s) for s in (64, *self.config.hidden_sizes(), 64))
        return f"Data digits pixels in [0, 1], autoencoder {sizes} (linear code layer), pixel cross-entropy"
