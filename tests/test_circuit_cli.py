"""`qnewton circuit solve|draw|export`: JSON keys, fidelity, one-line errors with exit code 2."""

import json

import numpy as np
import pytest

from qnewton.cli import main


@pytest.fixture
def system(tmp_path):
    A = np.array([[2.0, -0.5], [-0.5, 1.0]])
    b = np.array([1.0, 0.5])
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "b.npy", b)
    return tmp_path, A, b


@pytest.mark.parametrize("method", ["hhl", "qsvt"])
def test_solve_json(system, capsys, method):
    d, A, b = system
    rc = main(["circuit", "solve", str(d / "A.npy"), str(d / "b.npy"), "--method", method, "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("fidelity", "solution", "success_probability", "qubits", "ecr_count", "depth", "duration_seconds"):
        assert key in out
    assert out["fidelity"] >= 0.99
    np.testing.assert_allclose(out["solution"], np.linalg.solve(A, b), rtol=0.05)
    assert out["ecr_count"] > 0 and out["depth"] > 0 and 0 < out["duration_seconds"] < 1
    # the modeled job time is traceable: shots_modeled x (one-shot duration + 250 us repetition delay)
    assert out["shots_modeled"] == 4096 * 2  # exact readout: 4096 shots x N' = 2 circuits
    assert out["estimated_device_seconds"] == pytest.approx(out["shots_modeled"] * (out["duration_seconds"] + 250e-6))


def test_solve_shots_gpu_request_falls_back(system, capsys):
    d, A, b = system
    rc = main(["circuit", "solve", str(d / "A.npy"), str(d / "b.npy"), "--method", "qsvt", "--backend", "shots",
               "--shots", "3000", "--seed", "2", "--no-resources", "--json", "--device", "GPU"])
    captured = capsys.readouterr()
    assert rc == 0
    out = json.loads(captured.out)
    assert out["shots"] >= 3000
    assert out["fidelity"] >= 0.98
    if out["device"] == "CPU":  # no GPU build here: the fallback is announced on stderr
        assert "falling back to CPU" in captured.err


def _bad(tmp_path, name, arr):
    np.save(tmp_path / name, arr)
    return str(tmp_path / name)


def test_bad_inputs_one_line_exit_2(system, capsys):
    d, A, b = system
    bfile = str(d / "b.npy")
    cases = {
        "square": _bad(d, "r.npy", np.ones((2, 3))),
        "symmetric": _bad(d, "n.npy", np.array([[1.0, 2.0], [0.0, 1.0]])),
        "NaN": _bad(d, "i.npy", np.array([[1.0, np.inf], [np.inf, 1.0]])),
        "singular": _bad(d, "s.npy", np.ones((2, 2))),
        "max-size": _bad(d, "big.npy", np.eye(32)),
        "no such file": str(d / "missing.npy"),
    }
    for reason, afile in cases.items():
        rc = main(["circuit", "solve", afile, bfile])
        err = capsys.readouterr().err.strip()
        assert rc == 2, reason
        assert len(err.splitlines()) == 1 and reason in err, (reason, err)


def test_draw_and_export(system, capsys, tmp_path):
    d, A, b = system
    assert main(["circuit", "draw", str(d / "A.npy"), str(d / "b.npy"), "--method", "qsvt"]) == 0
    assert "U_A" in capsys.readouterr().out
    out = tmp_path / "hhl.qasm"
    assert main(["circuit", "export", str(d / "A.npy"), str(d / "b.npy"), "--method", "hhl", "--qasm3", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("OPENQASM 3")
    from qiskit import qasm3

    assert qasm3.loads(text).num_qubits == 8
    assert main(["circuit", "export", str(d / "A.npy")]) == 2


def test_complex_input_rejected_not_silently_cast(system, capsys):
    d, A, b = system
    afile = _bad(d, "c.npy", A.astype(complex) + 0.5j)
    bfile = _bad(d, "bc.npy", b.astype(complex))
    for argv in (["circuit", "solve", afile, str(d / "b.npy")], ["circuit", "draw", str(d / "A.npy"), bfile]):
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and "complex" in err, err


def test_library_validation_rejects_complex():
    from qnewton.errors import UsageError
    from qnewton.quantum.block_encoding import validate_symmetric
    from qnewton.quantum.state_prep import validate_vector

    with pytest.raises(UsageError, match="complex"):
        validate_symmetric(np.eye(2) * (1 + 1j))
    with pytest.raises(UsageError, match="complex"):
        validate_vector(np.array([1.0 + 0j, 1j]), 2)


def test_export_path_mistakes_one_line_nothing_written(system, capsys, tmp_path):
    d, A, b = system
    af, bf = str(d / "A.npy"), str(d / "b.npy")
    a_file = d / "A.npy"
    cases = {
        "is a directory": ["circuit", "export", af, bf, "--qasm3", str(tmp_path)],
        "directory does not exist": ["circuit", "export", af, bf, "--qasm3", str(tmp_path / "no" / "x.qasm")],
        "not both": ["circuit", "export", af, bf, "--qasm3", str(tmp_path / "y.qasm"), "--reference", str(tmp_path / "r")],
        "not a directory": ["circuit", "export", "--reference", str(a_file)],
    }
    before = sorted(p.name for p in tmp_path.iterdir())
    for reason, argv in cases.items():
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and reason in err, (reason, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray or temporary files
    assert np.array_equal(np.load(a_file), A)  # the file given as --reference is untouched


def test_export_writes_atomically_with_normal_permissions(system, capsys, tmp_path):
    import os
    import stat

    d, A, b = system
    out = tmp_path / "be.qasm"
    out.write_text("old")
    assert main(["circuit", "export", str(d / "A.npy"), str(d / "b.npy"), "--method", "block-encoding", "--qasm3", str(out), "--force"]) == 0
    assert out.read_text().startswith("OPENQASM 3")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.npy", "b.npy", "be.qasm"]  # no temporary left


def test_extreme_scales_and_conditioning(system, capsys, monkeypatch):
    """A scaled by 1e300 or 1e-300 still solves (fidelity/relative error were NaN from overflow);
    kappa 1e9 is a fast one-line error for QSVT (it tried to allocate terabytes) and a warning for HHL."""
    d, A, b = system
    bfile = str(d / "b.npy")
    for scale in (1e300, 1e-300):
        afile = _bad(d, "s.npy", A * scale)
        assert main(["circuit", "solve", afile, bfile, "--no-resources", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["fidelity"] >= 0.99 and out["relative_error"] < 0.05
    ill = _bad(d, "ill.npy", np.diag([1.0, 1e-9]))
    assert main(["circuit", "solve", ill, bfile, "--method", "qsvt", "--no-resources"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "degree" in err
    import qnewton.quantum.hhl as hhl

    monkeypatch.setattr(hhl, "MAX_CLOCK_QUBITS", 6)  # the real cap (14) is reached the same way, only slower
    ill = _bad(d, "ill100.npy", np.diag([1.0, 1e-2]))
    assert main(["circuit", "solve", ill, bfile, "--method", "hhl", "--no-resources", "--json"]) == 0
    cap = capsys.readouterr()
    assert "clock capped" in cap.err and json.loads(cap.out)["details"]["clock_capped"] is True


def test_draw_large_decompose_stops_when_nothing_changes(system, capsys):
    d, A, b = system
    args = ["circuit", "draw", str(d / "A.npy"), str(d / "b.npy"), "--method", "block-encoding", "--decompose"]
    assert main(args + ["100000"]) == 0
    deep = capsys.readouterr().out
    assert main(args + ["50"]) == 0
    assert capsys.readouterr().out == deep and "U_A" not in deep  # fully expanded, same fixed point
