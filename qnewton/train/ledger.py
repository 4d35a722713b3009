"""The time ledger: one JSON row per training step (JSON Lines), MEASURED and MODELED apart.

Row keys (see docs/training.md): method, step, phase ("sgd" | "newton"), loss, batch_accuracy,
measured_seconds {forward_backward, hessian, regularize_prune, kappa_estimate, decision, solve,
update}, measured_seconds_total, modeled_quantum_seconds, decision_counts {quantum, classical},
blocks (per inversion: n, sparsity, kappa_estimate, log_kappa_estimate, kappa_method,
kappa_exact, quantum_seconds_model, classical_seconds_model, decision, solver, solve_info, ...),
skipped (null or the reason), and test_accuracy / test_loss on evaluation steps.
Non-finite floats are written as the strings "inf", "-inf", "nan" (strict JSON).

Each row is appended with one write of one line ending in a newline, after the step and before
the state that includes it is checkpointed. So a process killed mid-write can leave at most a
torn LAST line, always of a step after the last checkpoint; resume (`Ledger.plan_resume`) drops
it with the rows the checkpoint does not cover. Any other line that is not a JSON row, or a gap in
the steps the checkpoint covers, is damage and refuses the resume.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from qnewton.errors import UsageError
from qnewton.files import write_text_atomic
from qnewton.jsonutil import json_ready, loads_limited
from qnewton.limits import check_limit
from qnewton.optim.step_report import STAGES  # the MEASURED stages a ledger row times

__all__ = ["STAGES", "Ledger", "LedgerResume", "json_ready"]


@dataclass(frozen=True)
class LedgerResume:
    """What resuming does to a ledger: keep its first `kept` lines (`text`, byte for byte), drop
    `dropped` later rows, and whether the last line was torn (an interrupted append)."""

    text: str
    kept: int
    dropped: int
    torn_last_line: bool

    @property
    def changes(self) -> bool:
        """True when the file must be rewritten."""
        return self.dropped > 0 or self.torn_last_line


class Ledger:
    """Append-only JSONL writer. `truncate_after(step)` drops rows of later steps (for resume)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def reset(self) -> None:
        """Start an empty ledger file (creating its folder)."""
        write_text_atomic(self.path, "", field="ledger", make_parents=True)

    def append(self, row: dict[str, Any]) -> None:
        """Append one step row as a line of strict JSON."""
        with self.path.open("a") as fh:
            fh.write(json.dumps(json_ready(row), allow_nan=False) + "\n")

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows written so far, parsed, in order."""
        if not self.path.exists():
            return iter(())
        return (json.loads(line) for line in self.path.read_text().splitlines() if line.strip())

    def plan_resume(self, next_step: int, method: str) -> LedgerResume:
        """Check the ledger against a checkpoint taken before step `next_step` and say what to keep.

        Reads only. Its first `next_step` rows must be the steps 0 .. next_step-1 of `method`, in
        order; later rows are dropped (the resumed run writes them again), and so is a torn last
        line (see the module docstring). Each line is size- and depth-checked before parsing.
        Anything else is a one-line UsageError: the ledger and the checkpoint disagree."""
        where = f"resume: ledger {self.path}"
        if not self.path.exists():
            if next_step == 0:
                return LedgerResume("", 0, 0, False)
            raise UsageError(f"{where} is missing but the checkpoint covers {next_step} steps")
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{where}: cannot read it ({exc.strerror or exc})") from None
        lines = raw.split(b"\n")
        tail_unterminated = lines[-1] != b""
        if not tail_unterminated:
            lines.pop()
        kept: list[str] = []
        dropped = 0
        torn = False
        for number, line in enumerate(lines, start=1):
            last = number == len(lines)
            try:
                check_limit("json_bytes", len(line), source=f"{where} line {number}")
                text = line.decode("utf-8")
                row = loads_limited(text, field=f"{where} line {number}") if text.strip() else None
                if row is not None and (not isinstance(row, dict) or not isinstance(row.get("step"), int)):
                    raise UsageError(f"{where} line {number}: not a ledger row (a JSON object with an integer step)")
            except (UsageError, UnicodeDecodeError) as exc:
                if last and tail_unterminated:
                    torn = True
                    break
                reason = str(exc) if isinstance(exc, UsageError) else f"{where} line {number}: not UTF-8 text"
                raise UsageError(f"{reason}; the ledger is damaged (start the run again with --overwrite)") from None
            if row is None:
                raise UsageError(f"{where} line {number} is empty; the ledger is damaged (start the run again with "
                                 "--overwrite)")
            if len(kept) < next_step:
                if row["step"] != len(kept) or row.get("method") != method:
                    raise UsageError(f"{where} line {number} holds step {row['step']} of {row.get('method')!r} where "
                                     f"step {len(kept)} of {method!r} belongs; the ledger does not match the checkpoint")
                kept.append(text + "\n")
            else:
                dropped += 1
        if len(kept) < next_step:
            raise UsageError(f"{where} has {len(kept)} complete rows but the checkpoint covers {next_step} steps; the "
                             "ledger does not match the checkpoint")
        return LedgerResume("".join(kept), len(kept), dropped, torn)

    def apply_resume(self, plan: LedgerResume) -> None:
        """Rewrite the ledger (atomically) to the rows `plan` keeps, if anything changes."""
        if plan.changes:
            write_text_atomic(self.path, plan.text, field="ledger", make_parents=True)
