"""Strict-JSON conversion shared by the ledger, reports, decisions and the CLI's --json output.

JSON has no infinity or NaN, yet a kappa estimate or a modeled cost can be infinite. `json_ready`
turns non-finite floats into the strings "inf", "-inf" and "nan", numpy scalars and arrays into
Python numbers and lists, tuples into lists and dict keys into strings, recursively.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """Return `value` in plain, strict-JSON types (see the module docstring)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f):
            return f
        return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    return value
