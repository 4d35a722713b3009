"""The model trained by `qnewton train`: a small multilayer perceptron.

MLP(in, hidden..., out): Linear -> activation -> ... -> Linear, logits out. The default on
digits is 64-16-10: 64*16 + 16 + 16*10 + 10 = 1,210 parameters, small enough that the exact
Hessian over all parameters (1,210 x 1,210) is cheap; MNIST with hidden 16 gives 784-16-10,
12,730 parameters, the paper's DNN size (Table I).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from qnewton.errors import UsageError


class MLP(nn.Module):
    """Fully connected network; `layers` is the list of Linear modules in order."""

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, activation: str = "tanh") -> None:
        super().__init__()
        sizes = [int(in_features), *[int(h) for h in hidden], int(out_features)]
        if any(s < 1 for s in sizes):
            raise UsageError(f"hidden: layer sizes must be >= 1, got {sizes}")
        if activation not in ("tanh", "relu"):
            raise UsageError(f"activation: must be tanh or relu, got {activation!r}")
        self.sizes = tuple(sizes)
        self.activation = activation
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the batch x (rows are examples)."""
        act = torch.tanh if self.activation == "tanh" else torch.relu
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = act(x)
        return x

    def num_parameters(self) -> int:
        """Number of trainable scalar parameters."""
        return sum(p.numel() for p in self.parameters())
