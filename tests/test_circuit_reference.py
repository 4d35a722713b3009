"""circuits/: the committed OpenQASM 3 files still solve their systems, and regenerating them works."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from qiskit import qasm3

from qnewton.quantum.backends import make_executor
from qnewton.quantum.reference import check_reference_circuit, write_reference_circuits

ROOT = Path(__file__).resolve().parents[1] / "circuits"


def _check_dir(directory: Path) -> dict:
    manifest = json.loads((directory / "manifest.json").read_text())
    assert set(manifest["circuits"]) == {"hhl_2x2", "hhl_4x4", "qsvt_2x2", "swap_test"}
    for name, entry in manifest["circuits"].items():
        text = (directory / entry["file"]).read_text()
        assert hashlib.sha256(text.encode()).hexdigest() == entry["sha256"], f"{name}: file and manifest disagree"
        if entry["kind"] == "linear-solver":
            fid, rel, x = check_reference_circuit(entry, text)
            assert fid >= 0.99, name
            assert rel <= 0.05, name
            assert fid == pytest.approx(entry["fidelity"], abs=1e-6), name
            A, b = np.array(entry["matrix"]), np.array(entry["vector"])
            np.testing.assert_allclose(entry["expected_solution"], np.linalg.solve(A, b), atol=1e-12)
        else:
            qc = qasm3.loads(text)
            counts = make_executor("shots", seed=1).run_counts([qc], 20000)[0]
            p0 = sum(c for k, c in counts.items() if k[-1] == "0") / 20000
            sigma = np.sqrt(entry["expected_p0"] * (1 - entry["expected_p0"]) / 20000)
            assert abs(p0 - entry["expected_p0"]) <= 4 * sigma
    return manifest


def test_committed_reference_circuits_solve_their_systems():
    _check_dir(ROOT)


def test_regenerated_reference_circuits(tmp_path):
    new = write_reference_circuits(tmp_path)
    _check_dir(tmp_path)
    old = json.loads((ROOT / "manifest.json").read_text())
    for name, entry in new["circuits"].items():
        for key in ("matrix", "vector", "expected_solution"):
            if key in entry:
                np.testing.assert_allclose(entry[key], old["circuits"][name][key], atol=1e-12)
