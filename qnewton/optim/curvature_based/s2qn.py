"""S2QN: structured stochastic quasi-Newton (paper 001, Algorithm 1), variants S4QN and SKQN-L.

The curvature model is B_k = H_k + Lambda_k (eq. 9): a cheap base matrix H_k with part of the
Hessian information, plus a refinement Lambda_k, an L-BFGS matrix in compact form (eq. 12),

    Lambda_k = gamma I - C P^{-1} C^T,  C = [gamma U, V],  P = [[gamma U^T U, L], [L^T, -D]],
    L = strictly lower triangle of U^T V,  D = diag(U^T V),

built from the last p pairs (u_i, v_i) with u_{k-1} = theta_k - theta_{k-1} and the secant
condition of eq. 10: Lambda u = v = v^ - H_k u, v^ the change of the gradient on the SAME samples
(a second gradient at theta_{k+1} per step, Algorithm 1 line 5). The difference v^ - H_k u has
no sign of its own (where H_k is close to the Hessian it is mostly the Hessian's part H_k
misses), so v is damped as Sec. 3.2 suggests, by the rule of its reference [39] (`damp_pair`:
v <- theta v + (1 - theta) gamma u with u^T v >= u^T u gamma / 4), and a pair is kept only when
u^T v >= eps_B ||u|| ||v||; Lambda then stays positive definite. The step is

    d_k = (B_k + lambda_k I)^{-1} g_k,   theta_{k+1} = theta_k - lr d_k   (lr = beta_k),

with lambda_k from eq. 8 (`qnewton.optim.curvature_based.lm.s2qn_damping`) and the inverse by the
Sherman-Morrison-Woodbury formula (eq. 13): with Ht = H_k + (gamma + lambda_k) I and
T = P - C^T Ht^{-1} C (2p x 2p),

    (B_k + lambda_k I)^{-1} = Ht^{-1} + Ht^{-1} C T^{-1} C^T Ht^{-1}.

Base matrices:
* S4QN: the exact Hessian of a subsample of the mini-batch (ceil(hessian_fraction m) examples,
  seeded as in `ssn`), over all parameters (dense, at most max_params), taken as its positive
  semi-definite part V max(lam, 0) V^T so that Ht is invertible (paper 001 tests it on logistic
  regression, whose Hessian is positive semi-definite anyway);
* SKQN-L: the empirical K-FAC matrix, per Linear layer G (x) A with the true labels' gradients
  (eq. 17's empirical version, the base of eq. 18; `qnewton.curvature.kfac` "empirical"), whose
  Ht^{-1} comes from the eigendecompositions of A and G: (G (x) A + c I)^{-1} =
  (Q_G (x) Q_A) (lam_G lam_A^T + c)^{-1} (Q_G (x) Q_A)^T.

Hyper-parameters: lr = 1.0 (beta_k), gamma = 1e-3 (Lambda^0 = gamma I), memory = 5 (p),
alpha = 10.0, r1 = 0.01, r2 = 1.0 (eq. 8), eps_B = 1e-8; S4QN also hessian_fraction = 0.25,
max_params = 4096 and seed = 0. Two gradient evaluations per step, plus the base matrix.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import nn

from qnewton.curvature.base import Batch
from qnewton.curvature.hessian import ExactHessian
from qnewton.curvature.kfac import KFAC, linear_layout
from qnewton.optim.curvature_based.base import flat_blocks, model_and_batch
from qnewton.optim.curvature_based.lm import s2qn_damping
from qnewton.optim.curvature_based.ssn import subsample_indices
from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport

Solve = Callable[[torch.Tensor, float], torch.Tensor]


def compact_lbfgs(U: torch.Tensor, V: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, P) of the compact L-BFGS matrix gamma I - C P^{-1} C^T of pairs U, V (n x p), eq. 12."""
    UV = U.T @ V
    L = torch.tril(UV, diagonal=-1)
    D = torch.diag(torch.diagonal(UV))
    C = torch.cat([gamma * U, V], dim=1)
    P = torch.cat([torch.cat([gamma * (U.T @ U), L], dim=1), torch.cat([L.T, -D], dim=1)], dim=0)
    return C, P


def refinement_matrix(U: torch.Tensor, V: torch.Tensor, gamma: float) -> torch.Tensor:
    """Lambda = gamma I - C P^{-1} C^T as a dense n x n matrix (for checks; eq. 12)."""
    C, P = compact_lbfgs(U, V, gamma)
    return gamma * torch.eye(U.shape[0], dtype=U.dtype) - C @ torch.linalg.solve(P, C.T)


def smw_solve(solve_tilde: Callable[[torch.Tensor], torch.Tensor], U: torch.Tensor, V: torch.Tensor, gamma: float,
              g: torch.Tensor) -> torch.Tensor:
    """(H + Lambda + lambda I)^{-1} g by eq. 13, given X -> Ht^{-1} X for Ht = H + (gamma + lambda) I
    (X: vector or n x q matrix) and the pairs U, V (n x p; p = 0: Ht^{-1} g)."""
    Hg = solve_tilde(g)
    if U.shape[1] == 0:
        return Hg
    C, P = compact_lbfgs(U, V, gamma)
    HC = solve_tilde(C)
    T = P - C.T @ HC
    return Hg + HC @ torch.linalg.solve(T, C.T @ Hg)


def damp_pair(u: torch.Tensor, v: torch.Tensor, gamma: float) -> tuple[torch.Tensor, float]:
    """(v~, theta): the damped refinement pair of Wang, Ma, Goldfarb and Liu (paper 001's
    reference [39]) with Lambda^0 = gamma I: v~ = theta v + (1 - theta) gamma u, theta = 1 when
    u^T v >= 0.25 gamma u^T u, else theta = 0.75 gamma u^T u / (gamma u^T u - u^T v), so that
    u^T v~ >= 0.25 gamma u^T u > 0 and the L-BFGS refinement stays positive definite."""
    uBu = gamma * float(u @ u)
    uv = float(u @ v)
    if uv >= 0.25 * uBu:
        return v, 1.0
    theta = 0.75 * uBu / (uBu - uv)
    return theta * v + (1.0 - theta) * gamma * u, theta


class DenseBase:
    """A dense positive semi-definite base matrix H = Q diag(lam) Q^T (S4QN)."""

    def __init__(self, H: torch.Tensor) -> None:
        lam, Q = torch.linalg.eigh(H)
        self.lam, self.Q = lam.clamp(min=0.0), Q

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.Q @ (self.lam * (self.Q.T @ v))

    def solve(self, X: torch.Tensor, shift: float) -> torch.Tensor:
        denom = self.lam + shift
        Y = self.Q.T @ X
        return self.Q @ (Y / (denom if Y.dim() == 1 else denom[:, None]))

    def dense(self) -> torch.Tensor:
        return self.Q @ torch.diag(self.lam) @ self.Q.T


class KroneckerBase:
    """Block-diagonal base matrix, per layer G (x) A in the layout of `KroneckerFactors` (SKQN-L)."""

    def __init__(self, n: int, layers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        self.n = n
        self.layers = []  # (positions, index, (lam_A, Q_A), (lam_G, Q_G))
        for pos, index, A, G in layers:
            la, qa = torch.linalg.eigh(A)
            lg, qg = torch.linalg.eigh(G)
            self.layers.append((pos, index, la, qa, lg, qg))

    def _apply(self, X: torch.Tensor, fn: Callable[..., torch.Tensor]) -> torch.Tensor:
        cols = X.unsqueeze(1) if X.dim() == 1 else X
        out = torch.zeros_like(cols)
        for j in range(cols.shape[1]):
            v = cols[:, j]
            for pos, index, la, qa, lg, qg in self.layers:
                M = v[pos][index]
                R = fn(M, la, qa, lg, qg)
                local = torch.empty(pos.numel(), dtype=v.dtype)
                local[index.reshape(-1)] = R.reshape(-1)
                out[pos, j] = local
        return out[:, 0] if X.dim() == 1 else out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._apply(v, lambda M, la, qa, lg, qg: (qg * lg) @ qg.T @ M @ (qa * la) @ qa.T)

    def solve(self, X: torch.Tensor, shift: float) -> torch.Tensor:
        def one(M, la, qa, lg, qg):
            return qg @ ((qg.T @ M @ qa) / (lg[:, None] * la[None, :] + shift)) @ qa.T
        return self._apply(X, one)

    def dense(self) -> torch.Tensor:
        return torch.stack([self.matvec(e) for e in torch.eye(self.n, dtype=torch.float64)], dim=1)


class S2QN(FlatOptimizer):
    """Algorithm 1 of paper 001 around a base matrix from `base(model, batch, step)` (subclasses)."""

    variant = "s2qn"

    def __init__(self, params: Iterable[torch.Tensor], extra: dict[str, Any], lr: float, gamma: float, memory: int,
                 alpha: float, r1: float, r2: float, eps_B: float) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("gamma", gamma, low=0.0, low_open=True)
        check_int("memory", memory, 0)
        check_number("alpha", alpha, low=0.0, low_open=True)
        check_number("r1", r1, low=0.0, low_open=True)
        check_number("r2", r2, low=0.0, low_open=True)
        if not float(r1) < float(r2):
            raise ValueError(f"r2: must be larger than r1={r1}, got {r2!r}")
        check_number("eps_B", eps_B, low=0.0)
        super().__init__(params, dict(lr=float(lr), gamma=float(gamma), memory=int(memory), alpha=float(alpha),
                                      r1=float(r1), r2=float(r2), eps_B=float(eps_B), **extra))

    def base(self, model: nn.Module, batch: Batch, step: int) -> DenseBase | KroneckerBase:  # pragma: no cover
        raise NotImplementedError

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored pairs as n x p matrices U, V (oldest first; p = 0 before any)."""
        st = self.flat_state
        us, vs = st.get("U", []), st.get("V", [])
        n = self.numel
        if not us:
            return torch.zeros(n, 0, dtype=torch.float64), torch.zeros(n, 0, dtype=torch.float64)
        return torch.stack(list(us), dim=1), torch.stack(list(vs), dim=1)

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase=self.variant)
        model, batch = model_and_batch(objective.closure, self.variant)
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        t = int(state.get("t", 0))
        state["t"] = t + 1
        base = self.base(model, batch, t)
        if "pending_u" in state:  # the last step's pair: v = v^ - H_k u (eq. 10)
            u, v_hat = state.pop("pending_u"), state.pop("pending_v")
            v, state["pair_damping"] = damp_pair(u, v_hat - base.matvec(u), group["gamma"])
            uv, nu, nv = float(u @ v), float(u.norm()), float(v.norm())
            if group["memory"] > 0 and nu > 0 and math.isfinite(uv) and uv >= group["eps_B"] * nu * nv and uv > 0:
                state["U"] = (list(state.get("U", [])) + [u])[-group["memory"]:]
                state["V"] = (list(state.get("V", [])) + [v])[-group["memory"]:]
            else:
                state["skipped_pairs"] = int(state.get("skipped_pairs", 0)) + 1
        lam = s2qn_damping(state.get("previous_gradient_norm"), group["alpha"], group["r1"], group["r2"])
        state["damping"] = lam
        state["previous_gradient_norm"] = float(g.norm())
        U, V = self.pairs()
        shift = group["gamma"] + lam
        d = smw_solve(lambda X: base.solve(X, shift), U, V, group["gamma"], g)
        if not finite(0.0, d):
            report.skipped = "non-finite direction"
            return report, loss
        theta = objective.x()
        new = theta - group["lr"] * d
        _, g_new = objective.evaluate(new)  # the same samples at theta_{k+1} (Algorithm 1 line 5)
        if finite(0.0, g_new):
            state["pending_u"], state["pending_v"] = new - theta, g_new - g
        return report, loss


class S4QN(S2QN):
    """S2QN with the subsampled Hessian (positive part) over all parameters as base (module docstring)."""

    variant = "s4qn"

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, gamma: float = 1e-3, memory: int = 5,
                 alpha: float = 10.0, r1: float = 0.01, r2: float = 1.0, eps_B: float = 1e-8,
                 hessian_fraction: float = 0.25, max_params: int = 4096, seed: int = 0) -> None:
        check_number("hessian_fraction", hessian_fraction, low=0.0, high=1.0, low_open=True)
        check_int("max_params", max_params, 1)
        check_int("seed", seed, 0)
        super().__init__(params, dict(hessian_fraction=float(hessian_fraction), max_params=int(max_params),
                                      seed=int(seed)), lr, gamma, memory, alpha, r1, r2, eps_B)

    def check_model(self, model: nn.Module) -> None:
        """ValueError naming max_params when the dense n x n base would be larger."""
        if self.numel > self.param_groups[0]["max_params"]:
            raise ValueError(f"max_params: s4qn forms a dense {self.numel} x {self.numel} Hessian; the model has more "
                             f"than max_params={self.param_groups[0]['max_params']} parameters")
        flat_blocks(model, self._params, "full")

    def base(self, model: nn.Module, batch: Batch, step: int) -> DenseBase:
        group = self.param_groups[0]
        self.check_model(model)
        (block, pos), = flat_blocks(model, self._params, "full")
        idx = subsample_indices(batch.inputs.shape[0], group["hessian_fraction"], group["seed"], step)
        sub = Batch(batch.inputs[idx], batch.targets[idx], batch.loss_fn)
        (curv,) = ExactHessian(dtype=torch.float64)(model, sub, [block])
        H = torch.zeros(self.numel, self.numel, dtype=torch.float64)
        H[pos[:, None], pos[None, :]] = curv.H
        return DenseBase(H)


class SKQNL(S2QN):
    """S2QN with the empirical K-FAC base per Linear layer and the L-BFGS refinement (module docstring)."""

    variant = "skqn-l"

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, gamma: float = 1e-3, memory: int = 5,
                 alpha: float = 10.0, r1: float = 0.01, r2: float = 1.0, eps_B: float = 1e-8) -> None:
        super().__init__(params, {}, lr, gamma, memory, alpha, r1, r2, eps_B)

    def check_model(self, model: nn.Module) -> None:
        """UsageError unless every trainable parameter belongs to an nn.Linear."""
        for block, _ in flat_blocks(model, self._params, "layer"):
            linear_layout(model, block)

    def base(self, model: nn.Module, batch: Batch, step: int) -> KroneckerBase:
        blocks = flat_blocks(model, self._params, "layer")
        curv = KFAC(fisher_type="empirical", dense_max_n=0)(model, batch, [b for b, _ in blocks])
        return KroneckerBase(self.numel, [(pos, c.factors.index, c.factors.A, c.factors.G)
                                          for (_, pos), c in zip(blocks, curv)])
