"""First-order peers of Q-Newton and L-BFGS, straight from torch.optim (nothing reimplemented).

The survey of deep-learning optimizers (paper 003, Kashyap 2022, Secs. 2-3) lists them as the
baselines second-order methods are measured against:

* ``momentum``: SGD with heavy-ball momentum, v <- mu v + g, theta <- theta - lr v (torch.optim.SGD);
* ``nesterov``: the same with Nesterov's look-ahead, theta <- theta - lr (g + mu v);
* ``adagrad``: per-coordinate steps lr / (sqrt(sum of squared gradients) + eps) (Duchi et al. 2011);
* ``rmsprop``: per-coordinate steps lr / (sqrt(E[g^2]) + eps), E[g^2] a running average with
  coefficient alpha (Tieleman & Hinton 2012);
* ``adam``: bias-corrected running averages of g (beta1) and g^2 (beta2) (Kingma & Ba 2015);
* ``lbfgs``: torch.optim.LBFGS, the two-loop recursion over the last history_size pairs with up to
  max_iter inner iterations per mini-batch and an optional strong-Wolfe line search. It evaluates
  the mini-batch loss and gradient several times per step; the trainer counts the calls of the
  closure, so its `gradient_evaluations` are the real number.

Hyper-parameters carry torch's names (Adam's ``betas`` split into ``beta1``/``beta2``); they are
set with ``--method-options`` and range-checked by torch's constructors (ValueError), which the
trainer turns into one line before anything is written. The existing ``sgd`` method (it reads
``--sgd-lr``) is unchanged.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from qnewton.methods.registry import MethodContext, MethodInfo


def _positive(hyper: Mapping[str, Any], name: str, *, allow_zero: bool = False) -> float:
    value = float(hyper[name])
    if not (value >= 0.0 if allow_zero else value > 0.0) or value != value:
        raise ValueError(f"{name}: must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _unit(hyper: Mapping[str, Any], name: str) -> float:
    value = float(hyper[name])
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: must lie in [0, 1), got {value}")
    return value


def _momentum(ctx: MethodContext) -> torch.optim.Optimizer:
    h = ctx.hyper
    return torch.optim.SGD(ctx.model.parameters(), lr=_positive(h, "lr"), momentum=_unit(h, "momentum"),
                           dampening=_unit(h, "dampening"), weight_decay=_positive(h, "weight_decay", allow_zero=True))


def _nesterov(ctx: MethodContext) -> torch.optim.Optimizer:
    h = ctx.hyper
    momentum = _unit(h, "momentum")
    if momentum <= 0.0:
        raise ValueError(f"momentum: Nesterov momentum must be > 0, got {momentum}")
    return torch.optim.SGD(ctx.model.parameters(), lr=_positive(h, "lr"), momentum=momentum, nesterov=True,
                           weight_decay=_positive(h, "weight_decay", allow_zero=True))


def _adagrad(ctx: MethodContext) -> torch.optim.Optimizer:
    h = ctx.hyper
    return torch.optim.Adagrad(ctx.model.parameters(), lr=_positive(h, "lr"), lr_decay=_positive(h, "lr_decay", allow_zero=True),
                               weight_decay=_positive(h, "weight_decay", allow_zero=True),
                               initial_accumulator_value=_positive(h, "initial_accumulator_value", allow_zero=True),
                               eps=_positive(h, "eps"))


def _rmsprop(ctx: MethodContext) -> torch.optim.Optimizer:
    h = ctx.hyper
    return torch.optim.RMSprop(ctx.model.parameters(), lr=_positive(h, "lr"), alpha=_unit(h, "alpha"), eps=_positive(h, "eps"),
                               momentum=_unit(h, "momentum"), weight_decay=_positive(h, "weight_decay", allow_zero=True),
                               centered=bool(h["centered"]))


def _adam(ctx: MethodContext) -> torch.optim.Optimizer:
    h = ctx.hyper
    return torch.optim.Adam(ctx.model.parameters(), lr=_positive(h, "lr"), betas=(_unit(h, "beta1"), _unit(h, "beta2")),
                            eps=_positive(h, "eps"), weight_decay=_positive(h, "weight_decay", allow_zero=True),
                            amsgrad=bool(h["amsgrad"]))


LINE_SEARCHES = ("strong_wolfe", "none")


def _lbfgs(ctx: MethodContext) -> torch.optim.Optimizer:
    h = ctx.hyper
    line_search = str(h["line_search"])
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"line_search: must be one of {', '.join(LINE_SEARCHES)}, got {line_search!r}")
    for name in ("history_size", "max_iter"):
        if int(h[name]) < 1:
            raise ValueError(f"{name}: must be >= 1, got {h[name]}")
    return torch.optim.LBFGS(ctx.model.parameters(), lr=_positive(h, "lr"), max_iter=int(h["max_iter"]),
                             history_size=int(h["history_size"]), tolerance_grad=_positive(h, "tolerance_grad", allow_zero=True),
                             tolerance_change=_positive(h, "tolerance_change", allow_zero=True),
                             line_search_fn=None if line_search == "none" else line_search)


METHODS = [
    MethodInfo("momentum", _momentum, "SGD with heavy-ball momentum (torch.optim.SGD)",
               defaults={"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0}),
    MethodInfo("nesterov", _nesterov, "SGD with Nesterov momentum (torch.optim.SGD, nesterov=True)",
               defaults={"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0}),
    MethodInfo("adagrad", _adagrad, "AdaGrad, per-coordinate steps from summed squared gradients (torch.optim.Adagrad)",
               defaults={"lr": 0.1, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                         "eps": 1e-10}),
    MethodInfo("rmsprop", _rmsprop, "RMSProp, steps scaled by a running RMS of the gradient (torch.optim.RMSprop)",
               defaults={"lr": 1e-3, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0,
                         "centered": False}),
    MethodInfo("adam", _adam, "Adam, bias-corrected first and second moments (torch.optim.Adam)",
               defaults={"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
                         "amsgrad": False}),
    MethodInfo("lbfgs", _lbfgs, "L-BFGS on each mini-batch, strong-Wolfe line search (torch.optim.LBFGS); "
               "counts its loss/gradient evaluations", needs_closure=True, phase="quasi-newton",
               defaults={"lr": 1.0, "max_iter": 4, "history_size": 10, "line_search": "strong_wolfe",
                         "tolerance_grad": 1e-7, "tolerance_change": 1e-9}),
]
