"""The `qnewton` command: one sub-module per command group, each exposing `register(subparsers)`.

Each sub-module's `register` adds its parser(s) and sets `func` (a callable taking the parsed
`argparse.Namespace` and returning an exit code). User mistakes raise `qnewton.errors.UsageError`;
`main` prints them as one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from qnewton.errors import UsageError

# Sub-modules of qnewton.cli, in the order they appear in `qnewton --help`.
COMMAND_MODULES = ("train", "cost", "circuit", "calibration", "experiment")


class _Parser(argparse.ArgumentParser):
    """argparse already exits 2 on a bad option; keep its message to one line."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through CLI tests
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qnewton",
        description="Hybrid quantum-classical Newton training (Q-Newton): train, cost models, circuits, calibrations, experiments.",
    )
    from qnewton import __version__

    parser.add_argument("--version", action="version", version=f"qnewton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"qnewton.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"qnewton.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"qnewton {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qnewton: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `qnewton ... --json | head`): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
