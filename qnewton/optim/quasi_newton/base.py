"""What the flat-vector quasi-Newton optimizers (BFGS, SLIM-QN, nonlinear CG) share.

They treat all parameters as one vector theta (`qnewton.optim.two_loop.flat`), keep their own
state as float64 tensors and plain Python numbers under the first parameter (so a checkpoint
written with `torch.save` loads with `torch.load(weights_only=True)`), and count how often they
call the closure, i.e. evaluate the mini-batch loss and its gradient (`last_gradient_evaluations`,
read by the trainer). A `StepReport` of each step is left in `last_report`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable

import torch

from qnewton.optim.step_report import StepReport
from qnewton.optim.two_loop import assign_flat, flat, flat_grad

Closure = Callable[[], torch.Tensor]


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a float inside the stated interval; ValueError naming `name` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a number, got {value!r}") from None
    ok = v == v
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name}: must lie in {interval}, got {value!r}")
    return v


def check_int(name: str, value: Any, low: int) -> int:
    """`value` as an int >= low; ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def clone_tree(value: Any) -> Any:
    """A copy of nested dicts/lists of tensors and plain values, tensors cloned with their dtype."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: clone_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clone_tree(v) for v in value)
    return value


class Objective:
    """The mini-batch loss as a function of the flat parameter vector, in float64.

    `evaluate(x)` writes x into the parameters, calls the closure (zero grads, forward, backward)
    and returns (loss, gradient) as (float, float64 vector); every call is one gradient evaluation
    and is counted, and its MEASURED seconds are added up."""

    def __init__(self, params: list[torch.Tensor], closure: Closure) -> None:
        self.params = params
        self.closure = closure
        self.evaluations = 0
        self.seconds = 0.0

    def x(self) -> torch.Tensor:
        """The current parameters as one float64 vector."""
        return flat(p.detach() for p in self.params).to(torch.float64)

    def current(self) -> tuple[float, torch.Tensor]:
        """Loss and gradient at the parameters as they are."""
        t0 = time.perf_counter()
        with torch.enable_grad():
            loss = self.closure()
        self.evaluations += 1
        g = flat_grad(self.params).to(torch.float64)
        self.seconds += time.perf_counter() - t0
        return float(loss), g

    def evaluate(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Loss and gradient at x (the parameters are left at x)."""
        self.set(x)
        return self.current()

    def set(self, x: torch.Tensor) -> None:
        """Write x into the parameters without evaluating anything."""
        assign_flat(self.params, x.to(self.params[0].dtype))


def finite(value: float, vector: torch.Tensor | None = None) -> bool:
    """True when the loss (and the vector, if given) holds no inf or NaN."""
    return math.isfinite(value) and (vector is None or bool(torch.isfinite(vector).all()))


class FlatOptimizer(torch.optim.Optimizer):
    """Base of the quasi-Newton optimizers: one parameter group, state under the first parameter.

    Subclasses implement `_step(objective, group, state) -> StepReport` and list their
    hyper-parameters in `defaults`. `load_state_dict` keeps the float64 tensors float64 (torch's
    own casts floating state to the parameters' dtype)."""

    def __init__(self, params: Iterable[torch.Tensor], defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("params: these optimizers take one parameter group")
        self._params: list[torch.Tensor] = list(self.param_groups[0]["params"])
        if not self._params:
            raise ValueError("params: empty parameter list")
        self.last_report: StepReport | None = None
        self.last_gradient_evaluations: int | None = None

    @property
    def flat_state(self) -> dict[str, Any]:
        """This optimizer's state (a dict under the first parameter)."""
        return self.state[self._params[0]]

    @property
    def numel(self) -> int:
        """Number of parameters n."""
        return sum(p.numel() for p in self._params)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        saved = state_dict.get("state", {})
        key = 0 if 0 in saved else next(iter(saved), None)
        if key is not None:
            self.state[self._params[0]] = clone_tree(saved[key])

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor:  # type: ignore[override]
        """One step on the closure's mini-batch; returns the loss at the start of the step."""
        if closure is None:
            raise ValueError(f"closure: {type(self).__name__} evaluates the loss itself; pass step(closure)")
        t0 = time.perf_counter()
        objective = Objective(self._params, closure)
        report, loss = self._step(objective, self.param_groups[0], self.flat_state)
        report.measured_seconds["forward_backward"] = objective.seconds
        report.measured_seconds["update"] = max(0.0, time.perf_counter() - t0 - objective.seconds)
        report.gradient_evaluations = objective.evaluations
        self.last_report = report
        self.last_gradient_evaluations = objective.evaluations
        return torch.tensor(loss)

    def _step(self, objective: Objective, group: dict[str, Any],
              state: dict[str, Any]) -> tuple[StepReport, float]:  # pragma: no cover - abstract
        raise NotImplementedError
