"""The saved classical profile: where it lives, how it is written and read back.

`qnewton calibrate classical` measures C of R_c = C N^3 and a CG multiply-add rate
(`qnewton.calibrate.classical_timing`) and writes them to a JSON profile, by default
$QNEWTON_CACHE/classical.json, else ~/.cache/qnewton/classical.json. Once that file exists it is
the default source of both numbers (`qnewton.calibrate.resolve.classical_cost_model`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qnewton.calibrate.classical_timing import PROFILE_FORMAT, PROFILE_VERSION
from qnewton.costs.classical import positive
from qnewton.errors import UsageError

__all__ = ["PROFILE_FORMAT", "PROFILE_VERSION", "default_profile_path", "load_profile", "profile_source",
           "write_profile"]


def default_profile_path() -> Path:
    """$QNEWTON_CACHE/classical.json if QNEWTON_CACHE is set, else ~/.cache/qnewton/classical.json."""
    root = os.environ.get("QNEWTON_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "qnewton"
    return base / "classical.json"


def write_profile(profile: dict[str, Any], path: str | Path) -> Path:
    """Write the profile JSON atomically (temp file in the same folder, then os.replace; missing
    folders are created; mode 0o666 minus the umask). Path problems -> one-line UsageError."""
    from qnewton.files import write_text_atomic

    text = json.dumps(profile, indent=2, sort_keys=True) + "\n"
    return write_text_atomic(path, text, field="profile", make_parents=True)


def load_profile(path: str | Path) -> dict[str, Any]:
    """Read and validate a classical profile JSON. The file is read with the size and nesting
    limits of `qnewton.jsonutil`, so any problem (missing, hostile, malformed, another format, a
    number that is not positive) is a one-line UsageError naming the file."""
    from qnewton.jsonutil import load_json_file

    path = Path(path).expanduser()
    if not os.path.lexists(path):
        raise UsageError(f"profile: no such file {path}")
    data = load_json_file(path, field="profile")
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise UsageError(f"profile: {path} is not a {PROFILE_FORMAT} file")
    try:
        lu, cg = data["lu"]["constant"], data["cg"]["multiply_adds_per_second"]
    except (KeyError, TypeError):
        raise UsageError(f"profile: {path} lacks lu.constant or cg.multiply_adds_per_second") from None
    positive(f"profile {path}: lu.constant", lu)
    positive(f"profile {path}: cg.multiply_adds_per_second", cg)
    return data


def profile_source(path: Path, data: dict[str, Any]) -> str:
    """How a number read from the profile at `path` is described: the file and its BLAS threads."""
    threads = data.get("blas_threads", "unrecorded")
    return f"profile {path} (BLAS threads {'library default' if threads is None else threads})"
