"""`--quantum-solver circuit`: a tiny model (every block <= 16 parameters) trained with Qiskit HHL
circuits on the statevector simulator, through the same LinearSolver interface."""

import gzip
import json
import struct

import numpy as np
import pytest

from qnewton.cli import main
from qnewton.train.config import TrainConfig
from qnewton.train.runner import run_training


def _idx(path, arr):
    head = bytes([0, 0, 8, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))


def _tiny_mnist(folder):
    rng = np.random.default_rng(0)
    y_tr = rng.integers(0, 3, 60)
    y_te = rng.integers(0, 3, 30)
    def images(y):  # 2x2 images whose brightness pattern depends on the class
        base = np.array([[[200, 20], [20, 20]], [[20, 200], [20, 20]], [[20, 20], [200, 200]]])
        return np.clip(base[y] + rng.integers(0, 40, (len(y), 2, 2)), 0, 255)
    _idx(folder / "train-images-idx3-ubyte.gz", images(y_tr))
    _idx(folder / "train-labels-idx1-ubyte.gz", y_tr)
    _idx(folder / "t10k-images-idx3-ubyte.gz", images(y_te))
    _idx(folder / "t10k-labels-idx1-ubyte.gz", y_te)


def test_training_with_circuit_solver(tmp_path):
    pytest.importorskip("qiskit_aer")
    _tiny_mnist(tmp_path)
    cfg = TrainConfig(runs_dir=str(tmp_path / "runs"), name="c", method="quantum", data="mnist", data_dir=str(tmp_path),
                      hidden="2", blocks="tensor", steps=3, sgd_steps=1, batch_size=16, quantum_solver="circuit",
                      classical_constant=1e-10, eval_every=1, target_accuracy=1.0)
    report = run_training(cfg)
    e = report["quantum"]
    assert e["status"] == "completed" and e["newton_steps"] == 2
    assert e["decisions"] == {"quantum": 8, "classical": 0}  # 2 Newton steps x 4 blocks (8, 2, 6, 3 parameters)
    rows = [json.loads(l) for l in (tmp_path / "runs" / "c" / "quantum" / "ledger.jsonl").read_text().splitlines()]
    blocks = [b for r in rows for b in r["blocks"]]
    assert [b["n"] for b in blocks[:4]] == [8, 2, 6, 3]
    assert all(b["solver"].startswith("circuit") or "hhl" in b["solver"] for b in blocks), {b["solver"] for b in blocks}
    assert all(b["safeguard"] is None for b in blocks)
    assert e["total_modeled_quantum_seconds"] > 0


def test_circuit_solver_refuses_large_blocks_before_writing(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["train", "--runs-dir", str(runs), "--quantum-solver", "circuit", "--method", "qnewton", "--quiet"])
    assert code == 2
    assert "quantum_solver" in capsys.readouterr().err
    assert not runs.exists()


def test_circuit_backend_checked_before_writing(tmp_path):
    pytest.importorskip("qiskit_aer")
    _tiny_mnist(tmp_path)
    cfg = TrainConfig(runs_dir=str(tmp_path / "runs"), method="quantum", data="mnist", data_dir=str(tmp_path),
                      hidden="2", blocks="tensor", quantum_solver="circuit", circuit_backend="nosuch",
                      classical_constant=1e-10)
    from qnewton.errors import UsageError

    with pytest.raises(UsageError, match="backend"):
        run_training(cfg)
    assert not (tmp_path / "runs").exists()


def test_circuit_solves_inside_training_are_accurate_and_the_model_learns(tmp_path):
    """Each HHL solve inside training matches the exact solve of the same block (fidelity and
    relative error recorded per block), and the circuit-trained model follows the classical one."""
    pytest.importorskip("qiskit_aer")
    _tiny_mnist(tmp_path)
    cfg = TrainConfig(runs_dir=str(tmp_path / "runs"), name="acc", method="quantum,classical", data="mnist",
                      data_dir=str(tmp_path), hidden="2", blocks="tensor", steps=6, sgd_steps=1, batch_size=16,
                      quantum_solver="circuit", classical_constant=1e-10, eval_every=1, target_accuracy=1.0)
    run_training(cfg)
    losses = {}
    for method in ("quantum", "classical"):
        rows = [json.loads(l) for l in (tmp_path / "runs" / "acc" / method / "ledger.jsonl").read_text().splitlines()]
        losses[method] = [r["loss"] for r in rows]
        if method == "quantum":
            infos = [b["solve_info"] for r in rows for b in r["blocks"]]
            assert len(infos) == 5 * 4
            assert min(i["fidelity_vs_classical"] for i in infos) >= 0.99
            assert max(i["relative_error_vs_classical"] for i in infos) <= 0.1
    # the loss falls along both trajectories, and the circuit one stays within 5 % of the exact one
    for method, seq in losses.items():
        assert seq[-1] < 0.7 * seq[0], (method, seq)
    assert abs(losses["quantum"][-1] - losses["classical"][-1]) <= 0.05 * losses["classical"][-1]
