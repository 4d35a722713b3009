"""What an experiment is: parameters, one function per seed, result tables and a plot.

An `Experiment` reproduces one table or figure of the Q-Newton paper. The runner calls
`run_seed(params, seed, ctx)` once per seed; it returns {table name: list of row dicts}. Rows of
one table that share the table's key columns describe the same setting under different seeds
and are aggregated into mean and spread (`qnewton.experiments.aggregate`). `plot` draws the
aggregated tables into PNG files.

Column naming (binding for every experiment): a column holding wall-clock seconds measured on
this machine starts with ``measured_``; a column holding seconds a quantum computer would take
according to a cost model starts with ``modeled_``. The one labelled combination, the paper's
Table III total (measured classical work + modeled quantum work), starts with ``projected_``.
Only ``measured_`` and ``projected_`` columns may differ between two runs with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

Rows = list[dict[str, Any]]
Tables = dict[str, Rows]


@dataclass(frozen=True)
class TableSpec:
    """One result table.

    name: file stem (``<name>.csv``, ``<name>.raw.csv``, ``<name>.md``).
    keys: columns that identify a row across seeds (group-by columns).
    title: a one-line caption for the markdown table.
    columns: value columns to show in the markdown table (all numeric ones when empty).
    """

    name: str
    keys: tuple[str, ...]
    title: str
    columns: tuple[str, ...] = ()


@dataclass
class RunContext:
    """What every experiment may use besides its parameters.

    quick: True under ``--quick`` (the parameters are already the quick ones; this is a label).
    data_dir: folder with MNIST IDX files, or None for the embedded digits data.
    work_dir: scratch folder inside the run's temporary output (training run dirs go here).
    log: prints one progress line (to stderr by the CLI, silenced in tests).
    """

    quick: bool = False
    data_dir: Path | None = None
    work_dir: Path | None = None
    log: Callable[[str], None] = lambda message: None
    extra: dict[str, Any] = field(default_factory=dict)
    data_name: str | None = None  # the experiment's `data` parameter (e.g. "mnist5k"), if it has one

    @property
    def dataset(self) -> str:
        return "mnist" if self.data_dir is not None else (self.data_name or "digits")


@dataclass(frozen=True)
class Experiment:
    """One reproducible experiment (see the module docstring)."""

    name: str
    title: str
    paper: str
    params_type: type
    tables: tuple[TableSpec, ...]
    run_seed: Callable[[Any, int, RunContext], Tables]
    plot: Callable[[Any, Tables, Path], list[Path]]
    uses_data: bool = False
    notes: str = ""

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)
