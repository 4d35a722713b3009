"""Experiments end to end on tiny budgets: files written, numbers that matter, same seed -> same numbers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from qnewton.cli import main
from qnewton.experiments.config import load_config
from qnewton.experiments.runner import run_experiment

TINY_TABLE2 = """
name = "table2-kappa-time"
seeds = 2
[params]
sizes = [8, 24]
kappas = [10.0, 1000.0]
estimators = ["bound", "lanczos", "exact"]
repeats = 1
"""


def _cfg(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _not_measured(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("measured_")} for r in rows]


def test_table2_end_to_end_writes_every_file_and_right_numbers(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, TINY_TABLE2))
    outcome = run_experiment(cfg, out=tmp_path / "results")
    folder = tmp_path / "results" / "table2-kappa-time"
    assert outcome.directory == folder
    names = sorted(p.name for p in folder.iterdir())
    for expected in ("README.md", "results.json", "table2.csv", "table2.md", "table2.raw.csv", "kappa_accuracy.csv",
                     "kappa_accuracy.raw.csv", "kappa_accuracy.md", "table2-kappa-time.png"):
        assert expected in names
    assert all(p.exists() for p in outcome.files)
    assert (folder / "table2-kappa-time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((folder / "results.json").read_text())
    assert data["seeds"] == [0, 1] and data["quick"] is False and data["dataset"] == "digits"
    acc = {(r["spectrum"], r["n"], r["kappa_true"], r["estimator"]): r for r in data["tables"]["kappa_accuracy"]["summary"]}
    assert len(acc) == 2 * 2 * 2 * 3  # spectra x sizes x kappas x estimators
    for (spectrum, n, kappa, method), row in acc.items():
        assert row["n_seeds"] == 2
        assert row["kappa_true"] == pytest.approx(kappa, rel=1e-9)
        if method == "exact":
            assert abs(row["log10_estimate_over_true_mean"]) < 1e-8
        if method == "lanczos":
            assert abs(row["log10_estimate_over_true_mean"]) < 0.05
        if method == "bound":  # an upper bound, loose and growing with N
            assert row["log10_estimate_over_true_min"] >= -1e-9
    for spectrum in ("definite", "indefinite"):
        assert (acc[(spectrum, 24, 1000.0, "bound")]["log10_estimate_over_true_mean"]
                > acc[(spectrum, 8, 1000.0, "bound")]["log10_estimate_over_true_mean"] > 0.5)
    with (folder / "table2.raw.csv").open() as fh:
        raw = list(csv.DictReader(fh))
    assert len(raw) == 2 * 2 * 2 * 3 and {r["seed"] for r in raw} == {"0", "1"}
    assert all(float(r["measured_ms"]) > 0 for r in raw)
    assert {r["threads"] for r in raw} == {"1"}  # the default pins BLAS to one thread and records it
    assert "| definite | 24 | exact |" in (folder / "table2.md").read_text()


def test_same_seed_gives_same_numbers_and_other_seed_does_not(tmp_path: Path) -> None:
    path = _cfg(tmp_path, TINY_TABLE2.replace("seeds = 2", "seeds = 1").replace('"bound", "lanczos", "exact"', '"bound", "exact"'))
    a = run_experiment(load_config(path), out=tmp_path / "a")
    b = run_experiment(load_config(path), out=tmp_path / "b")
    rows_a, rows_b = a.raw["kappa_accuracy"], b.raw["kappa_accuracy"]
    assert _not_measured(rows_a) == _not_measured(rows_b)
    shifted = run_experiment(load_config(path, seeds=1), out=tmp_path / "c")
    assert _not_measured(shifted.raw["kappa_accuracy"]) == _not_measured(rows_a)
    other = _cfg(tmp_path, TINY_TABLE2.replace("seeds = 2", "seeds = 1\nbase_seed = 7").replace('"bound", "lanczos", "exact"', '"bound"'),
                 "other.toml")
    c = run_experiment(load_config(other), out=tmp_path / "d")
    bound_a = [r["log10_kappa_estimate"] for r in rows_a if r["estimator"] == "bound"]
    bound_c = [r["log10_kappa_estimate"] for r in c.raw["kappa_accuracy"]]
    assert bound_a != bound_c  # a different seed draws different test matrices
    assert all(math.isfinite(x) for x in bound_c)


def test_cli_run_prints_where_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _cfg(tmp_path, TINY_TABLE2.replace("seeds = 2", "seeds = 1"))
    code = main(["experiment", "run", "table2-kappa-time", "--config", str(path), "--out", str(tmp_path / "r"), "--seeds", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"table2-kappa-time: wrote {tmp_path / 'r' / 'table2-kappa-time'}/" in out
    assert str(tmp_path / "r" / "table2-kappa-time" / "results.json") in out
    assert main(["experiment", "run", "fig5-cost-scaling", "--config", str(path)]) == 2
    assert "file is for 'table2-kappa-time'" in capsys.readouterr().err


TINY_TABLE3 = """
name = "table3-dnn"
seeds = 1
[params]
profiles = ["attosecond"]
kappa_methods = ["lanczos"]
methods = ["sgd", "classical", "qnewton"]
hidden = "4"
steps = 5
sgd_steps = 2
batch_size = 64
eval_every = 1
classical_constant = 1e-10
"""


def test_table3_tiny_training_end_to_end_and_repeatable(tmp_path: Path) -> None:
    path = _cfg(tmp_path, TINY_TABLE3)
    a = run_experiment(load_config(path), out=tmp_path / "a")
    rows = {r["method"]: r for r in a.raw["comparison"]}
    assert set(rows) == {"sgd", "classical", "qnewton"}
    for r in rows.values():
        assert r["steps"] == 5 and 0.0 <= r["test_accuracy"] <= 1.0
        assert r["measured_seconds_per_step"] > 0
    # SGD and classical-only never price a quantum solve; at 1e-18 s per query Q-Newton sends
    # inversions to the (emulated) quantum solver and reports their MODELED time apart.
    assert rows["sgd"]["modeled_quantum_seconds_per_step"] == 0.0 and rows["sgd"]["quantum_inversions"] == 0
    assert rows["classical"]["quantum_inversions"] == 0 and rows["classical"]["classical_inversions"] == 3 * 2
    assert rows["qnewton"]["quantum_inversions"] > 0
    assert 0 < rows["qnewton"]["modeled_quantum_seconds_per_step"] < 1e-6
    q = rows["qnewton"]
    # PROJECTED = MEASURED total - MEASURED emulation of the quantum solves + MODELED quantum total
    assert q["projected_total_seconds"] == pytest.approx(
        q["measured_total_seconds"] - q["measured_emulation_total_seconds"] + q["modeled_quantum_total_seconds"],
        rel=1e-12)
    assert 0 < q["measured_emulation_total_seconds"] < q["measured_total_seconds"]
    assert q["modeled_quantum_total_seconds"] == pytest.approx(5 * q["modeled_quantum_seconds_per_step"], rel=1e-12)
    folder = tmp_path / "a" / "table3-dnn"
    assert (folder / "table3-dnn.png").exists()
    assert (folder / "runs" / "table3-qnewton-attosecond-free-lanczos-seed0" / "qnewton" / "ledger.jsonl").exists()
    b = run_experiment(load_config(path), out=tmp_path / "b")
    strip = lambda rs: [{k: v for k, v in r.items() if not k.startswith(("measured_", "projected_"))} for r in rs]
    assert strip(a.raw["comparison"]) == strip(b.raw["comparison"])


def _write_idx(path: Path, array) -> None:
    import struct

    import numpy as np

    arr = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    path.write_bytes(header + arr.tobytes())


def test_data_dir_switches_to_mnist_idx_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "mnist"
    data.mkdir()
    for part, n in (("train", 80), ("t10k", 40)):
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 40, size=(n, 6, 6)) + 20 * labels[:, None, None]  # learnable
        _write_idx(data / f"{part}-images-idx3-ubyte", images)
        _write_idx(data / f"{part}-labels-idx1-ubyte", labels)
    cfg = _cfg(tmp_path, TINY_TABLE3.replace('methods = ["sgd", "classical", "qnewton"]', 'methods = ["sgd", "qnewton"]'))
    out = tmp_path / "r"
    assert main(["experiment", "run", "table3-dnn", "--config", str(cfg), "--data-dir", str(data), "--out", str(out)]) == 0
    result = json.loads((out / "table3-dnn" / "results.json").read_text())
    assert result["dataset"] == "mnist" and result["data_dir"] == str(data)
    assert result["cost_sources"] == {"classical_constant": "given (classical_constant parameter)"}
    run_config = json.loads((out / "table3-dnn" / "runs" / "table3-qnewton-attosecond-free-lanczos-seed0" / "config.json").read_text())
    assert run_config["data"] == "mnist" and run_config["data_dir"] == str(data)
    assert {r["method"] for r in result["tables"]["comparison"]["raw"]} == {"sgd", "qnewton"}
    (data / "t10k-labels-idx1-ubyte").unlink()
    assert main(["experiment", "run", "table3-dnn", "--config", str(cfg), "--data-dir", str(data), "--out", str(out)]) == 2
    assert "t10k-labels-idx1-ubyte" in capsys.readouterr().err
    assert (out / "table3-dnn" / "results.json").exists()  # the failed run left the previous result in place


def test_classical_constant_zero_is_the_saved_profile_else_pinned_never_a_fit(tmp_path: Path, monkeypatch) -> None:
    from qnewton.calibrate import classical_timing
    from qnewton.costs.classical import PINNED_LU_CONSTANT
    from qnewton.experiments.spec import RunContext
    from qnewton.experiments.training import TrainingParams, classical_constant

    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path))
    monkeypatch.setattr(classical_timing, "time_classical_solver", lambda *a, **k: pytest.fail("timed"))
    ctx = RunContext()
    assert classical_constant(TrainingParams(), ctx) == PINNED_LU_CONSTANT
    assert ctx.extra["cost_sources"]["classical_constant"].startswith("pinned default")
    (tmp_path / "classical.json").write_text(json.dumps({"format": "qnewton-classical-profile", "version": 1,
                                                         "lu": {"constant": 3e-11}, "cg": {"multiply_adds_per_second": 1e9}}))
    ctx = RunContext()
    assert classical_constant(TrainingParams(), ctx) == 3e-11
    assert ctx.extra["cost_sources"]["classical_constant"].startswith("profile ")

