"""Kronecker-factored curvature (K-FAC) per Linear layer (the `kfac` curvature kind).

For a Linear layer s = W a + b with input a (d_in) and output s (d_out), and a mean-reduced loss
J = (1/N) sum_n l_n, K-FAC (Martens and Grosse 2015, "Optimizing neural networks with
Kronecker-factored approximate curvature"; the factors of S2QN's eq. 17) approximates the
layer's curvature block by a Kronecker product of two small matrices:

    K = G (x) A   in the row-major layout of M = [W | b] (d_out x (d_in + 1)),
    A = (1/R) sum_r abar_r abar_r^T,        abar = [a; 1] (the ones entry for the bias),
    G = (1/N) sum_n sum_c delta_nc delta_nc^T,

with R the number of input rows and delta the gradient of a backpropagated quantity with respect
to s. The `fisher_type` option chooses that quantity:

- "type-2" (default): the columns c of a square root of the output Hessian H_n = d^2 l_n / dz_n^2
  (H_n = S_n S_n^T, from an eigendecomposition), so that G (x) A is the K-FAC approximation of
  the GGN block (Martens 2020; Botev, Ritter and Barber 2017);
- "mc": `mc_samples` labels per example drawn from the model's softmax (cross-entropy only;
  delta = d l(z_n, yhat) / ds, G divided by the sample count too), the K-FAC Fisher of S2QN eq. 17;
- "empirical": the true labels (delta = d l(z_n, y_n) / ds), S2QN's empirical version used as
  its base matrix in eq. 18.

Weight sharing (inputs of shape (batch, sequence, d_in)): `kfac_approx` "expand" (default)
treats the N T positions as rows (A divided by R = N T, G summed over all positions and divided
by N); "reduce" averages a over the positions and sums delta over them first (R = N)
(Eschenhagen, Immer, Turner, Schneider and Hennig 2023, "Kronecker-factored approximate
curvature for modern neural network architectures").

Normalization: exactly curvlinops' KFACLinearOperator for a `reduction="mean"` cross-entropy with
`separate_weight_and_bias=False` for a whole-layer block (weight and bias together) and `True`
for separate weight / bias blocks (the bias then has A = [[1]]); checked in
tests/test_curvature_kfac.py. The labels of "mc" are drawn as curvlinops draws them (one
generator seeded with `seed` at every call, one multinomial draw per sample), so the same seed
gives the same factors.

Each block must hold the parameters of one nn.Linear (`--blocks layer` or `tensor`); the factors
come back in `BlockCurvature.factors`, and their dense product in `BlockCurvature.H` for blocks up
to `dense_max_n` parameters (None above: the Newton step inverts the two factors, never K).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, hessian, vmap

from qnewton.curvature.base import Batch, BlockCurvature, KroneckerFactors
from qnewton.curvature.blocks import Block
from qnewton.curvature.functional import check_dtype, is_cross_entropy
from qnewton.curvature.hessian import symmetrize
from qnewton.enums import CurvatureKind
from qnewton.errors import UsageError

FISHER_TYPES: tuple[str, ...] = ("type-2", "mc", "empirical")
KFAC_APPROXIMATIONS: tuple[str, ...] = ("expand", "reduce")
DEFAULT_SEED = 2147483647  # curvlinops' default seed

#: Blocks up to this many parameters also get the dense product G (x) A in BlockCurvature.H.
DEFAULT_DENSE_MAX_N = 4096


def _split(name: str) -> tuple[str, str]:
    module, _, param = name.rpartition(".")
    return module, param


def linear_layout(model: nn.Module, block: Block) -> tuple[str, bool, bool, torch.Tensor]:
    """(module name, has weight, has bias, index) of a block holding one nn.Linear's parameters;
    index maps M = [W | b] (d_out x cols) to positions in the block vector. UsageError otherwise."""
    modules = {_split(n)[0] for n in block.names}
    params = [_split(n)[1] for n in block.names]
    if len(modules) != 1 or len(set(params)) != len(params) or not set(params) <= {"weight", "bias"}:
        raise UsageError(f"curvature kfac: block {block.name!r} must hold the weight and/or bias of one Linear "
                         "layer (use --blocks layer or tensor)")
    module_name = modules.pop()
    module = model.get_submodule(module_name)
    if not isinstance(module, nn.Linear):
        raise UsageError(f"curvature kfac: block {block.name!r} belongs to a {type(module).__name__}; only Linear "
                         "layers have Kronecker factors here")
    d_out, d_in = module.out_features, module.in_features
    has_w, has_b = "weight" in params, "bias" in params
    cols = (d_in if has_w else 0) + (1 if has_b else 0)
    index = torch.empty(d_out, cols, dtype=torch.long)
    offset = 0
    for name, shape in zip(block.names, block.shapes):
        count = 1
        for s in shape:
            count *= s
        if _split(name)[1] == "weight":
            index[:, :d_in] = offset + torch.arange(d_out * d_in).reshape(d_out, d_in)
        else:
            index[:, cols - 1] = offset + torch.arange(d_out)
        offset += count
    return module_name, has_w, has_b, index


class KFAC:
    """K-FAC factors per Linear block (module docstring).

    fisher_type: "type-2" (default), "mc" or "empirical". mc_samples: labels per example for "mc"
    (default 1). kfac_approx: "expand" (default) or "reduce". seed: of the "mc" draw.
    dense_max_n: largest block that also gets the dense G (x) A. dtype: float64 or float32."""

    kind = CurvatureKind.KFAC.value

    def __init__(self, dtype: torch.dtype = torch.float64, fisher_type: str = "type-2", mc_samples: int = 1,
                 kfac_approx: str = "expand", seed: int = DEFAULT_SEED,
                 dense_max_n: int = DEFAULT_DENSE_MAX_N) -> None:
        self.dtype = check_dtype(dtype)
        if fisher_type not in FISHER_TYPES:
            raise ValueError(f"fisher_type: must be one of {', '.join(FISHER_TYPES)}, got {fisher_type!r}")
        if kfac_approx not in KFAC_APPROXIMATIONS:
            raise ValueError(f"kfac_approx: must be one of {', '.join(KFAC_APPROXIMATIONS)}, got {kfac_approx!r}")
        for name, value, low in (("mc_samples", mc_samples, 1), ("seed", seed, 0), ("dense_max_n", dense_max_n, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
        if fisher_type != "mc" and mc_samples != 1:
            raise ValueError(f"mc_samples: only fisher_type 'mc' samples labels, got mc_samples={mc_samples}")
        self.fisher_type = fisher_type
        self.mc_samples = mc_samples
        self.kfac_approx = kfac_approx
        self.seed = seed
        self.dense_max_n = dense_max_n

    def check_blocks(self, model: nn.Module, blocks: Sequence[Block]) -> None:
        """UsageError unless every block holds the parameters of one nn.Linear."""
        for block in blocks:
            linear_layout(model, block)

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]:
        layouts = [linear_layout(model, b) for b in blocks]
        if self.fisher_type == "mc" and not is_cross_entropy(batch.loss_fn):
            raise ValueError("curvature kfac: fisher_type 'mc' needs the (mean-reduced) cross-entropy loss")
        params = {n: p.detach().to(self.dtype).requires_grad_(True) for n, p in model.named_parameters()}
        buffers = {n: b.detach() for n, b in model.named_buffers()}
        x = batch.inputs.detach().to(self.dtype) if batch.inputs.is_floating_point() else batch.inputs.detach()
        y = batch.targets.detach()
        inputs: dict[str, torch.Tensor] = {}
        outputs: dict[str, torch.Tensor] = {}
        handles = []
        for module_name in {layout[0] for layout in layouts}:
            module = model.get_submodule(module_name)

            def hook(mod: nn.Module, args: tuple, out: torch.Tensor, key: str = module_name) -> None:
                inputs[key] = args[0].detach()
                outputs[key] = out

            handles.append(module.register_forward_hook(hook))
        try:
            with torch.enable_grad():
                z = functional_call(model, (params, buffers), (x,))
                loss = batch.loss_fn(z, y)
        finally:
            for h in handles:
                h.remove()
        if z.dim() != 2:
            raise ValueError(f"curvature kfac: needs outputs of shape (batch, classes), got {tuple(z.shape)}")
        n = z.shape[0]
        names = list(outputs)
        out_tensors = [outputs[k] for k in names]
        G_acc: dict[str, torch.Tensor] = {}

        def accumulate(backprop: torch.Tensor, scale: float) -> None:
            """G += scale * sum delta delta^T, delta = d <z, backprop> / ds for every layer."""
            grads = torch.autograd.grad((z * backprop).sum(), out_tensors, retain_graph=True)
            for key, delta in zip(names, grads):
                d = delta.detach()
                d = d.reshape(-1, d.shape[-1]) if self.kfac_approx == "expand" else d.reshape(n, -1, d.shape[-1]).sum(1)
                update = (d.T @ d) * scale
                G_acc[key] = update if key not in G_acc else G_acc[key] + update

        zd = z.detach()
        with torch.enable_grad():
            if self.fisher_type == "empirical":
                accumulate(_output_loss_gradients(batch.loss_fn, zd, y), 1.0 / n)
            elif self.fisher_type == "mc":
                generator = torch.Generator(device=zd.device)
                generator.manual_seed(self.seed)
                probs = torch.softmax(zd, dim=1)
                for _ in range(self.mc_samples):
                    labels = probs.multinomial(num_samples=1, generator=generator).squeeze(-1).to(y.dtype)
                    accumulate(_output_loss_gradients(batch.loss_fn, zd, labels), 1.0 / (n * self.mc_samples))
            else:
                roots = _output_hessian_roots(batch.loss_fn, zd, y)  # (N, K, K): H_n = S_n S_n^T
                for c in range(roots.shape[-1]):
                    accumulate(roots[:, :, c], 1.0 / n)
        results = []
        g_all = dict(zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True)))
        for block, (module_name, has_w, has_b, index) in zip(blocks, layouts):
            A = self._input_factor(inputs[module_name], has_w, has_b, n)
            G = symmetrize(G_acc[module_name])
            factors = KroneckerFactors(A, G, index)
            g = torch.cat([(g_all[name] if g_all[name] is not None else torch.zeros_like(params[name])).reshape(-1)
                           for name in block.names]).detach()
            H = factors.dense() if block.size <= self.dense_max_n else None
            results.append(BlockCurvature(block, float(loss.detach()), g, H, factors))
        return results

    def _input_factor(self, a: torch.Tensor, has_w: bool, has_b: bool, n: int) -> torch.Tensor:
        """A = (1/R) sum_r abar_r abar_r^T (module docstring); [[1]] for a bias-only block."""
        if not has_w:
            return torch.ones(1, 1, dtype=self.dtype)
        if self.kfac_approx == "expand":
            rows = a.reshape(-1, a.shape[-1])
        else:
            rows = a.reshape(n, -1, a.shape[-1]).mean(1)
        if has_b:
            rows = torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1)
        return symmetrize(rows.T @ rows / rows.shape[0])


def _output_loss_gradients(loss_fn, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d l(z_n, y_n) / dz_n for every example (N, K) (per-example scale: the mean loss times N)."""
    zz = z.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(zz, y) * z.shape[0], zz)
    return grad.detach()


def _output_hessian_roots(loss_fn, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """S_n with S_n S_n^T = d^2 l(z_n, y_n) / dz_n^2 (eigendecomposition; negative eigenvalues, which
    a convex loss does not have, are clipped to 0): (N, K, K)."""
    def one(z_n: torch.Tensor, y_n: torch.Tensor) -> torch.Tensor:
        return loss_fn(z_n.unsqueeze(0), y_n.unsqueeze(0))

    H = vmap(hessian(one))(z.detach(), y)
    lam, V = torch.linalg.eigh(symmetrize_batch(H))
    return V * lam.clamp(min=0).sqrt().unsqueeze(-2)


def symmetrize_batch(H: torch.Tensor) -> torch.Tensor:
    """(H + H^T) / 2 over the last two axes."""
    return (H + H.transpose(-1, -2)) * 0.5
