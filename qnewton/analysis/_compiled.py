"""Loading the analysis layer's compiled kernels (numba): one switch for all of them."""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable


def compiled_kernel(module: str, name: str) -> Callable[..., Any] | None:
    """The function `name` of the kernel module `qnewton.analysis.<module>`, or None when numba
    does not import (or does not work with this numpy) or QNEWTON_NO_NUMBA is set to anything but
    "" or "0"; callers then take their numpy path, which gives the same results."""
    if os.environ.get("QNEWTON_NO_NUMBA", "") not in ("", "0"):
        return None
    try:
        return getattr(importlib.import_module(f"qnewton.analysis.{module}"), name)
    except ImportError:
        return None
