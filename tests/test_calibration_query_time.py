"""Calibrated per-query time: transpiled block-encoding queries, the 4^m extrapolation, fidelity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnewton.calibrate import query_time_model
from qnewton.calibrate.device_query_time import CalibratedQueryTimeModel
from qnewton.calibrate.profile_files import load_profile
from qnewton.calibrate.query_circuits import representative_matrix, transpile_query
from qnewton.costs.query_time import QueryTimeModel
from qnewton.errors import UsageError

SMALL_FIT = (4, 8, 16)


@pytest.fixture(scope="module")
def profile():
    return load_profile("ibm_sherbrooke")


@pytest.fixture(scope="module")
def model(profile):
    return CalibratedQueryTimeModel(profile, fit_sizes=SMALL_FIT)


def test_representative_matrix_has_requested_sparsity() -> None:
    for n in (2, 4, 8, 16, 32):
        for d in (1, 2, 3, 4, 10):
            A = representative_matrix(n, d)
            assert np.array_equal(A, A.T)
            assert (A != 0).sum(axis=1).max() <= min(d, n)
            assert (A != 0).sum(axis=1).max() == min(d, n) or (d % 2 == 0 and n > 2)
            assert np.linalg.eigvalsh(A).min() > 0


def test_small_n_is_the_transpiled_duration_on_the_fake_target(model) -> None:
    """Independent path: transpile block_encode for FakeSherbrooke's own target and estimate."""
    from qiskit import transpile
    from qiskit_ibm_runtime.fake_provider import FakeSherbrooke

    from qnewton.quantum.block_encoding import block_encode

    target = FakeSherbrooke().target
    qc = block_encode(representative_matrix(16, 10)).circuit
    tc = transpile(qc, target=target, optimization_level=1, seed_transpiler=0)
    expected = tc.estimate_duration(target, unit="s")
    est = model.estimate(16, 10)
    assert est.source == "transpiled" and est.padded_n == 16 and est.qubits == 5
    # the profile's Target carries the same numbers; the layout pass may break a tie differently
    # (FakeSherbrooke's target also lists delay and control-flow ops), worth < 1% here
    assert model.seconds_per_query(16, 10) == pytest.approx(expected, rel=0.02)
    assert est.two_qubit_gates == tc.count_ops()["ecr"]
    # 5-qubit dense dilation: hundreds of ECRs at ~0.53 us, i.e. a fraction of a millisecond
    assert 1e-4 < expected < 2e-3
    # N = 10 pads to 16 and costs the same
    assert model.seconds_per_query(10, 10) == model.seconds_per_query(16, 10)


def test_extrapolation_predicts_the_next_transpiled_size(profile, model) -> None:
    """Fit on N' = 4, 8, 16, predict N' = 32, compare with transpiling N' = 32."""
    predicted = model.estimate(32, 4)
    assert predicted.source == "extrapolated" and predicted.qubits == 6
    actual = transpile_query(profile, 32, 4)
    assert predicted.two_qubit_gates == pytest.approx(actual.gate_counts["ecr"], rel=0.35)
    assert predicted.duration_seconds == pytest.approx(actual.duration_seconds, rel=0.35)
    fit = model.fit(4)
    assert fit.growth("ecr") == pytest.approx(4.0)
    assert 0.3 < fit.serialization <= 1.0  # critical path <= summed gate time


def test_large_n_scales_like_four_to_the_qubits(model) -> None:
    a, b = model.estimate(1024, 10), model.estimate(10_000, 10)
    assert (a.padded_n, a.qubits, b.padded_n, b.qubits) == (1024, 11, 16384, 15)
    assert b.two_qubit_gates / a.two_qubit_gates == pytest.approx(4.0**4, rel=1e-9)
    assert b.duration_seconds / a.duration_seconds == pytest.approx(4.0**4, rel=1e-9)
    t = [model.seconds_per_query(n, 10) for n in (2, 4, 8, 16, 64, 1024, 10_000)]
    assert all(x < y for x, y in zip(t, t[1:]))
    assert b.log_fidelity < a.log_fidelity < 0


def test_diagonal_queries_are_cheaper(model) -> None:
    assert model.seconds_per_query(16, 1) < 0.6 * model.seconds_per_query(16, 10)


def test_fitted_growth_option_and_validation(profile) -> None:
    fitted = CalibratedQueryTimeModel(profile, fit_sizes=SMALL_FIT, growth="fitted")
    fixed = CalibratedQueryTimeModel(profile, fit_sizes=SMALL_FIT)
    assert fitted.fit(10).growth("ecr") > 4.0  # routing inflates the small-m growth rate
    assert fitted.seconds_per_query(10_000, 10) > fixed.seconds_per_query(10_000, 10)
    for kwargs, field in (
        ({"fit_sizes": (4,)}, "fit_sizes"),
        ({"fit_sizes": (4, 12)}, "fit_sizes"),
        ({"fit_sizes": (4, 128)}, "fit_sizes"),
        ({"growth": "cubic"}, "growth"),
        ({"optimization_level": 7}, "optimization_level"),
    ):
        with pytest.raises(UsageError, match=field):
            CalibratedQueryTimeModel(profile, **kwargs)
    for n, d in ((0, 3), (16, 0), (2.5, 3), (16, True)):
        with pytest.raises(UsageError):
            fixed.seconds_per_query(n, d)


def test_run_fidelity_and_repetitions(profile, model) -> None:
    est = model.estimate(16, 10)
    assert 0 < est.fidelity < 1
    ro = profile.median_qubit("readout_error")
    rf = model.run_fidelity(16, 10, queries=100)
    assert rf.log_fidelity == pytest.approx(100 * est.log_fidelity + 5 * math.log1p(-ro))
    assert rf.expected_repetitions == pytest.approx(1 / rf.fidelity)
    assert rf.log10_expected_repetitions == pytest.approx(-rf.log_fidelity / math.log(10))
    huge = model.run_fidelity(10_000, 10, queries=5.7e4)
    assert huge.expected_repetitions == math.inf and huge.log10_expected_repetitions > 1e6
    assert model.run_fidelity(16, 10, queries=0, measured_qubits=0).fidelity == 1.0
    assert model.run_overhead_seconds() == pytest.approx(1.216e-6 + 250e-6)


def test_transpiles_are_cached(profile) -> None:
    a = transpile_query(profile, 8, 3)
    assert transpile_query(profile, 8, 3) is a


def test_query_time_model_for_the_device_profile() -> None:
    m = query_time_model(calibration="ibm_sherbrooke", fit_sizes=SMALL_FIT)
    assert isinstance(m, CalibratedQueryTimeModel) and isinstance(m, QueryTimeModel)
    assert m.label == "calibrated:ibm_sherbrooke"
    assert m.seconds_per_query(4, 2) > 1e-6  # micro-seconds, twelve orders above the attosecond model


def test_small_device_clips_fit_sizes(tmp_path) -> None:
    """A 5-qubit device holds queries up to N' = 16; larger N is extrapolated from 8 and 16."""
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from qnewton.calibrate.export import profile_from_backend
    from qnewton.calibrate.profile_schema import validate_profile

    manila = validate_profile(profile_from_backend(FakeManilaV2(), source="test"), origin="manila")
    m = CalibratedQueryTimeModel(manila)
    assert m.fit_sizes == (8, 16)
    assert m.estimate(16, 10).source == "transpiled" and m.estimate(64, 10).source == "extrapolated"
    ratio = m.seconds_per_query(64, 10) / m.seconds_per_query(16, 10)
    assert 8 < ratio < 32  # two more qubits: about 4^2
    with pytest.raises(UsageError, match="fits on ibmq_manila"):
        CalibratedQueryTimeModel(manila, fit_sizes=(16, 32, 64))


def test_profiles_feed_the_scheduler() -> None:
    """The same 16 x 16 system: attosecond -> quantum, ibm_sherbrooke (calibrated) -> classical."""
    from qnewton.costs.classical import LUCostModel
    from qnewton.costs.quantum import QuantumCostModel
    from qnewton.newton import Scheduler

    A = representative_matrix(16, 4, seed=1)
    classical = LUCostModel(2.25e-11, source="test constant")
    decisions = {}
    for name in ("attosecond", "ibm_sherbrooke"):
        qt = query_time_model(calibration=name, fit_sizes=SMALL_FIT) if name == "ibm_sherbrooke" else query_time_model(calibration=name)
        sched = Scheduler(kappa_method="exact", quantum=QuantumCostModel(query_time=qt), classical=classical)
        decisions[name] = sched.decide(A, sparsity=4)
    assert decisions["attosecond"].solver == "quantum"
    assert decisions["ibm_sherbrooke"].solver == "classical"
    q_atto = decisions["attosecond"].quantum_seconds
    q_ibm = decisions["ibm_sherbrooke"].quantum_seconds
    spq = query_time_model(calibration="ibm_sherbrooke", fit_sizes=SMALL_FIT).seconds_per_query(16, 4)
    assert q_ibm / q_atto == pytest.approx(spq / 1e-18, rel=1e-9)


def _small_device(profile, couplers):
    """The Sherbrooke profile cut to 5 qubits with the given couplers (ECR on each), as raw JSON."""
    import copy

    from qnewton.calibrate.profile_schema import validate_profile

    d = copy.deepcopy(profile.raw)
    d["num_qubits"] = 5
    d["qubits"] = d["qubits"][:5]
    d["coupling_map"] = [list(c) for c in couplers]
    ecr = d["gates"]["ecr"][0]
    d["gates"] = {g: [e for e in entries if max(e["qubits"]) < 5] for g, entries in d["gates"].items() if g != "ecr"}
    if couplers:
        d["gates"]["ecr"] = [{"qubits": list(c), "duration": ecr["duration"], "error": ecr["error"]} for c in couplers]
    d["basis_gates"] = [g for g in d["basis_gates"] if g in d["gates"]]
    return validate_profile(d, origin="small.json")


def test_device_that_cannot_run_the_query_is_one_line(profile) -> None:
    """A device without two-qubit gates, or whose coupling map is too small for the query, gives a
    one-line UsageError naming the profile (the transpiler's exception used to escape)."""
    from qnewton.calibrate.query_circuits import transpile_query

    with pytest.raises(UsageError, match="no two-qubit gate") as err:
        transpile_query(_small_device(profile, []), 8, 2)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="cannot transpile a query on N'=8") as err:
        transpile_query(_small_device(profile, [(0, 1), (1, 0)]), 8, 2)
    assert "\n" not in str(err.value)
    # the connected 5-qubit chain holds the 4-qubit query of N' = 8
    chain = [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert transpile_query(_small_device(profile, chain), 8, 2).duration_seconds > 0
