"""Matrix and vector files: the one reader and writer behind `qnewton cost | kappa | prune` and
`qnewton circuit`.

Formats read:

* ``.npy``: one NumPy array. The header is read first with `numpy.lib.format` and checked (numeric
  dtype only, never a pickle; declared entries within the ``matrix_elements`` limit; the file holds
  as many data bytes as the header promises) before any data is loaded.
* ``.npz``: a dense array (the only member, or the member named ``A`` / the caller's name) or a
  scipy.sparse matrix written by `scipy.sparse.save_npz`. Every member's header is checked like a
  ``.npy`` header before anything is decompressed; a sparse matrix's declared shape counts against
  ``matrix_elements`` and its stored entries against ``matrix_nonzeros``, and its index arrays are
  checked in full (out-of-range indices would otherwise reach compiled code).
* ``.mtx``: Matrix Market. The banner and size line are parsed here first: rows x cols against
  ``matrix_elements``, declared nonzeros against ``matrix_nonzeros``, squareness where the caller
  needs it, and the file must be long enough to hold the entries it declares.
* ``.txt`` / ``.csv`` (only where the caller allows them): whitespace- or comma-separated numbers;
  the file size bounds the number of entries, which is checked against ``matrix_elements``.

Every problem (missing file, a directory, a FIFO, a symbolic link loop, a corrupt or hostile file,
a size over a limit) raises a one-line `UsageError` that names the field and the file and says
what is wrong in words. The limits come from `qnewton.limits` and can be raised through the
environment variables named in their messages.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from qnewton.errors import UsageError
from qnewton.limits import check_limit

#: Matrix files `kappa`, `prune` and `cost` read and write.
MATRIX_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".mtx")
#: Plain-text number files (np.loadtxt): whitespace-separated, or comma-separated for .csv.
TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".csv")
#: dtype kinds accepted from a file: bool, signed and unsigned integers, floats, complex.
_NUMERIC_KINDS = "biufc"
#: Longest header or comment line read from a Matrix Market file before it is called malformed.
_MTX_MAX_LINE = 1 << 16


# --------------------------------------------------------------------------------------------
# Input paths


def check_input_file(path: str | os.PathLike[str], *, field: str) -> Path:
    """Check that `path` names an existing regular file (symbolic links followed) before anything
    opens it; return it as a Path.

    A FIFO or device would block or stream forever and a directory cannot be read, so each gets its
    own one-line UsageError naming `field`: "no such file", "is a directory", "is not a regular
    file", "symbolic link loop", "permission denied".
    """
    p = Path(path).expanduser()
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{field}: {p}: symbolic link loop") from None
        if exc.errno == errno.ENOENT:
            if os.path.lexists(p):
                raise UsageError(f"{field}: {p}: no such file (the symbolic link points nowhere)") from None
            raise UsageError(f"{field}: {p}: no such file") from None
        if exc.errno == errno.ENOTDIR:
            raise UsageError(f"{field}: {p}: no such file (a component of the path is not a directory)") from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"{field}: {p}: permission denied") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise UsageError(f"{field}: file name too long") from None
        raise UsageError(f"{field}: {p}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{field}: {p}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{field}: {p}: is not a regular file (a FIFO, socket or device cannot be read as data)")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{field}: {p}: permission denied")
    return p


def _open(p: Path, field: str) -> IO[bytes]:
    try:
        return p.open("rb")
    except OSError as exc:
        raise UsageError(f"{field}: {p}: cannot open ({exc.strerror or exc})") from None


def _reason(exc: BaseException, fallback: str) -> str:
    """The first line of an exception's message, or `fallback` when it has none (never the bare
    class name, which tells a user nothing)."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if len(text) > 200:
        text = text[:200] + "..."
    return text or fallback


# --------------------------------------------------------------------------------------------
# .npy headers


@dataclass(frozen=True)
class ArrayHeader:
    """What a .npy header declares: shape, dtype, storage order and where the data starts."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int

    @property
    def size(self) -> int:
        """Number of entries (an exact Python int, so a hostile shape cannot wrap around)."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of data the header promises."""
        return self.size * self.dtype.itemsize


def _check_dtype(dtype: np.dtype, source: str, *, text_ok: bool = False) -> None:
    if dtype.hasobject:
        raise UsageError(f"{source}: holds Python objects (a pickled array); only numeric arrays are read, never pickles")
    if dtype.names is not None or dtype.subdtype is not None:
        raise UsageError(f"{source}: holds a structured array (dtype {dtype}); expected plain numbers")
    if dtype.kind not in _NUMERIC_KINDS and not (text_ok and dtype.kind in "SU"):
        raise UsageError(f"{source}: holds {dtype} values (text, bytes or dates), expected numbers")


def read_npy_header(fh: IO[bytes], *, source: str, text_ok: bool = False) -> ArrayHeader:
    """Read and check the header of a .npy stream positioned at its start.

    Refuses a missing magic string, a malformed header, object (pickle) and non-numeric dtypes
    (fixed-width strings too unless `text_ok`), and a declared entry count above the
    ``matrix_elements`` limit, all before any data is read.
    """
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
    except ValueError:
        raise UsageError(f"{source}: not a .npy file (no NumPy header)") from None
    try:
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(fh)
        else:  # 3.0 only exists for structured arrays with non-Latin-1 field names
            raise UsageError(f"{source}: .npy format version {version[0]}.{version[1]} is not supported (plain numeric arrays use 1.0 or 2.0)")
    except UsageError:
        raise
    except (ValueError, TypeError, SyntaxError, OverflowError, EOFError, MemoryError, RecursionError) as exc:
        raise UsageError(f"{source}: malformed .npy header ({_reason(exc, 'unreadable')})") from None
    if not isinstance(shape, tuple) or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in shape):
        raise UsageError(f"{source}: malformed .npy header (shape {shape!r})")
    header = ArrayHeader(tuple(int(n) for n in shape), dtype, bool(fortran), fh.tell())
    _check_dtype(dtype, source, text_ok=text_ok)
    check_limit("matrix_elements", header.size, source=source)
    return header


_CHUNK = 1 << 24


def _read_npy_stream(fh: IO[bytes], header: ArrayHeader, available: int, source: str) -> np.ndarray:
    """The data of a .npy stream whose header was read and checked; `available` is the number of
    bytes that follow the header. Reads in chunks straight into the result (no second copy)."""
    if available < header.nbytes:
        raise UsageError(
            f"{source}: truncated: the header declares {header.nbytes} data bytes for shape {header.shape}, "
            f"the file holds {available}"
        )
    try:
        if header.fortran_order:
            arr = np.empty(header.shape[::-1], dtype=header.dtype).T
            flat = arr.T
        else:
            arr = flat = np.empty(header.shape, dtype=header.dtype)
        view = memoryview(flat.reshape(-1).view(np.uint8)) if flat.size else memoryview(b"")
        pos = 0
        while pos < header.nbytes:
            got = fh.readinto(view[pos:pos + _CHUNK])
            if not got:
                raise UsageError(f"{source}: truncated: expected {header.nbytes} data bytes, read {pos}")
            pos += got
        return arr
    except UsageError:
        raise
    except MemoryError:
        raise UsageError(f"{source}: not enough memory for an array of shape {header.shape}") from None
    except Exception as exc:  # OSError, zipfile.BadZipFile, zlib.error, EOFError from a corrupt stream
        raise UsageError(f"{source}: corrupt data ({_reason(exc, 'unreadable')})") from None


def read_npy(path: str | os.PathLike[str], *, field: str, mmap: bool = False) -> np.ndarray:
    """One array from a .npy file, header checked first (see `read_npy_header`).

    mmap: map the file read-only instead of reading it (the caller can then check the shape before
    anything is copied)."""
    p = check_input_file(path, field=field)
    source = f"{field}: {p}"
    with _open(p, field) as fh:
        header = read_npy_header(fh, source=source)
        available = os.fstat(fh.fileno()).st_size - header.data_offset
        if mmap and header.size > 0:
            if available < header.nbytes:
                raise UsageError(
                    f"{source}: truncated: the header declares {header.nbytes} data bytes for shape {header.shape}, "
                    f"the file holds {available}"
                )
            try:
                return np.load(p, allow_pickle=False, mmap_mode="r")
            except (ValueError, OSError) as exc:
                raise UsageError(f"{source}: cannot map the array ({_reason(exc, 'unreadable')})") from None
        return _read_npy_stream(fh, header, available, source)


# --------------------------------------------------------------------------------------------
# .npz archives


_SPARSE_KEYS = {"format", "shape"}


def _npz_members(z: zipfile.ZipFile, source: str) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in z.infolist():
        if info.is_dir():
            continue
        if not info.filename.endswith(".npy"):
            raise UsageError(f"{source}: member {info.filename!r} is not a .npy array; not a NumPy .npz archive")
        members[info.filename[:-4]] = info
    return members


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, *, text_ok: bool = False) -> np.ndarray:
    msource = f"{source} member {info.filename[:-4]!r}"
    try:
        with z.open(info) as fh:
            header = read_npy_header(fh, source=msource, text_ok=text_ok)
            available = info.file_size - header.data_offset
            return _read_npy_stream(fh, header, available, msource)
    except UsageError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, encrypted or unsupported compression
        raise UsageError(f"{msource}: corrupt archive member ({_reason(exc, 'cannot decompress')})") from None


def _member_header(z: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, *, text_ok: bool = False) -> ArrayHeader:
    msource = f"{source} member {info.filename[:-4]!r}"
    try:
        with z.open(info) as fh:
            return read_npy_header(fh, source=msource, text_ok=text_ok)
    except UsageError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, encrypted or unsupported compression
        raise UsageError(f"{msource}: corrupt archive member ({_reason(exc, 'cannot decompress')})") from None


def _read_sparse(z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], source: str) -> Any:
    import scipy.sparse as sp

    headers = {name: _member_header(z, info, source, text_ok=name == "format") for name, info in members.items()}
    if headers["format"].size != 1 or headers["shape"].size != 2:
        raise UsageError(f"{source}: malformed scipy.sparse archive ('format' must be one string, 'shape' two integers)")
    fmt_arr = _read_member(z, members["format"], source, text_ok=True)
    shape_arr = _read_member(z, members["shape"], source)
    fmt = fmt_arr.item() if fmt_arr.size == 1 else None
    if isinstance(fmt, bytes):
        fmt = fmt.decode("ascii", "replace")
    builders = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
                "bsr": ("data", "indices", "indptr"), "coo": ("data", "row", "col"), "dia": ("data", "offsets")}
    if fmt not in builders:
        raise UsageError(f"{source}: unknown scipy.sparse format {fmt!r} (expected one of {', '.join(builders)})")
    if shape_arr.ndim != 1 or shape_arr.size != 2 or shape_arr.dtype.kind not in "iu" or np.any(shape_arr < 0):
        raise UsageError(f"{source}: sparse 'shape' must be two non-negative integers, got {shape_arr.tolist()!r}")
    rows, cols = (int(v) for v in shape_arr)
    check_limit("matrix_elements", rows * cols, source=source)
    missing = [k for k in builders[fmt] if k not in members]
    if missing:
        raise UsageError(f"{source}: sparse {fmt} matrix lacks member(s) {', '.join(missing)}")
    check_limit("matrix_nonzeros", headers["data"].size, source=source)
    arrays = {k: _read_member(z, members[k], source) for k in builders[fmt]}
    for k, a in arrays.items():
        if k != "data" and a.dtype.kind not in "iu":
            raise UsageError(f"{source}: sparse index array {k!r} must hold integers, got {a.dtype}")
    try:
        if fmt == "coo":
            m = sp.coo_matrix((arrays["data"], (arrays["row"], arrays["col"])), shape=(rows, cols))
        elif fmt == "dia":
            m = sp.dia_matrix((arrays["data"], arrays["offsets"]), shape=(rows, cols))
        else:
            cls = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "bsr": sp.bsr_matrix}[fmt]
            m = cls((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(rows, cols))
            m.check_format(full_check=True)  # out-of-range indices must not reach compiled kernels
    except MemoryError:
        raise UsageError(f"{source}: not enough memory for a {rows} x {cols} sparse matrix") from None
    except (ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"{source}: inconsistent sparse {fmt} matrix ({_reason(exc, 'bad index arrays')})") from None
    return m


def read_npz(path: str | os.PathLike[str], *, field: str, name: str = "A") -> Any:
    """A dense array or a scipy.sparse matrix from a .npz archive (see the module docstring).

    name: the member to take when the archive holds several dense arrays."""
    p = check_input_file(path, field=field)
    source = f"{field}: {p}"
    try:
        z = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise UsageError(f"{source}: not a .npz (zip) archive ({_reason(exc, 'unreadable')})") from None
    with z:
        members = _npz_members(z, source)
        if not members:
            raise UsageError(f"{source}: the .npz archive holds no array")
        if _SPARSE_KEYS <= set(members):
            return _read_sparse(z, members, source)
        if len(members) == 1:
            key = next(iter(members))
        elif name in members:
            key = name
        else:
            names = ", ".join(sorted(members))
            raise UsageError(f"{source}: the .npz archive holds {len(members)} arrays ({names}) and none is named {name!r}; save the matrix as {name!r}")
        for other, info in members.items():  # every member's header is checked before any data is read
            _member_header(z, info, source, text_ok=other != key)
        return _read_member(z, members[key], source)


# --------------------------------------------------------------------------------------------
# Matrix Market


@dataclass(frozen=True)
class MtxHeader:
    """A Matrix Market banner and size line."""

    layout: str  # "coordinate" or "array"
    field: str  # "real", "integer", "double", "pattern" or "complex"
    symmetry: str  # "general", "symmetric", "skew-symmetric", "hermitian"
    rows: int
    cols: int
    nnz: int  # stored entries (coordinate) or rows x cols / the stored triangle (array)
    data_offset: int


def _read_line(fh: IO[bytes], source: str) -> bytes:
    line = fh.readline(_MTX_MAX_LINE + 1)
    if len(line) > _MTX_MAX_LINE:
        raise UsageError(f"{source}: a header line is longer than {_MTX_MAX_LINE} bytes; not a Matrix Market file")
    return line


def read_mtx_header(fh: IO[bytes], *, source: str, file_size: int, square: bool = False) -> MtxHeader:
    """Parse and check a Matrix Market banner and size line before any entry is read.

    Checks: a "%%MatrixMarket matrix <coordinate|array> <field> <symmetry>" banner, a size line of
    non-negative integers, rows x cols against ``matrix_elements``, nonzeros against
    ``matrix_nonzeros`` (and at most rows x cols), a square size when `square`, and enough bytes
    left in the file for the declared entries (each number takes at least two bytes).
    """
    banner = _read_line(fh, source)
    tokens = banner.decode("ascii", "replace").split()
    if not tokens or tokens[0].lower() != "%%matrixmarket":
        raise UsageError(f"{source}: not a Matrix Market file (no %%MatrixMarket banner)")
    if len(tokens) != 5:
        raise UsageError(f"{source}: malformed Matrix Market banner (expected 5 words, got {len(tokens)})")
    obj, layout, fld, symmetry = (t.lower() for t in tokens[1:])
    if obj != "matrix":
        raise UsageError(f"{source}: Matrix Market object {obj!r} is not supported (expected 'matrix')")
    if layout not in ("coordinate", "array"):
        raise UsageError(f"{source}: Matrix Market format {layout!r} is not supported (coordinate or array)")
    if fld not in ("real", "integer", "double", "pattern", "complex"):
        raise UsageError(f"{source}: Matrix Market field {fld!r} is not supported (real, integer or pattern)")
    if fld == "complex":
        raise UsageError(f"{source}: complex matrices are not supported (the solvers take real matrices)")
    if symmetry not in ("general", "symmetric", "skew-symmetric", "hermitian"):
        raise UsageError(f"{source}: Matrix Market symmetry {symmetry!r} is not supported")
    if layout == "array" and fld == "pattern":
        raise UsageError(f"{source}: a Matrix Market 'array' file cannot have field 'pattern'")
    while True:
        line = _read_line(fh, source)
        if not line:
            raise UsageError(f"{source}: no size line after the Matrix Market banner")
        text = line.strip()
        if text and not text.startswith(b"%"):
            break
    words = text.split()
    expected = 3 if layout == "coordinate" else 2
    if len(words) != expected or not all(w.isdigit() for w in words):
        raise UsageError(
            f"{source}: malformed size line {text[:80].decode('ascii', 'replace')!r} "
            f"(expected {expected} non-negative integers for a {layout} file)"
        )
    if any(len(w) > 30 for w in words):
        raise UsageError(f"{source}: the size line declares a number of more than 30 digits")
    numbers = [int(w) for w in words]
    rows, cols = numbers[0], numbers[1]
    check_limit("matrix_elements", rows * cols, source=source)
    if square and rows != cols:
        raise UsageError(f"{source}: the matrix must be square, the size line declares {rows} x {cols}")
    if symmetry != "general" and rows != cols:
        raise UsageError(f"{source}: a {symmetry} matrix must be square, the size line declares {rows} x {cols}")
    if layout == "coordinate":
        nnz = numbers[2]
        check_limit("matrix_nonzeros", nnz, source=source)
        if nnz > rows * cols:
            raise UsageError(f"{source}: declares {nnz} entries for a {rows} x {cols} matrix")
        tokens_per_entry = 2 if fld == "pattern" else 3
    else:
        if symmetry == "general":
            nnz = rows * cols
        elif symmetry == "skew-symmetric":
            nnz = rows * (rows - 1) // 2
        else:
            nnz = rows * (rows + 1) // 2
        tokens_per_entry = 1
    offset = fh.tell()
    needed = 2 * tokens_per_entry * nnz - 1  # each number is at least one digit and one separator
    if nnz and file_size - offset < needed:
        raise UsageError(
            f"{source}: truncated: the size line declares {nnz} entries (at least {needed} bytes), "
            f"the file holds {file_size - offset} bytes after it"
        )
    return MtxHeader(layout, fld, symmetry, rows, cols, nnz, offset)


def read_mtx(path: str | os.PathLike[str], *, field: str, square: bool = False) -> Any:
    """A matrix from a Matrix Market file (sparse COO for coordinate files, an ndarray for array
    files), after `read_mtx_header` has accepted its banner and size line."""
    import scipy.io

    p = check_input_file(path, field=field)
    source = f"{field}: {p}"
    with _open(p, field) as fh:
        read_mtx_header(fh, source=source, file_size=os.fstat(fh.fileno()).st_size, square=square)
    try:
        return scipy.io.mmread(str(p))
    except MemoryError:
        raise UsageError(f"{source}: not enough memory to read the matrix") from None
    except Exception as exc:  # the parser's own complaints about the entries
        raise UsageError(f"{source}: malformed Matrix Market entries ({_reason(exc, 'unreadable')})") from None


# --------------------------------------------------------------------------------------------
# Text files


def read_text_array(path: str | os.PathLike[str], *, field: str) -> np.ndarray:
    """Numbers from a text file: whitespace-separated, or comma-separated for .csv (np.loadtxt).

    The file size bounds the number of entries (each takes at least two bytes), which is checked
    against ``matrix_elements`` before parsing. Non-UTF-8 content, text that is not numbers, ragged
    rows and an empty file are one-line UsageErrors."""
    p = check_input_file(path, field=field)
    source = f"{field}: {p}"
    size = p.stat().st_size
    check_limit("matrix_elements", (size + 1) // 2, source=f"{source} (a text file of {size} bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns on an empty file; refused below
            arr = np.loadtxt(p, delimiter="," if p.suffix.lower() == ".csv" else None, ndmin=1, encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not a text file of numbers (not UTF-8 text)") from None
    except MemoryError:
        raise UsageError(f"{source}: not enough memory to parse the file") from None
    except ValueError as exc:
        raise UsageError(f"{source}: not a table of numbers ({_reason(exc, 'unparsable').split(';')[0]})") from None
    except OSError as exc:
        raise UsageError(f"{source}: cannot read ({exc.strerror or exc})") from None
    if arr.size == 0:
        raise UsageError(f"{source}: holds no numbers")
    return arr


# --------------------------------------------------------------------------------------------
# Dispatch


def read_array(
    path: str | os.PathLike[str],
    *,
    field: str,
    suffixes: tuple[str, ...] = MATRIX_SUFFIXES,
    name: str = "A",
    square: bool = False,
    mmap: bool = False,
) -> Any:
    """An array (ndarray, or scipy.sparse for sparse .npz and coordinate .mtx files) from any of
    `suffixes`, with every check of this module; shape and values are left to the caller.

    name: the .npz member to take when there are several. square: refuse a non-square .mtx from its
    size line, before reading the entries. mmap: memory-map .npy files."""
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        raise UsageError(f"{field}: {p}: unsupported file type {p.suffix or '(none)'}; use {', '.join(suffixes)}")
    if suffix == ".npy":
        return read_npy(p, field=field, mmap=mmap)
    if suffix == ".npz":
        return read_npz(p, field=field, name=name)
    if suffix == ".mtx":
        return read_mtx(p, field=field, square=square)
    return read_text_array(p, field=field)


def load_matrix(path: str | os.PathLike[str], *, field: str = "FILE") -> Any:
    """A square, non-empty, real, finite matrix from .npy, .npz or .mtx, as a float64 ndarray or a
    scipy.sparse CSR matrix (what `kappa` and `prune` read). Any problem is a one-line UsageError
    naming `field` and the file."""
    import scipy.sparse as sp

    p = Path(path).expanduser()
    source = f"{field}: {p}"
    data = read_array(p, field=field, square=True)
    try:
        if sp.issparse(data):
            data = sp.csr_matrix(data)
            if data.dtype.kind not in "biuf":
                raise UsageError(f"{source}: the matrix must be real-valued, got dtype {data.dtype}")
            data = data.astype(np.float64)
            if not np.all(np.isfinite(data.data)):
                raise UsageError(f"{source}: the matrix contains NaN or infinite entries")
        else:
            data = np.asarray(data)
            if data.dtype.kind not in "biuf":
                raise UsageError(f"{source}: the matrix must be real-valued, got dtype {data.dtype}")
            data = data.astype(np.float64)
            if data.ndim == 2 and data.size and not np.all(np.isfinite(data)):
                raise UsageError(f"{source}: the matrix contains NaN or infinite entries")
    except MemoryError:
        raise UsageError(f"{source}: not enough memory to convert the matrix to float64") from None
    if data.ndim != 2 or data.shape[0] != data.shape[1] or data.shape[0] == 0:
        raise UsageError(f"{source}: the matrix must be square and non-empty, got shape {tuple(data.shape)}")
    return data


# --------------------------------------------------------------------------------------------
# Writing


def check_matrix_output(
    path: str | os.PathLike[str],
    *,
    force: bool,
    inputs: tuple[str | os.PathLike[str], ...] = (),
    field: str = "--out",
) -> Path:
    """The output rule of `qnewton.files.check_output` (never an input, --force to replace an
    existing file, writable) plus a matrix suffix; call it before the work."""
    from qnewton.files import check_output

    p = Path(path).expanduser()
    if p.suffix.lower() not in MATRIX_SUFFIXES:
        raise UsageError(f"{field}: unsupported file type {p.suffix or '(none)'}; use {', '.join(MATRIX_SUFFIXES)}")
    return check_output(p, force=force, inputs=inputs, field=field)


def save_matrix(matrix: np.ndarray, path: str | os.PathLike[str], *, field: str = "--out") -> Path:
    """Write a dense matrix to .npy, .npz (scipy.sparse CSR) or .mtx (symmetric storage only when
    the matrix is exactly symmetric), chosen by extension, atomically (temporary file, then rename),
    so a failure leaves no half-written file. The caller checks the path first
    (`check_matrix_output`)."""
    import scipy.io
    import scipy.sparse as sp

    from qnewton.files import write_atomic

    out = Path(path).expanduser()
    suffix = out.suffix.lower()
    if suffix not in MATRIX_SUFFIXES:
        raise UsageError(f"{field}: unsupported file type {out.suffix or '(none)'}; use {', '.join(MATRIX_SUFFIXES)}")

    def write(fh: IO[bytes]) -> None:
        if suffix == ".npy":
            np.save(fh, matrix)
        elif suffix == ".npz":
            sp.save_npz(fh, sp.csr_matrix(matrix))
        else:
            symmetric = matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, matrix.T)
            scipy.io.mmwrite(fh, sp.coo_matrix(matrix), symmetry="symmetric" if symmetric else "general")

    return write_atomic(out, write, field=field)
