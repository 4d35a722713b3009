"""The curvature interface: (model, batch, blocks) -> per block (loss, g, H).

A curvature kind is a callable object with a `kind` name; `qnewton.curvature.registry.CURVATURES`
maps each name to its class, and `make_curvature(kind, **options)` builds one. Every kind returns, for each block B of
parameters, the mini-batch loss, the gradient g_B and an exactly symmetric N_B x N_B matrix H_B,
the curvature the Newton step inverts (Q-Newton Algorithm 2, lines 1-4). The exact Hessian
(`qnewton.curvature.hessian`) is the first kind; generalized Gauss-Newton, empirical Fisher and
Kronecker-factored blocks plug in as further modules plus one line in `CURVATURES`.

`Batch` is one mini-batch with its loss function; `BatchClosure` is the closure an optimizer's
`step(closure)` receives from the trainer: calling it evaluates the loss and its gradient (the
torch.optim convention), and it also carries the batch, which a curvature needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable

import torch
from torch import nn

from qnewton.curvature.blocks import Block

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of `logits` against integer labels `y` (the training loss J)."""
    return torch.nn.functional.cross_entropy(logits, y)


@dataclass(frozen=True)
class Batch:
    """One mini-batch: inputs, targets and the loss J = loss_fn(model(inputs), targets)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    loss_fn: LossFn = cross_entropy


@dataclass
class BlockCurvature:
    """Loss value, gradient g (N,) and exactly symmetric curvature matrix H (N, N) of one block."""

    block: Block
    loss: float
    g: torch.Tensor
    H: torch.Tensor


@runtime_checkable
class Curvature(Protocol):
    """One curvature kind: `curvature(model, batch, blocks)` gives one BlockCurvature per block."""

    kind: str

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]: ...


@dataclass
class BatchClosure:
    """The closure the trainer hands to `optimizer.step(closure)`.

    `closure()` zeroes the model's gradients, evaluates the loss on the batch and back-propagates
    it, and returns the loss (the torch.optim convention, so every torch optimizer accepts it);
    `forward()` evaluates the loss without gradients. Both record the last loss and logits, which
    the trainer reports (loss, batch accuracy) without a second forward pass.
    """

    model: nn.Module
    batch: Batch
    loss: torch.Tensor | None = field(default=None, init=False)
    logits: torch.Tensor | None = field(default=None, init=False)

    def __call__(self) -> torch.Tensor:
        for p in self.model.parameters():
            p.grad = None
        with torch.enable_grad():
            logits = self.model(self.batch.inputs)
            loss = self.batch.loss_fn(logits, self.batch.targets)
            loss.backward()
        self.logits, self.loss = logits.detach(), loss.detach()
        return self.loss

    @torch.no_grad()
    def forward(self) -> torch.Tensor:
        """The loss on the batch, without a graph."""
        logits = self.model(self.batch.inputs)
        loss = self.batch.loss_fn(logits, self.batch.targets)
        self.logits, self.loss = logits, loss
        return loss

    def batch_accuracy(self) -> float | None:
        """Fraction of the batch classified correctly by the last evaluation (None before one)."""
        if self.logits is None or self.logits.dim() != 2:
            return None
        return float((self.logits.argmax(1) == self.batch.targets).double().mean())
