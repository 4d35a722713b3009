"""Curvature of the training loss per block of parameters: the interface (`base`), the blocks
(`blocks`), one module per curvature kind (`hessian`: the exact Hessian) and the registry."""

from qnewton.curvature.base import Batch, BatchClosure, BlockCurvature, Curvature, cross_entropy
from qnewton.curvature.blocks import Block, make_blocks
from qnewton.curvature.hessian import ExactHessian, block_curvature, curvature, dense_reference_hessian, symmetrize
from qnewton.curvature.registry import CURVATURES, curvature_kinds, make_curvature

__all__ = ["Batch", "BatchClosure", "Block", "BlockCurvature", "CURVATURES", "Curvature", "ExactHessian",
           "block_curvature", "cross_entropy", "curvature", "curvature_kinds", "dense_reference_hessian",
           "make_blocks", "make_curvature", "symmetrize"]
