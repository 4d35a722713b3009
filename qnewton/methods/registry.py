"""The training-method registry, in the spirit of torch's `OptimizerInfo` tables.

A method is a name mapped to a `MethodInfo`: a factory that builds a `torch.optim.Optimizer` for
a model from a `MethodContext`, and flags that tell the trainer how to drive it. The trainer only
calls `optimizer.step(closure)` and `state_dict()` / `load_state_dict()`; it never asks which
method it runs. Adding a method is one module with a `MethodInfo` plus one line in
`qnewton.methods.BUILTIN_MODULES`, or a `register_method(...)` call at run time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from qnewton.curvature.blocks import Block
from qnewton.enums import Policy
from qnewton.errors import UsageError


@dataclass(frozen=True)
class MethodContext:
    """What a factory gets to build its optimizer.

    model: the freshly initialized model; blocks: its curvature blocks (`--blocks`).
    options: the run's options (every `qnewton train` option by name: sgd_lr, momentum,
        newton_lr, sgd_steps, eps, sparsity, seed, ...), already validated.
    classical_cost: the run's classical cost model, resolved once per run (pinned, profile or
        fitted; None when no method of the run needs one).
    query_time: the run's per-query time model (None likewise).
    noise_seed: this method's seed prefix for solver noise: [run seed, 2, MethodInfo.noise_id].
    hyper: the method's hyper-parameters: `MethodInfo.defaults` with the user's
        `--method-options` applied (see `resolve_hyper`).
    """

    model: nn.Module
    blocks: Sequence[Block]
    options: Mapping[str, Any]
    classical_cost: Any = None
    query_time: Any = None
    noise_seed: tuple[int, ...] = ()
    hyper: Mapping[str, Any] = field(default_factory=dict)


Factory = Callable[[MethodContext], torch.optim.Optimizer]


@dataclass(frozen=True)
class MethodInfo:
    """One training method.

    name: what `--method` takes. factory: builds the optimizer. description: one line for --help.
    needs_closure: the optimizer evaluates the loss itself (`step(closure)`, e.g. L-BFGS, the
        Newton optimizer); otherwise the trainer evaluates loss and gradient and calls `step()`.
    uses_curvature: the method inverts curvature blocks (the trainer then resolves cost models
        and checks block sizes). policy: the scheduler policy of a Newton method, else None.
    phase: the ledger's phase name for steps of an optimizer that does not report its own.
    defaults: the method's own hyper-parameters and their defaults, named as in its source paper;
        the user sets them with `--method-options KEY=VALUE,...` (typed like the default) and the
        factory reads them from `MethodContext.hyper`. Values are range-checked by the optimizer's
        constructor (ValueError), which the trainer turns into one line before anything is written.
    noise_id: the method's part of its noise seed; default a stable hash of the name, so adding
        a method never changes another method's numbers.
    in_all: run it for `--method all` (the paper's four-way comparison).
    train_options: the `qnewton train` options (TrainConfig fields, e.g. sgd_lr) the factory reads
        from `MethodContext.options`, for documentation and sweeps; they are set with their own
        flags, not through `--method-options`.
    """

    name: str
    factory: Factory
    description: str = ""
    needs_closure: bool = False
    uses_curvature: bool = False
    policy: Policy | None = None
    phase: str = "first-order"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    noise_id: int | None = None
    in_all: bool = False
    train_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ValueError(f"name: a method name is letters, digits, '-' and '_', got {self.name!r}")
        if self.name == "all":
            raise ValueError("name: 'all' is reserved (it selects the built-in comparison)")
        if not callable(self.factory):
            raise ValueError(f"factory: must be callable, got {self.factory!r}")

    @property
    def seed_id(self) -> int:
        """noise_id, or a stable 31-bit hash of the name (CRC-32), independent of registration order."""
        return self.noise_id if self.noise_id is not None else zlib.crc32(self.name.encode()) & 0x7FFFFFFF


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(info: MethodInfo, *, replace: bool = False) -> MethodInfo:
    """Add `info` to the registry (ValueError if the name is taken, unless `replace`)."""
    if not isinstance(info, MethodInfo):
        raise ValueError(f"info: must be a MethodInfo, got {type(info).__name__}")
    if info.name in _REGISTRY and not replace:
        raise ValueError(f"name: method {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def unregister_method(name: str) -> None:
    """Remove a method (KeyError if absent); for tests and plug-ins that registered one."""
    del _REGISTRY[name]


def method_names() -> tuple[str, ...]:
    """Every registered method, in registration order."""
    return tuple(_REGISTRY)


def all_methods() -> tuple[str, ...]:
    """The methods `--method all` runs, in table order."""
    return tuple(n for n, info in _REGISTRY.items() if info.in_all)


def get_method(name: str) -> MethodInfo:
    """The MethodInfo of `name`; one-line UsageError naming the known methods otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"method: unknown method {name!r}; known: all, {', '.join(_REGISTRY)}") from None


def build_optimizer(name: str, context: MethodContext) -> torch.optim.Optimizer:
    """The optimizer of method `name` for `context`; the factory must return a torch Optimizer."""
    info = get_method(name)
    opt = info.factory(context)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"method {name!r}: its factory returned {type(opt).__name__}, not a torch.optim.Optimizer")
    return opt


# ---------------------------------------------------------------------- method hyper-parameters
def parse_method_options(text: str) -> list[tuple[str | None, str, str]]:
    """Split `--method-options` text "KEY=VALUE,METHOD.KEY=VALUE,..." into (method or None, key, raw
    value) triples; UsageError (field method_options) on a malformed item."""
    if not isinstance(text, str):
        raise UsageError(f"method_options: must be a string of KEY=VALUE pairs, got {text!r}")
    out: list[tuple[str | None, str, str]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise UsageError(f"method_options: each item is KEY=VALUE or METHOD.KEY=VALUE, got {item!r}")
        method, dot, name = key.rpartition(".")
        if dot and not method:
            raise UsageError(f"method_options: empty method name in {item!r}")
        out.append((method or None, name, raw))
    return out


def _typed(raw: str, default: Any, where: str) -> Any:
    """`raw` converted to the type of `default` (bool, int, float or str)."""
    if isinstance(default, bool):
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise UsageError(f"method_options: {where} must be true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"method_options: {where} must be an integer, got {raw!r}") from None
    if isinstance(default, float) or default is None:
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"method_options: {where} must be a number, got {raw!r}") from None
        if value != value:
            raise UsageError(f"method_options: {where} must be a number, got {raw!r}")
        return value
    return raw


def resolve_hyper(method: str, text: str, selected: Sequence[str] | None = None) -> dict[str, Any]:
    """Method `method`'s hyper-parameters: its `MethodInfo.defaults` with the items of `text`
    (`parse_method_options`) that apply to it. An unprefixed KEY applies to every selected method
    that declares it; METHOD.KEY to that method only. Every item must apply to some method of
    `selected` (default: just `method`), else one-line UsageError naming the declared keys."""
    info = get_method(method)
    chosen = tuple(selected) if selected is not None else (method,)
    hyper = dict(info.defaults)
    for target, key, raw in parse_method_options(text):
        if target is not None:
            if target not in chosen:
                raise UsageError(f"method_options: {target}.{key}: {target!r} is not a method of this run "
                                 f"({', '.join(chosen)})")
            target_info = get_method(target)
            if key not in target_info.defaults:
                known = ", ".join(target_info.defaults) or "none"
                raise UsageError(f"method_options: {key!r} is not a hyper-parameter of {target} (known: {known})")
            if target == method:
                hyper[key] = _typed(raw, info.defaults[key], f"{method}.{key}")
            continue
        owners = [m for m in chosen if key in get_method(m).defaults]
        if not owners:
            known = "; ".join(f"{m}: {', '.join(get_method(m).defaults) or 'none'}" for m in chosen)
            raise UsageError(f"method_options: {key!r} is not a hyper-parameter of any method of this run ({known})")
        if key in info.defaults:
            hyper[key] = _typed(raw, info.defaults[key], f"{method}.{key}")
    return hyper
