"""Atomic text-file writes for exported artefacts (OpenQASM files, manifests, calibration profiles).

`write_text_atomic(path, text)` writes to a temporary file in the target's directory and renames it
over the target (`os.replace`), so a reader never sees half a file and a failure leaves the old file
(or nothing) in place. Problems with the path (missing directory, a directory where the file should
go, no permission) raise a one-line `UsageError` naming the field.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from qnewton.errors import UsageError


def write_text_atomic(path: str | os.PathLike[str], text: str, *, field: str = "out", make_parents: bool = False) -> Path:
    """Write `text` (UTF-8) to `path` atomically; the file gets mode 0o666 minus the umask.

    field: the option named in error messages (e.g. "--qasm3"). make_parents: create missing
    parent directories instead of failing.
    """
    out = Path(path).expanduser()
    if out.is_dir():
        raise UsageError(f"{field}: {out} is a directory, expected a file name")
    parent = out.parent
    if make_parents:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{field}: cannot create directory {parent} ({exc.strerror or exc})") from None
    if not parent.is_dir():
        raise UsageError(f"{field}: directory does not exist: {parent}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(f"{field}: cannot write in {parent} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"{field}: cannot write {out} ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
