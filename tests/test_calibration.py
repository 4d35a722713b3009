"""Calibration profiles: the shipped Sherbrooke snapshot, validation errors, lookup and models."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from qnewton.calibrate import query_time_model
from qnewton.calibrate.profile_files import list_profiles, load_profile, write_profile
from qnewton.calibrate.profile_schema import validate_profile
from qnewton.calibrate.profiles import CalibrationProfile
from qnewton.costs.query_time import GateTimeModel, QueryTimeModel
from qnewton.errors import UsageError


@pytest.fixture(scope="module")
def sherbrooke() -> CalibrationProfile:
    return load_profile("ibm_sherbrooke")


@pytest.fixture(scope="module")
def fake():
    from qiskit_ibm_runtime.fake_provider import FakeSherbrooke

    return FakeSherbrooke()


def test_shipped_profiles_are_listed_and_valid() -> None:
    names = dict(list_profiles())
    assert {"ibm_sherbrooke", "photonic-ghz", "photonic-thz", "attosecond"} <= set(names)
    for name in ("photonic-ghz", "photonic-thz", "attosecond"):
        assert load_profile(name).kind == "hypothetical"
    assert load_profile("attosecond").gate_time == 1e-18
    assert load_profile("photonic-thz").gate_time == 1e-12
    assert load_profile("photonic-ghz").gate_time == 1e-9


def test_sherbrooke_matches_fake_backend_exactly(sherbrooke: CalibrationProfile, fake) -> None:
    t = fake.target
    assert sherbrooke.name == "ibm_sherbrooke"
    assert sherbrooke.snapshot_date.startswith("2025-02-26")
    assert sherbrooke.num_qubits == 127
    assert set(sherbrooke.basis_gates) == {"ecr", "id", "rz", "sx", "x"}
    assert sherbrooke.rep_delay == 250e-6
    assert sherbrooke.dt == t.dt
    assert {tuple(e) for e in sherbrooke.coupling_map} == set(t.build_coupling_map().get_edges())
    for q in sherbrooke.qubits:
        qp = t.qubit_properties[q.index]
        assert (q.t1, q.t2, q.frequency) == (qp.t1, qp.t2, qp.frequency)
        m = t["measure"][(q.index,)]
        assert (q.readout_error, q.readout_duration) == (m.error, m.duration)
        assert q.reset_duration == t["reset"][(q.index,)].duration
    n_entries = 0
    for gname, entries in sherbrooke.gates.items():
        assert len(entries) == len(t[gname])
        for e in entries:
            ip = t[gname][e.qubits]
            assert (e.duration, e.error) == (ip.duration, ip.error)
            n_entries += 1
    assert n_entries == 144 + 4 * 127
    # the numbers DESIGN.md quotes for this snapshot
    assert sherbrooke.median_gate_duration("ecr") == pytest.approx(533.33e-9, rel=1e-4)
    assert sherbrooke.median_gate_duration("sx") == pytest.approx(56.89e-9, rel=1e-3)
    assert sherbrooke.median_qubit("readout_duration") == pytest.approx(1.216e-6)
    assert max(e.error for e in sherbrooke.gates["ecr"]) == 1.0  # some couplers are reported dead


def test_sherbrooke_roundtrip_and_reexport(sherbrooke: CalibrationProfile, fake, tmp_path: Path) -> None:
    from qnewton.calibrate.export import profile_from_backend

    out = write_profile(sherbrooke.raw, tmp_path / "copy.json")
    again = load_profile(out)
    assert again.raw == sherbrooke.raw
    fresh = profile_from_backend(fake, source=sherbrooke.source)
    assert fresh == sherbrooke.raw


def test_profile_target_reproduces_fake_durations(sherbrooke: CalibrationProfile, fake) -> None:
    import numpy as np
    from qiskit import transpile

    from qnewton.calibrate.profile_target import profile_target
    from qnewton.quantum.block_encoding import block_encode

    target = profile_target(sherbrooke)
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 4))
    qc = block_encode(A + A.T + 8 * np.eye(4)).circuit
    a = transpile(qc, target=target, optimization_level=1, seed_transpiler=0)
    b = transpile(qc, target=fake.target, optimization_level=1, seed_transpiler=0)
    assert a.count_ops() == b.count_ops()
    assert a.estimate_duration(target, unit="s") == pytest.approx(b.estimate_duration(fake.target, unit="s"), rel=1e-12)
    assert a.estimate_duration(target, unit="s") > 1e-6


def _mutate(data: dict, path: list, value=None, delete: bool = False) -> dict:
    d = copy.deepcopy(data)
    obj = d
    for key in path[:-1]:
        obj = obj[key]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return d


MALFORMED = [
    (["gates"], None, True, "gates: missing required field"),
    (["qubits", 3, "t1"], -1e-4, False, "qubits[3].t1: negative duration"),
    (["qubits", 0, "readout_error"], None, True, "qubits[0].readout_error: missing required field"),
    (["qubits", 5, "readout_error"], 1.5, False, "qubits[5].readout_error: error probability must be in [0, 1]"),
    (["gates", "ecr", 0, "error"], -0.1, False, "gates.ecr[0].error: error probability must be in [0, 1]"),
    (["gates", "sx", 2, "duration"], "35.5ns", False, "gates.sx[2].duration: must be a number"),
    (["gates", "sx", 2, "duration"], 35.5, False, "gates.sx[2].duration: 35.5 s is implausibly long"),
    (["gates", "sx", 2, "duration"], -5e-8, False, "gates.sx[2].duration: negative duration"),
    (["units", "time"], "ns", False, "units.time: must be 's'"),
    (["schema_version"], 2, False, "schema_version: version 2 is not supported"),
    (["num_qubits"], "127", False, "num_qubits: must be an integer"),
    (["rep_delay"], None, True, "rep_delay: missing required field"),
    (["gates", "ecr", 0, "qubits"], [0], False, "gates.ecr[0].qubits: ecr acts on 2 qubit(s)"),
    (["gates", "cz_typo"], [{"qubits": [0, 1], "duration": 1e-7, "error": 0.01}], False, "gates.cz_typo: unknown gate name"),
]


@pytest.mark.parametrize("path,value,delete,expected", MALFORMED, ids=[m[3].split(":")[0] for m in MALFORMED])
def test_malformed_device_profile_names_file_and_field(
    sherbrooke: CalibrationProfile, tmp_path: Path, path, value, delete, expected
) -> None:
    bad = tmp_path / "bad_device.json"
    bad.write_text(json.dumps(_mutate(sherbrooke.raw, path, value, delete)))
    with pytest.raises(UsageError) as err:
        load_profile(bad)
    msg = str(err.value)
    assert msg.startswith(f"{bad}: ")
    assert expected in msg
    assert "\n" not in msg


HYPO = {
    "schema": "qnewton-calibration",
    "schema_version": 1,
    "name": "mine",
    "kind": "hypothetical",
    "label": "test",
    "source": "test",
    "units": {"time": "s"},
    "gate_time": 2e-18,
}


@pytest.mark.parametrize(
    "path,value,delete,expected",
    [
        (["gate_time"], None, True, "gate_time: missing required field"),
        (["gate_time"], -1e-9, False, "gate_time: negative duration"),
        (["gate_time"], 0, False, "gate_time: must be a positive duration"),
        (["gate_time"], 1.0, False, "gate_time: 1.0 s is implausibly long"),
        (["kind"], "quantum", False, "kind: must be one of device, hypothetical"),
        (["units"], None, True, "units: missing required field"),
        (["schema"], "other", False, "schema: must be 'qnewton-calibration'"),
    ],
)
def test_malformed_hypothetical_profile(tmp_path: Path, path, value, delete, expected) -> None:
    bad = tmp_path / "bad_hypo.json"
    bad.write_text(json.dumps(_mutate(HYPO, path, value, delete)))
    with pytest.raises(UsageError, match=None) as err:
        load_profile(str(bad))
    assert str(err.value).startswith(f"{bad}: ") and expected in str(err.value)


def test_not_json_and_unknown_name(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema": "qnewton-calibration",')
    with pytest.raises(UsageError, match="broken.json: not valid JSON"):
        load_profile(bad)
    with pytest.raises(UsageError, match="unknown profile 'nope'.*attosecond"):
        load_profile("nope")
    with pytest.raises(UsageError, match="no such profile file"):
        load_profile(tmp_path / "missing.json")


def test_env_directory_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "attosecond.json").write_text(json.dumps(dict(HYPO, name="attosecond", gate_time=3e-18)))
    (tmp_path / "mine.json").write_text(json.dumps(HYPO))
    monkeypatch.setenv("QNEWTON_CALIBRATIONS", str(tmp_path))
    names = dict(list_profiles())
    assert names["attosecond"] == tmp_path / "attosecond.json"
    assert "ibm_sherbrooke" in names and "mine" in names
    assert load_profile("attosecond").gate_time == 3e-18
    assert query_time_model(calibration="mine").seconds_per_query(100, 5) == 2e-18


def test_write_profile_is_atomic_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "p.json"
    write_profile(HYPO, out)
    assert load_profile(out).gate_time == 2e-18
    with pytest.raises(UsageError, match="exists"):
        write_profile(HYPO, out)
    with pytest.raises(UsageError, match="gate_time: negative duration"):
        write_profile(dict(HYPO, gate_time=-1.0), out, overwrite=True)
    assert load_profile(out).gate_time == 2e-18  # the failed write left the old file intact
    assert [p.name for p in out.parent.iterdir()] == ["p.json"]  # no temporary files left behind


def test_query_time_model_for_hypothetical_profiles() -> None:
    for name, t in (("attosecond", 1e-18), ("photonic-thz", 1e-12), ("photonic-ghz", 1e-9)):
        model = query_time_model(calibration=name)
        assert isinstance(model, GateTimeModel) and isinstance(model, QueryTimeModel)
        assert model.label == name
        assert model.seconds_per_query(16, 10) == t == model.seconds_per_query(10_000, 3)
    with pytest.raises(UsageError, match="only to device profiles"):
        query_time_model(calibration="attosecond", fit_sizes=(4, 8))


def test_validate_profile_accepts_dict_directly() -> None:
    p = validate_profile(HYPO, origin="inline")
    assert p.kind == "hypothetical" and p.gate_time == 2e-18 and math.isclose(p.gate_time, 2e-18)


def test_rep_delay_units_one_rule_for_export_and_resources() -> None:
    """Export and the circuit solver's device-time model read the repetition delay with one rule:
    seconds as given, a value > 1 is microseconds, none reported -> 250 us."""
    from types import SimpleNamespace

    from qnewton.quantum.device_timing import backend_rep_delay_seconds
    from qnewton.quantum.resources import rep_delay_seconds

    def backend(value):
        return SimpleNamespace(configuration=lambda: SimpleNamespace(default_rep_delay=value))

    assert backend_rep_delay_seconds(backend(0.0005)) == 0.0005
    assert backend_rep_delay_seconds(backend(0.05)) == 0.05  # 50 ms in seconds (the old 1e-2 rule read it as us)
    assert backend_rep_delay_seconds(backend(250.0)) == pytest.approx(250e-6)
    assert backend_rep_delay_seconds(backend(None)) == 250e-6
    assert rep_delay_seconds(backend(0.05)) == 0.05
    assert rep_delay_seconds() == 250e-6  # FakeSherbrooke
