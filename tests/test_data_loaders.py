"""Digits split/standardization and the MNIST IDX loader on tiny files written here."""

import gzip
import struct

import numpy as np
import pytest

from qnewton.errors import UsageError
from qnewton.train.data import load_digits, load_mnist, read_idx


def _write_idx(path, array, code=0x08, compress=False):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.astype(">u1").tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_roundtrip(tmp_path, compress):
    rng = np.random.default_rng(0)
    tr_x = rng.integers(0, 256, size=(6, 3, 2), dtype=np.uint8)
    tr_y = np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8)
    te_x = rng.integers(0, 256, size=(4, 3, 2), dtype=np.uint8)
    te_y = np.array([9, 1, 0, 2], dtype=np.uint8)
    sfx = ".gz" if compress else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", tr_x, compress=compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", tr_y, compress=compress)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", te_x, compress=compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", te_y, compress=compress)
    assert np.array_equal(read_idx(tmp_path / f"train-images-idx3-ubyte{sfx}"), tr_x)
    ds = load_mnist(tmp_path)
    assert ds.x_train.shape == (6, 6) and ds.x_test.shape == (4, 6)
    assert ds.num_classes == 10
    assert np.array_equal(ds.y_train, tr_y) and np.array_equal(ds.y_test, te_y)
    # standardized with the training statistics of pixels / 255
    raw = tr_x.reshape(6, -1) / 255.0
    std = np.where(raw.std(0) > 0, raw.std(0), 1.0)
    assert np.allclose(ds.x_train, (raw - raw.mean(0)) / std)
    assert np.allclose(ds.x_test, (te_x.reshape(4, -1) / 255.0 - raw.mean(0)) / std)


def test_idx_errors_are_usage_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(UsageError, match="magic"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"abc")
    with pytest.raises(UsageError, match="header says 5"):
        read_idx(short)
    with pytest.raises(UsageError, match="data_dir"):
        load_mnist(tmp_path / "missing")
    with pytest.raises(UsageError, match="train-images"):
        load_mnist(tmp_path)


def test_mnist_negative_labels_are_usage_errors(tmp_path):
    def idx(path, code, arr):
        path.write_bytes(bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes())

    images = np.zeros((3, 2, 2), dtype=np.uint8)
    idx(tmp_path / "train-images-idx3-ubyte", 0x08, images)
    idx(tmp_path / "t10k-images-idx3-ubyte", 0x08, images)
    idx(tmp_path / "train-labels-idx1-ubyte", 0x09, np.array([0, -1, 2], dtype=np.int8))
    idx(tmp_path / "t10k-labels-idx1-ubyte", 0x08, np.array([0, 1, 2], dtype=np.uint8))
    with pytest.raises(UsageError, match="non-negative"):
        load_mnist(tmp_path)


def test_digits_fixed_stratified_standardized_split():
    a = load_digits()
    b = load_digits()
    assert a.x_train.shape == (1347, 64) and a.x_test.shape == (450, 64)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    # stratified: class proportions of test set match the full set within one example
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 46
    used = a.x_train.std(0) > 0
    assert np.allclose(a.x_train.mean(0), 0, atol=1e-12)
    assert np.allclose(a.x_train.std(0)[used], 1)
