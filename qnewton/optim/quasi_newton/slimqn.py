"""SLIM-QN: a stochastic, light, momentumized quasi-Newton optimizer (paper 002, Algorithm 2).

An L-BFGS preconditioner whose curvature pairs come from MOMENTUM AVERAGES of the parameters and
gradients instead of their raw values, with an adaptive damping of the gradient changes; it uses
one gradient per step (no line search, no second batch).

Per step t = 1, 2, ... on the step's mini-batch (Algorithm 2; the paper's names):

    g_t     = grad + wd * theta_t                                    (line 4, weight decay)
    M_th_t  = beta1 * M_th_{t-1} + (1 - beta1) * theta_t,  M_th_0 = theta_0   (Sec. 3.1, line 5)
    M_g_t   = beta2 * M_g_{t-1}  + (1 - beta2) * g_t,      M_g_0  = g_0       (Sec. 3.1, line 6)
    Delta_t = g_t                     while t <= 2L          (SGD warm-up, lines 7-8)
            = H_k^{-1} g_t            afterwards             (Algorithm 1: the L-BFGS two-loop
                                                              recursion, `qnewton.optim.two_loop`)
    v_t = momentum * v_{t-1} + Delta_t;  theta_{t+1} = theta_t - lr * v_t
                                     (lines 9-11, with the SGD-style momentum the paper adds)
    every L steps (t % L == 0, t > L; lines 12-17):
        s_k = M_th_t - M_th_{t-L},  y_k = M_g_t - M_g_{t-L}
        y^_k = tau * y_k + (1 - tau) * s_k                   (eq. 3, damping)
        mu = s_k^T y_k / s_k^T s_k and
        tau = min((1 - sigma_L) / (1 - mu), tau0)   if mu <= sigma_L < 1
            = min((sigma_H - 1) / (mu - 1), tau0)   if mu >= sigma_H >= 1
            = tau0                                   otherwise   (eq. 4)
        and (s_k, y^_k) joins the history of the last M pairs.

The damping moves the Rayleigh quotient s^T y^ / s^T s = tau mu + 1 - tau into [sigma_L, sigma_H]
(it equals sigma_L, resp. sigma_H, at the thresholds' tau), so every stored pair has positive
curvature and H_k^{-1} stays positive definite. H_0^{-1} = (s^T y^ / y^T y^) I of the newest
pair (Algorithm 1 line 6).

Hyper-parameters (defaults from the paper's experiments, Sec. 5 / Table 3 and the text around
it): lr = 0.1 (eta), momentum = 0.9, weight_decay = 0.0 (wd; the paper uses 2e-4 on ResNet-50),
beta1 = beta2 = 0.9, L = 30 (update interval), M = 10 (history length), tau0 = 0.95 (the paper
states the initial damping 1 - tau0 = 0.05), sigma_L = 0.01, sigma_H = 1.0. The paper writes the
second case of eq. 4 for sigma_H > 1 and uses sigma_H = 1 in its experiments; we read eq. 4 as
"clamp the Rayleigh quotient to sigma_H", which at sigma_H = 1 gives tau = 0 (y^ = s) for every
pair with mu >= 1. Without damping (tau0 = 1, sigma_L = 0, sigma_H = inf), zero momenta
(beta1 = beta2 = momentum = 0) and L = 1 the step is the plain L-BFGS step -lr H_k g_t.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from qnewton.optim.quasi_newton.base import FlatOptimizer, Objective, check_int, check_number, finite
from qnewton.optim.step_report import StepReport
from qnewton.optim.two_loop import two_loop


def damping_tau(mu: float, tau0: float, sigma_L: float, sigma_H: float) -> float:
    """tau of paper 002 eq. 4 for the Rayleigh quotient mu = s^T y / s^T s."""
    if mu <= sigma_L < 1.0:
        return min((1.0 - sigma_L) / (1.0 - mu), tau0)
    if mu >= sigma_H >= 1.0 and mu > 1.0:
        return min((sigma_H - 1.0) / (mu - 1.0), tau0)
    return tau0


class SLIMQN(FlatOptimizer):
    """SLIM-QN (paper 002 Algorithm 2, Secs. 3.1-3.3); see the module docstring for the formulas."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 0.0, beta1: float = 0.9, beta2: float = 0.9, L: int = 30, M: int = 10,
                 tau0: float = 0.95, sigma_L: float = 0.01, sigma_H: float = 1.0) -> None:
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        check_number("weight_decay", weight_decay, low=0.0)
        check_number("beta1", beta1, low=0.0, high=1.0, high_open=True)
        check_number("beta2", beta2, low=0.0, high=1.0, high_open=True)
        check_int("L", L, 1)
        check_int("M", M, 1)
        check_number("tau0", tau0, low=0.0, high=1.0, low_open=True)
        check_number("sigma_L", sigma_L, low=0.0, high=1.0, high_open=True)
        check_number("sigma_H", sigma_H, low=1.0)
        super().__init__(params, dict(lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay),
                                      beta1=float(beta1), beta2=float(beta2), L=int(L), M=int(M), tau0=float(tau0),
                                      sigma_L=float(sigma_L), sigma_H=float(sigma_H)))

    def history(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The stored pairs (s_k, y^_k), oldest first (float64)."""
        st = self.flat_state
        return list(st.get("s", [])), list(st.get("y", []))

    def direction(self, g: torch.Tensor) -> torch.Tensor:
        """H_k^{-1} g by the two-loop recursion over the stored pairs (g itself before any pair)."""
        s_list, y_list = self.history()
        if not s_list:
            return g.clone()
        s, y = s_list[-1], y_list[-1]
        return two_loop(g, s_list, y_list, float(s @ y) / float(y @ y))

    def _step(self, objective: Objective, group: dict[str, Any], state: dict[str, Any]) -> tuple[StepReport, float]:
        report = StepReport(phase="quasi-newton")
        theta = objective.x()
        loss, g = objective.current()
        if not finite(loss, g):
            report.skipped = "non-finite loss" if not finite(loss) else "non-finite gradient"
            return report, loss
        t = int(state.get("t", 0)) + 1
        state["t"] = t
        if group["weight_decay"]:
            g = g + group["weight_decay"] * theta
        b1, b2, L = group["beta1"], group["beta2"], group["L"]
        if "m_theta" not in state:
            state["m_theta"], state["m_g"] = theta.clone(), g.clone()
        else:
            state["m_theta"] = b1 * state["m_theta"] + (1.0 - b1) * theta
            state["m_g"] = b2 * state["m_g"] + (1.0 - b2) * g
        delta = g if t <= 2 * L else self.direction(g)
        if group["momentum"]:
            buf = state.get("buffer")
            buf = delta.clone() if buf is None else group["momentum"] * buf + delta
            state["buffer"] = buf
            delta = buf
        objective.set(theta - group["lr"] * delta)
        if t % L == 0:
            if t > L and "m_theta_prev" in state:
                self._add_pair(state, group, state["m_theta"] - state["m_theta_prev"], state["m_g"] - state["m_g_prev"])
            state["m_theta_prev"], state["m_g_prev"] = state["m_theta"].clone(), state["m_g"].clone()
        return report, loss

    def _add_pair(self, state: dict[str, Any], group: dict[str, Any], s: torch.Tensor, y: torch.Tensor) -> None:
        """Damp y (eqs. 3-4) and push (s, y^) into the history of at most M pairs."""
        ss = float(s @ s)
        if not ss > 0 or not math.isfinite(ss):
            return
        mu = float(s @ y) / ss
        if not math.isfinite(mu):
            return
        tau = damping_tau(mu, group["tau0"], group["sigma_L"], group["sigma_H"])
        y_hat = tau * y + (1.0 - tau) * s
        sy = float(s @ y_hat)
        if not sy > 1e-12 * ss or not bool(torch.isfinite(y_hat).all()):
            state["skipped_pairs"] = int(state.get("skipped_pairs", 0)) + 1
            return
        s_list, y_list = list(state.get("s", [])), list(state.get("y", []))
        s_list.append(s.clone())
        y_list.append(y_hat)
        state["s"], state["y"] = s_list[-group["M"]:], y_list[-group["M"]:]
        state["tau"] = tau
