"""aSNAQ: adaptive stochastic Nesterov's accelerated quasi-Newton (Indrapriyadarsini, Mahboubi,
Ninomiya, Asai, NOLTA 2019 / IEICE NOLTA journal 2020; slides "aSNAQ", Algorithm 2)."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from qnewton.optim.naq.core import (Closure, FlatOptimizer, SCHEDULES, check_choice, check_int, check_momentum,
                                    check_number, finite)
from qnewton.optim.two_loop import two_loop


class ASNAQ(FlatOptimizer):
    """Adaptive stochastic Nesterov's accelerated quasi-Newton, slides Algorithm 2 (built on adaQN,
    Keskar and Berahas 2016). Each step, on the step's mini-batch:

        g = grad E(w_k + mu v_k);   d = -H g / ||H g||  (two-loop recursion over the stored pairs on
            the diagonal H_0 = diag(1 / sqrt(sum_j g_j^2 + adagrad_eps)), an AdaGrad-style scaling);
        v_{k+1} = mu v_k + alpha_k d,   w_{k+1} = w_k + v_{k+1};
        grad E(w_{k+1}) goes into the FIFO buffer F (size fisher_memory): F_i = grad_i grad_i^T is an
            empirical Fisher sample, kept as the gradient grad_i;
        w_s += w_k, v_s += v_k.

    Every L steps the averages w_n = w_s / L, v_n = v_s / L are formed; from the second such time on:
      - if E(w_n) > gamma E(w_o) (both evaluated on the current mini-batch, an assumption: the
        source's adaQN uses a monitoring set), the pairs and F are cleared, the weights and momentum
        go back to w_o, v_o, mu <- max(mu / phi, mu_min), and the step ends;
      - else s = w_n - w_o, y = (1/|F|) sum_i grad_i (grad_i^T s) (the Fisher-vector product),
        mu <- min(mu phi, mu_max), and (s, y) is stored (last `memory` pairs) if s^T y > eps y^T y;
    then w_o, v_o <- w_n, v_n. alpha_k = alpha / sqrt(k) (schedule "sqrt") or alpha ("constant").

    Assumed: the AdaGrad accumulator sums the squares of the gradients at the Nesterov points.

    Gradient evaluations per step: 2, plus 2 loss evaluations (made with the closure, so with a
    backward pass each, and counted) at every L-th step from the second on.

    Hyper-parameters (defaults): mu_min 0.8, mu_max 0.95, phi 1.01, alpha 0.5, schedule "sqrt",
    memory 10 (m_L), fisher_memory 100 (m_F), L 5, gamma 1.01, eps 1e-4, adagrad_eps 1e-8.
    """

    def __init__(self, params: Iterable[torch.Tensor], mu_min: float = 0.8, mu_max: float = 0.95, phi: float = 1.01,
                 alpha: float = 0.5, schedule: str = "sqrt", memory: int = 10, fisher_memory: int = 100, L: int = 5,
                 gamma: float = 1.01, eps: float = 1e-4, adagrad_eps: float = 1e-8) -> None:
        check_momentum("mu_min", mu_min)
        check_momentum("mu_max", mu_max)
        if mu_max < mu_min:
            raise ValueError(f"mu_max: must be >= mu_min ({mu_min:g}), got {mu_max:g}")
        check_number("phi", phi, low=1.0)
        check_number("alpha", alpha, low=0.0, low_open=True)
        check_choice("schedule", schedule, SCHEDULES)
        check_int("memory", memory, 1)
        check_int("fisher_memory", fisher_memory, 1)
        check_int("L", L, 1)
        check_number("gamma", gamma, low=0.0, low_open=True)
        check_number("eps", eps, low=0.0)
        check_number("adagrad_eps", adagrad_eps, low=0.0, low_open=True)
        super().__init__(params, dict(mu_min=mu_min, mu_max=mu_max, phi=phi, alpha=alpha, schedule=schedule,
                                      memory=memory, fisher_memory=fisher_memory, L=L, gamma=gamma, eps=eps,
                                      adagrad_eps=adagrad_eps))

    def _init_state(self) -> dict[str, Any]:
        st = self.state["flat"]
        if not st:
            zeros = lambda: torch.zeros(self.dimension, dtype=torch.float64, device=self._device())  # noqa: E731
            st.update(k=0, t=0, mu=float(self.hyper["mu_min"]), v=zeros(), S=[], Y=[], F=[], accumulator=zeros(),
                      w_s=zeros(), v_s=zeros(), w_o=None, v_o=None, resets=0, pairs_stored=0)
        return st

    def _clear(self, st: dict[str, Any]) -> None:
        st["S"], st["Y"], st["F"] = [], [], []
        st["resets"] += 1

    def _step(self, closure: Closure, st: dict[str, Any]) -> torch.Tensor:
        """One aSNAQ iteration (Algorithm 2 lines 2-30); returns the loss at the Nesterov point."""
        h = self.hyper
        st["k"] += 1
        k = st["k"]
        alpha = float(h["alpha"]) / (math.sqrt(k) if h["schedule"] == "sqrt" else 1.0)
        mu = st["mu"]
        w = self.current()
        v = st["v"]
        f1, g = self.evaluate(closure, w + mu * v)
        if not finite(g) or not math.isfinite(f1):
            self.put(w)
            st["v"] = torch.zeros_like(v)
            self._clear(st)
            return torch.tensor(f1)
        st["accumulator"] += g * g
        h0 = 1.0 / torch.sqrt(st["accumulator"] + float(h["adagrad_eps"]))
        d = -two_loop(g, st["S"], st["Y"], h0)
        if not finite(d) or float(torch.dot(g, d)) >= 0.0:
            self._clear(st)
            d = -h0 * g
        d = d / d.norm()
        v_new = mu * v + alpha * d
        w_new = self.put(w + v_new)
        f2, g2 = self.evaluate(closure)
        if finite(g2):
            st["F"].append(g2)
            if len(st["F"]) > int(h["fisher_memory"]):
                st["F"].pop(0)
        st["w_s"] += w
        st["v_s"] += v
        st["v"] = w_new - w
        L = int(h["L"])
        if k % L == 0:
            w_n, v_n = st["w_s"] / L, st["v_s"] / L
            st["w_s"], st["v_s"] = torch.zeros_like(w_n), torch.zeros_like(v_n)
            if st["t"] > 0:
                e_n, _ = self.evaluate(closure, w_n)
                e_o, _ = self.evaluate(closure, st["w_o"])
                if not math.isfinite(e_n) or e_n > float(h["gamma"]) * e_o:
                    self._clear(st)
                    self.put(st["w_o"])
                    st["v"] = st["v_o"].clone()
                    st["mu"] = max(mu / float(h["phi"]), float(h["mu_min"]))
                    return torch.tensor(f1)
                self.put(w_new)
                s = w_n - st["w_o"]
                fmat = torch.stack(st["F"]) if st["F"] else torch.zeros_like(s).unsqueeze(0)
                y = fmat.T @ (fmat @ s) / max(len(st["F"]), 1)
                st["mu"] = min(mu * float(h["phi"]), float(h["mu_max"]))
                if float(torch.dot(s, y)) > float(h["eps"]) * float(torch.dot(y, y)) and float(torch.dot(s, y)) > 0:
                    st["S"].append(s)
                    st["Y"].append(y)
                    st["pairs_stored"] += 1
                    if len(st["S"]) > int(h["memory"]):
                        st["S"].pop(0)
                        st["Y"].pop(0)
            st["w_o"], st["v_o"] = w_n, v_n
            st["t"] += 1
        return torch.tensor(f1)
