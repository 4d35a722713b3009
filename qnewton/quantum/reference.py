"""The reference circuits in `circuits/`: OpenQASM 3 files plus manifest.json.

`write_reference_circuits(out_dir)` builds HHL 2x2, HHL 4x4, QSVT 2x2 and a SWAP test, exports each
with `export.to_qasm3` (lowered to {u, cx}), and writes manifest.json with, per circuit: the file,
the matrix and vector, the expected solution (numpy), the post-selection flags and system qubits,
the norm factor (x = norm_factor * post-selected amplitudes), the success probability and fidelity
obtained by simulating the exported file. `check_reference_circuit(entry, qasm_text)` re-simulates
a file and returns (fidelity, relative norm error) -- tests/test_circuit_reference.py uses both.

OpenQASM 3 carries no global phase, so a loaded file reproduces the state up to a phase: the check
compares fidelity and norm, and fixes the sign by the positive-definite rule b^T x > 0.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from qnewton.errors import UsageError
from qnewton.quantum.export import to_qasm3
from qnewton.quantum.hhl import build_hhl
from qnewton.quantum.qsvt import build_qsvt
from qnewton.quantum.solver_circuit import SolverCircuit, fidelity, readout_from_statevector
from qnewton.quantum.swap_test import exact_overlap, overlap_circuit

A2 = np.array([[2.0, -0.5], [-0.5, 1.0]])
B2 = np.array([1.0, 0.5])
A4 = np.array([[3.0, -1.0, 0.0, 0.0], [-1.0, 3.0, -1.0, 0.0], [0.0, -1.0, 3.0, -1.0], [0.0, 0.0, -1.0, 3.0]])
B4 = np.array([1.0, 0.0, -1.0, 0.5])
SWAP_A = np.array([0.6, 0.8])
SWAP_B = np.array([1.0, 1.0]) / np.sqrt(2.0)


def _solver_entries() -> list[tuple[str, SolverCircuit, np.ndarray, np.ndarray]]:
    return [
        ("hhl_2x2", build_hhl(A2, B2), A2, B2),
        ("hhl_4x4", build_hhl(A4, B4), A4, B4),
        ("qsvt_2x2", build_qsvt(A2, B2), A2, B2),
    ]


def check_reference_circuit(entry: dict[str, Any], qasm_text: str) -> tuple[float, float, np.ndarray]:
    """Simulate a solver entry's QASM file: (fidelity vs expected, relative norm error, x)."""
    from qiskit import qasm3
    from qiskit.quantum_info import Statevector

    qc = qasm3.loads(qasm_text)
    sc = SolverCircuit(
        circuit=qc,
        system_qubits=list(entry["system_qubits"]),
        flags={int(k): int(v) for k, v in entry["flags"].items()},
        norm_factor=float(entry["norm_factor"]),
        original_size=len(entry["vector"]),
        method=entry["method"],
    )
    r = readout_from_statevector(sc, Statevector(qc).data)
    x = r.x if float(np.dot(entry["vector"], r.x)) >= 0 else -r.x
    expected = np.asarray(entry["expected_solution"])
    rel = abs(np.linalg.norm(x) - np.linalg.norm(expected)) / np.linalg.norm(expected)
    return fidelity(x, expected), float(rel), x


def write_reference_circuits(out_dir: str | Path) -> dict[str, Any]:
    """Write the .qasm files and manifest.json into out_dir; return the manifest."""
    from qiskit import qasm3
    from qiskit.quantum_info import Statevector

    from qnewton.files import write_text_atomic

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--reference: {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--reference: cannot create directory {out} ({exc.strerror or exc})") from None
    manifest: dict[str, Any] = {
        "description": "Reference circuits of qnewton (docs/quantum.md). Regenerate: qnewton circuit export --reference circuits/",
        "basis": ["u", "cx", "measure"],
        "circuits": {},
    }
    for name, sc, A, b in _solver_entries():
        text = to_qasm3(sc.circuit)
        fname = f"{name}.qasm"
        write_text_atomic(out / fname, text, field="--reference")
        entry: dict[str, Any] = {
            "file": fname,
            "kind": "linear-solver",
            "method": sc.method,
            "matrix": A.tolist(),
            "vector": b.tolist(),
            "expected_solution": np.linalg.solve(A, b).tolist(),
            "system_qubits": sc.system_qubits,
            "flags": {str(k): v for k, v in sorted(sc.flags.items())},
            "norm_factor": sc.norm_factor,
            "num_qubits": sc.num_qubits,
            "details": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in sc.details.items()},
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        fid, rel, x = check_reference_circuit(entry, text)
        r = readout_from_statevector(sc, Statevector(qasm3.loads(text)).data)
        entry.update({"fidelity": fid, "norm_relative_error": rel, "circuit_solution": x.tolist(),
                      "success_probability": r.success_probability})
        manifest["circuits"][name] = entry
    qc = overlap_circuit(SWAP_A, SWAP_B, "swap")
    text = to_qasm3(qc)
    write_text_atomic(out / "swap_test.qasm", text, field="--reference")
    o = exact_overlap(SWAP_A, SWAP_B)
    manifest["circuits"]["swap_test"] = {
        "file": "swap_test.qasm",
        "kind": "swap-test",
        "state_a": SWAP_A.tolist(),
        "state_b": SWAP_B.tolist(),
        "expected_overlap": o,
        "expected_p0": 0.5 * (1 + o),
        "ancilla_clbit": 0,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n", field="--reference")
    return manifest
