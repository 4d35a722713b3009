"""Fisher-type curvatures per block from per-example gradients: the empirical Fisher (`ef`) and the
Monte-Carlo Fisher (`mc-fisher`).

Empirical Fisher (the layer-wise approximation Q-Newton uses for its large models, Table IV,
citing Kunstner, Balles and Hennig 2020, "Limitations of the empirical Fisher approximation for
natural gradient descent"): for a mean-reduced loss J = (1/N) sum_n l_n and a block B,

    EF_B = (1/N) sum_n g_n g_n^T,     g_n = d l(f(x_n; theta), y_n) / dtheta_B,

the uncentred second moment of the per-example gradients, computed with torch.func
(vmap over examples of grad). An example is one row of the batch: when it is a sequence
(batch, sequence, features) fed to a Linear layer, the weight is shared by the positions and g_n
is the gradient of that example's loss, i.e. the SUM over its positions of the position-wise
outer products a_t delta_t^T; positions are never treated as separate examples (and the
weight's (out, in) index order is kept; nothing is transposed).

Monte-Carlo Fisher (for softmax cross-entropy, the model's categorical predictive distribution):

    F_B = (1/(N S)) sum_n sum_{s=1..S} g_ns g_ns^T,   g_ns = d l(f(x_n; theta), yhat_ns) / dtheta_B,

with S labels yhat_ns per example drawn from softmax(f(x_n; theta)) by a generator seeded with
`seed` at every call (so a step's draw depends only on the seed and the model, and resumed runs
repeat it). E[F_B] over the draw is the Fisher information, which for cross-entropy equals the GGN
(`qnewton.curvature.ggn`): F_B tends to GGN_B as S grows, with O(1/sqrt(S)) error.

Normalization: 1/N (and 1/S), the same as curvlinops' EFLinearOperator and FisherMCLinearOperator
for a `reduction="mean"` cross-entropy; with the same seed the labels are the same as curvlinops'
(checked in tests/test_curvature_kinds.py).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.func import grad, vmap

from qnewton.curvature.base import Batch, BlockCurvature
from qnewton.curvature.blocks import Block
from qnewton.curvature.functional import (BlockFunctions, block_functions, check_dtype, check_mean_reduction,
                                          is_cross_entropy, sample_labels)
from qnewton.curvature.hessian import symmetrize
from qnewton.enums import CurvatureKind

#: Default number of Monte-Carlo labels per example (curvlinops' default is 1; more samples cost
#: one more per-example gradient each and reduce the variance).
DEFAULT_MC_SAMPLES = 1
DEFAULT_SEED = 2147483647  # curvlinops' default seed


def per_example_gradients(fns: BlockFunctions, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g_n = d l(x_n, y_n) / dtheta_B for every row of (x, y): (rows, N_B)."""
    return vmap(grad(fns.sample_loss), in_dims=(None, 0, 0))(fns.flat0, x, y).detach()


def empirical_fisher_block(model: nn.Module, block: Block, batch: Batch,
                           dtype: torch.dtype = torch.float64) -> BlockCurvature:
    """Loss, gradient and EF_B = (1/N) sum_n g_n g_n^T of one block (module docstring)."""
    fns = block_functions(model, block, batch, dtype)
    loss, g = fns.loss_and_gradient()
    per_sample = vmap(fns.output_loss)(fns.outputs(), fns.y)
    check_mean_reduction(fns, loss, per_sample, CurvatureKind.EF.value)
    grads = per_example_gradients(fns, fns.x, fns.y)
    return BlockCurvature(block, loss, g, symmetrize(grads.T @ grads / grads.shape[0]))


def mc_fisher_block(model: nn.Module, block: Block, batch: Batch, dtype: torch.dtype = torch.float64,
                    samples: int = DEFAULT_MC_SAMPLES, seed: int = DEFAULT_SEED) -> BlockCurvature:
    """Loss, gradient and the S-sample Monte-Carlo Fisher of one block (module docstring)."""
    if not is_cross_entropy(batch.loss_fn):
        raise ValueError("curvature mc-fisher: needs the (mean-reduced) cross-entropy loss, whose predictive "
                         "distribution it samples")
    fns = block_functions(model, block, batch, dtype)
    loss, g = fns.loss_and_gradient()
    z = fns.outputs()
    if z.dim() != 2 or len(fns.out_shape) != 1:
        raise ValueError(f"curvature mc-fisher: needs outputs of shape (batch, classes), got (batch, {fns.out_shape})")
    labels = sample_labels(z, samples, seed)  # (N, S)
    n = z.shape[0]
    x_rep = fns.x.repeat_interleave(samples, dim=0)
    y_rep = labels.reshape(-1).to(fns.y.dtype)
    grads = per_example_gradients(fns, x_rep, y_rep)
    return BlockCurvature(block, loss, g, symmetrize(grads.T @ grads / (n * samples)))


def empirical_fisher_blocks(model: nn.Module, blocks: Sequence[Block], batch: Batch,
                            dtype: torch.dtype = torch.float64) -> list[BlockCurvature]:
    """`empirical_fisher_block` of every block from ONE pass of per-example gradients over the union
    of the blocks (their columns are then sliced out): the same matrices, but one vmapped forward
    and backward through the model instead of one per block, which is what makes many blocks of a
    transformer affordable. The per-example gradients take (rows x total block size) numbers."""
    if len(blocks) <= 1:
        return [empirical_fisher_block(model, b, batch, dtype) for b in blocks]
    names = [n for b in blocks for n in b.names]
    if len(set(names)) != len(names):  # overlapping blocks: one pass each
        return [empirical_fisher_block(model, b, batch, dtype) for b in blocks]
    union = Block("union", tuple(names), tuple(s for b in blocks for s in b.shapes))
    fns = block_functions(model, union, batch, dtype)
    loss, g = fns.loss_and_gradient()
    per_sample = vmap(fns.output_loss)(fns.outputs(), fns.y)
    check_mean_reduction(fns, loss, per_sample, CurvatureKind.EF.value)
    grads = per_example_gradients(fns, fns.x, fns.y)
    out = []
    offset = 0
    for b in blocks:
        cols = grads[:, offset:offset + b.size]
        out.append(BlockCurvature(b, loss, g[offset:offset + b.size].clone(), symmetrize(cols.T @ cols / cols.shape[0])))
        offset += b.size
    return out


class EmpiricalFisher:
    """The empirical Fisher per block (module docstring). dtype: float64 (default) or float32.
    All blocks come from one pass of per-example gradients (`empirical_fisher_blocks`)."""

    kind = CurvatureKind.EF.value

    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        self.dtype = check_dtype(dtype)

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]:
        return empirical_fisher_blocks(model, blocks, batch, self.dtype)


class MonteCarloFisher:
    """The Monte-Carlo Fisher per block (module docstring): `samples` labels per example (default 1),
    drawn with a generator seeded by `seed` at every call."""

    kind = CurvatureKind.MC_FISHER.value

    def __init__(self, dtype: torch.dtype = torch.float64, samples: int = DEFAULT_MC_SAMPLES,
                 seed: int = DEFAULT_SEED) -> None:
        self.dtype = check_dtype(dtype)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples: must be an integer >= 1, got {samples!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
        self.samples = samples
        self.seed = seed

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]:
        return [mc_fisher_block(model, b, batch, self.dtype, self.samples, self.seed) for b in blocks]
