"""`qnewton experiment list|run`: reproduce the paper's DNN tables and figures.

    qnewton experiment list
    qnewton experiment run NAME|all [--quick] [--seeds N] [--data-dir PATH] [--out DIR] [--config FILE]

`run` reads ``experiments/NAME.toml`` (or --config), runs every seed, writes ``DIR/NAME/``
(default ``results/NAME/``) atomically and prints the files it wrote. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qnewton.errors import UsageError


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    check_results_root(args.out, [cfg.name for cfg in configs])
    check_data_dir(args.data_dir)
    for cfg in configs:
        outcome = run_experiment(cfg, out=Path(args.out), data_dir=args.data_dir, log=_log)
        print(f"{outcome.name}: wrote {outcome.directory}/ ({outcome.measured_seconds:.1f} s measured, "
              f"{'quick' if cfg.quick else 'full'} settings, seeds {list(cfg.seeds)})")
        for path in outcome.files:
            print(f"  {path}")
    return 0


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
    p_run.set_defaults(func=_cmd_run)
