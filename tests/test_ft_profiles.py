"""Fault-tolerant calibration profiles: schema, the query-time model, `qnewton cost`, the scheduler."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from qnewton.calibrate import query_time_model
from qnewton.calibrate.ft_estimate import estimate_counts
from qnewton.calibrate.ft_query_time import FaultTolerantQueryTimeModel, priced_queries
from qnewton.calibrate.profile_files import load_profile
from qnewton.calibrate.profile_schema import validate_profile
from qnewton.cli import main
from qnewton.costs.classical import LUCostModel
from qnewton.costs.ft_logical import solve_counts_for_queries
from qnewton.costs.quantum import QuantumCostModel, expected_queries, query_count
from qnewton.errors import UsageError

FT_PROFILES = ("ft-surface-gate-ns-e3", "ft-surface-gate-us-e4", "ft-floquet-maj-ns-e6")


def _base() -> dict:
    return json.loads(Path(load_profile("ft-surface-gate-ns-e3").path).read_text())


def test_shipped_profiles_load() -> None:
    seen = set()
    for name in FT_PROFILES:
        p = load_profile(name)
        assert p.kind == "fault-tolerant" and not p.is_device and p.fault_tolerant is not None
        assert p.fault_tolerant.error_budget == 1e-3
        seen.add((p.fault_tolerant.qubit_model, p.fault_tolerant.qec_scheme))
    assert seen == {("qubit_gate_ns_e3", "surface_code"), ("qubit_gate_us_e4", "surface_code"),
                    ("qubit_maj_ns_e6", "floquet_code")}


@pytest.mark.parametrize("change, field", [
    ({"qubit_model": "qubit_gate_ps_e9"}, "qubit_model"),
    ({"qec_scheme": "floquet_code"}, "qec_scheme"),
    ({"error_budget": 0}, "error_budget"),
    ({"error_budget": "1e-3"}, "error_budget"),
    ({"reference_kappa": 2.0}, "reference_kappa"),
    ({"reference_epsilon": 0.5}, "reference_epsilon"),
    ({"gate_time": 1e-9}, "gate_time"),
    ({"logical_model": []}, "logical_model"),
    ({"logical_model": {"oracle": "dense"}}, "logical_model.oracle"),
    ({"logical_model": {"entry_bits": 0}}, "logical_model.entry_bits"),
    ({"logical_model": {"entry_bits": 100}}, "logical_model.entry_bits"),
    ({"logical_model": {"bits": 8}}, "logical_model.bits"),
    ({"logical_model": {"state_preparation": "free"}}, "logical_model.state_preparation"),
    ({"logical_model": {"rotations_per_query": -2}}, "logical_model.rotations_per_query"),
])
def test_schema_violations_are_one_line_naming_the_field(change: dict, field: str) -> None:
    data = dict(_base(), **change)
    with pytest.raises(UsageError) as exc:
        validate_profile(data, origin="x.json")
    msg = str(exc.value)
    assert msg.startswith(f"x.json: {field}: ") and "\n" not in msg


def test_missing_field() -> None:
    data = _base()
    del data["qec_scheme"]
    with pytest.raises(UsageError, match=r"^x.json: qec_scheme: missing required field$"):
        validate_profile(data, origin="x.json")


def test_query_time_model_prices_the_run_with_the_estimator() -> None:
    model = query_time_model(calibration="ft-surface-gate-ns-e3")
    assert isinstance(model, FaultTolerantQueryTimeModel) and model.label == "ft-surface-gate-ns-e3"
    n, d, kappa, eps = 1024, 10, 100.0, 0.01
    cost = QuantumCostModel(query_time=model, epsilon=eps).estimate(n, d, kappa)
    q = query_count(kappa, eps, float(d))
    qb = priced_queries(q)
    assert q <= qb <= q * 2 ** 0.25 + 1
    counts = solve_counts_for_queries(n, d, qb, load_profile("ft-surface-gate-ns-e3").fault_tolerant.logical_model)
    direct = estimate_counts(counts.to_estimator(), "qubit_gate_ns_e3", "surface_code", 1e-3)
    assert cost.seconds_per_query == pytest.approx(direct.runtime_seconds / qb, rel=1e-12)
    assert cost.total_seconds == pytest.approx(expected_queries(kappa, eps, float(d)) * direct.runtime_seconds / qb, rel=1e-12)
    # seconds_per_query(n, d) without kappa: the reference point of the profile (kappa 100, eps 0.01)
    assert model.seconds_per_query(n, d) == pytest.approx(cost.seconds_per_query, rel=1e-12)


def test_per_query_time_grows_with_kappa_through_the_code_distance() -> None:
    model = query_time_model(calibration="ft-surface-gate-ns-e3")
    short, long = model.solve(256, 4, 10.0, 0.01), model.solve(256, 4, 1e7, 0.01)
    assert long.physical.code_distance > short.physical.code_distance
    assert long.seconds_per_query > short.seconds_per_query
    assert not short.extrapolated


def test_huge_runs_are_extrapolated_not_hung() -> None:
    model = query_time_model(calibration="ft-surface-gate-ns-e3")
    s = model.solve(10**9, 10**4, 1e10, 0.01)
    assert s.extrapolated and s.priced_queries < query_count(1e10, 0.01, 1e4)
    assert math.isfinite(s.seconds_per_query) and s.seconds_per_query > 0


def test_slower_hardware_is_slower_per_query() -> None:
    spq = {name: query_time_model(calibration=name).seconds_per_query(4096, 16) for name in FT_PROFILES}
    # ion-like us gates are ~1000x slower than ns gates; the Majorana/Floquet profile is the fastest
    assert spq["ft-surface-gate-us-e4"] > 100 * spq["ft-surface-gate-ns-e3"] > 100 * spq["ft-floquet-maj-ns-e6"] / 10
    assert spq["ft-floquet-maj-ns-e6"] < spq["ft-surface-gate-ns-e3"]


def test_cost_json_with_ft_profile(capsys) -> None:
    rc = main(["cost", "--n", "1024", "--kappa", "100", "--sparsity", "10", "--calibration", "ft-surface-gate-ns-e3",
               "--classical-constant", "pinned", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    row = json.loads(out.out)
    assert math.isfinite(row["quantum_seconds"]) and row["quantum_seconds"] > 0
    assert isinstance(row["physical_qubits"], int) and row["physical_qubits"] > 10_000
    assert isinstance(row["code_distance"], int) and row["code_distance"] % 2 == 1 and row["code_distance"] >= 3
    assert row["estimator"].startswith("qdk.estimator") and "qubit_gate_ns_e3" in row["estimator"]
    assert row["decision"] == ("quantum" if row["quantum_seconds"] <= row["classical_seconds"] else "classical")
    assert row["decision"] == "classical"  # ~1e4 s against ~0.02 s of LU at N = 1024
    # a non-FT profile has the three fields, null
    main(["cost", "--n", "1024", "--kappa", "100", "--sparsity", "10", "--calibration", "attosecond", "--json"])
    plain = json.loads(capsys.readouterr().out)
    assert plain["physical_qubits"] is None and plain["code_distance"] is None and plain["estimator"] is None


def test_cost_with_bad_ft_profile_is_one_line(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(_base(), qubit_model="qubit_gate_ns_e9")))
    plot = tmp_path / "out.png"
    rc = main(["cost", "--n", "64", "--kappa", "10", "--sparsity", "4", "--calibration", str(bad),
               "--sweep", "kappa=4:100:3", "--plot", str(plot)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "qubit_model" in err[0]
    assert not plot.exists()


def test_scheduler_prices_blocks_with_the_ft_model() -> None:
    from qnewton.newton.scheduler import Scheduler

    quantum = QuantumCostModel(query_time=query_time_model(calibration="ft-floquet-maj-ns-e6"))
    A = np.diag(np.linspace(1.0, 20.0, 16))
    d = Scheduler("hybrid", "exact", quantum, LUCostModel(1e-9)).decide(A)
    assert d.solver == "classical"
    priced = quantum.estimate(16, d.sparsity, d.kappa)
    assert d.quantum_seconds == pytest.approx(priced.total_seconds, rel=1e-9)
    assert priced.seconds_per_query > 1e-6  # error-corrected queries take microseconds at least
