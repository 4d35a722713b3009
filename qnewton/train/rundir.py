"""The run folder `RUNS_DIR/NAME/`: who may write it, and whether it already holds a run.

Lock. `RunLock` takes an exclusive, non-blocking `fcntl.flock` on the file `.lock` inside the run
folder and writes the holder's process id into it. A second `qnewton train` (fresh, --resume or
--overwrite) on the same folder while the first runs is refused with one line naming that pid.
The kernel drops the lock when the process ends, however it ends, so a crash never leaves a stale
lock; the `.lock` file itself stays in the folder (removing it would let two processes lock two
different files).

States (`folder_state`): "missing", "empty" (nothing but `.lock`), "run" (holds any of the files a
run writes: config.json, report.json, report.md, <method>/, or the temporary file a killed atomic
write of one of them left) and "foreign" (holds something else only). A fresh run starts in a missing or empty folder; a folder that holds a run needs --resume
(continue) or --overwrite (replace); a foreign folder is never written into.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
from pathlib import Path

from qnewton.errors import UsageError

LOCK_NAME = ".lock"
#: Everything a run writes into its folder (besides `.lock`).
#: (plus one folder per method, recognized by the ledger or checkpoint inside it: `_is_method_folder`)
RUN_ENTRIES: tuple[str, ...] = ("config.json", "report.json", "report.md")
_METHOD_FILES: tuple[str, ...] = ("ledger.jsonl", "checkpoint.pt")
#: The temporary file an atomic write of one of them leaves behind if the process is killed mid-write.
_LEFTOVER = re.compile(r"\.(config\.json|report\.json|report\.md)\..+\.tmp")


def _is_method_folder(path: Path) -> bool:
    """A method's folder: a real folder holding its ledger or checkpoint (any method name, so
    methods registered by users count too)."""
    return path.is_dir() and not path.is_symlink() and any((path / f).exists() for f in _METHOD_FILES)


def _method_folders(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if _is_method_folder(p)) if run_dir.is_dir() else []


def _is_run_entry(name: str, run_dir: Path) -> bool:
    return name in RUN_ENTRIES or bool(_LEFTOVER.fullmatch(name)) or _is_method_folder(run_dir / name)


def folder_state(run_dir: Path) -> str:
    """"missing", "empty", "run" or "foreign" (see the module docstring); a path that exists but
    is not a folder is a one-line UsageError."""
    if not run_dir.exists():
        return "missing"
    if not run_dir.is_dir():
        raise UsageError(f"runs_dir: {run_dir} exists and is not a folder")
    try:
        names = {p.name for p in run_dir.iterdir()} - {LOCK_NAME}
    except OSError as exc:
        raise UsageError(f"runs_dir: cannot list the run folder {run_dir} ({exc.strerror or exc})") from None
    if not names:
        return "empty"
    return "run" if any(_is_run_entry(n, run_dir) for n in names) else "foreign"


def checkpoint_written(run_dir: Path) -> bool:
    """True when some method of the run has a checkpoint (so `--resume` has something to continue)."""
    return any((run_dir / method / "checkpoint.pt").is_file() for method in _method_folders(run_dir))


def clear_run(run_dir: Path) -> None:
    """Remove every file a run writes (RUN_ENTRIES, the method folders, and temporary files of interrupted writes)
    from `run_dir`; other files and `.lock` stay. Call it only while holding the folder's lock."""
    leftovers = [p.name for p in run_dir.iterdir() if _LEFTOVER.fullmatch(p.name)] if run_dir.is_dir() else []
    for name in (*RUN_ENTRIES, *_method_folders(run_dir), *leftovers):
        path = run_dir / name
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        except OSError as exc:
            raise UsageError(f"runs_dir: cannot remove {path} ({exc.strerror or exc})") from None


class RunLock:
    """An exclusive lock on one run folder (see the module docstring). Use `acquire`, then
    `release` (or the context manager)."""

    def __init__(self, run_dir: Path, fd: int, created_lock_file: bool) -> None:
        self.run_dir = run_dir
        self.fd: int | None = fd
        self.created_lock_file = created_lock_file

    @classmethod
    def acquire(cls, run_dir: Path, *, create: bool) -> "RunLock | None":
        """Lock `run_dir`. create=False: lock its existing `.lock` file, None if there is none
        (nothing is written). create=True: create the folder and `.lock` as needed. A folder in
        use by another process is a one-line UsageError naming that process."""
        path = run_dir / LOCK_NAME
        created = False
        try:
            if create:
                run_dir.mkdir(parents=True, exist_ok=True)
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                    created = True
                except FileExistsError:
                    fd = os.open(path, os.O_RDWR)
            else:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    return None
        except OSError as exc:
            raise UsageError(f"runs_dir: cannot use the run folder {run_dir} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UsageError(f"run folder {run_dir} is in use by another process (pid {_holder(path)}); wait for "
                                 "it to finish or stop it") from None
            raise UsageError(f"runs_dir: cannot lock the run folder {run_dir} ({exc.strerror or exc})") from None
        return cls(run_dir, fd, created)

    def record_pid(self) -> None:
        """Write this process's id into `.lock` (what a refused second process reports)."""
        if self.fd is None:
            return
        try:
            fd = os.open(self.run_dir / LOCK_NAME, os.O_WRONLY | os.O_TRUNC)
        except OSError:
            return  # a read-only lock file still locks; the message then says "pid unknown"
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)

    def release(self, *, remove: bool = False) -> None:
        """Drop the lock; remove=True also deletes `.lock` (only for a folder this process
        created and is about to remove)."""
        if self.fd is None:
            return
        if remove:
            (self.run_dir / LOCK_NAME).unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(path: Path) -> str:
    """The pid written in a lock file, or "unknown"."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
