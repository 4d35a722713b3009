"""Partitions of a model's parameters into Hessian blocks.

Q-Newton computes the exact Hessian over all parameters for its DNN (Sec. V-A) and layer-wise
blocks for large models. A block is a named list of parameter tensors; its Hessian is the
diagonal block d^2 L / d theta_B^2 of the full Hessian, and solving block by block is the
block-diagonal (Jacobi) approximation of the full Newton system.

"full": one block with every parameter. "layer": one block per module that owns parameters
directly (found by walking `model.named_modules()`, so weight and bias of a Linear, an Embedding's
table, or an attention projection form one block whatever the parameter names look like).
"tensor": one block per parameter tensor. Each block records the type of the module that owns it
(`Block.module`), which curvatures with layer structure (e.g. Kronecker factors) need.
"""

from __future__ import annotations

from dataclasses import dataclass
from torch import nn

from qnewton.enums import BlockKind, choices
from qnewton.errors import UsageError

BlockMode = BlockKind


@dataclass(frozen=True)
class Block:
    """A group of parameters; `names` are keys of `model.named_parameters()`, in order."""

    name: str
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    module: str = ""  # type name of the owning module ("Linear", ...); "" for a block of several modules

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


def make_blocks(model: nn.Module, mode: BlockKind | str = BlockKind.FULL) -> list[Block]:
    """Split model's trainable parameters into blocks (see module docstring), in the order of
    `model.named_parameters()`."""
    if mode not in choices(BlockKind):
        raise UsageError(f"blocks: must be one of {', '.join(choices(BlockKind))}, got {mode!r}")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise UsageError("model: has no trainable parameters")
    owner_type: dict[str, str] = {}
    owner_of: dict[str, str] = {}
    for module_name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            full = f"{module_name}.{pname}" if module_name else pname
            owner_of[full] = module_name
            owner_type[full] = type(module).__name__
    if mode == BlockKind.FULL:
        return [Block("all", tuple(n for n, _ in params), tuple(tuple(p.shape) for _, p in params))]
    if mode == BlockKind.TENSOR:
        return [Block(n, (n,), (tuple(p.shape),), owner_type.get(n, "")) for n, p in params]
    groups: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for n, p in params:
        groups.setdefault(owner_of.get(n, n), []).append((n, tuple(p.shape)))
    return [Block(owner or "root", tuple(n for n, _ in items), tuple(s for _, s in items), owner_type.get(items[0][0], ""))
            for owner, items in groups.items()]
