"""`qnewton calibration list|show|export` end to end (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qnewton.cli import main
from qnewton.calibrate.profile_files import load_profile


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["calibration", "list"], capsys)
    assert rc == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "device" in lines["ibm_sherbrooke"] and "127 qubits" in lines["ibm_sherbrooke"]
    assert "1e-18 s" in lines["attosecond"] and "1e-12 s" in lines["photonic-thz"] and "1e-09 s" in lines["photonic-ghz"]

    rc, out, _ = run(["calibration", "show", "ibm_sherbrooke", "--n", "4", "--sparsity", "2"], capsys)
    assert rc == 0
    assert "snapshot:      2025-02-26" in out
    assert "gate ecr    on 144 qubit tuple(s): median duration 533.333 ns" in out
    assert "rep delay:     250 us" in out
    assert "per-query time for N=4, d=2:" in out and "transpiled query circuit: N'=4, 3 qubits" in out

    rc, out, _ = run(["calibration", "show", "ibm_sherbrooke.json", "--n", "16", "--kappa", "100"], capsys)
    assert rc == 0
    assert "one solve at kappa=100, eps=0.01, alpha=10: 5.002e+05 expected queries" in out
    assert "repetitions for one error-free run" in out

    rc, out, _ = run(["calibration", "show", "attosecond", "--n", "1024"], capsys)
    assert rc == 0 and "gate time:     1e-18 s" in out and "per-query time for N=1024, d=10: 1e-18 s" in out

    rc, out, _ = run(["calibration", "show", "photonic-ghz", "--json"], capsys)
    assert rc == 0 and json.loads(out)["gate_time"] == 1e-9


def test_show_unknown_and_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(["calibration", "show", "nope"], capsys)
    assert rc == 2 and "unknown profile 'nope'" in err and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "qnewton-calibration", "schema_version": 1, "name": "bad", "kind": "hypothetical",
                               "label": "x", "source": "x", "units": {"time": "s"}, "gate_time": -1e-9}))
    rc, _, err = run(["calibration", "show", str(bad)], capsys)
    assert rc == 2 and f"{bad}: gate_time: negative duration" in err and "Traceback" not in err


def test_export_fake_backend_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "manila.json"
    rc, _, err = run(["calibration", "export", "--backend", "fake_manila", "--out", str(out)], capsys)
    assert rc == 0 and "wrote" in err
    p = load_profile(out)
    assert p.name == "ibmq_manila" and p.num_qubits == 5 and "cx" in p.gates
    assert "FakeManilaV2" in p.source
    assert [x.name for x in tmp_path.iterdir()] == ["manila.json"]
    rc, _, err = run(["calibration", "export", "--backend", "fake:fake_manila", "--out", str(out)], capsys)
    assert rc == 2 and "exists" in err
    rc, _, _ = run(["calibration", "export", "--backend", "fake:fake_manila", "--out", str(out), "--force",
                    "--name", "my_manila"], capsys)
    assert rc == 0 and load_profile(out).name == "my_manila"
    rc, text, _ = run(["calibration", "export", "--backend", "fake_manila"], capsys)
    assert rc == 0 and json.loads(text)["num_qubits"] == 5
    rc, _, err = run(["calibration", "export", "--backend", "fake_atlantis"], capsys)
    assert rc == 2 and "no fake backend" in err


def test_exported_sherbrooke_equals_shipped_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sherbrooke.json"
    rc, _, _ = run(["calibration", "export", "--backend", "fake_sherbrooke", "--out", str(out)], capsys)
    assert rc == 0
    assert out.read_text() == load_profile("ibm_sherbrooke").path.read_text()


def test_show_checks_options_before_printing(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, reason in (
        (["calibration", "show", "ibm_sherbrooke", "--n", "0"], "--n"),
        (["calibration", "show", "ibm_sherbrooke", "--kappa", "10"], "needs --n"),
        (["calibration", "show", "ibm_sherbrooke", "--n", "4", "--kappa", "0.5"], "kappa"),
        (["calibration", "show", "ibm_sherbrooke", "--n", "4", "--kappa", "10", "--epsilon", "2"], "epsilon"),
    ):
        rc, out, err = run(argv, capsys)
        assert rc == 2 and out == "", argv  # nothing printed before the error
        assert len(err.strip().splitlines()) == 1 and reason in err, err


def test_show_non_utf8_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bin.json"
    bad.write_bytes(b"\xff\xfe\x00{")
    rc, out, err = run(["calibration", "show", str(bad)], capsys)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "not UTF-8" in err and "bin.json" in err


def test_export_path_mistakes_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out_path, reason in ((tmp_path, "is a directory"), (blocker / "x.json", "cannot create directory")):
        rc, out, err = run(["calibration", "export", "--backend", "fake_manila", "--out", str(out_path), "--force"], capsys)
        assert rc == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and reason in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_export_file_mode_follows_umask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import stat

    target = tmp_path / "sub" / "manila.json"
    rc, _, _ = run(["calibration", "export", "--backend", "fake_manila", "--out", str(target)], capsys)
    assert rc == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert load_profile(target).num_qubits == 5
