"""Quasi-Newton and conjugate-gradient peers written from the papers (`qnewton.optim.quasi_newton`).

* ``bfgs``: dense BFGS with Armijo backtracking (strong Wolfe optional) on each mini-batch
  (survey 003 Sec. 3.3);
* ``slimqn``: SLIM-QN, L-BFGS on momentum-averaged parameter and gradient changes with adaptive
  damping, one gradient per step (paper 002 Algorithm 2);
* ``ncg``: nonlinear conjugate gradients, Polak-Ribiere+ or Fletcher-Reeves, with restarts and a
  strong-Wolfe line search (survey 003 Sec. 3.2).

Hyper-parameters are the optimizers' constructor arguments, named as in the papers, with their
defaults; `--method-options` sets them and the constructors range-check them (ValueError).
BFGS and NCG evaluate the loss several times per step; every optimizer reports its count of
loss-and-gradient evaluations (`last_gradient_evaluations`), which the ledger records.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from qnewton.methods.registry import MethodContext, MethodInfo
from qnewton.optim.quasi_newton import BFGS, SLIMQN, NonlinearCG


def _defaults(cls: type) -> dict[str, Any]:
    """The constructor's keyword defaults (every hyper-parameter but `params`)."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in ("self", "params")}


def _factory(cls: type):
    def build(ctx: MethodContext) -> torch.optim.Optimizer:
        return cls(ctx.model.parameters(), **dict(ctx.hyper))
    build.__name__ = f"build_{cls.__name__}"
    return build


METHODS = [
    MethodInfo("bfgs", _factory(BFGS), "BFGS, dense inverse-Hessian update with an Armijo line search per mini-batch",
               needs_closure=True, phase="quasi-newton", defaults=_defaults(BFGS)),
    MethodInfo("slimqn", _factory(SLIMQN), "SLIM-QN: L-BFGS on momentum-averaged changes with adaptive damping",
               needs_closure=True, phase="quasi-newton", defaults=_defaults(SLIMQN)),
    MethodInfo("ncg", _factory(NonlinearCG), "nonlinear conjugate gradients (PR+ or FR) with restarts and a "
               "strong-Wolfe line search", needs_closure=True, phase="quasi-newton", defaults=_defaults(NonlinearCG)),
]
