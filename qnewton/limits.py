"""Size limits checked before any allocation, each overridable by an environment variable.

Every reader of user files (matrix files, IDX/gzip data, JSON configs and calibration profiles)
checks the declared sizes against these limits before it allocates, so that a tiny crafted file
cannot exhaust memory. A refused input gets one line that names the limit and the variable that
raises it. `limit(name)` returns the value in force.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from qnewton.errors import UsageError


@dataclass(frozen=True)
class Limit:
    """One named limit: its environment variable, default and unit (for messages)."""

    env: str
    default: int
    unit: str
    what: str


LIMITS: dict[str, Limit] = {
    # 4e8 float64 entries = 3.2 GB: room for the 12,730 x 12,730 Hessian of the 784-16-10 MLP.
    "matrix_elements": Limit("QNEWTON_MAX_MATRIX_ELEMENTS", 400_000_000, "entries", "matrix size"),
    # nonzeros declared by a Matrix Market coordinate file
    "matrix_nonzeros": Limit("QNEWTON_MAX_MATRIX_NONZEROS", 400_000_000, "entries", "matrix nonzeros"),
    # decompressed bytes of one data file (full MNIST training images: 47 MB)
    "decompressed_bytes": Limit("QNEWTON_MAX_DECOMPRESSED_BYTES", 1 << 30, "bytes", "decompressed data size"),
    # JSON/TOML files the user hands us (calibration profiles, configs, ledgers' lines)
    "json_bytes": Limit("QNEWTON_MAX_JSON_BYTES", 64 << 20, "bytes", "JSON/TOML file size"),
    "json_depth": Limit("QNEWTON_MAX_JSON_DEPTH", 64, "levels", "JSON nesting depth"),
}


def limit(name: str) -> int:
    """The value of limit `name` in force: its environment variable if set (a positive integer,
    scientific notation allowed), else the default. A bad variable is a one-line UsageError."""
    spec = LIMITS[name]
    raw = os.environ.get(spec.env)
    if raw is None or raw.strip() == "":
        return spec.default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{spec.env}: expected a positive number, got {raw!r}") from None
    if not (value >= 1 and value < 2**62):
        raise UsageError(f"{spec.env}: expected a positive number below 2^62, got {raw!r}")
    return int(value)


def check_limit(name: str, value: int | float, *, source: str) -> None:
    """Refuse `value` above limit `name` with one line naming the source, the limit and the
    environment variable that raises it."""
    cap = limit(name)
    if value > cap:
        spec = LIMITS[name]
        raise UsageError(
            f"{source}: {spec.what} {value:.4g} {spec.unit} exceeds the limit of {cap:.4g} {spec.unit} "
            f"(set {spec.env} to raise it)"
        )
