"""The Nesterov- and momentum-accelerated quasi-Newton family (`qnewton.optim.naq`) as training
methods: naq, moq, mnaq, lnaq, lmoq (full batch), onaq, omoq, olnaq, olmoq, asnaq (online) and sr1n.

Each method's `defaults` are its optimizer's keyword arguments and their defaults (read from the
constructor, so the two cannot drift apart); `--method-options KEY=VALUE` sets them and the
optimizer's constructor range-checks them. Every optimizer evaluates the loss itself
(`needs_closure`) and leaves `last_gradient_evaluations` after each step.
"""

from __future__ import annotations

import inspect
from functools import partial
from typing import Any

import torch

from qnewton.methods.registry import MethodContext, MethodInfo
from qnewton.optim.naq import ASNAQ, LNAQ, MNAQ, NAQ, OLMoQ, OLNAQ, OMoQ, ONAQ, SR1N, LMoQ, MoQ


def hyper_defaults(cls: type[torch.optim.Optimizer]) -> dict[str, Any]:
    """The keyword arguments of `cls`'s constructor (all but `params`) with their defaults."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in ("self", "params")}


def _build(ctx: MethodContext, cls: type[torch.optim.Optimizer]) -> torch.optim.Optimizer:
    return cls(ctx.model.parameters(), **dict(ctx.hyper))


def _info(name: str, cls: type[torch.optim.Optimizer], description: str) -> MethodInfo:
    return MethodInfo(name, partial(_build, cls=cls), description, needs_closure=True, phase="quasi-newton",
                      defaults=hyper_defaults(cls))


METHODS = [
    _info("naq", NAQ, "Nesterov's accelerated quasi-Newton, full batch, dense BFGS, Armijo line search"),
    _info("moq", MoQ, "momentum quasi-Newton (NAQ with Nesterov's gradient approximated), full batch, dense"),
    _info("mnaq", MNAQ, "modified NAQ: modified secant pair, explicit step size (no line search), dense"),
    _info("lnaq", LNAQ, "limited-memory NAQ (two-loop recursion), full batch"),
    _info("lmoq", LMoQ, "limited-memory MoQ (two-loop recursion), full batch"),
    _info("onaq", ONAQ, "online NAQ on mini-batches (two gradients per step), dense, normalized direction"),
    _info("omoq", OMoQ, "online MoQ on mini-batches (one gradient per step), dense, normalized direction"),
    _info("olnaq", OLNAQ, "online limited-memory NAQ on mini-batches"),
    _info("olmoq", OLMoQ, "online limited-memory MoQ on mini-batches"),
    _info("asnaq", ASNAQ, "adaptive stochastic NAQ: adaptive momentum, Fisher curvature pairs, AdaGrad H_0"),
    _info("sr1n", SR1N, "SR1 with Nesterov's gradient in a trust region, dense"),
]
