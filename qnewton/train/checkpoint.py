"""Checkpoints: everything a method needs to continue bit for bit.

A checkpoint (torch.save, `runs/<name>/<method>/checkpoint.pt`) holds the index of the next
step, the model's state_dict, the SGD optimizer's state_dict, the method's running totals and
the RNG states (torch CPU generator, numpy's legacy global state, Python's `random`). The
trainer draws mini-batches and emulated-QLSA noise from generators seeded by (seed, step), so
the saved RNG states are a second line of defence, restored on resume all the same.
Writes are atomic (temporary file, then rename), so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qnewton.errors import UsageError
from qnewton.files import write_atomic


def rng_states() -> dict[str, Any]:
    """The torch, numpy (legacy global) and Python RNG states."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng_states(states: dict[str, Any]) -> None:
    """Restore the states saved by `rng_states`."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """torch.save `payload` to a temporary file beside `path`, then rename it over `path` (atomic)."""
    write_atomic(path, lambda fh: torch.save(payload, fh), field="checkpoint", make_parents=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint; a missing or unreadable file is a one-line UsageError."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"resume: no checkpoint at {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # corrupt file: one line, not a traceback
        raise UsageError(f"resume: cannot read checkpoint {p} ({type(exc).__name__})") from None
