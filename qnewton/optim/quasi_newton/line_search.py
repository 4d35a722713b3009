"""Line searches along a descent direction d from x: phi(alpha) = f(x + alpha d).

* `armijo`: backtracking (Nocedal & Wright, Numerical Optimization 2nd ed., Algorithm 3.1): try
  alpha0, alpha0 * shrink, alpha0 * shrink^2, ... until the sufficient-decrease condition
  phi(alpha) <= phi(0) + c1 alpha phi'(0) (N&W eq. 3.6a) holds.
* `strong_wolfe`: N&W Algorithms 3.5 (bracketing) and 3.6 (zoom), with the cubic interpolation of
  N&W eq. 3.59 between the bracket's ends (bisection when the cubic's minimizer is not inside):
  sufficient decrease and |phi'(alpha)| <= c2 |phi'(0)| (N&W eq. 3.7). On a quadratic the cubic
  through two points with their slopes is the quadratic itself, so the search returns the exact
  minimizer along d once it has a bracket: this is what the n-step termination of BFGS and CG
  with exact line searches relies on.

Both return a `Trial` (step, loss, gradient) with the parameters left at x + step d, and a flag
saying whether the conditions were met; a failed search returns the best point it saw (lowest
loss), which may be step 0 (then nothing moved).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from qnewton.optim.quasi_newton.base import Objective, finite

LINE_SEARCHES = ("armijo", "strong_wolfe")


@dataclass
class Trial:
    """One evaluated point x + step d: loss, float64 gradient, and the slope phi'(step) = g^T d."""

    step: float
    loss: float
    grad: torch.Tensor
    slope: float


def _try(objective: Objective, x: torch.Tensor, d: torch.Tensor, step: float) -> Trial:
    loss, g = objective.evaluate(x + step * d)
    slope = float(g @ d) if finite(loss, g) else math.nan
    return Trial(step, loss if math.isfinite(loss) else math.inf, g, slope)


def _finish(objective: Objective, x: torch.Tensor, d: torch.Tensor, best: Trial, ok: bool) -> tuple[Trial, bool]:
    objective.set(x + best.step * d)
    return best, ok


def armijo(objective: Objective, x: torch.Tensor, d: torch.Tensor, start: Trial, alpha0: float, *, c1: float,
           shrink: float, max_evals: int) -> tuple[Trial, bool]:
    """Backtracking from alpha0 by `shrink` until sufficient decrease (N&W Alg. 3.1)."""
    best = start
    step = alpha0
    for _ in range(max_evals):
        trial = _try(objective, x, d, step)
        if trial.loss < best.loss:
            best = trial
        if math.isfinite(trial.slope) and trial.loss <= start.loss + c1 * step * start.slope:
            return _finish(objective, x, d, trial, True)
        step *= shrink
    return _finish(objective, x, d, best, False)


def _cubic_min(a: Trial, b: Trial) -> float:
    """Minimizer of the cubic through (a.step, a.loss, a.slope) and (b.step, b.loss, b.slope)
    (N&W eq. 3.59); NaN when it has none."""
    if a.step == b.step:
        return math.nan
    d1 = a.slope + b.slope - 3.0 * (a.loss - b.loss) / (a.step - b.step)
    disc = d1 * d1 - a.slope * b.slope
    if not math.isfinite(disc) or disc < 0:
        return math.nan
    d2 = math.copysign(math.sqrt(disc), b.step - a.step)
    denom = b.slope - a.slope + 2.0 * d2
    if denom == 0:
        return math.nan
    return b.step - (b.step - a.step) * (b.slope + d2 - d1) / denom


def strong_wolfe(objective: Objective, x: torch.Tensor, d: torch.Tensor, start: Trial, alpha0: float, *, c1: float,
                 c2: float, max_evals: int) -> tuple[Trial, bool]:
    """A step satisfying the strong Wolfe conditions (N&W Algs. 3.5 and 3.6)."""
    evals = 0
    best = start

    def sufficient(t: Trial) -> bool:
        return math.isfinite(t.slope) and t.loss <= start.loss + c1 * t.step * start.slope

    def curvature(t: Trial) -> bool:
        return abs(t.slope) <= -c2 * start.slope

    def zoom(lo: Trial, hi: Trial) -> tuple[Trial, bool]:
        nonlocal evals, best
        while evals < max_evals:
            step = _cubic_min(lo, hi) if math.isfinite(hi.slope) else math.nan
            left, right = min(lo.step, hi.step), max(lo.step, hi.step)
            if not (math.isfinite(step) and left < step < right):
                step = 0.5 * (lo.step + hi.step)
            if right - left <= 1e-12 * max(1.0, right):
                break
            t = _try(objective, x, d, step)
            evals += 1
            if t.loss < best.loss:
                best = t
            if not sufficient(t) or t.loss >= lo.loss:
                hi = t
            else:
                if curvature(t):
                    return t, True
                if t.slope * (hi.step - lo.step) >= 0:
                    hi = lo
                lo = t
        return best, False

    prev = start
    step = alpha0
    while evals < max_evals:
        t = _try(objective, x, d, step)
        evals += 1
        if t.loss < best.loss:
            best = t
        if not sufficient(t) or (evals > 1 and t.loss >= prev.loss):
            result, ok = zoom(prev, t)
            return _finish(objective, x, d, result, ok)
        if curvature(t):
            return _finish(objective, x, d, t, True)
        if t.slope >= 0:
            result, ok = zoom(t, prev)
            return _finish(objective, x, d, result, ok)
        prev, step = t, 2.0 * step
    return _finish(objective, x, d, best, False)


def search(kind: str, objective: Objective, x: torch.Tensor, d: torch.Tensor, start: Trial, alpha0: float, *,
           c1: float, c2: float, shrink: float, max_evals: int) -> tuple[Trial, bool]:
    """Dispatch on `kind` ("armijo" or "strong_wolfe")."""
    if kind == "armijo":
        return armijo(objective, x, d, start, alpha0, c1=c1, shrink=shrink, max_evals=max_evals)
    return strong_wolfe(objective, x, d, start, alpha0, c1=c1, c2=c2, max_evals=max_evals)
