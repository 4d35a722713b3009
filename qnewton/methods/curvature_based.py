"""Curvature-based peers (`qnewton.optim.curvature_based`):

* ``adahessian``: AdaHessian, Adam with the Hutchinson Hessian diagonal in the denominator
  (pytorch_optimizer; survey 003);
* ``lookahead``: Lookahead around Adam or SGD (pytorch_optimizer; survey 003);
* ``kfac``: K-FAC, Kronecker-factored natural-gradient steps per Linear layer with running factor
  averages and factored damping (Martens and Grosse 2015);
* ``newton-cg``: Hessian-free / truncated Newton, CG on Hessian or GGN products (survey 003);
* ``ssn``: subsampled Newton, dense block Hessians of a subsample of the mini-batch (survey 003);
* ``lm``: Gauss-Newton / Levenberg-Marquardt with the damping rule of S2QN eq. 8 (paper 001);
* ``s4qn``, ``skqn-l``: S2QN (paper 001 Algorithm 1), a subsampled-Hessian or empirical K-FAC base
  matrix plus an L-BFGS refinement, inverted by Sherman-Morrison-Woodbury (eq. 13);
* ``skqn-b1``, ``skqn-b2``: S2QN with the empirical K-FAC output factor refined by a sketchy block
  BFGS update (paper 001 eqs. 18-22), from the secant condition eq. 19 or eq. 20.

Hyper-parameters are the constructors' keyword arguments with their defaults; `--method-options`
sets them and the constructors range-check them (ValueError, one line from the trainer).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

from qnewton.methods.registry import MethodContext, MethodInfo
from qnewton.optim.curvature_based import S4QN, SKQNB1, SKQNB2, SKQNL, KFACOptimizer, LevenbergMarquardt, NewtonCG, SubsampledNewton

#: AdaHessian's and Lookahead's hyper-parameters, written out so that listing the methods does not
#: import pytorch_optimizer (seconds); tests/test_peers_curv_methods.py checks them against the
#: constructors' signatures.
ADAHESSIAN_DEFAULTS: dict[str, Any] = {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-4, "weight_decay": 0.0,
                                       "hessian_power": 1.0, "update_period": 1, "num_samples": 1,
                                       "hessian_distribution": "rademacher"}
LOOKAHEAD_DEFAULTS: dict[str, Any] = {"optimizer": "adam", "lr": 3e-2, "k": 5, "alpha": 0.5, "pullback_momentum": "none",
                                      "momentum": 0.9}


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The keyword defaults of a constructor or factory (every hyper-parameter but `params`)."""
    target = fn.__init__ if isinstance(fn, type) else fn
    return {name: p.default for name, p in inspect.signature(target).parameters.items()
            if name not in ("self", "params")}


def _adahessian(ctx: MethodContext) -> torch.optim.Optimizer:
    from qnewton.optim.curvature_based.adaptive import AdaHessianOptimizer

    return AdaHessianOptimizer(ctx.model.parameters(), **dict(ctx.hyper))


def _lookahead(ctx: MethodContext) -> torch.optim.Optimizer:
    from qnewton.optim.curvature_based.adaptive import make_lookahead

    return make_lookahead(ctx.model.parameters(), **dict(ctx.hyper))


def _factory(fn: Callable[..., torch.optim.Optimizer]):
    def build(ctx: MethodContext) -> torch.optim.Optimizer:
        opt = fn(ctx.model.parameters(), **dict(ctx.hyper))
        if hasattr(opt, "check_model"):  # K-FAC (Linear layers only), subsampled Newton (block sizes)
            opt.check_model(ctx.model)
        return opt
    build.__name__ = f"build_{getattr(fn, '__name__', 'optimizer')}"
    return build


METHODS = [
    MethodInfo("adahessian", _adahessian, "AdaHessian: Adam with a Hutchinson estimate of the "
               "Hessian diagonal (pytorch_optimizer)", needs_closure=True, phase="adahessian",
               defaults=ADAHESSIAN_DEFAULTS),
    MethodInfo("lookahead", _lookahead, "Lookahead: slow weights pulled toward Adam's or SGD's fast "
               "weights every k steps (pytorch_optimizer)", defaults=LOOKAHEAD_DEFAULTS),
    MethodInfo("kfac", _factory(KFACOptimizer), "K-FAC: Kronecker-factored natural-gradient steps per Linear layer",
               needs_closure=True, phase="kfac", defaults=_defaults(KFACOptimizer)),
    MethodInfo("newton-cg", _factory(NewtonCG), "Newton-CG (Hessian-free): truncated CG on Hessian or GGN products",
               needs_closure=True, phase="newton-cg", defaults=_defaults(NewtonCG)),
    MethodInfo("ssn", _factory(SubsampledNewton), "subsampled Newton: dense block Hessians of a subsample of the "
               "mini-batch, spectrally regularized, solved exactly", needs_closure=True, phase="subsampled-newton",
               defaults=_defaults(SubsampledNewton)),
    MethodInfo("lm", _factory(LevenbergMarquardt), "Gauss-Newton / Levenberg-Marquardt with the S2QN eq. 8 damping "
               "(CG on GGN products)", needs_closure=True, phase="levenberg-marquardt",
               defaults=_defaults(LevenbergMarquardt)),
    MethodInfo("s4qn", _factory(S4QN), "S4QN (S2QN): subsampled Hessian plus an L-BFGS refinement, SMW inverse, "
               "eq. 8 damping", needs_closure=True, phase="s4qn", defaults=_defaults(S4QN)),
    MethodInfo("skqn-l", _factory(SKQNL), "SKQN-L (S2QN): empirical K-FAC plus an L-BFGS refinement, SMW inverse, "
               "eq. 8 damping", needs_closure=True, phase="skqn-l", defaults=_defaults(SKQNL)),
    MethodInfo("skqn-b1", _factory(SKQNB1), "SKQN-B1 (S2QN): empirical K-FAC with a sketchy block-BFGS refinement of "
               "its output factor, parameter secant condition (eq. 19)", needs_closure=True, phase="skqn-b1",
               defaults=_defaults(SKQNB1)),
    MethodInfo("skqn-b2", _factory(SKQNB2), "SKQN-B2 (S2QN): empirical K-FAC with a sketchy block-BFGS refinement of "
               "its output factor, pre-activation secant condition (eq. 20)", needs_closure=True, phase="skqn-b2",
               defaults=_defaults(SKQNB2)),
]
