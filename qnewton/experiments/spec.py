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

Tasks (`qnewton.experiments.executor` runs them, in this process or on Dask workers): by default
one seed is one task (`run_seed`). An experiment whose seed is a sweep of independent runs may
split it finer by giving `tasks(params, seed)` (a list of small JSON-like dicts, one per task,
naming the grid point) and `run_task(params, seed, task, ctx)` (the tables of that task); the
tables of one seed's tasks are joined by `merge(params, seed, parts)`, by default table by table
in task order. A split must give the same rows as `run_seed` and must not share state between
tasks other than `ctx.extra` as it was before the first task (each task may run in another
process, on another machine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

Rows = list[dict[str, Any]]
Tables = dict[str, Rows]
#: The parameters of one task within a seed (JSON-like: str, int, float, bool), e.g. {"eps": 0.1}.
Task = dict[str, Any]


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
    tasks: Callable[[Any, int], list[Task]] | None = None
    run_task: Callable[[Any, int, Task, RunContext], Tables] | None = None
    merge: Callable[[Any, int, list[Tables]], Tables] | None = None

    def __post_init__(self) -> None:
        if (self.tasks is None) != (self.run_task is None):
            raise ValueError(f"experiment {self.name}: give both tasks and run_task, or neither")

    def seed_tasks(self, params: Any, seed: int) -> list[Task]:
        """The tasks of one seed: `tasks(params, seed)`, or one whole-seed task ({})."""
        if self.tasks is None:
            return [{}]
        tasks = list(self.tasks(params, seed))
        if not tasks:
            raise ValueError(f"experiment {self.name}: tasks() gave no task for seed {seed}")
        return tasks

    def execute(self, params: Any, seed: int, task: Task, ctx: RunContext) -> Tables:
        """Run one task of `seed_tasks` (the whole seed when the experiment does not split)."""
        if self.run_task is None:
            return self.run_seed(params, seed, ctx)
        return self.run_task(params, seed, task, ctx)

    def merge_seed(self, params: Any, seed: int, parts: list[Tables]) -> Tables:
        """The tables of one seed from its tasks' tables (in task order)."""
        if self.merge is not None:
            return self.merge(params, seed, parts)
        return concat_tables(parts)

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


def concat_tables(parts: list[Tables]) -> Tables:
    """The rows of every part, table by table, in the order of `parts`."""
    out: Tables = {}
    for part in parts:
        for name, rows in part.items():
            out.setdefault(name, []).extend(rows)
    return out
