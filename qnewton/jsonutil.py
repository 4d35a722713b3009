"""Strict-JSON conversion shared by the ledger, reports, decisions and the CLI's --json output.

JSON has no infinity or NaN, yet a kappa estimate or a modeled cost can be infinite. `json_ready`
turns non-finite floats into the strings "inf", "-inf" and "nan", numpy scalars and arrays into
Python numbers and lists, tuples into lists and dict keys into strings, recursively.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np


def json_ready(value: Any, *, max_array: int | None = None, fallback_str: bool = False) -> Any:
    """Return `value` in plain, strict-JSON types (see the module docstring).

    Paths become strings. max_array: numpy arrays with more entries than this become the string
    "<array shape (...)>" (ledger rows stay small). fallback_str: objects of other types become
    their str() instead of being returned unchanged (json.dumps would then reject them).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(k): json_ready(v, max_array=max_array, fallback_str=fallback_str) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, max_array=max_array, fallback_str=fallback_str) for v in value]
    if isinstance(value, np.ndarray):
        if max_array is not None and value.size > max_array:
            return f"<array shape {value.shape}>"
        return json_ready(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f):
            return f
        return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value) if fallback_str else value


def nesting_depth(text: str) -> int:
    """The deepest nesting of [ ] / { } in JSON `text`, brackets inside strings not counted
    (a linear scan, so it cannot recurse however deep the input)."""
    depth = best = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def read_text_limited(path: "str | os.PathLike[str]", *, field: str) -> str:
    """Read a user-supplied UTF-8 text file (JSON, TOML) after checking its size against the
    `json_bytes` limit; a missing, non-regular, unreadable, too large or non-UTF-8 file is a
    one-line UsageError naming `field`."""
    from qnewton.errors import UsageError
    from qnewton.limits import check_limit

    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError as exc:
        raise UsageError(f"{field}: cannot read {p} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{field}: {p} is not a regular file")
    check_limit("json_bytes", st.st_size, source=f"{field} {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{field}: cannot read {p} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{field}: {p} is not UTF-8 text") from None


def loads_limited(text: str, *, field: str) -> Any:
    """`json.loads` after checking the nesting depth against the `json_depth` limit; malformed JSON
    is a one-line UsageError naming `field` (with line and column)."""
    from qnewton.errors import UsageError
    from qnewton.limits import check_limit

    check_limit("json_depth", nesting_depth(text), source=field)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{field}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise UsageError(f"{field}: JSON nested too deeply") from None


def load_json_file(path: "str | os.PathLike[str]", *, field: str) -> Any:
    """Read and parse a user-supplied JSON file with the size and depth limits (one-line errors)."""
    return loads_limited(read_text_limited(path, field=field), field=f"{field} {path}")
