"""The L-BFGS two-loop recursion and a flat view of an optimizer's parameters.

Every limited-memory quasi-Newton method of the project (L-BFGS-style SLIM-QN, LNAQ, LMoQ, the
online variants) applies the same implicit inverse-Hessian approximation H_k to a vector: the
BFGS update

    H_{i+1} = (I - rho_i s_i y_i^T) H_i (I - rho_i y_i s_i^T) + rho_i s_i s_i^T,   rho_i = 1 / (y_i^T s_i),

applied to H_0 = gamma I for the stored pairs (s_i, y_i), oldest first, computed without forming
any matrix (Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 7.4; Nocedal 1980).
Costs 4 m n multiply-adds for m pairs of length n.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch


def two_loop(vector: torch.Tensor, s_list: Sequence[torch.Tensor], y_list: Sequence[torch.Tensor],
             gamma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """H_k @ vector for the L-BFGS inverse-Hessian approximation built from the pairs (s_i, y_i),
    oldest first, on H_0 = gamma I (Nocedal & Wright Alg. 7.4). Pairs need y_i^T s_i > 0 (the
    caller skips or damps the others); ValueError on mismatched lists or a non-positive curvature.
    The result has `vector`'s shape and dtype; the inputs are not modified."""
    if len(s_list) != len(y_list):
        raise ValueError(f"s_list and y_list: must have the same length, got {len(s_list)} and {len(y_list)}")
    q = vector.clone()
    rhos, alphas = [], []
    for s, y in zip(s_list, y_list):
        ys = torch.dot(y, s)
        if not bool(ys > 0):
            raise ValueError(f"curvature pair: y^T s must be > 0, got {float(ys):.3g}")
        rhos.append(1.0 / ys)
    for s, y, rho in zip(reversed(s_list), reversed(y_list), reversed(rhos)):
        alpha = rho * torch.dot(s, q)
        q.sub_(alpha * y)
        alphas.append(alpha)
    r = q.mul_(gamma)
    for s, y, rho, alpha in zip(s_list, y_list, rhos, reversed(alphas)):
        beta = rho * torch.dot(y, r)
        r.add_((alpha - beta) * s)
    return r


def initial_scaling(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """gamma_k = s^T y / y^T y, the usual scaling of H_0 (Nocedal & Wright eq. 7.20)."""
    return torch.dot(s, y) / torch.dot(y, y)


def flat(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """The tensors concatenated into one 1-D tensor (a copy)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def flat_grad(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The parameters' gradients as one vector (zeros where a gradient is None)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])


def _check_length(params: Sequence[torch.Tensor], vector: torch.Tensor) -> None:
    total = sum(p.numel() for p in params)
    if vector.numel() != total:
        raise ValueError(f"vector: has {vector.numel()} entries, the parameters {total}")


def assign_flat(params: Sequence[torch.Tensor], vector: torch.Tensor) -> None:
    """Copy `vector` into the parameters, in order (no autograd history)."""
    _check_length(params, vector)
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vector[offset:offset + n].view_as(p))
            offset += n


def add_flat(params: Sequence[torch.Tensor], vector: torch.Tensor, alpha: float = 1.0) -> None:
    """params += alpha * vector, with `vector` laid out as `flat(params)`."""
    _check_length(params, vector)
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.add_(vector[offset:offset + n].view_as(p), alpha=alpha)
            offset += n
