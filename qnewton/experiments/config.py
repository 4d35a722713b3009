"""Experiment configuration files: ``experiments/<name>.toml``.

Layout (every key optional except ``name``)::

    name = "table2-kappa-time"     # must be a registered experiment (`qnewton experiment list`)
    description = "..."            # free text
    seeds = 3                      # how many seeds: base_seed, base_seed + 1, ...
    base_seed = 0

    [params]                       # the full (paper) settings; absent keys keep their defaults
    sizes = [10, 100, 1000]

    [quick]                        # overrides applied under --quick; may also set `seeds`
    sizes = [10, 100]
    seeds = 1

Any other key or table, a wrong type or an out-of-range value raises `UsageError` with one
line, ``<file>: <field>: <reason>``. The file is read with the `json_bytes` size limit
(`qnewton.limits`) before it is parsed; a TOML syntax error names its line and column. Config files are found in ``$QNEWTON_EXPERIMENTS`` when set,
else in the repository's top-level ``experiments/`` folder; a path to a .toml file works too.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qnewton.errors import UsageError
from qnewton.experiments.params import build_params, coerce
from qnewton.experiments.registry import get_experiment
from qnewton.experiments.spec import Experiment
from qnewton.jsonutil import read_text_limited

ENV_EXPERIMENTS = "QNEWTON_EXPERIMENTS"
TOP_LEVEL_KEYS = ("name", "description", "seeds", "base_seed", "params", "quick")
MAX_SEEDS = 100


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated configuration, ready to run."""

    experiment: Experiment
    params: Any
    seeds: tuple[int, ...]
    quick: bool
    source: Path
    description: str = ""

    @property
    def name(self) -> str:
        return self.experiment.name


def experiments_dir() -> Path:
    """Where config files live: $QNEWTON_EXPERIMENTS, else <repo>/experiments."""
    env = os.environ.get(ENV_EXPERIMENTS)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "experiments"


def config_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve an experiment name or a .toml path to an existing file."""
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"config: file not found: {text}")
        return path
    get_experiment(text)  # unknown names fail here, listing the known ones
    path = experiments_dir() / f"{text}.toml"
    if not path.is_file():
        raise UsageError(f"config: no file {path} for experiment {text!r}")
    return path


def _check_seeds(value: Any, where: str) -> int:
    n = coerce(value, int, where)
    if not 1 <= n <= MAX_SEEDS:
        raise UsageError(f"{where}: must be between 1 and {MAX_SEEDS}, got {n}")
    return n


def _is_table(value: Any) -> bool:
    """A TOML table (``[x]``, ``x = {...}``) or an array of tables (``[[x]]``)."""
    return isinstance(value, dict) or (isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def _table_params(params_type: type) -> set[str]:
    """The parameters declared as tables (``dict[str, ...]``), e.g. per-method tuning grids."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(params_type)
    return {f.name for f in dataclasses.fields(params_type) if typing.get_origin(hints.get(f.name)) is dict}


def _check_no_tables(values: dict[str, Any], where: str, section: str, allowed: set[str] = frozenset()) -> None:
    """Parameters are plain values: a table inside [params] or [quick] is named as a table (unless
    the parameter is declared as one)."""
    for key, value in values.items():
        if _is_table(value) and key not in allowed:
            raise UsageError(f"{where}: [{section}.{key}]: unexpected table (parameters are plain values: {key} = ...)")


def parse_config(data: dict[str, Any], origin: str, *, quick: bool = False, seeds: int | None = None) -> ExperimentConfig:
    """Validate a parsed TOML document (see the module docstring)."""
    where = origin
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        key = unknown[0]
        if _is_table(data[key]):
            raise UsageError(f"{where}: [{key}]: unknown table (known tables: [params], [quick])")
        raise UsageError(f"{where}: {key}: unknown key (known: {', '.join(TOP_LEVEL_KEYS)})")
    if "name" not in data:
        raise UsageError(f"{where}: name: missing (the experiment to run)")
    name = coerce(data["name"], str, f"{where}: name")
    experiment = get_experiment(name)
    description = coerce(data.get("description", ""), str, f"{where}: description")
    n_seeds = _check_seeds(data.get("seeds", 1), f"{where}: seeds")
    base_seed = coerce(data.get("base_seed", 0), int, f"{where}: base_seed")
    if base_seed < 0:
        raise UsageError(f"{where}: base_seed: must be >= 0, got {base_seed}")
    full = data.get("params", {})
    if not isinstance(full, dict):
        raise UsageError(f"{where}: params: must be a table")
    overrides = data.get("quick", {})
    if not isinstance(overrides, dict):
        raise UsageError(f"{where}: quick: must be a table")
    tables = _table_params(experiment.params_type)
    _check_no_tables(full, where, "params", tables)
    _check_no_tables(overrides, where, "quick", tables)
    # Validate the quick table even when not running quick, so a typo never hides.
    quick_values = {k: v for k, v in overrides.items() if k != "seeds"}
    full_params = build_params(experiment.params_type, full, f"{where}: params")
    quick_params = build_params(experiment.params_type, {**full, **quick_values}, f"{where}: quick")
    quick_seeds = _check_seeds(overrides["seeds"], f"{where}: quick.seeds") if "seeds" in overrides else n_seeds
    if seeds is not None:
        n = _check_seeds(seeds, "--seeds")
    else:
        n = quick_seeds if quick else n_seeds
    return ExperimentConfig(
        experiment=experiment,
        params=quick_params if quick else full_params,
        seeds=tuple(range(base_seed, base_seed + n)),
        quick=quick,
        source=Path(origin),
        description=description,
    )


def load_config(name_or_path: str | os.PathLike[str], *, quick: bool = False, seeds: int | None = None) -> ExperimentConfig:
    """Read and validate ``experiments/<name>.toml`` (or a given .toml path)."""
    path = config_path(name_or_path)
    source = read_text_limited(path, field="config")
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        reason = " ".join(str(exc).split())  # one line; the message ends with "(at line L, column C)"
        raise UsageError(f"{path}: not valid TOML: {reason}") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid TOML: arrays or inline tables nested too deeply") from None
    cfg = parse_config(data, str(path), quick=quick, seeds=seeds)
    text = str(name_or_path)
    if not (text.endswith(".toml") or os.sep in text) and cfg.name != text:
        raise UsageError(f"{path}: name: says {cfg.name!r} but the file is for {text!r}")
    return cfg
