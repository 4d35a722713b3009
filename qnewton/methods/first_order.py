"""Plain SGD (with optional momentum), the paper's first-order baseline, from torch.optim."""

from __future__ import annotations

import torch

from qnewton.methods.registry import MethodContext, MethodInfo


def _sgd(ctx: MethodContext) -> torch.optim.Optimizer:
    return torch.optim.SGD(ctx.model.parameters(), lr=float(ctx.options["sgd_lr"]),
                           momentum=float(ctx.options["momentum"]))


METHODS = [
    MethodInfo("sgd", _sgd, "stochastic gradient descent at --sgd-lr (torch.optim.SGD)", phase="sgd",
               train_options=("sgd_lr", "momentum"), noise_id=0, in_all=True),
]
