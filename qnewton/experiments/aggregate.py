"""Seeds -> mean and spread.

For each table, rows from all seeds are grouped by the table's key columns. Every other
numeric column c becomes c_mean, c_std (sample standard deviation, ddof = 1; 0 for one seed),
c_min and c_max over the seeds that have a finite value. When some seeds have no value (a
training run that never reached the target accuracy reports None), c_count says how many did,
so a mean over 2 of 3 seeds is never passed off as a mean over all 3; c_infinite counts the
seeds whose value was infinite (the mean is then +-inf only when no seed was finite). String columns are kept
when all seeds agree and joined with "|" otherwise. `n_seeds` counts the seeds in the group.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from qnewton.experiments.spec import Rows

SPREAD_SUFFIXES = ("_mean", "_std", "_min", "_max", "_count", "_infinite")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def aggregate_rows(rows: Rows, keys: Sequence[str], seed_column: str = "seed") -> Rows:
    """Group `rows` by `keys` (first-seen order) and summarize the other columns across seeds."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        missing = [k for k in keys if k not in row]
        if missing:
            raise KeyError(f"row lacks key column {missing[0]!r}: {sorted(row)}")
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out: Rows = []
    for key, members in groups.items():
        summary: dict[str, Any] = dict(zip(keys, key))
        summary["n_seeds"] = len({m.get(seed_column) for m in members})
        columns: list[str] = []
        for m in members:
            for c in m:
                if c not in keys and c != seed_column and c not in columns:
                    columns.append(c)
        for c in columns:
            values = [m.get(c) for m in members]
            numeric = [v for v in values if v is not None and (_is_number(v))]
            if values and all(v is None or _is_number(v) for v in values) and (numeric or all(v is None for v in values)):
                finite = np.array([float(v) for v in numeric if math.isfinite(float(v))], dtype=np.float64)
                infinite = [float(v) for v in numeric if not math.isfinite(float(v))]
                if finite.size:
                    summary[f"{c}_mean"] = float(finite.mean())
                    summary[f"{c}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
                    summary[f"{c}_min"] = float(finite.min())
                    summary[f"{c}_max"] = float(finite.max())
                elif infinite:
                    summary[f"{c}_mean"] = summary[f"{c}_min"] = summary[f"{c}_max"] = infinite[0]
                    summary[f"{c}_std"] = 0.0
                else:
                    summary[f"{c}_mean"] = summary[f"{c}_std"] = None
                    summary[f"{c}_min"] = summary[f"{c}_max"] = None
                if finite.size != len(values) and not all(v is None for v in values):
                    summary[f"{c}_count"] = int(finite.size)
                if infinite:
                    summary[f"{c}_infinite"] = len(infinite)
            else:
                distinct = []
                for v in values:
                    s = "" if v is None else str(v)
                    if s not in distinct:
                        distinct.append(s)
                summary[c] = distinct[0] if len(distinct) == 1 else "|".join(distinct)
        out.append(summary)
    return out


def value(summary_row: dict[str, Any], column: str, stat: str = "mean") -> float:
    """Read one statistic from a summary row as a float (NaN when missing or None)."""
    v = summary_row.get(f"{column}_{stat}")
    return float("nan") if v is None else float(v)
