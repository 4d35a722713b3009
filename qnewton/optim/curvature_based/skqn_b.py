"""SKQN-B1 and SKQN-B2: S2QN with a Kronecker-factored structured matrix and a sketchy block BFGS
refinement of its output factor (paper 001 Secs. 4.1-4.2).

Per Linear layer, with the step's empirical K-FAC factors A^ (input, cols x cols) and G~ (output,
out x out; `qnewton.curvature.kfac`, fisher_type "empirical", the base of eq. 18), the curvature
model is eq. 18 in the layout of `KroneckerFactors` (the layer's parameters as the matrix
M = [W | b], out x cols; K vec(M) = vec(G M A)):

    B_k M = (G~_k + Lam_k) M A^_k,

with a refinement Lam_k (out x out, symmetric positive definite, Lam_0 = gamma I) kept per layer
across steps. The direction per layer is (B_k + lambda_k I)^{-1} g (eigendecompositions of A^ and
of G~ + Lam, as for SKQN-L), lambda_k from eq. 8, theta <- theta - lr d (Algorithm 1). After the
step the refinement is updated from a multi-secant pair (U, V) of the same samples:

* SKQN-B1, eq. 19: U = mat(u), V = mat(v^) - G~ U A^ (u = theta_{k+1} - theta_k, v^ the gradient
  change on the step's batch: a second gradient per step);
* SKQN-B2, eq. 20: U = the changes of the layer's pre-activations s_n (one column per example),
  V = the changes of the per-example output gradients d l_n / d s_n, minus G~ U (the pre-activation
  Hessian's secant condition); this takes the layers' outputs and output gradients at theta_k and
  at theta_{k+1} (two forward-backward passes, counted as gradient evaluations).

Sketch (eq. 22): the q = min(sketch_size, out, columns) combinations U Xi, V Xi of the columns,
Xi a Gaussian (columns x q) matrix drawn from a generator seeded with (seed, step); combinations
of secant conditions are secant conditions. We read eq. 22's Xi as acting on the columns because
in this layout the refinement acts on the rows. Then, with W = U^T Lam U and
P = (V^T U + U^T V) / 2 (P_type "sym") or tr(V^T U) I ("trace"), damping replaces V by
tau V + (1 - tau) Lam U (Sec. 4.2), tau = 1 when the smallest eigenvalue mu of W^{-1/2} P W^{-1/2}
is >= 1/4, else tau = (3/4) / (1 - mu), so that P >= W / 4; and the block BFGS update eq. 21 is

    Lam <- Lam + V P^{-1} V^T - Lam U W^{-1} U^T Lam,

which satisfies Lam U = V when V^T U is symmetric (P = V^T U, "block BFGS").

Hyper-parameters: lr = 1.0, gamma = 1.0 (Lam_0 = gamma I; the output factor's scale), alpha = 10.0,
r1 = 0.01, r2 = 1.0 (eq. 8), sketch_size = 4, P_type = "sym", seed = 0. Gradient evaluations per
step: 2 (B1) or 3 (B2).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from qnewton.curvature.base import Batch
from qnewton.curvature.kfac import KFAC, linear_layout
from qnewton.optim.curvature_based.base import flat_blocks, model_and_batch
from qnewton.optim.curvature_based.lm import s2qn_damping
from qnewton.optim.curvature_based.s2qn import KroneckerBase
from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport

P_TYPES: tuple[str, ...] = ("sym", "trace")


def block_bfgs_update(Lam: torch.Tensor, U: torch.Tensor, V: torch.Tensor,
                      P_type: str = "sym") -> tuple[torch.Tensor, float]:
    """(Lam+, tau): eq. 21 with the damping of Sec. 4.2 (module docstring) for pairs U, V (out x q).
    Returns Lam unchanged (tau = nan) when U^T Lam U is not positive definite."""
    LU = Lam @ U
    W = U.T @ LU
    W = (W + W.T) * 0.5
    try:
        Lw = torch.linalg.cholesky(W)
    except RuntimeError:
        return Lam, math.nan
    if P_type == "sym":
        S = (V.T @ U + U.T @ V) * 0.5
        Wi = torch.linalg.inv(Lw)
        mu = float(torch.linalg.eigvalsh(Wi @ S @ Wi.T)[0])
    else:
        mu = float(torch.trace(V.T @ U)) / float(torch.trace(W))
    tau = 1.0 if mu >= 0.25 else 0.75 / (1.0 - mu)
    Vd = tau * V + (1.0 - tau) * LU
    if P_type == "sym":
        P = (Vd.T @ U + U.T @ Vd) * 0.5
        VP = torch.linalg.solve(P, Vd.T)
        new = Lam + Vd @ VP
    else:
        new = Lam + (Vd @ Vd.T) / float(torch.trace(Vd.T @ U))
    new = new - LU @ torch.cholesky_solve(LU.T, Lw)
    return (new + new.T) * 0.5, tau


def sketch(columns: int, q: int, seed: int, step: int, layer: int) -> torch.Tensor:
    """Xi: (columns x q) Gaussian, scaled by 1/sqrt(q), from a generator seeded by (seed, step, layer)."""
    generator = torch.Generator()
    generator.manual_seed((int(seed) * 1_000_003 + int(step)) * 1009 + int(layer))
    return torch.randn(columns, q, generator=generator, dtype=torch.float64) / math.sqrt(q)


def layer_signals(model: nn.Module, batch: Batch, modules: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per Linear module (by name): (s, delta), s the pre-activations (out x N) and delta the
    per-example output gradients d l_n / d s_n (out x N) on `batch`, in float64 (N = rows)."""
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name in modules:
        def hook(mod: nn.Module, args: tuple, out: torch.Tensor, key: str = name) -> None:
            outputs[key] = out
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.enable_grad():
            z = model(batch.inputs)
            n = z.shape[0]
            loss = batch.loss_fn(z, batch.targets) * n  # the sum of per-example losses
            grads = torch.autograd.grad(loss, [outputs[m] for m in modules])
    finally:
        for h in handles:
            h.remove()
    out = []
    for m, d in zip(modules, grads):
        s = outputs[m].detach()
        out.append((s.reshape(-1, s.shape[-1]).T.double(), d.detach().reshape(-1, d.shape[-1]).T.double()))
    return out


class SKQNB(FlatOptimizer):
    """SKQN-B1 (condition="b1") or SKQN-B2 (condition="b2"); module docstring."""

    condition = "b1"

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, gamma: float = 1.0, alpha: float = 10.0,
                 r1: float = 0.01, r2: float = 1.0, sketch_size: int = 4, P_type: str = "sym", seed: int = 0) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("gamma", gamma, low=0.0, low_open=True)
        check_number("alpha", alpha, low=0.0, low_open=True)
        check_number("r1", r1, low=0.0, low_open=True)
        check_number("r2", r2, low=0.0, low_open=True)
        if not float(r1) < float(r2):
            raise ValueError(f"r2: must be larger than r1={r1}, got {r2!r}")
        check_int("sketch_size", sketch_size, 1)
        if P_type not in P_TYPES:
            raise ValueError(f"P_type: must be one of {', '.join(P_TYPES)}, got {P_type!r}")
        check_int("seed", seed, 0)
        super().__init__(params, dict(lr=float(lr), gamma=float(gamma), alpha=float(alpha), r1=float(r1),
                                      r2=float(r2), sketch_size=int(sketch_size), P_type=P_type, seed=int(seed)))

    def check_model(self, model: nn.Module) -> list:
        """The layer blocks with flat positions; UsageError unless each is one nn.Linear."""
        blocks = flat_blocks(model, self._params, "layer")
        for block, _ in blocks:
            linear_layout(model, block)
        return blocks

    def refinements(self) -> list[torch.Tensor]:
        """The per-layer refinements Lam (out x out), after the first step."""
        return list(self.flat_state.get("Lam", []))

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase=f"skqn-{self.condition}")
        model, batch = model_and_batch(objective.closure, f"SKQN-{self.condition.upper()}")
        blocks = self.check_model(model)
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        t = int(state.get("t", 0))
        state["t"] = t + 1
        curv = KFAC(fisher_type="empirical", dense_max_n=0)(model, batch, [b for b, _ in blocks])
        layouts = [linear_layout(model, b) for b, _ in blocks]
        if "Lam" not in state:
            state["Lam"] = [group["gamma"] * torch.eye(c.factors.G.shape[0], dtype=torch.float64) for c in curv]
        lam = s2qn_damping(state.get("previous_gradient_norm"), group["alpha"], group["r1"], group["r2"])
        state["damping"] = lam
        state["previous_gradient_norm"] = float(g.norm())
        base = KroneckerBase(g.numel(), [(pos, c.factors.index, c.factors.A, c.factors.G + L)
                                         for (_, pos), c, L in zip(blocks, curv, state["Lam"])])
        d = base.solve(g, lam)
        if not finite(0.0, d):
            report.skipped = "non-finite direction"
            return report, loss
        theta = objective.x()
        modules = [layout[0] for layout in layouts]
        before = layer_signals(model, batch, modules) if self.condition == "b2" else None
        new = theta - group["lr"] * d
        if self.condition == "b1":
            _, g_new = objective.evaluate(new)  # the same samples at theta_{k+1}
        else:
            objective.set(new)
            objective.evaluations += 2  # the two passes of layer_signals
            g_new = None
        after = layer_signals(model, batch, modules) if self.condition == "b2" else None
        taus = []
        for i, ((_, pos), c) in enumerate(zip(blocks, curv)):
            G, A, index = c.factors.G, c.factors.A, c.factors.index
            if self.condition == "b1":
                if g_new is None or not finite(0.0, g_new):
                    continue
                Um = (new - theta)[pos][index]
                Vm = (g_new - g)[pos][index] - G @ Um @ A
            else:
                Um = after[i][0] - before[i][0]
                Vm = (after[i][1] - before[i][1]) - G @ Um
            q = max(1, min(group["sketch_size"], Um.shape[0], Um.shape[1]))
            Xi = sketch(Um.shape[1], q, group["seed"], t, i)
            Lam_new, tau = block_bfgs_update(state["Lam"][i], Um @ Xi, Vm @ Xi, group["P_type"])
            if math.isfinite(tau) and bool(torch.isfinite(Lam_new).all()):
                state["Lam"][i] = Lam_new
                taus.append(tau)
        state["pair_damping"] = min(taus) if taus else math.nan
        return report, loss


class SKQNB1(SKQNB):
    """SKQN-B1: the refinement from the parameter-space multi-secant condition eq. 19."""

    condition = "b1"


class SKQNB2(SKQNB):
    """SKQN-B2: the refinement from the pre-activation secant condition eq. 20."""

    condition = "b2"
