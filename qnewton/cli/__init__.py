"""The `qnewton` command: one sub-module per command group, each exposing `register(subparsers)`.

Each sub-module's `register` adds its parser(s) and sets `func` (a callable taking the parsed
`argparse.Namespace` and returning an exit code). User mistakes raise `qnewton.errors.UsageError`;
`main` prints them as one line and exits with code 2. A command group given no subcommand
(`qnewton`, `qnewton experiment`, ...) gets the same one line on stderr, naming the choices and
ending with the group's usage, and exit 2; `main` finds such a group generically from the parser
tree, so a group needs no code of its own for it. Ctrl-C exits 130 and SIGTERM
143, each with one line, after the command's cleanup ran (see `_Signals`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from typing import Any, Sequence

from qnewton.errors import UsageError

# Sub-modules of qnewton.cli, in the order they appear in `qnewton --help`.
COMMAND_MODULES = ("train", "cost", "kappa", "prune", "calibrate", "circuit", "calibration", "experiment")


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread. A KeyboardInterrupt, so every cleanup written for
    Ctrl-C (temporary result folders, checkpoints saved on interrupt) runs for it as well."""


class _Signals:
    """Ctrl-C and SIGTERM while a command runs.

    The first signal raises KeyboardInterrupt (Ctrl-C) or `Terminated` (SIGTERM), so the
    command unwinds through its cleanup. From then on, repeated signals are ignored so that a
    second Ctrl-C cannot break that cleanup (a checkpoint or result being written, or interpreter
    exit) half-way with a traceback; a hung cleanup still ends with SIGKILL. Signals the parent process told us to ignore stay
    ignored; nothing is installed outside the main thread.
    """

    WATCHED = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.WATCHED:
            handler = signal.getsignal(sig)
            if handler is signal.SIG_IGN or handler is None:
                continue
            self.previous[sig] = handler
            signal.signal(sig, self._first)

    def _first(self, signum: int, frame: object) -> None:
        self.received = signum
        # SIG_IGN, not a Python function: Python resets its own handlers to the default while the
        # interpreter shuts down, and a signal arriving then would kill the process mid-exit.
        for sig in self.previous:
            signal.signal(sig, signal.SIG_IGN)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    @property
    def exit_code(self) -> int:
        """128 + the signal, as a shell reports a process ended by it."""
        return 128 + int(self.received or signal.SIGINT)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


def _group_without_subcommand(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[argparse.ArgumentParser, Any] | None:
    """The innermost command group on the command line that was given none of its subcommands,
    with its subcommand action; None when the command line names a complete command."""
    current = parser
    while True:
        action = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if action is None or action.dest == argparse.SUPPRESS:
            return None
        chosen = getattr(args, action.dest, None)
        if chosen is None:
            return current, action
        current = action.choices[chosen]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `qnewton` command line `argv` (default: sys.argv[1:]) and return the exit code.

    Exit codes: 0 success; 2 a usage error or a command group given no subcommand (one line on
    stderr); 130 Ctrl-C; 143 SIGTERM; 141 a closed stdout pipe.
    """
    signals = _Signals()
    signals.install()
    command = "qnewton"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        missing = _group_without_subcommand(parser, args)
        if missing is not None:
            group, action = missing
            usage = " ".join(group.format_usage().split())  # argparse wraps long usages: one line here
            print(f"{group.prog}: error: missing {action.metavar or 'subcommand'} "
                  f"(choose from: {', '.join(action.choices)}); {usage}", file=sys.stderr)
            return 2
        command = f"qnewton {args.command}"
        func = getattr(args, "func", None)
        if func is None:  # pragma: no cover - every command sets one
            sys.stderr.write(parser.format_usage())
            return 2
        code = int(func(args) or 0)
        # A command that handles Ctrl-C itself still ends with the code of the signal that stopped it.
        return 143 if signals.received == signal.SIGTERM else code
    except UsageError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated) or signals.received == signal.SIGTERM
        print("qnewton: terminated" if terminated else "qnewton: interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        # The reader went away (e.g. `qnewton ... --json | head`): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        # Run as the program (argv from sys.argv) after a signal: keep repeated signals quiet
        # through interpreter exit too. Called from Python: give the caller its handlers back.
        if signals.received is None or argv is not None:
            signals.restore()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
