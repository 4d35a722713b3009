"""Curvature-based peer optimizers: AdaHessian and Lookahead (from `pytorch_optimizer`), K-FAC,
Newton-CG (Hessian-free), subsampled Newton and Gauss-Newton / Levenberg-Marquardt. Each is a
`torch.optim.Optimizer` driven by `step(closure)` with the trainer's
`qnewton.curvature.BatchClosure`, whose batch the curvature is computed on.

`pytorch_optimizer` takes seconds to import, so `AdaHessianOptimizer`, `hutchinson_diagonal` and
`make_lookahead` (module `adaptive`) are loaded on first use."""

from __future__ import annotations

from typing import Any

from qnewton.optim.curvature_based.kfac import KFACOptimizer, damped_factor_inverses
from qnewton.optim.curvature_based.lm import LevenbergMarquardt, s2qn_damping
from qnewton.optim.curvature_based.newton_cg import NewtonCG, conjugate_gradient, curvature_matvec
from qnewton.optim.curvature_based.s2qn import S4QN, SKQNL, refinement_matrix, smw_solve
from qnewton.optim.curvature_based.skqn_b import SKQNB1, SKQNB2, block_bfgs_update
from qnewton.optim.curvature_based.ssn import SubsampledNewton, regularized_solve, subsample_indices

_LAZY = ("AdaHessianOptimizer", "hutchinson_diagonal", "make_lookahead")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from qnewton.optim.curvature_based import adaptive

        return getattr(adaptive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AdaHessianOptimizer", "block_bfgs_update", "KFACOptimizer", "LevenbergMarquardt", "NewtonCG", "S4QN", "SKQNB1", "SKQNB2", "SKQNL", "SubsampledNewton",
           "conjugate_gradient", "curvature_matvec", "damped_factor_inverses", "hutchinson_diagonal", "make_lookahead",
           "refinement_matrix", "regularized_solve", "s2qn_damping", "smw_solve", "subsample_indices"]
