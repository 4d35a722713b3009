"""Pieces several commands share: number formatting, the range of counts, profile output paths."""

from __future__ import annotations

import math
import os
from pathlib import Path

from qnewton.errors import UsageError

#: Largest matrix size N (and sparsity) a command prices: 2^53 is the last integer a float64 holds
#: exactly, and the cost models compute in float64.
MAX_N = 2**53


def fmt(x: float) -> str:
    """A number for a table: 4 significant digits, "inf" for infinity."""
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.4g}"


def count_text(value: int) -> str:
    """An integer for a message: in full when short, else its magnitude (a 400-digit --n must not
    fill the terminal)."""
    text = str(value)
    return text if len(text) <= 20 else f"an integer of {len(text.lstrip('-'))} digits"


def check_count(name: str, value: int | None) -> None:
    """--n / --sparsity: an integer in [1, MAX_N]; one line with the allowed range otherwise."""
    if value is not None and not 1 <= value <= MAX_N:
        raise UsageError(f"--{name}: must lie in [1, 2^53 = {MAX_N}], got {count_text(value)}")


def check_profile_output(path: str | os.PathLike[str], *, force: bool, field: str = "--out") -> Path:
    """The output rule (`qnewton.files.check_output`) for a profile file, checked before the work
    WITHOUT creating anything: when its folder does not exist yet, the nearest existing ancestor
    must be a writable directory, and the folders are made only when the profile is written (so a
    failed export or an interrupted calibration leaves no empty folder behind)."""
    from qnewton.files import check_output

    out = Path(path).expanduser()
    parent = out.parent
    ancestor = parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{field}: cannot create directory {parent} ({ancestor} is not a directory)")
    if ancestor == parent:
        return check_output(out, force=force, field=field)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{field}: cannot create directory {parent} (permission denied in {ancestor})")
    return out
