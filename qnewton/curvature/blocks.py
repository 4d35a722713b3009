"""Partitions of a model's parameters into Hessian blocks.

Q-Newton computes the exact Hessian over all parameters for its DNN (Sec. V-A) and layer-wise
blocks for large models. A block is a named list of parameter tensors; its Hessian is the
diagonal block d^2 L / d theta_B^2 of the full Hessian, and solving block by block is the
block-diagonal (Jacobi) approximation of the full Newton system.

"full": one block with every parameter. "layer": one block per module owning parameters
(weight and bias of a Linear together). "tensor": one block per parameter tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from qnewton.errors import UsageError

BlockMode = Literal["full", "layer", "tensor"]


@dataclass(frozen=True)
class Block:
    """A group of parameters; `names` are keys of `model.named_parameters()`, in order."""

    name: str
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        """Number of scalar parameters in the block (the block Hessian is size x size)."""
        total = 0
        for shape in self.shapes:
            n = 1
            for s in shape:
                n *= s
            total += n
        return total


def make_blocks(model: nn.Module, mode: BlockMode = "full") -> list[Block]:
    """Split model's trainable parameters into blocks (see module docstring)."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise UsageError("model: has no trainable parameters")
    if mode == "full":
        return [Block("all", tuple(n for n, _ in params), tuple(tuple(p.shape) for _, p in params))]
    if mode == "tensor":
        return [Block(n, (n,), (tuple(p.shape),)) for n, p in params]
    if mode == "layer":
        groups: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for n, p in params:
            owner = n.rsplit(".", 1)[0] if "." in n else n
            groups.setdefault(owner, []).append((n, tuple(p.shape)))
        return [Block(owner, tuple(n for n, _ in items), tuple(s for _, s in items)) for owner, items in groups.items()]
    raise UsageError(f"blocks: must be full, layer or tensor, got {mode!r}")
