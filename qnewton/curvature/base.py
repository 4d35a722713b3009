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


@dataclass(frozen=True)
class KroneckerFactors:
    """A block's curvature as a Kronecker product, K = G (x) A (K-FAC, `qnewton.curvature.kfac`).

    The block vector v (length N) is laid out as a matrix M (out x cols) by `index`: M[o, j] =
    v[index[o, j]] (for a Linear layer: M = [W | b], the weight's rows with the bias as the last
    column). Then K v = vec(G M A) in that layout, because G and A are symmetric:
    (G (x) A) vec_row(M) = vec_row(G M A^T). A: (cols x cols), the input factor; G: (out x out), the
    output-gradient factor. Every entry of v appears exactly once in `index`."""

    A: torch.Tensor
    G: torch.Tensor
    index: torch.Tensor

    def as_matrix(self, v: torch.Tensor) -> torch.Tensor:
        """The block vector v (N,) as the (out x cols) matrix M."""
        return v[self.index]

    def as_vector(self, M: torch.Tensor) -> torch.Tensor:
        """Inverse of `as_matrix`."""
        v = M.new_zeros(self.index.numel())
        v[self.index.reshape(-1)] = M.reshape(-1)
        return v

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """K v without forming K."""
        return self.as_vector(self.G @ self.as_matrix(v) @ self.A)

    def dense(self) -> torch.Tensor:
        """K as a dense N x N matrix in block order (exactly symmetric)."""
        idx = self.index.reshape(-1)
        K = torch.kron(self.G, self.A)
        H = K.new_zeros(idx.numel(), idx.numel())
        H[idx[:, None], idx[None, :]] = K
        return (H + H.T) * 0.5


@dataclass
class BlockCurvature:
    """Loss value, gradient g (N,) and exactly symmetric curvature matrix H (N, N) of one block.

    factors: None, or the Kronecker factors of a factored kind (K-FAC); then H is their dense
    product, or None when the block is too large to form it (the Newton step then works on the
    factors alone)."""

    block: Block
    loss: float
    g: torch.Tensor
    H: torch.Tensor | None
    factors: KroneckerFactors | None = None


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
