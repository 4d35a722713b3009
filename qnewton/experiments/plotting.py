"""Matplotlib figure and save functions for experiment plots (Agg, no display needed).

Figures are built from `matplotlib.figure.Figure` directly, never through pyplot's global
state, so plotting works headless and from threads, and never changes the user's backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from qnewton.experiments.aggregate import value


def figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.8) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def series(rows: Sequence[dict[str, Any]], x: str, y: str, **match: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x values, y means and y stds of the summary rows whose columns equal `match`."""
    sel = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    xs = np.array([float(r[x]) if x in r else value(r, x) for r in sel], dtype=np.float64)
    ys = np.array([value(r, y) for r in sel], dtype=np.float64)
    es = np.array([value(r, y, "std") for r in sel], dtype=np.float64)
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order], np.nan_to_num(es[order])


def errorline(ax: Any, xs: np.ndarray, ys: np.ndarray, es: np.ndarray, label: str, **kw: Any) -> None:
    """A line with a shaded ±1 std band (the band vanishes for one seed)."""
    (line,) = ax.plot(xs, ys, marker=kw.pop("marker", "o"), label=label, **kw)
    if np.any(es > 0):
        ax.fill_between(xs, ys - es, ys + es, color=line.get_color(), alpha=0.2, linewidth=0)
