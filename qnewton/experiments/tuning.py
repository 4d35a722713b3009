"""Hyper-parameters for every method of a comparison, chosen by the same rule on a validation split.

A comparison of step counts says something about the methods only when each of them runs at
settings picked the same way. This module picks them: for each method family a small grid, every
candidate trained with the same step budget on the training images minus a fixed validation
split (`qnewton.train.data`, `TrainConfig.validation_fraction`), scored on that validation split
only. The trainer is handed `Dataset.validation_view`, so the test split is not within its reach
while candidates are scored; test numbers come later, from the final runs at the chosen values.

Grids (the defaults of `ComparisonParams`; an experiment file may change them):

* SGD: ``sgd_lr`` in {0.05, 0.1, 0.2, 0.5, 1.0} (5 candidates, budget ``sgd_budget`` or ``steps``).
* Newton (classical-only, quantum-only and Q-Newton share it): ``newton_lr`` in {0.5, 1.0} x
  ``sgd_steps`` (the SGD warm-up K) in {10, 40} x ``eps`` in {0.1, 1.0} (8 candidates, budget
  ``steps``); the warm-up runs at the SGD family's chosen learning rate, so it is tuned first.

Criterion (`rank_key`): a candidate that reaches the target validation accuracy beats one that
does not; among those that reach it, fewer steps to the target wins; ties, and candidates that
never reach it, are ordered by the final validation loss (lower first; a non-finite loss is the
worst), then by higher final validation accuracy, then by grid order (so the choice is
deterministic).

Per-method grids (the `peers` experiment): `DEFAULT_GRIDS` gives every registered peer method a
small grid over its learning rate (or, for the Newton methods, step size and damping eps); an
experiment file may replace any of them (``[params.grids] adam = {lr = [...]}``). A grid's names
are the method's `--method-options` keys (`MethodInfo.defaults`) or `qnewton train` options
(TrainConfig fields such as ``sgd_lr``, ``newton_lr``, ``eps``); `split_values` sends each value
where it belongs. A method without a grid here or in the file gets the learning-rate grid
`LR_GRID` when it has an ``lr`` hyper-parameter, else runs once at its defaults.

The Newton family is tuned with the classical-only method. The three Newton methods take the same
step (same Hessian blocks, regularization and update); they differ in which solver inverts a block
(exact LU, or the emulated quantum solver, whose answer differs from it by at most the QLSA
tolerance) and in the cost model that decides. Tuning on the exact solve gives one choice that does
not depend on a per-query time profile, a readout model or a kappa estimator, so every variant of
the comparison runs the Newton methods at the same values, and one grid costs 8 runs per seed
instead of 8 per variant and method. Nothing is cached across experiment runs: every run tunes
again, once per method family and seed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

#: Which family tunes each comparison method, and which method trains that family's candidates.
FAMILY_OF = {"sgd": "sgd", "classical": "newton", "quantum": "newton", "qnewton": "newton"}
TUNED_WITH = {"sgd": "sgd", "newton": "classical"}

#: Default validation grids of the peer methods (see the module docstring).
DEFAULT_GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "sgd": {"sgd_lr": (0.1, 0.3, 1.0, 2.0, 4.0)},
    "momentum": {"lr": (0.03, 0.1, 0.3, 1.0)},
    "nesterov": {"lr": (0.01, 0.03, 0.1, 0.3)},
    "adagrad": {"lr": (0.01, 0.03, 0.1, 0.3)},
    "rmsprop": {"lr": (3e-4, 1e-3, 3e-3, 1e-2)},
    "adam": {"lr": (3e-3, 1e-2, 3e-2, 1e-1)},
    "lbfgs": {"lr": (0.1, 0.3, 1.0)},
    "bfgs": {"lr": (0.1, 0.3, 1.0)},  # the line search's first trial step
    "ncg": {"lr": (0.3, 1.0)},
    "slimqn": {"lr": (0.03, 0.1, 0.3)},
    "classical": {"newton_lr": (0.5, 1.0), "eps": (0.1, 1.0)},
    # the NAQ family (paper 004): full-batch forms take an Armijo line search from alpha = 1, so
    # their momentum mu is what is tuned; the online forms' step size alpha is tuned instead
    "naq": {"mu": (0.5, 0.8, 0.9)},
    "moq": {"mu": (0.5, 0.8, 0.9)},
    "mnaq": {"mu": (0.5, 0.8, 0.9)},
    "lnaq": {"mu": (0.5, 0.8, 0.9)},
    "lmoq": {"mu": (0.5, 0.8, 0.9)},
    "onaq": {"alpha": (0.1, 0.5, 1.0)},
    "omoq": {"alpha": (0.1, 0.5, 1.0)},
    "olnaq": {"alpha": (0.1, 0.5, 1.0)},
    "olmoq": {"alpha": (0.1, 0.5, 1.0)},
    "asnaq": {"alpha": (0.1, 0.5, 1.0)},
    "sr1n": {"radius": (0.3, 1.0, 3.0)},
    "adahessian": {"lr": (0.03, 0.1, 0.3)},
    "lookahead": {"lr": (0.01, 0.03, 0.1)},  # the inner Adam's rate
    # K-FAC's step size and its Tikhonov damping both set the step length: both are swept
    "kfac": {"lr": (0.03, 0.1, 0.3, 1.0), "damping": (0.01, 0.1)},
    "newton-cg": {"damping": (0.03, 0.1, 1.0)},
    "ssn": {"damping": (0.1, 0.3, 1.0)},
    "lm": {"alpha": (1.0, 3.0, 10.0, 30.0)},  # eq. 8: the damping lies in [1/alpha, 2/alpha)
    "s4qn": {"alpha": (1.0, 3.0, 10.0)},
    "skqn-l": {"alpha": (1.0, 3.0, 10.0)},
    "skqn-b1": {"alpha": (1.0, 3.0, 10.0)},
    "skqn-b2": {"alpha": (1.0, 3.0, 10.0)},
}
#: The grid of a method with an ``lr`` hyper-parameter and no grid of its own.
LR_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
#: Methods tuned through another one (same step, different solver): their choice is that method's.
TUNE_AS: dict[str, str] = {"quantum": "classical", "qnewton": "classical"}


def method_grid(method: str, grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None) -> dict[str, tuple[Any, ...]]:
    """The validation grid of `method`: the experiment's (`grids`), else `DEFAULT_GRIDS`, else
    `LR_GRID` over ``lr`` if the method has that hyper-parameter, else {} (one run at its defaults)."""
    from qnewton.methods import get_method

    grids = grids or {}
    if method in grids:
        return {k: tuple(v) for k, v in grids[method].items()}
    if method in DEFAULT_GRIDS:
        return dict(DEFAULT_GRIDS[method])
    return {"lr": LR_GRID} if "lr" in get_method(method).defaults else {}


def split_values(method: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """(train options, --method-options text) for grid `values` of `method`: a name the method
    declares as a hyper-parameter goes to its `--method-options` (as METHOD.KEY=VALUE), any other
    must be a `qnewton train` option (ValueError naming it otherwise)."""
    from dataclasses import fields

    from qnewton.methods import get_method
    from qnewton.train.config import TrainConfig

    info = get_method(method)
    train_fields = {f.name for f in fields(TrainConfig)}
    options: dict[str, Any] = {}
    items: list[str] = []
    for name, value in values.items():
        if name in info.defaults:
            items.append(f"{method}.{name}={value!r}" if isinstance(value, float) else f"{method}.{name}={value}")
        elif name in train_fields and name not in ("method", "method_options", "name", "runs_dir", "seed"):
            options[name] = value
        else:
            raise ValueError(f"grids.{method}.{name}: neither a hyper-parameter of {method} "
                             f"({', '.join(info.defaults) or 'none'}) nor a qnewton train option")
    return options, ",".join(items)


CRITERION = ("reached the target validation accuracy first; then fewest steps to it; ties and misses by "
             "lowest final validation loss (non-finite = worst), then highest final validation accuracy, then grid order")


@dataclass(frozen=True)
class Candidate:
    """One grid point and its validation score (accuracy and loss at the end of its run, which
    stops at the target)."""

    index: int
    values: dict[str, Any]
    steps: int
    steps_to_target: int | None
    validation_accuracy: float | None
    validation_loss: float | None  # inf when the run ended with a non-finite loss
    status: str

    @property
    def label(self) -> str:
        """The grid point as ``name=value,name=value`` (the tuning table's key)."""
        return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values.items())


@dataclass(frozen=True)
class TuningResult:
    """The candidates of one family in grid order, and the chosen one."""

    family: str
    method: str
    candidates: tuple[Candidate, ...]
    chosen: Candidate
    grid: dict[str, tuple[Any, ...]]

    @property
    def values(self) -> dict[str, Any]:
        """The chosen hyper-parameters."""
        return dict(self.chosen.values)

    @property
    def at_grid_edge(self) -> tuple[str, ...]:
        """The parameters whose chosen value is the smallest or largest of a grid of two or more
        values: the best setting may lie beyond the grid, so the choice is a bound, not an optimum."""
        return tuple(name for name, values in self.grid.items()
                     if len(values) > 1 and self.chosen.values[name] in (min(values), max(values)))


def check_grids(grids: Mapping[str, Mapping[str, Sequence[Any]]], known: Sequence[str], prefix: str = "grids") -> None:
    """An experiment file's validation grids, checked at the boundary: every method registered,
    every grid value listed once and at least one, and each grid's names split into train options
    and method options (`split_values`); one UsageError naming `prefix.method[.name]` otherwise."""
    from qnewton.errors import UsageError
    from qnewton.experiments.params import require

    for method, grid in grids.items():
        require(method in known, f"{prefix}.{method}", f"not a registered method ({', '.join(known)})")
        for name, values in grid.items():
            require(len(values) > 0 and len(set(values)) == len(values), f"{prefix}.{method}.{name}",
                    f"list each value once, at least one, got {list(values)}")
        try:
            split_values(method, {k: v[0] for k, v in grid.items()})
        except ValueError as exc:
            raise UsageError(str(exc).replace("grids.", f"{prefix}.", 1)) from None


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (the last name varies fastest)."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def _finite_or_inf(v: float | None) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else math.inf


def rank_key(c: Candidate) -> tuple[int, float, float, float, int]:
    """Sort key of the criterion (smaller is better); see the module docstring."""
    reached = c.steps_to_target is not None
    acc = c.validation_accuracy if c.validation_accuracy is not None and math.isfinite(c.validation_accuracy) else -1.0
    return (0 if reached else 1, float(c.steps_to_target) if reached else math.inf, _finite_or_inf(c.validation_loss),
            -acc, c.index)


def choose(candidates: Sequence[Candidate]) -> Candidate:
    """The best candidate by `rank_key`."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    return min(candidates, key=rank_key)


def candidate_from_report(index: int, values: dict[str, Any], entry: Mapping[str, Any]) -> Candidate:
    """A scored candidate from one method's report.json entry of a run whose "test" split was the
    validation split."""
    def num(key: str) -> float | None:
        v = entry.get(key)
        if v is None:
            return None
        return float(v) if math.isfinite(float(v)) else math.inf  # a diverged run: no finite score


    return Candidate(index=index, values=dict(values), steps=int(entry["steps"]), steps_to_target=entry.get("steps_to_target"),
                     validation_accuracy=num("test_accuracy"), validation_loss=num("test_loss"),
                     status=str(entry.get("status", "")))


def tune_family(family: str, method: str, grid: Mapping[str, Sequence[Any]],
                run: Callable[[int, dict[str, Any]], Mapping[str, Any]]) -> TuningResult:
    """Train every grid point with `run(index, values)` (which returns the method's report entry,
    scored on the validation split) and choose by the criterion."""
    candidates = tuple(candidate_from_report(i, values, run(i, values)) for i, values in enumerate(grid_points(grid)))
    return TuningResult(family=family, method=method, candidates=candidates, chosen=choose(candidates),
                        grid={name: tuple(v) for name, v in grid.items()})


def tuning_rows(results: Sequence[TuningResult], budgets: Mapping[str, int]) -> list[dict[str, Any]]:
    """The rows of the "tuning" table: one per candidate, with its validation score, its rank,
    whether it was chosen (``chosen`` = 1) and, on the chosen row, which of its values lie at an
    end of their grid (``chosen_at_grid_edge``)."""
    rows = []
    for res in results:
        order = sorted(res.candidates, key=rank_key)
        for c in res.candidates:
            rows.append({"family": res.family, "candidate": c.label, "tuned_with": res.method, **c.values,
                         "step_budget": budgets[res.family], "validation_steps_to_target": c.steps_to_target,
                         "validation_reached_target": int(c.steps_to_target is not None),
                         "validation_accuracy": c.validation_accuracy, "validation_loss": c.validation_loss,
                         "rank": order.index(c) + 1, "chosen": int(c is res.chosen),
                         "chosen_at_grid_edge": ",".join(res.at_grid_edge) if c is res.chosen else "",
                         "status": c.status, "criterion": CRITERION})
    return rows


def warmup(method: str, tuned: Mapping[str, TuningResult]) -> dict[str, Any]:
    """The SGD steps of a Newton method (its warm-up, and blocks above the Newton size limit) at the
    rate SGD was tuned to, when SGD was tuned in the same comparison; nothing otherwise."""
    from qnewton.methods import get_method

    if get_method(method).uses_curvature and "sgd" in tuned:
        return {"sgd_lr": tuned["sgd"].values["sgd_lr"]}
    return {}
