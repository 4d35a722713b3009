"""`qnewton cost --sweep`: the sweep grammar, the crossovers and the plot (like paper Fig. 5).

`--sweep PARAM=START:STOP:POINTS` (kappa, sparsity or n; log-spaced, repeatable) gives one panel
per parameter; `crossovers` finds where the cheaper solver changes, log-interpolated between
points; `plot_panels` draws the panels into one PNG, written atomically.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.cli.common import MAX_N, count_text, fmt
from qnewton.errors import UsageError

SWEEP_PARAMS = ("kappa", "sparsity", "n")


def parse_sweep(text: str) -> tuple[str, np.ndarray]:
    """"kappa=10:1e5:20" -> ("kappa", 20 log-spaced values); sparsity and n are rounded to ints.

    START and STOP are finite with 0 < START < STOP; for n and sparsity 1 <= START and STOP <=
    MAX_N (2^53), so no value wraps around when it becomes an integer. POINTS lies in [2, 10000].
    """
    if "=" not in text:
        raise UsageError(f"--sweep: expected PARAM=START:STOP:POINTS, got {text!r}")
    name, _, spec = text.partition("=")
    name = name.strip().lower()
    if name not in SWEEP_PARAMS:
        raise UsageError(f"--sweep: parameter must be one of {', '.join(SWEEP_PARAMS)}, got {name!r}")
    parts = spec.split(":")
    if len(parts) != 3:
        raise UsageError(f"--sweep: expected {name}=START:STOP:POINTS, got {text!r}")
    try:
        start, stop, points = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UsageError(f"--sweep: START and STOP must be numbers and POINTS an integer, got {spec[:80]!r}") from None
    if not (math.isfinite(start) and math.isfinite(stop) and 0 < start < stop):
        raise UsageError(f"--sweep: need finite 0 < START < STOP, got {start:g}:{stop:g}")
    if name in ("sparsity", "n") and not (start >= 1 and stop <= MAX_N):
        raise UsageError(f"--sweep {name}: START and STOP must lie in [1, 2^53 = {MAX_N}], got {start:g}:{stop:g}")
    if not 2 <= points <= 10000:
        raise UsageError(f"--sweep: POINTS must lie in [2, 10000], got {count_text(points)}")
    values = np.geomspace(start, stop, points)
    if name in ("sparsity", "n"):
        values = np.unique(np.clip(np.round(values), 1, MAX_N).astype(np.int64)).astype(np.float64)
    return name, values


def crossovers(xs: np.ndarray, quantum: np.ndarray, classical: np.ndarray) -> list[dict[str, Any]]:
    """Points where the cheaper solver changes, log-interpolated between sweep points."""
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(quantum) - np.log(classical)
    for i in range(len(xs) - 1):
        a, b = r[i], r[i + 1]
        if not (np.isfinite(a) or np.isfinite(b)):
            continue
        if (a <= 0) != (b <= 0):
            if np.isfinite(a) and np.isfinite(b) and a != b:
                t = a / (a - b)
                x = float(math.exp(math.log(xs[i]) + t * (math.log(xs[i + 1]) - math.log(xs[i]))))
            else:
                x = float(xs[i + 1])
            out.append({"x": x, "between": [float(xs[i]), float(xs[i + 1])], "to": "classical" if b > 0 else "quantum"})
    return out


def plot_panels(panels: list[dict[str, Any]], args: argparse.Namespace, path: Path) -> Path:
    """Draw the sweep panels (quantum and classical seconds, crossovers) into the PNG `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qnewton.files import write_atomic

    labels = {"kappa": "condition number $\\kappa$", "sparsity": "oracle sparsity $d$", "n": "matrix size $N$"}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        name = panel["param"]
        xs = [float(r[name]) for r in panel["rows"]]
        ax.loglog(xs, [r["quantum_seconds"] for r in panel["rows"]], "o-", ms=3, label="quantum (modeled)")
        ax.loglog(xs, [r["classical_seconds"] for r in panel["rows"]], "s-", ms=3,
                  label=f"classical ({panel['rows'][0]['classical_model']})")
        for cx in panel["crossovers"]:
            ax.axvline(cx["x"], color="gray", ls="--", lw=1)
        ax.set_xlabel(labels[name])
        ax.set_ylabel("seconds")
        fixed = ", ".join(f"{k}={fmt(float(getattr(args, k)))}" for k in SWEEP_PARAMS if k != name and getattr(args, k) is not None)
        ax.set_title(f"cost vs {name} ({fixed})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=120, format="png"), field="--plot")
    finally:
        plt.close(fig)
    return path
