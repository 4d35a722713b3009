"""`qnewton train`: SGD, classical-only, quantum-only and hybrid Q-Newton side by side.

One flag per `TrainConfig` field (generated from the dataclass, so the flags, the TOML keys and
the defaults can never drift apart). Precedence: flags > `--config FILE` > defaults.
`--resume runs/NAME` continues an interrupted run with its saved config; `--overwrite` replaces the
run a folder already holds (without either, reusing a run name is refused).

Ctrl-C (or SIGTERM): the first one stops the run (a checkpoint is written) and the exit code is
130 (143); `qnewton.cli.main` ignores every later one, so a second Ctrl-C can neither tear the
checkpoint being written nor interrupt the interpreter's exit handlers (torch's library finalizers
printed "Exception ignored in atexit callback" tracebacks when it did). Where SIGINT was already
ignored when the command started (a background job of a shell script), it stays ignored.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from qnewton.errors import UsageError
from qnewton.train.config import TrainConfig


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _type_of(annotation: str) -> Any:
    base = annotation.replace(" | None", "")
    if base == "int":
        return int
    if base == "float":
        return float
    if base == "bool":
        return _parse_bool
    return str


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `qnewton train` with one flag per TrainConfig field."""
    parser = subparsers.add_parser(
        "train",
        help="train with SGD, classical, quantum and hybrid Newton and compare them (paper Table III)",
        description=(
            "Train an MLP with SGD and with Newton's method whose Hessian inversions go to a classical solver, "
            "an (emulated) quantum solver, or whichever the Q-Newton scheduler prices cheaper; print a "
            "Table-III-like comparison with MEASURED seconds and MODELED quantum seconds in separate columns. "
            "Every option can also be set as a key of the same name in a TOML file (--config); flags win."
        ),
    )
    parser.add_argument("--config", metavar="FILE", default=None, help="TOML file with options (top level or [train])")
    parser.add_argument("--resume", metavar="RUN_DIR", default=None,
                        help="continue the run in RUN_DIR (e.g. runs/default) from its checkpoints and saved config")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run that RUNS_DIR/NAME already holds (its files are removed once every "
                             "option and input has been checked, just before the new run starts); without it, "
                             "reusing a run name is refused")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--list-methods", action="store_true",
                        help="print every registered method with its hyper-parameters (set them with "
                             "--method-options) and exit")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        # (the method names are not listed here: building every command's parser must stay light,
        # without importing torch; an unknown --method lists the registered ones)
        text = f.metadata.get("help", "")
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "type": _type_of(str(f.type)),
                                  "help": f"{text} (default: {default!r})".replace("%", "%%")}
        if f.metadata.get("choices"):
            kwargs["choices"] = list(f.metadata["choices"])
            kwargs["metavar"] = "{" + ",".join(map(str, f.metadata["choices"])) + "}"
        elif str(f.type).startswith("bool"):
            kwargs["metavar"] = "BOOL"
        parser.add_argument(flag, **kwargs)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < --config FILE < flags, validated."""
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if args.config:
        return TrainConfig.from_toml(args.config, **overrides)
    return TrainConfig(**overrides)


def methods_text() -> str:
    """One line per registered method: name, description, and its hyper-parameters with defaults."""
    from qnewton.methods import get_method, method_names

    lines = []
    for name in method_names():
        info = get_method(name)
        hyper = ", ".join(f"{k}={v!r}" for k, v in info.defaults.items())
        lines.append(f"{name:<12} {info.description}")
        if hyper:
            lines.append(f"{'':<12} --method-options: {hyper}")
        if info.train_options:
            lines.append(f"{'':<12} train options: " + ", ".join("--" + o.replace("_", "-") for o in info.train_options))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """`qnewton train`: run, print the table and the verdict; 0, 1 if a method stopped on bad steps, 130 on Ctrl-C."""
    from qnewton.train.report import LEGEND, split_name, target_phrase, text_table, verdict
    from qnewton.train.method_run import is_interrupt
    from qnewton.train.resume import load_run_config
    from qnewton.train.runner import TrainingInterrupted

    if args.list_methods:
        print(methods_text())
        return 0
    resume = args.resume is not None
    if resume:
        given = [f.name for f in fields(TrainConfig) if getattr(args, f.name, None) is not None]
        if given or args.config:
            raise UsageError(f"resume: options cannot change on resume ({', '.join(given) or 'config'}); "
                             "the run's saved config.json is used")
        if args.overwrite:
            raise UsageError("--overwrite: cannot be combined with --resume (resume continues a run, overwrite "
                             "replaces it)")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in args.resume):
            raise UsageError(f"resume: the folder name must not contain control characters, got {args.resume!r}")
        run_dir = Path(args.resume)
        config = load_run_config(run_dir)
    else:
        config = config_from_args(args)
        run_dir = config.run_dir()
    # Ctrl-C and SIGTERM: `qnewton.cli.main` raises KeyboardInterrupt on the first signal and
    # ignores the later ones, so the checkpoint write below is never cut short.
    try:
        report = _train(config, run_dir, args, resume)
    except TrainingInterrupted as exc:
        if exc.resumable:
            print(f"qnewton train: interrupted; checkpoint written, continue with: qnewton train --resume {run_dir}",
                  file=sys.stderr)
        else:
            print("qnewton train: interrupted before the first checkpoint; nothing was kept (run the same command "
                  "again to start over)", file=sys.stderr)
        return 130
    except BaseException as exc:  # Ctrl-C before the run folder was touched (possibly wrapped by torch)
        if not is_interrupt(exc):
            raise
        print("qnewton train: interrupted before the run started; nothing was written", file=sys.stderr)
        return 130
    print()
    split = split_name(config)
    print(text_table(report, split))
    print()
    for line in verdict(report, target_phrase(config), split):
        print(line)
    for method, entry in report.items():
        if entry.get("status") != "completed":
            print(f"{method}: {entry.get('status')}")
    print()
    print(textwrap.fill(LEGEND, width=110))
    print(f"Files: {run_dir}/ (config.json, report.md, "
          f"report.json, <method>/ledger.jsonl, <method>/checkpoint.pt)")
    stopped = any(str(e.get("status", "")).startswith("stopped") for e in report.values())
    return 1 if stopped else 0


def _train(config: TrainConfig, run_dir: Path, args: argparse.Namespace, resume: bool) -> dict[str, Any]:
    from qnewton.train.runner import run_training

    echo = lambda line: print(line, file=sys.stderr)  # noqa: E731
    return run_training(config, run_dir=run_dir, quiet=args.quiet, resume=resume, overwrite=args.overwrite, echo=echo)
