"""Per-sample views of the model restricted to one block, shared by the curvature kinds.

A block B of parameters (`qnewton.curvature.blocks.Block`) is handled as one flat vector
theta_B; every other parameter is frozen at its current value. For one example x_n,
`f(theta_B, x_n)` is the model output z_n (flattened to K entries), and
`l(theta_B, x_n, y_n) = loss_fn(z_n[None], y_n[None])` the loss of that example alone. The kinds
of this package assume a mean-reduced loss, J = (1/N) sum_n l_n, which `check_mean_reduction`
verifies on the batch (a sum-reduced loss would make every matrix N times too small).

Everything is computed with torch.func (functional_call, vmap, grad, jacrev) in the requested
dtype; the model's own parameters are never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value

from qnewton.curvature.base import Batch
from qnewton.curvature.blocks import Block

DTYPES = (torch.float64, torch.float32)


def check_dtype(dtype: torch.dtype) -> torch.dtype:
    """`dtype` if it is float64 or float32, else ValueError naming the parameter."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype: must be torch.float64 or torch.float32, got {dtype}")
    return dtype


def unflatten(flat: torch.Tensor, block: Block) -> dict[str, torch.Tensor]:
    """The block's parameter tensors (views of `flat`, in block order) by parameter name."""
    out = {}
    offset = 0
    for name, shape in zip(block.names, block.shapes):
        n = 1
        for s in shape:
            n *= s
        out[name] = flat[offset : offset + n].reshape(shape)
        offset += n
    return out


@dataclass
class BlockFunctions:
    """The block as functions of its flat vector (module docstring).

    flat0: theta_B now (N_B,). x, y: the batch (x cast to the dtype). out_shape: the shape of one
    example's output (the model output without its batch axis)."""

    flat0: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    out_shape: tuple[int, ...]
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batch_loss: Callable[[torch.Tensor], torch.Tensor]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def output(self, flat: torch.Tensor, x_n: torch.Tensor) -> torch.Tensor:
        """z_n = f(theta_B, x_n), flattened to (K,)."""
        return self.model_fn(flat, x_n.unsqueeze(0)).reshape(-1)

    def output_loss(self, z_n: torch.Tensor, y_n: torch.Tensor) -> torch.Tensor:
        """l_n as a function of the flat output z_n (K,) of one example."""
        return self.loss_fn(z_n.reshape(1, *self.out_shape), y_n.unsqueeze(0))

    def sample_loss(self, flat: torch.Tensor, x_n: torch.Tensor, y_n: torch.Tensor) -> torch.Tensor:
        """l_n(theta_B) = loss of the single example (x_n, y_n)."""
        return self.output_loss(self.output(flat, x_n), y_n)

    def loss_and_gradient(self) -> tuple[float, torch.Tensor]:
        """(J, dJ/dtheta_B) of the mean-reduced batch loss."""
        g, value = grad_and_value(self.batch_loss)(self.flat0)
        return float(value), g.detach()

    def outputs(self) -> torch.Tensor:
        """All outputs z (N, K), without a graph."""
        with torch.no_grad():
            z = self.model_fn(self.flat0, self.x)
        return z.reshape(z.shape[0], -1)


def block_functions(model: nn.Module, block: Block, batch: Batch, dtype: torch.dtype = torch.float64) -> BlockFunctions:
    """`BlockFunctions` of `block` on `batch`, computed in `dtype` (module docstring)."""
    check_dtype(dtype)
    params = {n: p.detach().to(dtype) for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    missing = [n for n in block.names if n not in params]
    if missing:
        raise ValueError(f"block {block.name!r}: parameters {missing} are not in the model")
    others = {n: p for n, p in params.items() if n not in block.names}
    x = batch.inputs.detach().to(dtype) if batch.inputs.is_floating_point() else batch.inputs.detach()
    y = batch.targets.detach()
    flat0 = torch.cat([params[n].reshape(-1) for n in block.names])

    def model_fn(flat: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        return functional_call(model, ({**others, **unflatten(flat, block)}, buffers), (xs,))

    def batch_loss(flat: torch.Tensor) -> torch.Tensor:
        return batch.loss_fn(model_fn(flat, x), y)

    with torch.no_grad():
        out_shape = tuple(model_fn(flat0, x[:1]).shape[1:])
    return BlockFunctions(flat0, x, y, out_shape, model_fn, batch_loss, batch.loss_fn)


def check_mean_reduction(fns: BlockFunctions, loss: float, per_sample: torch.Tensor, kind: str) -> None:
    """ValueError unless the batch loss equals the mean of the per-example losses (to rounding):
    the normalization of every kind here assumes J = (1/N) sum_n l_n."""
    mean = float(per_sample.mean())
    if abs(mean - loss) > 1e-6 * max(1.0, abs(loss)):
        raise ValueError(f"curvature {kind}: the batch loss ({loss:.6g}) is not the mean of the per-example losses "
                         f"({mean:.6g}); only mean-reduced losses are supported")


def is_cross_entropy(loss_fn: Callable[..., torch.Tensor]) -> bool:
    """True for the project's cross-entropy, torch's functional one, or a mean-reduced nn.CrossEntropyLoss."""
    from qnewton.curvature.base import cross_entropy

    if loss_fn is cross_entropy or loss_fn is torch.nn.functional.cross_entropy:
        return True
    return isinstance(loss_fn, nn.CrossEntropyLoss) and loss_fn.reduction == "mean" and loss_fn.weight is None \
        and loss_fn.label_smoothing == 0.0


def sample_labels(logits: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """`samples` labels per example drawn from the categorical distribution softmax(logits) (N, C),
    with a generator seeded by `seed`: shape (N, samples). The draw is
    softmax(logits).multinomial(samples, replacement=True), the same call curvlinops makes, so the
    same seed gives the same labels there."""
    generator = torch.Generator(device=logits.device)
    generator.manual_seed(int(seed))
    probs = torch.softmax(logits, dim=1)
    return probs.multinomial(num_samples=int(samples), replacement=True, generator=generator)
