"""The resource-estimator wrapper (qnewton.calibrate.ft_estimate): same numbers as a direct call,
telemetry switched off before qdk is imported, the only importer of qdk in the project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qnewton.calibrate import ft_estimate
from qnewton.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
COUNTS = {"numQubits": 40, "tCount": 1000, "rotationCount": 5000, "rotationDepth": 4000, "cczCount": 2_000_000,
          "ccixCount": 0, "measurementCount": 30_000}


@pytest.mark.parametrize("qubit_model, scheme, budget", [
    ("qubit_gate_ns_e3", "surface_code", 1e-3),
    ("qubit_gate_us_e4", "surface_code", 1e-2),
    ("qubit_maj_ns_e6", "floquet_code", 1e-4),
])
def test_wrapper_returns_what_the_estimator_returns(qubit_model: str, scheme: str, budget: float) -> None:
    est = ft_estimate.estimate_counts(COUNTS, qubit_model, scheme, budget)
    from qdk.estimator import LogicalCounts  # the environment is set by ft_estimate's import above

    direct = LogicalCounts(dict(COUNTS)).estimate(
        {"qubitParams": {"name": qubit_model}, "qecScheme": {"name": scheme}, "errorBudget": budget})
    assert est.physical_qubits == direct["physicalCounts"]["physicalQubits"]
    assert est.code_distance == direct["logicalQubit"]["codeDistance"]
    assert est.runtime_seconds == pytest.approx(direct["physicalCounts"]["runtime"] * 1e-9, rel=1e-12)
    assert est.t_factories == direct["physicalCounts"]["breakdown"]["numTfactories"]
    assert est.logical_depth == direct["physicalCounts"]["breakdown"]["logicalDepth"]
    assert not est.runtime_wrapped
    assert qubit_model in est.estimator and scheme in est.estimator and est.estimator.startswith("qdk.estimator ")


def test_cache_and_hardware_dependence() -> None:
    before = ft_estimate.cache_info().hits
    a = ft_estimate.estimate_counts(COUNTS, "qubit_gate_ns_e4", "surface_code", 1e-3)
    b = ft_estimate.estimate_counts(dict(COUNTS), "qubit_gate_ns_e4", "surface_code", 1e-3)
    assert a is b and ft_estimate.cache_info().hits == before + 1
    worse = ft_estimate.estimate_counts(COUNTS, "qubit_gate_ns_e3", "surface_code", 1e-3)
    assert worse.code_distance > a.code_distance and worse.physical_qubits > a.physical_qubits
    tighter = ft_estimate.estimate_counts(COUNTS, "qubit_gate_ns_e4", "surface_code", 1e-9)
    assert tighter.code_distance >= a.code_distance and tighter.physical_qubits > a.physical_qubits


def test_runtime_past_the_estimators_integer_range_is_flagged() -> None:
    # 1e16 Toffolis at ~16 us per cycle: ~6e11 s, beyond the 2^64 ns (~1.8e10 s) the estimator can hold
    huge = dict(COUNTS, cczCount=10**16)
    est = ft_estimate.estimate_counts(huge, "qubit_gate_ns_e3", "surface_code", 1e-3)
    assert est.runtime_wrapped
    assert est.runtime_seconds == pytest.approx(est.logical_depth * est.logical_cycle_seconds, rel=1e-12)
    assert est.runtime_seconds > 1e11


def test_runs_beyond_the_operation_cap_are_refused_not_hung() -> None:
    with pytest.raises(UsageError, match="non-Clifford"):
        ft_estimate.estimate_counts(dict(COUNTS, cczCount=10**18), "qubit_gate_ns_e3", "surface_code", 1e-3)


@pytest.mark.parametrize("args, match", [
    (("qubit_gate_ps_e3", "surface_code", 1e-3), "qubit_model"),
    (("qubit_gate_ns_e3", "color_code", 1e-3), "qec_scheme"),
    (("qubit_gate_ns_e3", "floquet_code", 1e-3), "Majorana"),
    (("qubit_gate_ns_e3", "surface_code", 1.5), "error_budget"),
])
def test_bad_hardware_is_one_line(args: tuple, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        ft_estimate.estimate_counts(COUNTS, *args)


def test_bad_counts_refused() -> None:
    with pytest.raises(UsageError, match="cczCount"):
        ft_estimate.estimate_counts(dict(COUNTS, cczCount=2**64), "qubit_gate_ns_e3", "surface_code", 1e-3)
    with pytest.raises(UsageError, match="tCount"):
        ft_estimate.estimate_counts(dict(COUNTS, tCount=-1), "qubit_gate_ns_e3", "surface_code", 1e-3)


def test_telemetry_is_off_before_qdk_is_imported() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QDK_PYTHON_TELEMETRY", "QSHARP_PYTHON_TELEMETRY")}
    code = (
        "import os, sys\n"
        "import qnewton.calibrate.ft_estimate as fe\n"
        "assert 'qdk' not in sys.modules, 'qdk imported at module import'\n"
        "assert os.environ['QDK_PYTHON_TELEMETRY'] == 'none' and os.environ['QSHARP_PYTHON_TELEMETRY'] == 'none'\n"
        "fe.estimate_counts({'numQubits': 5, 'cczCount': 100}, 'qubit_gate_ns_e3', 'surface_code', 1e-3)\n"
        "import qdk.telemetry\n"
        "print('enabled', qdk.telemetry.TELEMETRY_ENABLED)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "enabled False"


def test_ft_estimate_is_the_only_importer_of_qdk() -> None:
    pattern = re.compile(r"^\s*(import\s+(qdk|qsharp)\b|from\s+(qdk|qsharp)\b)", re.MULTILINE)
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "qnewton").rglob("*.py") if pattern.search(p.read_text()))
    assert importers == ["qnewton/calibrate/ft_estimate.py"]


def test_circuit_entry_point_counts_a_small_circuit() -> None:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.ccx(0, 1, 2)
    qc.t(1)
    qc.rz(0.123, 2)
    est, logical = ft_estimate.estimate_circuit(qc, "qubit_gate_ns_e3", "surface_code", 1e-3)
    assert logical["numQubits"] == 3
    assert logical["cczCount"] + logical["ccixCount"] == 1 or logical["tCount"] >= 7
    assert logical["rotationCount"] == 1
    assert est.physical_qubits > 0 and est.code_distance >= 3
