"""Curvature of the training loss per block of parameters: the interface (`base`), the blocks
(`blocks`), one module per curvature kind (`hessian`: the exact Hessian; `ggn`: generalized
Gauss-Newton; `fisher`: empirical and Monte-Carlo Fisher; `kfac`: Kronecker factors per Linear
layer) and the registry. docs/curvature.md describes each kind and its normalization."""

from qnewton.curvature.base import Batch, BatchClosure, BlockCurvature, Curvature, KroneckerFactors, cross_entropy
from qnewton.curvature.blocks import Block, make_blocks
from qnewton.curvature.fisher import EmpiricalFisher, MonteCarloFisher
from qnewton.curvature.ggn import GGN
from qnewton.curvature.hessian import ExactHessian, block_curvature, curvature, dense_reference_hessian, symmetrize
from qnewton.curvature.kfac import KFAC
from qnewton.curvature.registry import CURVATURES, curvature_kinds, make_curvature

__all__ = ["Batch", "BatchClosure", "Block", "BlockCurvature", "CURVATURES", "Curvature", "EmpiricalFisher",
           "ExactHessian", "GGN", "KFAC", "KroneckerFactors", "MonteCarloFisher", "block_curvature",
           "cross_entropy", "curvature", "curvature_kinds", "dense_reference_hessian", "make_blocks",
           "make_curvature", "symmetrize"]
