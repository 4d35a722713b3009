"""Exact Hessian of the mini-batch loss with torch.func, over all parameters or per block.

For the mean cross-entropy J(theta) = (1/m) sum_i L(f(x_i; theta), y_i) (Q-Newton Algorithm 2,
lines 1-4) and a block B of parameters, `block_curvature` returns g_B = dJ/dtheta_B and
H_B = d^2 J / dtheta_B^2, the diagonal block of the full Hessian (the full Hessian when B holds
every parameter). It is computed as forward-over-reverse, jacfwd(jacrev(J)), in the requested
dtype (float64 by default: the model's parameters and the batch are cast for this computation
only). The result is made exactly symmetric, H <- (H + H^T) / 2, so that H == H.T bit for bit;
the symmetrization changes nothing but rounding.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, jacfwd, jacrev

from qnewton.curvature.base import Batch, BlockCurvature, cross_entropy
from qnewton.curvature.blocks import Block
from qnewton.enums import CurvatureKind


#: `chunk_size="auto"`: blocks above AUTO_CHUNK_THRESHOLD parameters use chunked reverse-over-reverse
#: with AUTO_CHUNK_SIZE basis vectors at a time (the unchunked forward-over-reverse would hold the
#: intermediates of all N tangents at once: tens of GB for N ~ 12.7K at batch 256).
AUTO_CHUNK = "auto"
AUTO_CHUNK_THRESHOLD = 4096
AUTO_CHUNK_SIZE = 2048


def symmetrize(H: torch.Tensor) -> torch.Tensor:
    """(H + H^T) / 2; exactly symmetric because IEEE addition commutes."""
    return (H + H.transpose(0, 1)) * 0.5


def _unflatten(flat: torch.Tensor, block: Block) -> dict[str, torch.Tensor]:
    out = {}
    offset = 0
    for name, shape in zip(block.names, block.shapes):
        n = 1
        for s in shape:
            n *= s
        out[name] = flat[offset : offset + n].reshape(shape)
        offset += n
    return out


def block_loss_fn(
    model: nn.Module,
    block: Block,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """J restricted to block B as a function of the flat block vector, and that vector's value."""
    params = {n: p.detach().to(dtype) for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    others = {n: p for n, p in params.items() if n not in block.names}
    xb = x.detach().to(dtype)
    flat0 = torch.cat([params[n].reshape(-1) for n in block.names])

    def J(flat: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, ({**others, **_unflatten(flat, block)}, buffers), (xb,))
        return loss_fn(logits, y)

    return J, flat0


def block_curvature(
    model: nn.Module,
    block: Block,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
    chunk_size: int | str | None = None,
) -> BlockCurvature:
    """Gradient and exact, exactly symmetric Hessian of J over block B.

    Forward-over-reverse, jacfwd(jacrev(J)), vectorized over all N basis vectors at once; with
    `chunk_size` set, reverse-over-reverse jacrev(jacrev(J), chunk_size=k) instead, which holds
    only k basis vectors' intermediates at a time (for large N, e.g. 12.7K parameters)."""
    J, flat0 = block_loss_fn(model, block, x, y, dtype, loss_fn)
    g, value = grad_and_value(J)(flat0)
    if chunk_size == AUTO_CHUNK:
        chunk_size = AUTO_CHUNK_SIZE if block.size > AUTO_CHUNK_THRESHOLD else None
    if chunk_size is None:
        H = jacfwd(jacrev(J))(flat0)
    else:
        H = jacrev(jacrev(J), chunk_size=int(chunk_size))(flat0)
    return BlockCurvature(block, float(value), g.detach(), symmetrize(H.detach()))


def curvature(
    model: nn.Module,
    blocks: Sequence[Block],
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
    chunk_size: int | str | None = None,
) -> list[BlockCurvature]:
    """`block_curvature` for each block (the diagonal blocks of the full Hessian)."""
    return [block_curvature(model, b, x, y, dtype, loss_fn, chunk_size) for b in blocks]


class ExactHessian:
    """The exact Hessian of the mini-batch loss per block (the `hessian` curvature kind).

    dtype: the dtype of the computation (float64 default; float32 halves memory and time).
    chunk_size: None (forward-over-reverse over all basis vectors at once), an int, or "auto"
    (chunked reverse-over-reverse above AUTO_CHUNK_THRESHOLD parameters)."""

    kind = CurvatureKind.HESSIAN.value

    def __init__(self, dtype: torch.dtype = torch.float64, chunk_size: int | str | None = AUTO_CHUNK) -> None:
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype: must be torch.float64 or torch.float32, got {dtype}")
        self.dtype = dtype
        self.chunk_size = chunk_size

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]:
        return curvature(model, blocks, batch.inputs, batch.targets, self.dtype, batch.loss_fn, self.chunk_size)


def dense_reference_hessian(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
) -> torch.Tensor:
    """Full float64 Hessian row by row with double backward (plain autograd, no torch.func):
    row i = d/dtheta (dJ/dtheta_i). Slow; an independent reference for tests."""
    params = [p.detach().to(torch.float64).requires_grad_(True) for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    logits = functional_call(model, dict(zip(names, params)), (x.detach().to(torch.float64),))
    loss = loss_fn(logits, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    rows = []
    for i in range(flat.numel()):
        row = torch.autograd.grad(flat[i], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(r if r is not None else torch.zeros_like(p)).reshape(-1) for r, p in zip(row, params)]))
    return torch.stack(rows)
