"""Result folders that are replaced in one step: ``<root>/<name>/`` is always a complete result.

An experiment writes into a temporary folder next to its result and publishes it when done:

* **Exchange** (Linux, every local filesystem that supports it): ``renameat2(RENAME_EXCHANGE)``
  swaps the finished temporary folder with the previous result in one system call, then the
  previous result, now under the temporary name, is deleted. A first result is renamed into
  place (a plain rename is atomic too).
* **Link layout** (other systems, or a filesystem that refuses the exchange): the finished
  folder is renamed to a version ``.<name>.v-<host>-<pid>-<hex>`` and ``<name>`` is a symbolic link
  to it, replaced by renaming a new link over it (atomic); the previous version is deleted after.

Both read each other's layout: an exchange swaps a link like any folder (the version it pointed
to is deleted with it), and the link layout takes over a plain folder. That one takeover is the
only step that is not atomic (a plain folder cannot become a link in one rename): the folder is
first renamed to a version, and a run killed between the two renames leaves no ``<name>``; the
next run puts the newest complete version back under ``<name>`` before it starts (see
`clean_stale`). Where symbolic links cannot be made either, every replacement takes those two
renames, with the same repair.

Temporary names carry the host and process id of their writer: ``.<name>.tmp-<host>-<pid>-<hex>``.
A run that was killed leaves one behind; the next run on the same host deletes those whose
process is gone and never touches the folders of a run still going (or of another host).
Folders are created with the usual permissions (0o777 minus the umask), not mkdtemp's 0o700.
Leftovers of earlier releases (``.<name>.tmp-XXXXXXXX`` without a process id, ``.<name>.old-*``)
are not recognized and stay; an ``.old-`` folder may hold the only copy of a result.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, Sequence

from qnewton.errors import UsageError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# errno values by which the kernel or a filesystem says "no exchange here"
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}

_renameat2: Callable[..., int] | None | bool = False  # False: not looked up yet


def _libc_renameat2() -> Callable[..., int] | None:
    """glibc's (or musl's) renameat2, or None off Linux or when the C library lacks it."""
    global _renameat2
    if _renameat2 is False:
        func = None
        if sys.platform.startswith("linux"):
            try:
                func = ctypes.CDLL(None, use_errno=True).renameat2
                func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                func.restype = ctypes.c_int
            except (OSError, AttributeError):
                func = None
        _renameat2 = func
    return _renameat2  # type: ignore[return-value]


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap the entries `a` and `b` (folders, files or links) in one atomic step.

    Returns False where the exchange is not available (no renameat2 in the C library, a kernel
    or a filesystem without RENAME_EXCHANGE), so the caller can use another scheme; any other
    failure (a missing path, no permission) raises OSError.
    """
    func = _libc_renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _host() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"


def _tag() -> str:
    return f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"


def temp_name(name: str) -> str:
    """A fresh temporary name for result `name`: ``.<name>.tmp-<host>-<pid>-<hex>``."""
    return f".{name}.tmp-{_tag()}"


def version_name(name: str) -> str:
    """A fresh version name for the link layout: ``.<name>.v-<host>-<pid>-<hex>``."""
    return f".{name}.v-{_tag()}"


def _owner(entry: str, name: str, kind: str) -> tuple[str, int] | None:
    """(host, pid) of a temporary (`kind` "tmp") or version ("v") entry of `name`, else None."""
    m = re.fullmatch(rf"\.{re.escape(name)}\.{kind}-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]+", entry)
    return (m["host"], int(m["pid"])) if m else None


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (when in doubt, yes: a live run's folder is never deleted)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. EPERM: it exists but belongs to someone else
    return True


# One publication or cleanup at a time within this process: while it is held, no version that
# this process wrote can be waiting for its link.
_LOCK = threading.RLock()


def _abandoned(entry: str, name: str, kind: str) -> bool:
    """A temporary folder or version of this host that no running publication will use.

    That is one whose writing process has ended, and also (for versions, under `_LOCK`) one of
    this process: a replacement killed after relinking leaves the version it replaced behind,
    and its writer may well be a process still running, such as this one.
    """
    owner = _owner(entry, name, kind)
    if owner is None or owner[0] != _host():
        return False
    if owner[1] == os.getpid():
        return kind == "v"
    return not _pid_alive(owner[1])


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree (a link is removed, never followed)."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _link_target(final: Path, name: str) -> Path | None:
    """The version folder that the link `final` points to, when it is one of ours."""
    if not final.is_symlink():
        return None
    target = os.readlink(final)
    if os.sep in target or _owner(target, name, "v") is None:
        return None
    return final.parent / target


def _discard(path: Path, name: str) -> None:
    """Delete a replaced result: a folder, or a link of the link layout and its version.

    A version is first renamed to a temporary name, so that a kill while deleting it leaves a
    folder the next run recognizes as garbage, never a half-deleted version."""
    target = _link_target(path, name)
    _remove(path)
    if target is not None and target.is_dir():
        _discard_version(target, name)


def _restore_missing(final: Path, name: str, versions: list[Path]) -> None:
    """Put the newest complete version back under the public name of a result that lost it."""
    if not versions:
        return
    newest = max(versions, key=lambda p: p.stat().st_mtime)
    link = final.parent / temp_name(name)
    try:
        os.symlink(newest.name, link)
        os.replace(link, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(link)
        with contextlib.suppress(OSError):
            os.rename(newest, final)  # no links here: the version becomes the folder


def clean_stale(root: Path, name: str) -> None:
    """Remove what killed runs of `name` left in `root`, and restore a lost public name.

    Deleted: temporary folders ``.<name>.tmp-<host>-<pid>-*`` of this host whose process is gone,
    and versions of the link layout that ``<name>`` does not point to, written by such a process
    or by this one (see `_abandoned`). When ``<name>`` is missing (a kill in the middle of the one non-atomic step, see the module
    docstring) the newest such version becomes ``<name>`` again first.
    """
    with _LOCK:
        _clean_stale(root, name)


def _clean_stale(root: Path, name: str) -> None:
    try:
        entries = os.listdir(root)
    except OSError:
        return
    final = root / name
    current = _link_target(final, name)
    versions = [root / e for e in entries if _abandoned(e, name, "v") and (current is None or e != current.name)]
    if not final.exists():  # missing, or a link to a deleted version
        _restore_missing(final, name, [v for v in versions if v.is_dir()])
        current = _link_target(final, name)
    for entry in entries:
        path = root / entry
        if _abandoned(entry, name, "tmp"):
            _remove(path)
        elif path in versions and path != current and path.is_dir():
            _discard_version(path, name)


def _make_folder(path: Path, field: str) -> None:
    try:
        os.mkdir(path, 0o777)  # the umask applies: the usual permissions
    except OSError as exc:
        raise UsageError(f"{field}: cannot create {path} ({exc.strerror or exc})") from None


def _make_root(root: Path, field: str) -> list[Path]:
    """Create `root` and its missing parents; return the folders created, outermost first."""
    missing: list[Path] = []
    p = root
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    created: list[Path] = []
    for folder in reversed(missing):
        try:
            _make_folder(folder, field)
        except UsageError:
            _remove_empty(created)
            raise
        created.append(folder)
    if not root.is_dir():
        raise UsageError(f"{field}: {root} is not a folder")
    return created


def _remove_empty(created: list[Path]) -> None:
    """Remove folders this run created, innermost first, when they stayed empty."""
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            return


def _exchange_supported(folder: Path) -> bool:
    """Whether the filesystem of `folder` can exchange two entries (probed inside `folder`)."""
    a, b = folder / ".exchange-probe-a", folder / ".exchange-probe-b"
    try:
        os.mkdir(a)
        os.mkdir(b)
        return exchange_paths(a, b)
    except OSError:
        return False
    finally:
        for probe in (a, b):
            with contextlib.suppress(OSError):
                os.rmdir(probe)


def _discard_version(version: Path, name: str) -> None:
    """Delete a replaced version of the link layout (renamed to a temporary name first)."""
    trash = version.parent / temp_name(name)
    try:
        os.rename(version, trash)
    except OSError:
        return
    _remove(trash)


def _publish_link(tmp: Path, final: Path, name: str) -> None:
    """Link layout: rename `tmp` to a version and point a new link `final` at it."""
    root = final.parent
    version = root / version_name(name)
    os.rename(tmp, version)
    old_version = _link_target(final, name)
    if os.path.lexists(final) and not final.is_symlink():
        # The one non-atomic step: a plain folder becomes a version first (see clean_stale).
        old_version = root / version_name(name)
        os.rename(final, old_version)
    link = root / temp_name(name)
    try:
        os.symlink(version.name, link)
    except OSError:
        # No links on this system: a plain rename, with the same repair by the next run.
        if final.is_symlink():
            os.unlink(final)
        os.rename(version, final)
    else:
        os.replace(link, final)
    if old_version is not None and old_version != version:
        _discard_version(old_version, name)


def publish(tmp: Path, final: Path, name: str) -> None:
    """Make the finished folder `tmp` the result `final` (= root/name) in one atomic step."""
    with _LOCK:
        _publish(tmp, final, name)


def _publish(tmp: Path, final: Path, name: str) -> None:
    for _ in range(5):  # a concurrent run of the same experiment may publish in between
        if os.path.lexists(final):
            try:
                swapped = exchange_paths(tmp, final)
            except FileNotFoundError:
                continue  # `final` vanished meanwhile: try again
            if swapped:
                _discard(tmp, name)  # `tmp` now holds the previous result
                return
            _publish_link(tmp, final, name)
            return
        if not _exchange_supported(tmp):
            _publish_link(tmp, final, name)
            return
        try:
            os.rename(tmp, final)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    raise OSError(errno.EBUSY, "another run keeps replacing this result", str(final))


def check_results_root(out: str | os.PathLike[str], names: Sequence[str] = (), *, field: str = "--out") -> Path:
    """Check BEFORE a run that results can be published under `out`, writing nothing.

    `out` must be a folder or not exist yet; its nearest existing folder must let us create a
    folder (probed by making and removing one, so a read-only folder, a read-only mount or a
    path under /proc fails here, whatever the permission bits claim); and each ``out/<name>``
    must be absent or a folder (a previous result), never a file. One-line UsageError naming
    `field` otherwise.
    """
    root = Path(out).expanduser()
    existing = root
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        shown = root if existing == root else existing
        raise UsageError(f"{field}: {shown} is not a folder")
    probe = existing / f".qnewton-probe-{_tag()}"
    try:
        os.mkdir(probe, 0o700)
    except OSError as exc:
        raise UsageError(f"{field}: cannot create folders in {existing} ({exc.strerror or exc})") from None
    with contextlib.suppress(OSError):
        os.rmdir(probe)
    for name in names:
        target = root / name
        if os.path.lexists(target) and not target.is_dir():
            raise UsageError(f"{field}: {target} exists and is not a result folder; move it away or choose another {field}")
    return root


@contextlib.contextmanager
def atomic_output_dir(root: Path, name: str, *, field: str = "--out") -> Iterator[Path]:
    """Yield a fresh temporary folder that becomes ``root/name`` when the block succeeds.

    On any exception (including Ctrl-C and SIGTERM turned into exceptions) the temporary folder
    and any parent folders this call created are removed and the previous result stays as it
    was. Leftovers of killed runs are cleaned first (`clean_stale`). Problems creating the
    folders are one-line `UsageError`s naming `field`.
    """
    root = Path(root)
    created = _make_root(root, field)
    clean_stale(root, name)
    tmp = root / temp_name(name)
    try:
        _make_folder(tmp, field)
    except UsageError:
        _remove_empty(created)
        raise
    try:
        yield tmp
        publish(tmp, root / name, name)
    except BaseException:
        _remove(tmp)
        _remove_empty(created)
        raise
