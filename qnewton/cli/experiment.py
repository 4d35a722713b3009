"""`qnewton experiment list|run`: reproduce the paper's DNN tables and figures.

    qnewton experiment list
    qnewton experiment run NAME|all [--quick] [--seeds N] [--data-dir PATH] [--out DIR] [--config FILE]
                                    [--workers N | --scheduler ADDRESS] [--task-threads N] [--connect-timeout S]

`run` reads ``experiments/NAME.toml`` (or --config), runs every seed, writes ``DIR/NAME/``
(default ``results/NAME/``) atomically and prints the files it wrote. Progress goes to stderr.
The tasks (a seed, or a grid point of a seed) run in this process (--workers 1, the default), on
a local Dask cluster (--workers N) or on a running Dask scheduler (--scheduler ADDRESS, or
$QNEWTON_DASK_SCHEDULER); see docs/scaling.md. When a task fails, the previous ``DIR/NAME/`` is
kept, the failures are reported in ``DIR/NAME.failed/`` and the command exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from qnewton.errors import UsageError


class _Reporter:
    """Log lines and one progress bar over the tasks (done / running / failed) on stderr.

    On a terminal the bar is redrawn in place under the log lines; otherwise a line is printed
    each time a task ends."""

    WIDTH = 30

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = ""
        self.finished = -1
        self.name = ""

    def log(self, message: str) -> None:
        if self.tty and self.bar:
            self.stream.write("\r\033[K")
        print(message, file=self.stream, flush=True)
        if self.tty and self.bar:
            self.stream.write(self.bar)
            self.stream.flush()

    def progress(self, state: Any) -> None:
        ended = state.done + state.failed
        filled = int(self.WIDTH * ended / state.total) if state.total else self.WIDTH
        self.bar = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.name} tasks: {state.done}/{state.total} done, "
                    f"{state.running} running, {state.failed} failed")
        if self.tty:
            self.stream.write("\r\033[K" + self.bar)
            if ended == state.total:
                self.stream.write("\n")
                self.bar = ""
            self.stream.flush()
        elif ended != self.finished:
            print(self.bar, file=self.stream, flush=True)
        self.finished = ended


def _cmd_list(args: argparse.Namespace) -> int:
    from qnewton.experiments.config import experiments_dir
    from qnewton.experiments.registry import CATALOG

    folder = experiments_dir()
    width = max(len(n) for n in CATALOG)
    for name, (_module, paper, title) in CATALOG.items():
        cfg = folder / f"{name}.toml"
        mark = "" if cfg.is_file() else "  [no config file]"
        print(f"{name:<{width}}  {paper:<22}  {title}{mark}")
    print(f"\nconfigs: {folder}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from qnewton.experiments.config import load_config
    from qnewton.experiments.publish import check_results_root
    from qnewton.experiments.registry import experiment_names
    from qnewton.experiments.runner import check_data_dir, run_experiment

    if args.config and args.name == "all":
        raise UsageError("--config: give one experiment NAME, not 'all'")
    names = experiment_names() if args.name == "all" else [args.name]
    # Validate every config before running anything.
    configs = [load_config(args.config or n, quick=args.quick, seeds=args.seeds) for n in names]
    if args.config and configs[0].name != args.name:
        raise UsageError(f"--config: file is for {configs[0].name!r}, not {args.name!r}")
    # ... and the output folder. Ctrl-C and SIGTERM are handled by `qnewton.cli.main`: the
    # temporary result folder is removed on the way out and the previous result stays.
    check_results_root(args.out, [n for cfg in configs for n in (cfg.name, f"{cfg.name}.failed")])
    check_data_dir(args.data_dir)
    from qnewton.experiments.executor import open_executor
    from qnewton.experiments.runner import TasksFailed

    reporter = _Reporter()
    failed: list[TasksFailed] = []
    with open_executor(args.workers, args.scheduler, threads=args.task_threads, connect_timeout=args.connect_timeout,
                       log=reporter.log, env=dict(os.environ)) as executor:
        for cfg in configs:
            reporter.name = cfg.name
            try:
                outcome = run_experiment(cfg, out=Path(args.out), data_dir=args.data_dir, log=reporter.log,
                                         executor=executor, progress=reporter.progress, threads=args.task_threads)
            except TasksFailed as exc:
                failed.append(exc)
                print(f"{cfg.name}: FAILED: {len(exc.failures)} of {exc.total} tasks failed; previous results kept; "
                      f"report in {exc.report_dir}/")
                for result in exc.failures:
                    print(f"  {result.label}: {result.error}")
                continue
            print(f"{outcome.name}: wrote {outcome.directory}/ ({outcome.measured_seconds:.1f} s measured, "
                  f"{'quick' if cfg.quick else 'full'} settings, seeds {list(cfg.seeds)})")
            for path in outcome.files:
                print(f"  {path}")
    return 1 if failed else 0


def _positive_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("experiment", help="reproduce the paper's tables and figures",
                                   description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="experiment_command", metavar="SUBCOMMAND")
    p_list = sub.add_parser("list", help="list the experiments and their paper references")
    p_list.set_defaults(func=_cmd_list)
    p_run = sub.add_parser("run", help="run one experiment (or 'all') and write results/NAME/")
    p_run.add_argument("name", metavar="NAME", help="experiment name (see `qnewton experiment list`) or 'all'")
    p_run.add_argument("--quick", action="store_true", help="small budgets: the whole set runs in minutes")
    p_run.add_argument("--seeds", type=int, default=None, help="number of seeds (default: from the config)")
    p_run.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (default: embedded digits data)")
    p_run.add_argument("--out", default="results", help="results root folder (default: results)")
    p_run.add_argument("--config", default=None, help="a .toml config to use instead of experiments/NAME.toml")
    p_run.add_argument("--workers", type=int, default=None,
                       help="run the tasks on a local Dask cluster of N worker processes (1 thread each); "
                            "1 (the default) runs them in this process")
    p_run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the tasks on the workers of a running Dask scheduler, e.g. tcp://host:8786 "
                            "(default: $QNEWTON_DASK_SCHEDULER when set)")
    p_run.add_argument("--task-threads", type=int, default=1,
                       help="BLAS and torch threads of each task (default 1; 0 = the libraries' choice)")
    p_run.add_argument("--connect-timeout", type=_positive_float, default=10.0, metavar="SECONDS",
                       help="seconds to wait for the scheduler and its first worker (default 10)")
    p_run.set_defaults(func=_cmd_run)
