"""Atomic file writes for everything the project puts on disk (profiles, matrices, OpenQASM
exports, manifests, checkpoints).

`write_atomic(path, write)` hands `write` an open binary file in the target's directory and renames
it over the target (`os.replace`) once `write` returns, so a reader never sees half a file and a
failure leaves the old file (or nothing) in place. `write_text_atomic` is the UTF-8 text form.
Problems with the path (missing directory, a directory where the file should go, no permission)
raise a one-line `UsageError` naming the field.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

from qnewton.errors import UsageError


def _prepare(path: str | os.PathLike[str], field: str, make_parents: bool) -> Path:
    """The target as a Path, after checking it is not a directory and its folder exists (created
    first if `make_parents`); one-line UsageError naming `field` otherwise."""
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
    return out


def check_writable(path: str | os.PathLike[str], *, field: str = "out", make_parents: bool = False) -> Path:
    """Check BEFORE any long work that `path` can be written (not a directory, its folder exists or
    is created, a temporary file can be made there and removed); returns it as a Path."""
    out = _prepare(path, field, make_parents)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent)
    except OSError as exc:
        raise UsageError(f"{field}: cannot write in {out.parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return out


def write_atomic(
    path: str | os.PathLike[str],
    write: Callable[[IO[bytes]], None],
    *,
    field: str = "out",
    make_parents: bool = False,
) -> Path:
    """Call `write(fh)` on a temporary binary file beside `path`, fsync it, then rename it over
    `path`; the file gets mode 0o666 minus the umask.

    field: the option named in error messages (e.g. "--qasm3"). make_parents: create missing
    parent directories instead of failing.
    """
    out = _prepare(path, field, make_parents)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise UsageError(f"{field}: cannot write in {out.parent} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
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


def write_text_atomic(path: str | os.PathLike[str], text: str, *, field: str = "out", make_parents: bool = False) -> Path:
    """Write `text` (UTF-8) to `path` atomically (see `write_atomic`)."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data), field=field, make_parents=make_parents)


def _same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` name the same file (same inode, or the same resolved path)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    inputs: tuple[str | os.PathLike[str], ...] = (),
    field: str = "--out",
    make_parents: bool = False,
) -> Path:
    """The one rule for every output file a command writes, checked BEFORE any work.

    - An output that names one of the command's `inputs` is refused, even with --force (the
      command would destroy what it reads).
    - An existing file is refused unless `force` (the user passes --force).
    - Otherwise the path must be writable (see `check_writable`).
    One-line UsageError naming `field` on every refusal.
    """
    out = Path(path).expanduser()
    for src in inputs:
        if _same_file(out, Path(src).expanduser()):
            raise UsageError(f"{field}: {out} is also an input of this command; write the output to another file")
    if out.exists() and not out.is_dir() and not force:
        raise UsageError(f"{field}: {out} exists (pass --force to overwrite it)")
    return check_writable(out, field=field, make_parents=make_parents)
