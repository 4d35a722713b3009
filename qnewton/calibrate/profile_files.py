"""Finding, reading and writing calibration profile files.

Profiles are found by name in ``$QNEWTON_CALIBRATIONS`` (one directory, or several separated by
``os.pathsep``) and then in the repository's top-level ``calibrations/`` directory, or given by
path. Every file is read with the size and nesting limits of `qnewton.jsonutil` and checked by
`qnewton.calibrate.profile_schema`, so a malformed or hostile profile is one line, never a crash.
Writing is atomic and follows the output rule of `qnewton.files.check_output`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qnewton.calibrate.profile_schema import NAME_RE, validate_profile
from qnewton.calibrate.profiles import CalibrationProfile
from qnewton.errors import UsageError

ENV_CALIBRATIONS = "QNEWTON_CALIBRATIONS"


def repo_calibrations_dir() -> Path:
    """The repository's top-level calibrations/ directory (qnewton/calibrate/profile_files.py -> ../../)."""
    return Path(__file__).resolve().parents[2] / "calibrations"


def calibration_dirs() -> list[Path]:
    """Search path: $QNEWTON_CALIBRATIONS (os.pathsep-separated), then the repository's calibrations/."""
    dirs: list[Path] = []
    env = os.environ.get(ENV_CALIBRATIONS)
    if env:
        dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    dirs.append(repo_calibrations_dir())
    return dirs


def list_profiles() -> list[tuple[str, Path]]:
    """(name, path) of every *.json profile on the search path; earlier directories win on a name
    clash. Entries are not opened here (`load_profile` reads and checks each one)."""
    found: dict[str, Path] = {}
    for d in calibration_dirs():
        try:
            if not d.is_dir():
                continue
            entries = sorted(d.glob("*.json"))
        except OSError:  # an unreadable search directory contributes nothing
            continue
        for p in entries:
            found.setdefault(p.stem, p)
    return sorted(found.items())


def resolve_profile_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A name (looked up on the search path) or a path to a JSON file -> the file to read.

    A path that exists in any form (a directory, a FIFO, a broken or looping symbolic link) is
    returned as is, so that `load_profile` can say what is wrong with it instead of "not found"."""
    text = os.fspath(name_or_path)
    if not text:
        raise UsageError("calibration: empty profile name")
    if "\0" in text:
        raise UsageError("calibration: profile name contains a NUL character")
    p = Path(text).expanduser()
    looks_like_path = p.suffix == ".json" or os.sep in text or (os.altsep is not None and os.altsep in text)
    if looks_like_path:
        if os.path.lexists(p):
            return p
        if p.suffix == ".json" and p.name == text:  # "ibm_sherbrooke.json": also try it as a name
            text = p.stem
        else:
            raise UsageError(f"calibration: {text}: no such profile file")
    if not NAME_RE.match(text):
        raise UsageError(f"calibration: {text!r} is neither a profile name (letters, digits, '_', '-', '.') nor a path to a .json file")
    for d in calibration_dirs():
        candidate = d / f"{text}.json"
        if os.path.lexists(candidate):
            return candidate
    names = ", ".join(n for n, _ in list_profiles()) or "none"
    raise UsageError(f"calibration: unknown profile {text!r} (available: {names}; or give a path to a .json file)")


def load_profile(name_or_path: str | os.PathLike[str]) -> CalibrationProfile:
    """Load and validate a profile by name (search path) or by path to a JSON file.

    The file is read through `qnewton.jsonutil` (a regular file, size within the ``json_bytes``
    limit, UTF-8, nesting depth within ``json_depth``), so a hostile file is a one-line UsageError
    that starts with the file's path, never a crash."""
    from qnewton.jsonutil import loads_limited, read_text_limited
    from qnewton.matrixio import check_input_file

    path = resolve_profile_path(name_or_path)
    check_input_file(path, field="calibration")
    text = read_text_limited(path, field="calibration")
    data = loads_limited(text, field=str(path))
    return validate_profile(data, origin=str(path), path=path)


def dumps_profile(data: dict[str, Any]) -> str:
    """JSON text of a profile: top-level keys one per line, list entries one per line (diff-friendly)."""
    lines = ["{"]
    items = list(data.items())
    for k, (key, value) in enumerate(items):
        end = "," if k < len(items) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
            inner = ",\n".join(f"    {json.dumps(v, separators=(', ', ': '))}" for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{inner}\n  ]{end}")
        elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            sub = []
            for gname, entries in value.items():
                inner = ",\n".join(f"      {json.dumps(e, separators=(', ', ': '))}" for e in entries)
                sub.append(f"    {json.dumps(gname)}: [\n{inner}\n    ]")
            lines.append(f"  {json.dumps(key)}: {{\n" + ",\n".join(sub) + f"\n  }}{end}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, separators=(', ', ': '))}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_profile(
    data: dict[str, Any], path: str | os.PathLike[str], *, overwrite: bool = False, field: str = "--out"
) -> Path:
    """Validate `data` and write it atomically (temporary file in the same directory, then rename).

    Missing parent directories are created; an existing file is replaced only with `overwrite`
    (`qnewton.files.check_output`). Path problems (a directory at `path`, a file where a directory
    should be) raise a one-line UsageError naming `field`.
    """
    from qnewton.files import check_output, write_text_atomic

    out = Path(path).expanduser()
    validate_profile(data, origin=str(out))
    check_output(out, force=overwrite, field=field, make_parents=True)
    return write_text_atomic(out, dumps_profile(data), field=field, make_parents=True)
