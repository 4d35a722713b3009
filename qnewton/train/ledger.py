"""The time ledger: one JSON row per training step (JSON Lines), MEASURED and MODELED apart.

Row keys (see docs/training.md): method, step, phase ("sgd" | "newton"), loss, batch_accuracy,
measured_seconds {forward_backward, hessian, regularize_prune, kappa_estimate, decision, solve,
update}, measured_seconds_total, modeled_quantum_seconds, decision_counts {quantum, classical},
blocks (per inversion: n, sparsity, kappa_estimate, log_kappa_estimate, kappa_method,
kappa_exact, quantum_seconds_model, classical_seconds_model, decision, solver, solve_info, ...),
skipped (null or the reason), and test_accuracy / test_loss on evaluation steps.
Non-finite floats are written as the strings "inf", "-inf", "nan" (strict JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from qnewton.jsonutil import json_ready

STAGES: tuple[str, ...] = (
    "forward_backward",
    "hessian",
    "regularize_prune",
    "kappa_estimate",
    "decision",
    "solve",
    "update",
)


class Ledger:
    """Append-only JSONL writer. `truncate_after(step)` drops rows of later steps (for resume)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def reset(self) -> None:
        """Start an empty ledger file (creating its folder)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def append(self, row: dict[str, Any]) -> None:
        """Append one step row as a line of strict JSON."""
        with self.path.open("a") as fh:
            fh.write(json.dumps(json_ready(row), allow_nan=False) + "\n")

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows written so far, parsed, in order."""
        if not self.path.exists():
            return iter(())
        return (json.loads(line) for line in self.path.read_text().splitlines() if line.strip())

    def truncate_after(self, last_step: int) -> None:
        """Keep only rows with step <= last_step (a resumed run rewrites the later ones)."""
        kept = [row for row in self.rows() if int(row.get("step", -1)) <= last_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r, allow_nan=False) + "\n" for r in kept))
