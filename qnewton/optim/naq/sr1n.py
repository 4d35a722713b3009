"""SR1-N: the symmetric rank-one quasi-Newton method with Nesterov's gradient in a trust region
(Indrapriyadarsini, Mahboubi, Ninomiya, Kamio, Asai, Algorithms 15(1):6, 2022; slides
"Accelerating SR1 with Nesterov's gradient")."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from qnewton.optim.naq.core import (Closure, FlatOptimizer, check_choice, check_dense_size, check_momentum,
                                    check_number, finite)


def trust_region_step(b: torch.Tensor, g: torch.Tensor, radius: float) -> torch.Tensor:
    """The exact minimizer of the model m(d) = g^T d + 1/2 d^T B d over ||d|| <= radius, for a
    symmetric (possibly indefinite) B (Nocedal & Wright Sec. 4.3, Moré-Sorensen characterization):
    d = -(B + sigma I)^{-1} g with sigma >= max(0, -lambda_min), sigma (radius - ||d||) = 0, found on
    the eigen-decomposition of B by bisection of ||d(sigma)|| = radius; in the hard case (g has no
    component along the lowest eigenvectors) the step is completed along them to the boundary.
    The result never exceeds the radius."""
    lam, vecs = torch.linalg.eigh(b)
    gt = vecs.T @ g
    lam_min = float(lam[0])
    scale = max(float(lam.abs().max()), 1.0)
    if lam_min > 1e-14 * scale:
        d = -(vecs @ (gt / lam))
        if float(d.norm()) <= radius:
            return d
    lo = max(0.0, -lam_min)

    def norm_at(sigma: float) -> float:
        return float((gt / (lam + sigma)).norm())

    tiny = 1e-12 * scale
    if norm_at(lo + tiny) < radius:  # hard case
        shifted = lam - lam_min
        keep = shifted > tiny
        coef = torch.zeros_like(gt)
        coef[keep] = -gt[keep] / shifted[keep]
        d = vecs @ coef
        tau = math.sqrt(max(radius * radius - float(d.norm()) ** 2, 0.0))
        return d + tau * vecs[:, 0]
    hi = lo + float(g.norm()) / radius + scale
    while norm_at(hi) > radius:
        hi = lo + 2.0 * (hi - lo)
    lo = lo + tiny
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if norm_at(mid) > radius:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(hi, 1.0):
            break
    d = -(vecs @ (gt / (lam + hi)))
    n = float(d.norm())
    return d * (radius / n) if n > radius else d


def _to_boundary(z: torch.Tensor, d: torch.Tensor, radius: float) -> torch.Tensor:
    """z + tau d with tau >= 0 and ||z + tau d|| = radius."""
    a, b, c = float(torch.dot(d, d)), 2.0 * float(torch.dot(z, d)), float(torch.dot(z, z)) - radius * radius
    tau = (-b + math.sqrt(max(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)
    return z + tau * d


def steihaug_cg(b: torch.Tensor, g: torch.Tensor, radius: float, max_iter: int | None = None) -> torch.Tensor:
    """An approximate minimizer of g^T d + 1/2 d^T B d over ||d|| <= radius by Steihaug's truncated
    conjugate gradients (Nocedal & Wright Alg. 7.2): CG on B d = -g from d = 0, stopped at the
    boundary, at a direction of non-positive curvature (followed to the boundary), or when
    ||r|| <= min(0.5, sqrt(||g||)) ||g||. Every iterate stays inside the radius, and the model
    decrease is at least the Cauchy point's."""
    gnorm = float(g.norm())
    z = torch.zeros_like(g)
    if gnorm == 0.0:
        return z
    tol = min(0.5, math.sqrt(gnorm)) * gnorm
    r = g.clone()
    d = -r
    for _ in range(max_iter if max_iter is not None else g.numel()):
        bd = b @ d
        curv = float(torch.dot(d, bd))
        if curv <= 0.0:
            return _to_boundary(z, d, radius)
        rr = float(torch.dot(r, r))
        a = rr / curv
        z_next = z + a * d
        if float(z_next.norm()) >= radius:
            return _to_boundary(z, d, radius)
        z = z_next
        r = r + a * bd
        rr_next = float(torch.dot(r, r))
        if math.sqrt(rr_next) <= tol:
            return z
        d = -r + (rr_next / rr) * d
    return z


SUBPROBLEMS = ("cg", "exact")


class SR1N(FlatOptimizer):
    """SR1 with Nesterov's accelerated gradient in a trust region (SR1-N; Algorithms 2022).

        w_hat = w_k + mu v_k,   g = grad E(w_hat),
        s_k = argmin_{||s|| <= Delta_k} g^T s + 1/2 s^T B_k s   (Steihaug's truncated CG,
            subproblem="cg", O(d^2) per CG iteration; or exactly on B's eigen-decomposition,
            subproblem="exact", O(d^3)),
        ratio = (E(w_hat) - E(w_hat + s_k)) / -(g^T s_k + 1/2 s_k^T B_k s_k),
        accepted (ratio > eta): w_{k+1} = w_hat + s_k, v_{k+1} = w_{k+1} - w_k = mu v_k + s_k;
        rejected: w_{k+1} = w_k, v_{k+1} = v_k (the next step retries from the same Nesterov point
        with a smaller radius; an assumption where the slides are silent),
        y_k = grad E(w_hat + s_k) - grad E(w_hat)   (the secant pair built at the Nesterov point),
        B_{k+1} = B_k + r r^T / (r^T s_k),  r = y_k - B_k s_k,

    the SR1 update, applied (also after a rejected step, as in Nocedal & Wright Alg. 6.2) only when
    |s^T r| >= rho ||s|| ||r|| (the slides' skip rule); it then satisfies B_{k+1} s_k = y_k. B is a
    dense float64 matrix, B_0 = b0 I. Radius (Nocedal & Wright Alg. 6.2): doubled (at most
    max_radius) when ratio > 0.75 and ||s|| > 0.8 Delta, halved when ratio < 0.1.

    After each step: `last_trust_radius` (the Delta_k the step used), `last_step_norm` (||s_k||),
    `last_accepted`, `last_sr1_updated`.

    Gradient evaluations per step: 2 (Nesterov point and trial point).

    Hyper-parameters (defaults): mu 0.8, radius 1.0 (Delta_0), max_radius 100.0, eta 1e-4,
    rho 1e-8, b0 1.0, subproblem "cg".
    """

    def __init__(self, params: Iterable[torch.Tensor], mu: float = 0.8, radius: float = 1.0,
                 max_radius: float = 100.0, eta: float = 1e-4, rho: float = 1e-8, b0: float = 1.0,
                 subproblem: str = "cg") -> None:
        check_momentum("mu", mu)
        check_number("radius", radius, low=0.0, low_open=True)
        check_number("max_radius", max_radius, low=float(radius) if isinstance(radius, (int, float)) else 0.0)
        check_number("eta", eta, low=0.0, high=0.25, high_open=True)
        check_number("rho", rho, low=0.0, high=1.0, low_open=True, high_open=True)
        check_number("b0", b0, low=0.0, low_open=True)
        check_choice("subproblem", subproblem, SUBPROBLEMS)
        super().__init__(params, dict(mu=mu, radius=radius, max_radius=max_radius, eta=eta, rho=rho, b0=b0,
                                      subproblem=subproblem))
        check_dense_size(self.dimension, "SR1 matrix of SR1N")
        self.last_trust_radius = float(radius)
        self.last_step_norm = 0.0
        self.last_accepted = False
        self.last_sr1_updated = False

    def _init_state(self) -> dict[str, Any]:
        st = self.state["flat"]
        if not st:
            st.update(k=0, v=torch.zeros(self.dimension, dtype=torch.float64, device=self._device()),
                      B=float(self.hyper["b0"]) * torch.eye(self.dimension, dtype=torch.float64, device=self._device()),
                      radius=float(self.hyper["radius"]), trial_s=None, last_s=None, last_y=None, updates=0,
                      skipped_updates=0,
                      rejected=0)
        return st

    def _step(self, closure: Closure, st: dict[str, Any]) -> torch.Tensor:
        """One SR1-N iteration; returns the loss at the Nesterov point."""
        h = self.hyper
        st["k"] += 1
        w = self.current()
        v = st["v"]
        x = self.put(w + float(h["mu"]) * v)
        f1, g = self.evaluate(closure)
        radius = st["radius"]
        self.last_trust_radius, self.last_accepted, self.last_sr1_updated = radius, False, False
        if not finite(g) or not math.isfinite(f1):
            self.put(w)
            st["v"] = torch.zeros_like(v)
            return torch.tensor(f1)
        b = st["B"]
        s = trust_region_step(b, g, radius) if h["subproblem"] == "exact" else steihaug_cg(b, g, radius)
        bs = b @ s
        predicted = -(float(torch.dot(g, s)) + 0.5 * float(torch.dot(s, bs)))
        f2, g2 = self.evaluate(closure, x + s)
        s = self.current() - x
        st["trial_s"] = s.clone()
        self.last_step_norm = float(s.norm())
        ratio = (f1 - f2) / predicted if predicted > 0 and math.isfinite(f2) else -math.inf
        if finite(g2):
            y = g2 - g
            r = y - b @ s
            sr = float(torch.dot(s, r))
            if math.isfinite(sr) and abs(sr) >= float(h["rho"]) * float(s.norm()) * float(r.norm()) and sr != 0.0:
                st["B"] = b + torch.outer(r, r) / sr
                st["last_s"], st["last_y"] = s.clone(), y.clone()
                st["updates"] += 1
                self.last_sr1_updated = True
            else:
                st["skipped_updates"] += 1
        if ratio > float(h["eta"]):
            st["v"] = self.current() - w
            self.last_accepted = True
        else:
            self.put(w)
            st["rejected"] += 1
        if ratio > 0.75 and self.last_step_norm > 0.8 * radius:
            st["radius"] = min(2.0 * radius, float(h["max_radius"]))
        elif ratio < 0.1:
            st["radius"] = 0.5 * radius
        return torch.tensor(f1)
