"""Curvature of the training loss: exact Hessian (torch.func), whole-model or per-block."""

from qnewton.curvature.blocks import Block, make_blocks
from qnewton.curvature.hessian import BlockCurvature, block_curvature, curvature, dense_reference_hessian, symmetrize

__all__ = ["Block", "BlockCurvature", "block_curvature", "curvature", "dense_reference_hessian", "make_blocks", "symmetrize"]
