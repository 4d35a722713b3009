"""The machinery shared by the Nesterov- and momentum-accelerated quasi-Newton optimizers.

Every method of the family moves the weights by an update vector v (slides Eq. 5/9):

    w_{k+1} = w_k + v_{k+1},   v_{k+1} = mu v_k + alpha_k d_k,   d_k = -H_k g_k,

where g_k is either Nesterov's gradient grad E(w_k + mu v_k) (NAQ, Eq. 9) or its momentum
approximation (1 + mu) grad E(w_k) - mu grad E(w_{k-1}) (MoQ, Eq. 12), and H_k is updated by the
BFGS formula from the curvature pair built at the Nesterov point (Eq. 10/13):

    p_k = w_{k+1} - (w_k + mu v_k),   q_k = grad E(w_{k+1}) - g_k,
    H_{k+1} = (I - rho p q^T) H_k (I - rho q p^T) + rho p p^T,   rho = 1 / (q^T p),

so that H_{k+1} q_k = p_k (the secant equation the slides derive). H is either a dense float64
matrix (NAQ, MoQ, mNAQ, oNAQ, oMoQ) or the limited-memory two-loop recursion of the last m pairs
(LNAQ, LMoQ, oLNAQ, oLMoQ; `qnewton.optim.two_loop`).

The optimizers work on one flat float64 copy of the parameters; a gradient anywhere is obtained by
copying that point into the parameters and calling the step's closure, which the trainer builds on
the same mini-batch for every call within a step. `last_gradient_evaluations` counts those calls
(each is a forward and a backward pass). The optimizer's own state lives under the string key
"flat" of `Optimizer.state`, which torch stores and restores as it is (no cast to the parameters'
float32), so a state_dict round-trips through `torch.save` / `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch

from qnewton.limits import check_limit
from qnewton.optim.two_loop import assign_flat, flat, flat_grad, initial_scaling, two_loop

Closure = Callable[[], torch.Tensor]


def check_dense_size(dimension: int, what: str) -> None:
    """A dense d x d float64 matrix must fit the project's `matrix_elements` limit
    (`qnewton.limits`, 4e8 entries = 3.2 GB by default): one-line UsageError (a ValueError) otherwise."""
    check_limit("matrix_elements", dimension * dimension,
                source=f"params: the dense {dimension} x {dimension} {what} (use a limited-memory form)")


LINE_SEARCHES = ("armijo", "none")
SCHEDULES = ("sqrt", "constant")


# ---------------------------------------------------------------------- validation
def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a float, or ValueError naming `name` when it is not a finite number in the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name}: must be {'>' if low_open else '>='} {low:g}, got {v:g}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name}: must be {'<' if high_open else '<='} {high:g}, got {v:g}")
    return v


def check_int(name: str, value: Any, low: int) -> int:
    """`value` as an int >= low, or ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name}: must be >= {low}, got {value}")
    return int(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`, else ValueError naming `name`."""
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def check_momentum(name: str, value: Any) -> float:
    """A momentum coefficient in [0, 1)."""
    return check_number(name, value, low=0.0, high=1.0, high_open=True)


# ---------------------------------------------------------------------- curvature
def bfgs_inverse_update(h: torch.Tensor, p: torch.Tensor, q: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """The BFGS update of the inverse Hessian approximation with the pair (p, q) (slides Eq. 7/10):
    (I - rho p q^T) H (I - rho q p^T) + rho p p^T, rho = 1/(q^T p), expanded as
    H - rho (p (Hq)^T + (Hq) p^T) + (rho^2 q^T H q + rho) p p^T for a symmetric H (one
    matrix-vector product and three rank-one updates, O(d^2)); the result satisfies H_{k+1} q = p.
    `inplace` overwrites h."""
    rho = 1.0 / float(torch.dot(q, p))
    hq = h @ q
    qhq = float(torch.dot(q, hq))
    out = h if inplace else h.clone()
    out.addr_(p, hq, alpha=-rho)
    out.addr_(hq, p, alpha=-rho)
    out.addr_(p, p, alpha=rho * rho * qhq + rho)
    return out


def curvature_ok(p: torch.Tensor, q: torch.Tensor, tol: float) -> bool:
    """The pair keeps H positive definite: q^T p > tol ||p|| ||q|| (and everything finite)."""
    pq = float(torch.dot(p, q))
    return math.isfinite(pq) and pq > tol * float(p.norm()) * float(q.norm()) and pq > 0.0


class FlatOptimizer(torch.optim.Optimizer):
    """A torch Optimizer over one group of parameters seen as a single float64 vector.

    Subclasses keep their state in `self.flat_state` (plain Python values and tensors) and count
    closure calls with `self.evaluate`. After each step `last_gradient_evaluations` holds the number
    of closure calls (forward + backward passes) the step made.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"params: {type(self).__name__} takes one parameter group, got {len(self.param_groups)}")
        self._params: list[torch.Tensor] = list(self.param_groups[0]["params"])
        self.dimension = sum(p.numel() for p in self._params)
        self.last_gradient_evaluations = 0
        self._evals = 0

    @property
    def hyper(self) -> dict[str, Any]:
        """The hyper-parameters (the one parameter group's values)."""
        return self.param_groups[0]

    @property
    def flat_state(self) -> dict[str, Any]:
        """This optimizer's state (kept under the key "flat" so torch stores it uncast)."""
        return self.state["flat"]

    def _device(self) -> torch.device:
        return self._params[0].device

    def current(self) -> torch.Tensor:
        """The parameters as one float64 vector (a copy)."""
        return flat(p.detach() for p in self._params).to(torch.float64)

    def put(self, point: torch.Tensor) -> torch.Tensor:
        """Copy `point` into the parameters; returns what they hold now, as float64 (a float32
        model rounds the point)."""
        assign_flat(self._params, point.to(self._params[0].dtype))
        return self.current()

    def evaluate(self, closure: Closure, point: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
        """(loss, float64 gradient) of the closure's mini-batch at `point` (default: where the
        parameters are); the parameters are left at `point`. Counts one gradient evaluation."""
        if point is not None:
            self.put(point)
        with torch.enable_grad():
            loss = closure()
        self._evals += 1
        return float(loss), flat_grad(self._params).to(torch.float64)

    def begin_step(self) -> None:
        self._evals = 0

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """One iteration of the method (`_step`), counting its gradient evaluations; `closure`
        (required) zeroes the gradients, evaluates the mini-batch loss, back-propagates and returns
        the loss."""
        if closure is None:
            raise ValueError(f"closure: {type(self).__name__} needs step(closure)")
        self.begin_step()
        try:
            return self._step(closure, self._init_state())
        finally:
            self.end_step()

    def _init_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _step(self, closure: Closure, st: dict[str, Any]) -> torch.Tensor | None:
        raise NotImplementedError

    def end_step(self) -> None:
        self.last_gradient_evaluations = self._evals

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's load, then the flat state copied onto the parameters' device (kept float64)."""
        super().load_state_dict(state_dict)
        if "flat" in self.state:
            self.state["flat"] = _to_device(self.state["flat"], self._device())


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone().to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value


def finite(*tensors: torch.Tensor) -> bool:
    """Every entry of every tensor is finite."""
    return all(bool(torch.isfinite(t).all()) for t in tensors)


class AcceleratedQuasiNewton(FlatOptimizer):
    """The NAQ / MoQ engine, full-batch and online, dense and limited-memory.

    Class switches (set by each method's subclass):
      nesterov: gradient at the Nesterov point w + mu v (NAQ), else the momentum approximation
          (1 + mu) grad E(w_k) - mu grad E(w_{k-1}) (MoQ, slides Eq. 12).
      online: the stochastic form (Algorithms 1 and 5): direction normalized to unit length, step
          size alpha_k from a schedule, q = grad E_2 - grad E_1 + lam p; else full-batch with an
          Armijo line search (or a fixed step).
      limited: H by the two-loop recursion over the last `memory` pairs, else a dense float64 matrix.
      modified: mNAQ's modified secant pair and explicit step size (slides Eq. 10-12 of the mNAQ part).
    """

    nesterov = True
    online = False
    limited = False
    modified = False

    def __init__(self, params: Iterable[torch.Tensor], defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        #: (closure, point, gradient, loss) at the end of the last full-batch step; not part of the state
        self._cache: tuple[Any, torch.Tensor, torch.Tensor, float] | None = None
        h = self.hyper
        check_momentum("mu", h["mu"])
        check_number("alpha", h["alpha"], low=0.0, low_open=True)
        check_number("curvature_tol", h.get("curvature_tol", 1e-10), low=0.0)
        if self.limited:
            check_int("memory", h["memory"], 1)
        else:
            check_dense_size(self.dimension, f"inverse-Hessian approximation of {type(self).__name__}")
        if self.online:
            check_number("lam", h["lam"], low=0.0)
            check_choice("schedule", h["schedule"], SCHEDULES)
        else:
            check_choice("line_search", h["line_search"], LINE_SEARCHES)
            check_number("c1", h["c1"], low=0.0, high=1.0, low_open=True, high_open=True)
            check_number("backtrack", h["backtrack"], low=0.0, high=1.0, low_open=True, high_open=True)
            check_int("max_backtracks", h["max_backtracks"], 1)
        if not self.limited:
            check_number("eps", h["eps"], low=0.0, low_open=True)

    # -------------------------------------------------------------- state
    def _init_state(self) -> dict[str, Any]:
        st = self.state["flat"]
        if not st:
            st.update(k=0, v=torch.zeros(self.dimension, dtype=torch.float64, device=self._device()),
                      H=None, S=[], Y=[], g_prev=None, pending_p=None, pending_g=None,
                      last_p=None, last_q=None,
                      pairs_stored=0, pairs_skipped=0, resets=0)
        return st

    def reset_curvature(self, st: dict[str, Any]) -> None:
        """Forget the curvature information (H back to eps I / an empty memory)."""
        st["H"], st["S"], st["Y"] = None, [], []
        st["resets"] += 1

    def apply_h(self, st: dict[str, Any], vector: torch.Tensor) -> torch.Tensor:
        """H_k @ vector: the dense matrix (eps I before the first pair) or the two-loop recursion
        on H_0 = gamma I, gamma = p^T q / q^T q of the newest pair (Nocedal & Wright eq. 7.20) when
        `scale_h0`, else 1."""
        if self.limited:
            gamma: float | torch.Tensor = 1.0
            if st["S"] and self.hyper.get("scale_h0", True):
                gamma = initial_scaling(st["S"][-1], st["Y"][-1])
            return two_loop(vector, st["S"], st["Y"], gamma)
        if st["H"] is None:
            return float(self.hyper["eps"]) * vector
        return st["H"] @ vector

    def store_pair(self, st: dict[str, Any], p: torch.Tensor, q: torch.Tensor) -> bool:
        """Update H with the pair (p, q) when q^T p > curvature_tol ||p|| ||q||; returns whether it did."""
        if not curvature_ok(p, q, float(self.hyper.get("curvature_tol", 1e-10))):
            st["pairs_skipped"] += 1
            return False
        if self.limited:
            st["S"].append(p.clone())
            st["Y"].append(q.clone())
            if len(st["S"]) > int(self.hyper["memory"]):
                st["S"].pop(0)
                st["Y"].pop(0)
        else:
            h = st["H"]
            if h is None:
                h = float(self.hyper["eps"]) * torch.eye(self.dimension, dtype=torch.float64, device=self._device())
            st["H"] = bfgs_inverse_update(h, p, q, inplace=True)
        st["last_p"], st["last_q"] = p.clone(), q.clone()
        st["pairs_stored"] += 1
        return True

    def direction(self, st: dict[str, Any], g: torch.Tensor) -> torch.Tensor:
        """d = -H g; when that is not a descent direction (g^T d >= 0, or not finite) the curvature
        is reset and d = -H_0 g."""
        d = -self.apply_h(st, g)
        if not finite(d) or float(torch.dot(g, d)) >= 0.0:
            self.reset_curvature(st)
            d = -self.apply_h(st, g)
        return d

    # -------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """One iteration; `closure` (required) zeroes the gradients, evaluates the mini-batch loss,
        back-propagates and returns the loss. Returns the first loss evaluated in the step."""
        if closure is None:
            raise ValueError(f"closure: {type(self).__name__} needs step(closure)")
        self.begin_step()
        st = self._init_state()
        try:
            loss = self._online_step(closure, st) if self.online else self._full_batch_step(closure, st)
        finally:
            self.end_step()
        return torch.tensor(loss) if loss is not None else None

    def _start_gradient(self, closure: Closure, st: dict[str, Any], point: torch.Tensor) -> tuple[float, torch.Tensor]:
        """The gradient at `point`: reused from the end of the previous step when that step was given
        the same closure object and ended exactly at this point, else evaluated. (The trainer builds a
        new closure every step, so there nothing is reused and a resumed run repeats the same
        evaluations; a loop that passes one full-batch closure saves one evaluation per step.)"""
        cache = self._cache
        if cache is not None and cache[0] is closure and torch.equal(cache[1], point):
            return cache[3], cache[2].clone()
        return self.evaluate(closure, point)

    def _fail(self, st: dict[str, Any], w: torch.Tensor) -> None:
        """Undo a step that found no acceptable point: weights back to w, momentum and curvature cleared."""
        self.put(w)
        st["v"].zero_()
        st["g_prev"] = None
        self._cache = None
        self.reset_curvature(st)

    def _full_batch_step(self, closure: Closure, st: dict[str, Any]) -> float | None:
        h = self.hyper
        mu = float(h["mu"])
        w = self.current()
        v = st["v"]
        x = w + mu * v  # the Nesterov point
        if self.nesterov:
            x = self.put(x)  # as the parameters hold it (a float32 model rounds it)
            f_ref, g = self._start_gradient(closure, st, x)
            g_now, first_loss = g, f_ref
        else:
            f_ref, g_now = self._start_gradient(closure, st, w)
            first_loss = f_ref
            g = g_now if st["g_prev"] is None else (1.0 + mu) * g_now - mu * st["g_prev"]
        st["k"] += 1
        if not finite(g) or not math.isfinite(f_ref):
            self._fail(st, w)
            return first_loss
        d = self.direction(st, g)
        slope = float(torch.dot(g, d))
        alpha = float(h["alpha"])
        if self.modified and h["step_rule"] == "explicit":
            alpha = self.explicit_step(g, d)
        armijo = h["line_search"] == "armijo" and not (self.modified and h["step_rule"] == "explicit")
        accepted = None
        for _ in range(int(h["max_backtracks"]) if armijo else 1):
            f_new, g_new = self.evaluate(closure, x + alpha * d)
            if not armijo:
                if math.isfinite(f_new) and finite(g_new):
                    accepted = (f_new, g_new)
                break
            if math.isfinite(f_new) and finite(g_new) and f_new <= f_ref + float(h["c1"]) * alpha * slope:
                accepted = (f_new, g_new)
                break
            alpha *= float(h["backtrack"])
        if accepted is None:
            self._fail(st, w)
            return first_loss
        f_new, g_new = accepted
        w_new = self.current()
        p = w_new - x
        q = g_new - g
        if self.modified:
            q = self.modified_q(g, p, q)
        self.store_pair(st, p, q)
        st["v"] = w_new - w
        if h.get("restart", False) and float(torch.dot(g_new, st["v"])) > 0.0:
            st["v"].zero_()  # the loss rises along v_{k+1} at w_{k+1}: restart the momentum
            st["restarts"] = st.get("restarts", 0) + 1
        st["g_prev"] = None if self.nesterov else g_now
        self._cache = (closure, w_new, g_new, f_new)
        st["last_alpha"] = alpha
        return first_loss

    def _online_step(self, closure: Closure, st: dict[str, Any]) -> float | None:
        h = self.hyper
        mu = float(h["mu"])
        lam = float(h["lam"])
        st["k"] += 1
        alpha = float(h["alpha"]) / (math.sqrt(st["k"]) if h["schedule"] == "sqrt" else 1.0)
        w = self.current()
        v = st["v"]
        if self.nesterov:
            x = self.put(w + mu * v)
            f1, g = self.evaluate(closure)
            g_now = g
        else:
            x = w + mu * v
            f1, g_now = self.evaluate(closure, w)
            if finite(g_now) and st["pending_p"] is not None:
                p_prev = st["pending_p"]
                self.store_pair(st, p_prev, g_now - st["pending_g"] + lam * p_prev)
            g = g_now if st["g_prev"] is None else (1.0 + mu) * g_now - mu * st["g_prev"]
        if not finite(g) or not math.isfinite(f1):
            self._fail(st, w)
            st["pending_p"] = st["pending_g"] = None
            return f1
        d = self.direction(st, g)
        d = d / d.norm()
        v_new = mu * v + alpha * d
        w_new = self.put(w + v_new)
        if self.nesterov:
            f2, g2 = self.evaluate(closure)
            if not finite(g2) or not math.isfinite(f2):
                self._fail(st, w)
                return f1
            p = w_new - x
            self.store_pair(st, p, g2 - g + lam * p)
        else:
            st["pending_p"], st["pending_g"] = w_new - x, g.clone()
            st["g_prev"] = g_now
        st["v"] = w_new - w
        st["last_alpha"] = alpha
        return f1

    # mNAQ hooks (overridden by MNAQ)
    def explicit_step(self, g: torch.Tensor, d: torch.Tensor) -> float:  # pragma: no cover - mNAQ only
        raise NotImplementedError

    def modified_q(self, g: torch.Tensor, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
