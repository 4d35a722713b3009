"""Result writers: CSV, JSON and markdown for every table.

They write into the temporary folder of `atomic_output_dir` (from `qnewton.experiments.publish`,
re-exported here), which replaces ``root/name`` in one atomic step when the run succeeds, so a
reader never sees half a result and a failed or killed run leaves the previous result in place.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qnewton.experiments.publish import atomic_output_dir
from qnewton.experiments.spec import Rows
from qnewton.jsonutil import json_ready

__all__ = ["atomic_output_dir", "fmt_number", "markdown_table", "summary_cell", "value_columns",
           "write_csv", "write_json"]


def write_json(path: Path, data: Any) -> Path:
    """`data` as strict JSON (`qnewton.jsonutil.json_ready`: infinities as strings, paths as text)."""
    path.write_text(json.dumps(json_ready(data), indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _columns(rows: Rows) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for c in row:
            if c not in cols:
                cols.append(c)
    return cols


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return repr(f) if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(json_ready(v), allow_nan=False)
    return str(v)


def write_csv(path: Path, rows: Rows) -> Path:
    cols = _columns(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in cols])
    return path


def fmt_number(v: Any) -> str:
    """Four significant digits; scientific notation outside [1e-3, 1e5)."""
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return str(v)
    f = float(v)
    if not math.isfinite(f):
        return "inf" if f > 0 else ("-inf" if f < 0 else "nan")
    if isinstance(v, (int, np.integer)) and abs(f) < 1e9:
        return str(int(v))
    if f == 0:
        return "0"
    if 1e-3 <= abs(f) < 1e5:
        return f"{f:.4g}"
    return f"{f:.3e}"


def summary_cell(row: dict[str, Any], column: str) -> str:
    """'mean ± std' of an aggregated column (just the mean for one seed); raw value otherwise."""
    if f"{column}_mean" not in row:
        return fmt_number(row.get(column))
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    text = fmt_number(mean)
    # A spread below 1e-9 of the mean is rounding between seeds, not variation: not shown.
    if row.get("n_seeds", 1) > 1 and std not in (None, 0.0) and mean is not None and abs(std) > 1e-9 * abs(mean):
        text += f" ± {fmt_number(std)}"
    n_inf = row.get(f"{column}_infinite", 0)
    if n_inf and n_inf == row.get("n_seeds"):
        return text  # every seed infinite: "inf" says it all
    if n_inf:
        text += f" ({row.get(f'{column}_count')}/{row.get('n_seeds')} seeds finite, {n_inf} inf)"
    elif f"{column}_count" in row:
        text += f" ({row[f'{column}_count']}/{row.get('n_seeds')} seeds)"
    return text


def value_columns(rows: Rows, keys: Sequence[str]) -> list[str]:
    """Base names of the aggregated value columns, in first-seen order."""
    out: list[str] = []
    for c in _columns(rows):
        if c in keys or c == "n_seeds":
            continue
        base = c
        for suffix in ("_mean", "_std", "_min", "_max", "_count", "_infinite"):
            if c.endswith(suffix):
                base = c[: -len(suffix)]
                break
        if base not in out:
            out.append(base)
    return out


def markdown_table(rows: Rows, keys: Sequence[str], columns: Sequence[str] = (), title: str = "") -> str:
    """A GitHub markdown table of aggregated rows: key columns, then 'mean ± std' cells."""
    cols = list(columns) or value_columns(rows, keys)
    header = list(keys) + cols
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = [fmt_number(row.get(k)) for k in keys] + [summary_cell(row, c) for c in cols]
        # a cell may hold seed values joined by "|" (aggregate): escape it so the table stays a table
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
