"""What the curvature-based optimizers (K-FAC, Newton-CG, subsampled Newton, Levenberg-Marquardt)
share: the flat-vector machinery of `qnewton.optim.quasi_newton.base` (float64 state under the
first parameter, weights-only checkpoints, counted gradient evaluations, a `StepReport`), plus
access to the step's model and mini-batch through the trainer's closure
(`qnewton.curvature.BatchClosure`), which a curvature needs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qnewton.curvature.base import Batch
from qnewton.curvature.blocks import Block, make_blocks


def model_and_batch(closure: Any, who: str) -> tuple[nn.Module, Batch]:
    """The closure's `.model` and `.batch`; ValueError naming `closure` when it carries none."""
    model, batch = getattr(closure, "model", None), getattr(closure, "batch", None)
    if not isinstance(model, nn.Module) or batch is None:
        raise ValueError(f"closure: {who} needs step(closure) with a closure carrying .model and .batch "
                         "(qnewton.curvature.BatchClosure)")
    return model, batch


def flat_blocks(model: nn.Module, params: list[torch.Tensor], mode: str) -> list[tuple[Block, torch.Tensor]]:
    """The model's blocks (`make_blocks(model, mode)`) with, for each, the positions of its entries
    in the optimizer's flat parameter vector (the concatenation of `params`). ValueError unless
    the optimizer's parameters are exactly the model's trainable ones."""
    named = dict(model.named_parameters())
    offsets: dict[int, int] = {}
    offset = 0
    for p in params:
        offsets[id(p)] = offset
        offset += p.numel()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if {id(p) for p in trainable} != set(offsets):
        raise ValueError("params: the optimizer must hold exactly the model's trainable parameters")
    out = []
    for block in make_blocks(model, mode):
        idx = [torch.arange(offsets[id(named[n])], offsets[id(named[n])] + named[n].numel()) for n in block.names]
        out.append((block, torch.cat(idx)))
    return out
