"""Run one experiment over its seeds and write ``<out>/<name>/`` atomically.

Written files (all inside ``<out>/<name>/``):

* ``<table>.raw.csv``: every row of every seed (a ``seed`` column added);
* ``<table>.csv``: mean / std / min / max across seeds per setting (`aggregate`);
* ``<table>.md``: the same as a markdown table ('mean ± std');
* ``results.json``: parameters, seeds, data source, measured run time, where the cost models'
  numbers came from (``cost_sources``: a given value, this machine's saved profile or the pinned
  default), every table;
* ``*.png``: the plot(s); ``README.md``: tables and plots on one page;
* ``runs/``: training run folders (ledgers) of the experiments that train.

Tasks run through an executor (`qnewton.experiments.executor`: in this process by default, or
on Dask workers); their tables are put together on the client in seed and task order, so the
files are the same whichever executor ran them (but for ``measured_``/``projected_`` columns), and
the result folder is written once, here. When any task fails, nothing replaces ``<out>/<name>/``:
the failures (parameters, error, traceback) and what the other tasks produced go to
``<out>/<name>.failed/`` instead (``failures.json``, ``failures.md``, ``<table>.raw.csv`` of the
finished tasks, their ``runs/``) and `TasksFailed` is raised. A later successful run removes
that failure report.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qnewton.errors import UsageError
from qnewton.experiments.aggregate import aggregate_rows
from qnewton.experiments.config import ExperimentConfig
from qnewton.experiments.executor import Executor, ProgressCallback, SerialExecutor, TaskJob, TaskResult
from qnewton.experiments.params import params_to_dict
from qnewton.experiments.publish import atomic_output_dir, check_results_root
from qnewton.experiments.results import markdown_table, write_csv, write_json
from qnewton.experiments.spec import RunContext, Tables
from qnewton.experiments.training import TrainingParams, classical_constant

DEFAULT_OUT = Path("results")
FAILED_SUFFIX = ".failed"


class TasksFailed(Exception):
    """Some tasks of a run failed: the previous result stays, the report is in `report_dir`."""

    def __init__(self, name: str, failures: list[TaskResult], total: int, report_dir: Path) -> None:
        self.name = name
        self.failures = failures
        self.total = total
        self.report_dir = report_dir
        first = failures[0]
        super().__init__(f"{name}: {len(failures)} of {total} tasks failed (first: {first.label}: {first.error}); "
                         f"report in {report_dir}/")


@dataclass(frozen=True)
class RunOutcome:
    """Where a run wrote its results, and its summaries (aggregated tables)."""

    name: str
    directory: Path
    files: tuple[Path, ...]
    summaries: Tables
    raw: Tables
    measured_seconds: float


def check_data_dir(data_dir: str | Path | None) -> Path | None:
    """None (digits) or an existing folder (MNIST IDX files, checked by the data loader)."""
    if data_dir is None:
        return None
    path = Path(data_dir)
    if not path.is_dir():
        raise UsageError(f"--data-dir: not a folder: {data_dir}")
    return path


def prepare_context(params: object, ctx: RunContext) -> None:
    """What every task must share, resolved once on the client before any task starts: the
    classical constant C of the training experiments (a worker on another machine must not
    read its own calibration profile)."""
    if isinstance(params, TrainingParams):
        classical_constant(params, ctx)


def make_jobs(config: ExperimentConfig, ctx: RunContext, data: Path | None, threads: int) -> list[TaskJob]:
    """Every task of every seed, in seed and task order."""
    exp = config.experiment
    jobs = []
    for seed in config.seeds:
        tasks = exp.seed_tasks(config.params, seed)
        for index, task in enumerate(tasks):
            jobs.append(TaskJob(experiment=exp, params=config.params, seed=seed, index=index, task=dict(task),
                                quick=config.quick, data_dir=str(data) if data is not None else None,
                                extra=dict(ctx.extra), threads=threads, count=len(tasks)))
    return jobs


def _remove_result(root: Path, name: str) -> None:
    """Delete ``root/name`` (a folder, or a link to a version folder of the link layout)."""
    path = root / name
    if path.is_symlink():
        target = root / os.readlink(path)
        path.unlink()
        if target.parent == root and target.name.startswith(f".{name}.v-") and target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def write_failure_report(out_root: Path, config: ExperimentConfig, results: list[TaskResult], runs_dir: Path,
                         executor: dict) -> Path:
    """``<out>/<name>.failed/``: failures.json / failures.md (each failed task's seed, parameters,
    error and traceback), the finished tasks' raw rows (``<table>.raw.csv``) and their ``runs/``."""
    exp = config.experiment
    name = exp.name + FAILED_SUFFIX
    failed = [r for r in results if not r.ok]
    finished = sorted((r for r in results if r.ok), key=lambda r: (r.seed, r.index))
    with atomic_output_dir(out_root, name) as tmp:
        raw: Tables = {t.name: [] for t in exp.tables}
        for r in finished:
            for spec in exp.tables:
                for row in (r.tables or {}).get(spec.name, []):
                    raw[spec.name].append({"seed": r.seed, "task": r.index, **row})
        for spec in exp.tables:
            write_csv(tmp / f"{spec.name}.raw.csv", raw[spec.name])
        write_json(tmp / "failures.json", {
            "experiment": exp.name,
            "params": params_to_dict(config.params),
            "seeds": list(config.seeds),
            "executor": executor,
            "tasks_total": len(results),
            "tasks_failed": len(failed),
            "failures": [{"seed": r.seed, "task_index": r.index, "task": r.task, "label": r.label, "error": r.error,
                          "worker": r.worker, "measured_seconds": r.measured_seconds, "traceback": r.traceback}
                         for r in sorted(failed, key=lambda r: (r.seed, r.index))],
            "finished": [{"seed": r.seed, "task_index": r.index, "task": r.task, "worker": r.worker,
                          "measured_seconds": r.measured_seconds} for r in finished],
            "tables": raw,
        })
        lines = [f"# {exp.name}: {len(failed)} of {len(results)} tasks failed", "",
                 f"The previous `{exp.name}/` (if any) was kept. Finished tasks' rows: `<table>.raw.csv`.", ""]
        for r in sorted(failed, key=lambda r: (r.seed, r.index)):
            lines += [f"## {r.label}", "", f"Task parameters: `{r.task}`; worker: {r.worker or 'unknown'}", "",
                      f"Error: {r.error}", "", "```", (r.traceback or "").rstrip(), "```", ""]
        (tmp / "failures.md").write_text("\n".join(lines), encoding="utf-8")
        if runs_dir.is_dir():
            shutil.move(str(runs_dir), str(tmp / "runs"))
    return out_root / name


def run_experiment(
    config: ExperimentConfig,
    *,
    out: str | Path = DEFAULT_OUT,
    data_dir: str | Path | None = None,
    log: Callable[[str], None] = lambda message: None,
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
    threads: int = 1,
) -> RunOutcome:
    """Run `config` for each of its seeds, aggregate, write results, and return the paths.

    The tasks (one per seed, or the experiment's finer split) run on `executor` (default: in this
    process, one after the other), each with BLAS and torch pinned to `threads` threads.
    The output folder is checked first (`check_results_root`), so a bad `out` fails in one line
    before any seed runs. Raises `TasksFailed` when a task failed (see the module docstring)."""
    exp = config.experiment
    out_root = check_results_root(out, [exp.name, exp.name + FAILED_SUFFIX])
    data = check_data_dir(data_dir)
    if data is not None and not exp.uses_data:
        log(f"[{exp.name}] note: this experiment trains nothing; --data-dir is ignored")
    executor = executor if executor is not None else SerialExecutor()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    raw: Tables = {t.name: [] for t in exp.tables}
    seed_seconds: dict[int, float] = {}
    with atomic_output_dir(out_root, exp.name) as tmp:
        ctx = RunContext(quick=config.quick, data_dir=data, work_dir=tmp / "runs", log=log,
                         data_name=getattr(config.params, "data", None))
        prepare_context(config.params, ctx)
        jobs = make_jobs(config, ctx, data, threads)
        results = executor.run(jobs, work_dir=tmp / "runs", log=log, progress=progress)
        described = executor.describe()
        failed = [r for r in results if not r.ok]
        if failed or len(results) != len(jobs):
            report = write_failure_report(out_root, config, results, tmp / "runs", described)
            raise TasksFailed(exp.name, failed, len(jobs), report)
        by_key = {(r.seed, r.index): r for r in results}
        for r in results:
            for source, text in r.extra.get("cost_sources", {}).items():
                ctx.extra.setdefault("cost_sources", {}).setdefault(source, text)
        for seed in config.seeds:
            parts = [by_key[(j.seed, j.index)] for j in jobs if j.seed == seed]
            seed_seconds[seed] = sum(r.measured_seconds for r in parts)
            tables = exp.merge_seed(config.params, seed, [r.tables or {} for r in parts])
            for spec in exp.tables:
                for row in tables.get(spec.name, []):
                    raw[spec.name].append({"seed": seed, **row})
        summaries: Tables = {t.name: aggregate_rows(raw[t.name], t.keys) for t in exp.tables}
        files: list[Path] = []
        page = [f"# {exp.name}: {exp.title}", "", f"Paper: {exp.paper}. Settings: {'QUICK' if config.quick else 'full'}; "
                f"seeds {list(config.seeds)}; data: {ctx.dataset}.", ""]
        for spec in exp.tables:
            files.append(write_csv(tmp / f"{spec.name}.raw.csv", raw[spec.name]))
            files.append(write_csv(tmp / f"{spec.name}.csv", summaries[spec.name]))
            md = markdown_table(summaries[spec.name], spec.keys, spec.columns, spec.title)
            (tmp / f"{spec.name}.md").write_text(md, encoding="utf-8")
            files.append(tmp / f"{spec.name}.md")
            page += [md, ""]
        pngs = exp.plot(config.params, summaries, tmp)
        files.extend(pngs)
        page += [f"![{p.stem}]({p.name})" for p in pngs]
        measured_total = time.perf_counter() - t_start
        files.append(
            write_json(
                tmp / "results.json",
                {
                    "experiment": exp.name,
                    "title": exp.title,
                    "paper": exp.paper,
                    "quick": config.quick,
                    "seeds": list(config.seeds),
                    "params": params_to_dict(config.params),
                    "config_file": str(config.source),
                    "dataset": ctx.dataset,
                    "data_dir": str(data) if data else None,
                    "started_utc": started,
                    "measured_seconds_total": measured_total,
                    "measured_seconds_per_seed": {str(k): v for k, v in seed_seconds.items()},
                    "executor": {**described, "threads_per_task": threads, "tasks": len(jobs)},
                    "measured_seconds_per_task": [
                        {"seed": r.seed, "task_index": r.index, "task": r.task, "measured_seconds": r.measured_seconds,
                         "worker": r.worker, "threads": r.threads}
                        for r in sorted(results, key=lambda r: (r.seed, r.index))],
                    "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor()},
                    "cost_sources": dict(ctx.extra.get("cost_sources", {})),
                    "tables": {t.name: {"keys": list(t.keys), "summary": summaries[t.name], "raw": raw[t.name]} for t in exp.tables},
                },
            )
        )
        (tmp / "README.md").write_text("\n".join(page) + "\n", encoding="utf-8")
        files.append(tmp / "README.md")
        rel = [p.relative_to(tmp) for p in files]
    _remove_result(out_root, exp.name + FAILED_SUFFIX)
    final = out_root / exp.name
    return RunOutcome(
        name=exp.name,
        directory=final,
        files=tuple(final / r for r in rel),
        summaries=summaries,
        raw=raw,
        measured_seconds=measured_total,
    )
