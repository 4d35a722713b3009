"""Generalized Gauss-Newton matrix per block (the `ggn` curvature kind).

For a mean-reduced loss J(theta) = (1/N) sum_n l(z_n, y_n) with outputs z_n = f(x_n; theta) and a
block B of parameters,

    GGN_B = (1/N) sum_n J_n^T H_n J_n,     J_n = dz_n / dtheta_B  (K x N_B),
                                           H_n = d^2 l(z_n, y_n) / dz_n^2  (K x K),

the Hessian of J with the second-derivative term of the network, sum_k (dl/dz_nk) d^2 z_nk /
dtheta_B^2, dropped (Schraudolph 2002; Martens 2020, "New insights and perspectives on the natural
gradient method", Sec. 8). For softmax cross-entropy H_n = diag(p_n) - p_n p_n^T with p_n =
softmax(z_n), which is positive semi-definite, so GGN_B is positive semi-definite whatever the
network; for a piecewise-linear network it equals the diagonal block of the exact Hessian.

Normalization: the 1/N of the mean-reduced loss, the same as curvlinops' GGNLinearOperator for a
`reduction="mean"` cross-entropy (checked in tests/test_curvature_kinds.py). H_n is computed with
torch.func.hessian of the loss of example n alone, so any per-example loss works (the batch loss
must be the mean of the per-example ones; `qnewton.curvature.functional.check_mean_reduction`).

Cost: the per-example Jacobians (N x K x N_B, via vmap(jacrev)) and one (N_B x N K) by
(N K x N_B) product.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.func import hessian, jacrev, vmap

from qnewton.curvature.base import Batch, BlockCurvature
from qnewton.curvature.blocks import Block
from qnewton.curvature.functional import BlockFunctions, block_functions, check_dtype, check_mean_reduction
from qnewton.curvature.hessian import symmetrize
from qnewton.enums import CurvatureKind


def output_jacobians(fns: BlockFunctions) -> torch.Tensor:
    """J_n = dz_n / dtheta_B for every example: (N, K, N_B)."""
    return vmap(jacrev(fns.output), in_dims=(None, 0))(fns.flat0, fns.x).detach()


def output_hessians(fns: BlockFunctions, z: torch.Tensor) -> torch.Tensor:
    """H_n = d^2 l(z_n, y_n) / dz_n^2 for every example: (N, K, K)."""
    return vmap(hessian(fns.output_loss), in_dims=(0, 0))(z, fns.y).detach()


def ggn_block(model: nn.Module, block: Block, batch: Batch, dtype: torch.dtype = torch.float64) -> BlockCurvature:
    """Loss, gradient and GGN_B = (1/N) sum_n J_n^T H_n J_n of one block (module docstring)."""
    fns = block_functions(model, block, batch, dtype)
    loss, g = fns.loss_and_gradient()
    z = fns.outputs()
    per_sample = vmap(fns.output_loss)(z, fns.y)
    check_mean_reduction(fns, loss, per_sample, CurvatureKind.GGN.value)
    J = output_jacobians(fns)
    H_out = output_hessians(fns, z)
    n = J.shape[0]
    HJ = torch.einsum("nkl,nlp->nkp", H_out, J)
    G = J.reshape(-1, J.shape[-1]).T @ HJ.reshape(-1, J.shape[-1]) / n
    return BlockCurvature(block, loss, g, symmetrize(G))


class GGN:
    """The generalized Gauss-Newton matrix per block (module docstring). dtype: float64 (default)
    or float32."""

    kind = CurvatureKind.GGN.value

    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        self.dtype = check_dtype(dtype)

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]:
        return [ggn_block(model, b, batch, self.dtype) for b in blocks]
