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

import math
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, jacfwd, jacrev

from qnewton.curvature.base import Batch, BlockCurvature, cross_entropy
from qnewton.curvature.blocks import Block
from qnewton.curvature.functional import unflatten
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


def block_loss_fn(
    model: nn.Module,
    block: Block,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
    device: torch.device | str | None = None,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """J restricted to block B as a function of the flat block vector, and that vector's value
    (computed on `device` when given: parameters, buffers and batch are copied there)."""
    params = {n: p.detach().to(device=device, dtype=dtype) for n, p in model.named_parameters()}
    buffers = {n: b.detach().to(device=device) for n, b in model.named_buffers()}
    others = {n: p for n, p in params.items() if n not in block.names}
    xb = x.detach().to(device=device, dtype=dtype)
    y = y.to(device=device)
    flat0 = torch.cat([params[n].reshape(-1) for n in block.names])

    def J(flat: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, ({**others, **unflatten(flat, block)}, buffers), (xb,))
        return loss_fn(logits, y)

    return J, flat0


#: The first-layer (Kronecker) path needs the per-example Hessians over u = (z_1, later parameters
#: of the block): m (n_1 + r)^2 numbers. Above this many bytes the generic path runs instead.
KRONECKER_MAX_PER_EXAMPLE_BYTES = 1 << 29


def _empty_square(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialized n x n tensor. On the CPU its memory comes from numpy, which asks the kernel
    for transparent huge pages on large arrays (madvise): writing a fresh 1.2 GiB Hessian then
    takes about 0.16 s of page faults instead of 0.4 s (N = 12,730, measured here); torch's own
    CPU allocator does so only when THP_MEM_ALLOC_ENABLE is set before it starts."""
    if device.type == "cpu" and dtype in (torch.float64, torch.float32):
        import numpy as np

        return torch.from_numpy(np.empty((n, n), dtype=np.float64 if dtype == torch.float64 else np.float32))
    return torch.empty((n, n), dtype=dtype, device=device)


def _mlp_chain(model: nn.Module) -> tuple[list[nn.Linear], Callable[[torch.Tensor], torch.Tensor]] | None:
    """(linear layers, activation) when `model` is a plain MLP (qnewton.train.models.MLP: `layers`,
    a chain of nn.Linear with matching sizes, `activation` tanh or relu between them), else None."""
    layers = getattr(model, "layers", None)
    act = {"tanh": torch.tanh, "relu": torch.relu}.get(getattr(model, "activation", None))  # type: ignore[arg-type]
    if act is None or not isinstance(layers, nn.ModuleList) or len(layers) < 2:
        return None
    if not all(type(layer) is nn.Linear and layer.bias is not None for layer in layers):
        return None
    if any(a.out_features != b.in_features for a, b in zip(layers[:-1], layers[1:])):
        return None
    names = [n for n, _ in model.named_parameters()]
    expected = [f"layers.{i}.{k}" for i in range(len(layers)) for k in ("weight", "bias")]
    if names != expected or list(model.named_buffers()):
        return None
    return list(layers), act


def kronecker_applies(model: nn.Module, block: Block, x: torch.Tensor,
                      loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy) -> bool:
    """True when `kronecker_block_hessian` computes this block: a plain MLP, the mean cross-entropy
    loss, a block holding a first-layer tensor, and per-example Hessians of bounded size."""
    chain = _mlp_chain(model)
    if chain is None or loss_fn is not cross_entropy or x.dim() != 2:
        return False
    if not any(n in ("layers.0.weight", "layers.0.bias") for n in block.names):
        return False
    n1 = chain[0][0].out_features
    rest = sum(math.prod(s) for n, s in zip(block.names, block.shapes) if not n.startswith("layers.0."))
    return x.shape[0] * (n1 + rest) ** 2 * 8 <= KRONECKER_MAX_PER_EXAMPLE_BYTES


def _one_hidden_layer_terms(z: torch.Tensor, W: torch.Tensor, b: torch.Tensor, y: torch.Tensor, *, relu: bool,
                            rest_names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example gradients and Hessians of f_b(u) = CE(W s(z) + b, y_b) for one hidden layer,
    u = (z, the entries of rest_names among layers.1.weight (row-major) and layers.1.bias), in
    closed form (the same numbers as the vmapped torch.func path, to rounding, without its
    per-example slicing overhead). With a = s(z), p = softmax(h), e = p - onehot(y),
    S = diag(p) - p p^T, s' and s'' the activation's derivatives (relu: s' = [z > 0], s'' = 0):

        df/dz = s'(z) * (W^T e)         df/dW[k,j] = e_k a_j          df/db = e
        d2f/dz2      = J^T S J + diag(s''(z) * (W^T e)),     J = W diag(s'(z))
        d2f/dz_i dW[k,j] = s'(z_i) (delta_ij e_k + (W^T S)[i,k] a_j),   d2f/dz_i db_k = s'(z_i) (W^T S)[i,k]
        d2f/dW[k,j] dW[l,i] = S[k,l] a_j a_i,   d2f/dW[k,j] db_l = S[k,l] a_j,   d2f/db2 = S

    (h = W a + b is linear in W and b, so only S carries their second derivatives.) Returns
    (grads (m, n1 + r), G (m, n1 + r, n1 + r))."""
    m, n1 = z.shape
    C = W.shape[0]
    if relu:
        a = torch.relu(z)
        d1 = (z > 0).to(z.dtype)
        d2 = torch.zeros_like(z)
    else:
        a = torch.tanh(z)
        d1 = 1.0 - a * a
        d2 = -2.0 * a * d1
    p = torch.softmax(a @ W.T + b, dim=1)
    e = p.clone()
    e[torch.arange(m, device=z.device), y] -= 1.0
    S = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)  # (m, C, C)
    We = e @ W  # (m, n1): W^T e
    J = W.unsqueeze(0) * d1.unsqueeze(1)  # (m, C, n1)
    Mzz = J.transpose(1, 2) @ S @ J + torch.diag_embed(d2 * We)
    T = W.T.unsqueeze(0) @ S  # (m, n1, C): W^T S
    eye = torch.eye(n1, dtype=z.dtype, device=z.device)
    KzW = d1[:, :, None, None] * (T.unsqueeze(3) * a[:, None, None, :] + eye[None, :, None, :] * e[:, None, :, None])
    parts = {"layers.1.weight": (e.unsqueeze(2) * a.unsqueeze(1), KzW, C * n1),
             "layers.1.bias": (e, d1.unsqueeze(2) * T, C)}
    chosen = [parts[name] for name in rest_names]
    r = sum(size for _, _, size in chosen)
    grads = z.new_empty(m, n1 + r)
    G = z.new_empty(m, n1 + r, n1 + r)
    grads[:, :n1] = d1 * We
    G[:, :n1, :n1] = Mzz
    AA = a.unsqueeze(2) * a.unsqueeze(1)  # (m, n1, n1)
    off = n1
    for name, (grad, K, size) in zip(rest_names, chosen):
        grads[:, off:off + size] = grad.reshape(m, size)
        G[:, :n1, off:off + size] = K.reshape(m, n1, size)
        G[:, off:off + size, :n1] = K.reshape(m, n1, size).transpose(1, 2)
        off2 = n1
        for name2, (_, _, size2) in zip(rest_names, chosen):
            if name == "layers.1.weight" and name2 == "layers.1.weight":
                Q = (S[:, :, None, :, None] * AA[:, None, :, None, :]).reshape(m, size, size2)
            elif name == "layers.1.weight":
                Q = (S[:, :, None, :] * a[:, None, :, None]).reshape(m, size, size2)
            elif name2 == "layers.1.weight":
                Q = (S[:, :, :, None] * a[:, None, None, :]).reshape(m, size, size2)
            else:
                Q = S
            G[:, off:off + size, off2:off2 + size2] = Q
            off2 += size2
        off += size
    return grads, G


def kronecker_block_hessian(
    model: nn.Module,
    block: Block,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> BlockCurvature:
    """Exact gradient and Hessian of the mean cross-entropy of a plain MLP over a block that holds
    first-layer parameters, from the first layer's Kronecker structure.

    The first layer enters the loss only through z_1 = W_1 x + b_1, linear in (W_1, b_1) with the
    example's x fixed. So with f_b(u) the loss of example b as a function of u = (z_1, the block's
    later-layer parameters theta_r), and G_b = d^2 f_b / du^2 = [[M_b, K_b], [K_b^T, Q_b]]
    (M_b: n_1 x n_1, K_b: n_1 x r, Q_b: r x r), the chain rule gives, over m examples,

        H[W_1(a,i), W_1(c,j)] = (1/m) sum_b M_b[a,c] x_b[i] x_b[j]
        H[W_1(a,i), b_1(c)]   = (1/m) sum_b M_b[a,c] x_b[i]        H[b_1(a), b_1(c)] = (1/m) sum_b M_b[a,c]
        H[W_1(a,i), theta_r]  = (1/m) sum_b x_b[i] K_b[a, r]        H[b_1(a), theta_r] = (1/m) sum_b K_b[a, r]
        H[theta_r, theta_r']  = (1/m) sum_b Q_b[r, r']

    exactly (no Gauss-Newton approximation: G_b holds the activation's second derivative and the
    later weights' mixed terms). The G_b are small per-example Hessians (torch.func, vmapped); the
    N^2 part is a few large matrix products: for each hidden unit a, rows W_1(a, .) of H are
    X^T Z_a with Z_a[b, (c, j)] = M_b[a,c] x_b[j] / m, for c >= a only (the blocks c < a are
    mirrored), about m n_1^2 d_in^2 multiply-adds in all, against about 3 m n_1 d_in per Hessian
    row for the generic forward-over-reverse path. The result is exactly symmetric.
    """
    chain = _mlp_chain(model)
    if chain is None:
        raise ValueError("model: the Kronecker Hessian needs a plain MLP (layers of nn.Linear, tanh or relu)")
    layers, act = chain
    params = {n: p.detach().to(device=device, dtype=dtype) for n, p in model.named_parameters()}
    xb = x.detach().to(device=device, dtype=dtype)
    y = y.to(device=xb.device)
    m, d_in = xb.shape
    n1 = layers[0].out_features
    names = list(block.names)
    sizes = [math.prod(s) for s in block.shapes]
    offsets = dict(zip(names, [sum(sizes[:k]) for k in range(len(sizes))]))
    rest_names = [n for n in names if not n.startswith("layers.0.")]
    rest_sizes = [math.prod(params[n].shape) for n in rest_names]
    r = sum(rest_sizes)

    def loss_of_u(u: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        z = u[:n1]
        local = dict(params)
        off = n1
        for name, size in zip(rest_names, rest_sizes):
            local[name] = u[off:off + size].reshape(params[name].shape)
            off += size
        h = z
        for i in range(1, len(layers)):
            h = torch.nn.functional.linear(act(h), local[f"layers.{i}.weight"], local[f"layers.{i}.bias"])
        return torch.nn.functional.cross_entropy(h.unsqueeze(0), target.unsqueeze(0))

    z1 = torch.nn.functional.linear(xb, params["layers.0.weight"], params["layers.0.bias"])
    if len(layers) == 2:  # one hidden layer (the paper's 784-16-10): G_b in closed form
        grads, G = _one_hidden_layer_terms(z1, params["layers.1.weight"], params["layers.1.bias"], y,
                                           relu=act is torch.relu, rest_names=rest_names)
    else:
        theta_r = [params[n].reshape(-1) for n in rest_names]
        u = torch.cat([z1, torch.cat(theta_r).expand(m, r) if r else z1.new_zeros(m, 0)], dim=1)
        grads = torch.func.vmap(torch.func.grad(loss_of_u))(u, y)  # (m, n1 + r)
        G = torch.func.vmap(torch.func.jacfwd(torch.func.grad(loss_of_u)))(u, y)  # (m, n1 + r, n1 + r)
    G = (G + G.transpose(1, 2)) * 0.5
    with torch.no_grad():
        logits = z1
        for i in range(1, len(layers)):
            logits = torch.nn.functional.linear(act(logits), params[f"layers.{i}.weight"], params[f"layers.{i}.bias"])
        value = float(torch.nn.functional.cross_entropy(logits, y))
    scale = 1.0 / m
    M = G[:, :n1, :n1] * scale  # (m, n1, n1)
    K = G[:, :n1, n1:] * scale  # (m, n1, r)
    dz = grads[:, :n1] * scale
    N = block.size
    H = _empty_square(N, dtype, xb.device)
    g = torch.empty(N, dtype=dtype, device=xb.device)
    w_off = offsets.get("layers.0.weight")
    b_off = offsets.get("layers.0.bias")
    if w_off is not None:
        g[w_off:w_off + n1 * d_in] = (dz.T @ xb).reshape(-1)
        end = w_off + n1 * d_in
        for a in range(n1):
            rows = slice(w_off + a * d_in, w_off + (a + 1) * d_in)
            width = n1 - a
            Z = (M[:, a, a:].unsqueeze(2) * xb.unsqueeze(1)).reshape(m, width * d_in)
            # the product lands in H's row panel itself (a strided view with unit column stride,
            # which BLAS writes through its leading dimension): no temporary, no second copy
            torch.mm(xb.T, Z, out=H[rows, w_off + a * d_in:end])
            diag = H[rows, rows]
            diag.copy_((diag + diag.T) * 0.5)
            if a + 1 < n1:  # mirror the blocks (c, a), c > a, from (a, c) in one transposed copy
                H[w_off + (a + 1) * d_in:end, rows].copy_(H[rows, w_off + (a + 1) * d_in:end].T)
    if b_off is not None:
        g[b_off:b_off + n1] = dz.sum(0)
        bb = M.sum(0)
        H[b_off:b_off + n1, b_off:b_off + n1] = (bb + bb.T) * 0.5
        if w_off is not None:
            wb = torch.einsum("bac,bi->aic", M, xb).reshape(n1 * d_in, n1)
            H[w_off:w_off + n1 * d_in, b_off:b_off + n1] = wb
            H[b_off:b_off + n1, w_off:w_off + n1 * d_in] = wb.T
    if r:
        rest_idx = torch.cat([torch.arange(offsets[n], offsets[n] + sz, device=xb.device)
                              for n, sz in zip(rest_names, rest_sizes)])
        g[rest_idx] = grads[:, n1:].mean(0)
        Q = G[:, n1:, n1:].sum(0) * scale
        H[rest_idx.unsqueeze(1), rest_idx.unsqueeze(0)] = (Q + Q.T) * 0.5
        if w_off is not None:
            wr = (xb.T @ K.reshape(m, n1 * r)).reshape(d_in, n1, r).transpose(0, 1).reshape(n1 * d_in, r)
            H[w_off:w_off + n1 * d_in][:, rest_idx] = wr
            H[rest_idx, w_off:w_off + n1 * d_in] = wr.T
        if b_off is not None:
            br = K.sum(0)
            H[b_off:b_off + n1][:, rest_idx] = br
            H[rest_idx, b_off:b_off + n1] = br.T
    return BlockCurvature(block, value, g, H)


def block_curvature(
    model: nn.Module,
    block: Block,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
    chunk_size: int | str | None = None,
    structured: bool = True,
    device: torch.device | str | None = None,
) -> BlockCurvature:
    """Gradient and exact, exactly symmetric Hessian of J over block B.

    A plain MLP block holding first-layer parameters (with `structured`, the default) goes through
    `kronecker_block_hessian` (the same Hessian from a few large matrix products). Otherwise:
    forward-over-reverse, jacfwd(jacrev(J)), vectorized over all N basis vectors at once; with
    `chunk_size` set, reverse-over-reverse jacrev(jacrev(J), chunk_size=k) instead, which holds
    only k basis vectors' intermediates at a time (for large N, e.g. 12.7K parameters)."""
    if structured and kronecker_applies(model, block, x, loss_fn):
        return kronecker_block_hessian(model, block, x, y, dtype, device)
    J, flat0 = block_loss_fn(model, block, x, y, dtype, loss_fn, device)
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
    device: torch.device | str | None = None,
) -> list[BlockCurvature]:
    """`block_curvature` for each block (the diagonal blocks of the full Hessian), on `device`
    when given (the results then live there)."""
    return [block_curvature(model, b, x, y, dtype, loss_fn, chunk_size, device=device) for b in blocks]


class ExactHessian:
    """The exact Hessian of the mini-batch loss per block (the `hessian` curvature kind).

    dtype: the dtype of the computation (float64 default; float32 halves memory and time).
    chunk_size: None (forward-over-reverse over all basis vectors at once), an int, or "auto"
    (chunked reverse-over-reverse above AUTO_CHUNK_THRESHOLD parameters)."""

    kind = CurvatureKind.HESSIAN.value

    def __init__(self, dtype: torch.dtype = torch.float64, chunk_size: int | str | None = AUTO_CHUNK,
                 device: torch.device | str | None = None) -> None:
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype: must be torch.float64 or torch.float32, got {dtype}")
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.device = device

    def __call__(self, model: nn.Module, batch: Batch, blocks: Sequence[Block]) -> list[BlockCurvature]:
        return curvature(model, blocks, batch.inputs, batch.targets, self.dtype, batch.loss_fn, self.chunk_size,
                         device=self.device)


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
