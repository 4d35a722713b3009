"""Running a set of training methods side by side (default: SGD, classical-only, quantum-only
and hybrid Q-Newton). One method's loop is `qnewton.train.method_run.MethodRun`.

`run_training(config)` runs each method of `config.methods()` from the same initialization
(torch seed) on the same mini-batches (drawn from numpy generators seeded by (seed, step)), and
writes `runs/<name>/`:

    config.json              the resolved config (incl. the classical cost constants actually used
                             and, under "cost_sources", where they came from)
    <method>/ledger.jsonl    one row per step (qnewton.train.ledger)
    <method>/checkpoint.pt   the state after the last completed step (qnewton.train.checkpoint)
    report.json, report.md   the Table-III-like comparison (qnewton.train.report)
    .lock                    the folder's lock (qnewton.train.rundir)

Order of work: everything that can fail on user input (data, model size, cost models, circuit
solver, the run folder's state and lock, and on resume every checkpoint and ledger) is checked
before the first byte is written; a refusal writes nothing. A fresh run needs a missing or empty
folder, or `overwrite=True`, which clears the old run's files under the lock just before the new
config.json is written.

Steps 0..K-1 of the Newton methods are SGD (paper Sec. IV-B); later steps follow Algorithm 2
through the `qnewton.optim.QNewton` optimizer of each Newton method (`qnewton.methods`). A non-finite loss or Hessian skips the step (recorded);
`max_bad_steps` of them in a row stop the method cleanly with a checkpoint. Ctrl-C writes the
checkpoint of the last completed step and raises `TrainingInterrupted`; a fresh run interrupted
before its first checkpoint removes what it wrote, so the same command can simply be run again.
`resume=True` continues from the checkpoints and ends with exactly the parameters of an
uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from qnewton.enums import Policy
from qnewton.errors import UsageError
from qnewton.files import write_text_atomic
from qnewton.methods import build_optimizer, get_method
from qnewton.methods.newton import build_quantum_solver
from qnewton.train.config import TrainConfig
from qnewton.train.data import Dataset, load_dataset
from qnewton.train.ledger import Ledger, LedgerResume, json_ready
from qnewton.train.method_run import MethodRun, StepCallback, is_interrupt, method_context
from qnewton.train.report import text_table, verdict, write_reports
from qnewton.train.resume import load_run_config, resume_plan, saved_cost_sources
from qnewton.train.rundir import RunLock, checkpoint_written, clear_run, folder_state
from qnewton.train.tasks import as_task, make_task
from qnewton.train.tasks.base import Task
from qnewton.train.setup import (build_model, check_circuit_blocks, check_model_size, cost_notes, query_time_model,
                                 resolve_classical_model)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C after the run folder was claimed. `resumable`: a checkpoint was written (or the run
    was itself a resume), so `--resume run_dir` continues it; otherwise nothing was kept."""

    def __init__(self, run_dir: Path, resumable: bool) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir
        self.resumable = resumable


def run_training(config: TrainConfig, *, run_dir: Path | None = None, quiet: bool = True, resume: bool = False,
                 overwrite: bool = False, on_step: StepCallback | None = None,
                 echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every method of `config`, write runs/<name>/ (or `run_dir`), return the report.json dict.

    Everything that can fail on user input is checked before the run folder is touched (see the
    module docstring). resume: continue the run in the folder from its checkpoints. overwrite:
    replace a run the folder already holds (without it such a folder is refused). The folder is
    locked for the whole call. `on_step(method, step)` is called after every completed step
    (tests use it to interrupt a run)."""
    previous_threads = torch.get_num_threads()
    limiter = None
    if config.threads is not None:
        torch.set_num_threads(config.threads)
        try:
            import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS now: a limit only reaches loaded libraries
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(config.threads, user_api="blas")
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            limiter = None
    try:
        return _run_training(config, run_dir=run_dir, quiet=quiet, resume=resume, overwrite=overwrite,
                             on_step=on_step, echo=echo)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        torch.set_num_threads(previous_threads)


def check_method_options(config: TrainConfig, data: Dataset | Task, *, classical_model: Any, query_time: Any) -> None:
    """Build every method's optimizer on a throwaway model before anything is written, so that a
    hyper-parameter the optimizer refuses (an out-of-range `--method-options` value) or a model it
    cannot handle (a dense quasi-Newton matrix over the size limit) is one line, not a half-made
    run folder. Building an optimizer allocates its state lazily, so this is cheap."""
    for method in config.methods():
        ctx = method_context(config, method, build_model(config, data), classical_model=classical_model,
                             query_time=query_time)
        try:
            build_optimizer(method, ctx)
        except ValueError as exc:
            field = "method_options" if dict(ctx.hyper) != dict(get_method(method).defaults) else "method"
            raise UsageError(f"{field}: {method}: {exc}") from None


def _run_training(config: TrainConfig, *, run_dir: Path | None, quiet: bool, resume: bool, overwrite: bool,
                  on_step: StepCallback | None, echo: Callable[[str], None] | None) -> dict[str, Any]:
    if resume and overwrite:
        raise UsageError("overwrite: cannot be combined with resume (resume continues a run, overwrite replaces it)")
    # the task loads its data: every problem with it is one line before anything is written
    if config.model == "mlp":  # the classification data sets, loaded here as before the task layer
        dataset = load_dataset(config.data, data_dir=config.data_dir, test_fraction=config.test_fraction,
                               train_limit=config.train_limit, validation_fraction=config.validation_fraction)
        data = as_task(config, dataset.validation_view() if config.validation_fraction > 0 else dataset)
    else:
        data = make_task(config)
    check_model_size(config, data)
    run_dir = Path(run_dir) if run_dir is not None else config.run_dir()
    notes: list[str] = []
    if config.validation_fraction > 0:
        notes.append(f"validation_fraction = {config.validation_fraction:g}: every accuracy and loss in this report "
                     "('val acc', 'val loss'; report.json keeps the keys test_accuracy and test_loss) is measured on "
                     "the VALIDATION split (the test split was not used)")
    sources: dict[str, str] = {}
    classical_model = query_time = None
    if config.uses_curvature():
        query_time = query_time_model(config)
        classical_model, config, sources = resolve_classical_model(config)
        if resume:
            saved = saved_cost_sources(run_dir)
            sources = {k: saved.get(k, v) for k, v in sources.items()}
        notes += cost_notes(config, sources)
    check_method_options(config, data, classical_model=classical_model, query_time=query_time)
    if "sgd" in config.methods() and len(config.methods()) > 1:
        notes.append(f"SGD ran at learning rate {config.sgd_lr:g}; the step counts compare against that setting "
                     "only (docs/training.md, 'Newton versus SGD')")
    if config.quantum_solver == "circuit" and any(get_method(m).policy not in (None, Policy.CLASSICAL_ONLY)
                                                  for m in config.methods()):
        check_circuit_blocks(config, data)
        build_quantum_solver(config.to_dict())  # validates circuit_method / circuit_backend before anything is written

    if resume:
        def check() -> dict[str, tuple[dict[str, Any] | None, LedgerResume | None]]:
            if folder_state(run_dir) != "run":
                raise UsageError(f"resume: {run_dir} is not a run folder")
            return {m: resume_plan(config, m, data, run_dir, classical_model=classical_model, query_time=query_time)
                    for m in config.methods()}
    else:
        def check() -> dict[str, tuple[dict[str, Any] | None, LedgerResume | None]]:
            state = folder_state(run_dir)
            if state == "run" and not overwrite:
                raise UsageError(f"name: run folder {run_dir} already holds a run; continue it with --resume {run_dir}, "
                                 "or replace it with --overwrite (or pick another --name)")
            if state == "foreign":
                raise UsageError(f"name: {run_dir} exists and holds files that are not a qnewton run; pick another "
                                 "--name or --runs-dir")
            return {}

    lock, created, plans = _claim_run_folder(run_dir, check)
    try:
        return _train_in_folder(config, data, run_dir, plans, resume=resume, overwrite=overwrite, notes=notes,
                                sources=sources, classical_model=classical_model, query_time=query_time, quiet=quiet,
                                on_step=on_step, echo=echo, lock=lock, created=created)
    finally:
        lock.release()


def _claim_run_folder(run_dir: Path, check: Callable[[], Any]) -> tuple[RunLock, list[Path], Any]:
    """Lock the run folder and run `check` (reads only) under the lock; returns (lock, the folders
    this call created, deepest first, check's result). A folder without a `.lock` file is checked
    first, then locked (creating `.lock`) and checked again, so a refusal writes nothing."""
    created = _missing_folders(run_dir)
    lock = RunLock.acquire(run_dir, create=False) if run_dir.is_dir() else None
    try:
        result = check()
        if lock is None:
            lock = RunLock.acquire(run_dir, create=True)
            assert lock is not None
            try:
                result = check()
            except BaseException:
                _undo_claim(lock, created)
                lock = None
                raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    lock.record_pid()
    return lock, created, result


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first (what mkdir(parents=True) makes)."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _undo_claim(lock: RunLock, created: list[Path]) -> None:
    """Release `lock`, removing the `.lock` file if this process created it and the folders it
    created (each only if empty)."""
    lock.release(remove=lock.created_lock_file)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


def _train_in_folder(config: TrainConfig, data: Task, run_dir: Path,
                     plans: dict[str, tuple[dict[str, Any] | None, LedgerResume | None]], *, resume: bool,
                     overwrite: bool, notes: list[str], sources: dict[str, str], classical_model: Any, query_time: Any,
                     quiet: bool, on_step: StepCallback | None, echo: Callable[[str], None] | None, lock: RunLock,
                     created: list[Path]) -> dict[str, Any]:
    """The writing part of a run, in a folder already locked and checked."""
    report: dict[str, Any] = {}
    try:
        if resume:
            for method, (_, ledger_plan) in plans.items():
                if ledger_plan is not None:
                    if ledger_plan.torn_last_line and echo is not None:
                        echo(f"{method}: dropped a torn last line of {run_dir / method / 'ledger.jsonl'} (an "
                             "interrupted write after the checkpoint; that step runs again)")
                    Ledger(run_dir / method / "ledger.jsonl").apply_resume(ledger_plan)
        else:
            if overwrite:
                clear_run(run_dir)
            write_run_config(run_dir, config, sources)
        for method in config.methods():
            checkpoint = plans.get(method, (None, None))[0]
            runner = MethodRun(config, method, data, run_dir, classical_model=classical_model, query_time=query_time,
                               quiet=quiet, on_step=on_step, checkpoint=checkpoint)
            try:
                report[method] = runner.run(resume)
            except BaseException as exc:
                if not is_interrupt(exc):
                    raise
                report[method] = runner.summary()
                write_reports(run_dir, report, config.to_dict(), notes)
                raise
            write_reports(run_dir, report, config.to_dict(), notes)
            if echo is not None and report[method]["status"].startswith("stopped"):
                echo(f"{method}: {report[method]['status']}")
        write_reports(run_dir, report, config.to_dict(), notes)
        return report
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        resumable = resume or checkpoint_written(run_dir)
        if not resumable:  # nothing worth keeping: leave the folder as a fresh run found it
            clear_run(run_dir)
            if created:
                _undo_claim(lock, created)
        raise TrainingInterrupted(run_dir, resumable) from None


def write_run_config(run_dir: Path, config: TrainConfig, sources: dict[str, str]) -> None:
    """config.json: every option (cost constants resolved to numbers) and, under "cost_sources",
    where each resolved number came from; written atomically."""
    payload = {**json_ready(config.to_dict()), "cost_sources": dict(sources)}
    write_text_atomic(run_dir / "config.json", json.dumps(payload, indent=2) + "\n", field="runs_dir")


#: Keys of a method's running totals and the types each may hold (checked on resume).


__all__ = ["run_training", "load_run_config", "TrainingInterrupted", "text_table", "verdict"]
