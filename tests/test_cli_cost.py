"""`qnewton cost | kappa | prune | calibrate classical` end to end (in-process)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from qnewton.cli import main
from qnewton.costs.quantum import expected_queries


def run_json(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def run_fail(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    out = capsys.readouterr()
    assert rc == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    return lines[0]


def test_cost_json_keys_and_formulas(capsys):
    out = run_json(capsys, "cost", "--n", "1000", "--kappa", "100", "--sparsity", "10", "--alpha", "2",
                   "--gate-time", "1e-9", "--classical-constant", "1e-10", "--json")
    for key in ("expected_queries", "quantum_seconds", "classical_seconds", "logical_qubits", "decision"):
        assert key in out
    assert out["expected_queries"] == pytest.approx(expected_queries(100.0, 0.01, 2.0), rel=1e-12)
    assert out["quantum_seconds"] == pytest.approx(out["expected_queries"] * 1e-9, rel=1e-12)
    assert out["classical_seconds"] == pytest.approx(1e-10 * 1000**3)
    assert out["logical_qubits"] == 11 + 6 + 10
    assert out["decision"] == "quantum"
    # alpha derived from --max-entry / --norm, default gate time 1e-9 s
    out = run_json(capsys, "cost", "--n", "64", "--kappa", "20", "--sparsity", "8", "--max-entry", "0.5",
                   "--norm", "2", "--classical-constant", "1e-10", "--json")
    assert out["alpha"] == pytest.approx(8 * 0.5 / 2)
    assert out["seconds_per_query"] == 1e-9


def test_cost_decision_flips_and_readout_changes_it(capsys):
    eq = expected_queries(1000.0, 0.01, 1.0)
    c_star = eq * 1e-6 / 500**3
    common = ["cost", "--n", "500", "--kappa", "1000", "--sparsity", "4", "--alpha", "1", "--gate-time", "1e-6", "--json"]
    assert run_json(capsys, *common, "--classical-constant", str(c_star * 1.01))["decision"] == "quantum"
    assert run_json(capsys, *common, "--classical-constant", str(c_star * 0.99))["decision"] == "classical"
    swap = run_json(capsys, *common, "--classical-constant", str(c_star * 1.01), "--readout", "swap-test")
    assert swap["decision"] == "classical"
    assert swap["readout_seconds"] == pytest.approx(500 * 10000 * swap["quantum_solve_seconds"])


def test_cost_calibration_profiles(capsys):
    ghz = run_json(capsys, "cost", "--n", "256", "--kappa", "50", "--sparsity", "4", "--calibration", "photonic-ghz",
                   "--classical-constant", "1e-10", "--json")
    assert ghz["seconds_per_query"] == pytest.approx(1e-9)
    assert ghz["quantum_seconds"] == pytest.approx(ghz["expected_queries"] * 1e-9)
    run_fail(capsys, "cost", "--n", "8", "--kappa", "50", "--sparsity", "2", "--calibration", "no-such-profile")
    run_fail(capsys, "cost", "--n", "8", "--kappa", "50", "--sparsity", "2", "--calibration", "photonic-ghz", "--gate-time", "1e-9")


def test_cost_out_of_range_and_clamp(capsys):
    assert "sqrt(12)" in run_fail(capsys, "cost", "--n", "8", "--kappa", "2", "--sparsity", "2")
    assert "epsilon" in run_fail(capsys, "cost", "--n", "8", "--kappa", "20", "--sparsity", "2", "--epsilon", "0.3")
    assert "sparsity" in run_fail(capsys, "cost", "--n", "8", "--kappa", "20", "--sparsity", "9", "--classical-constant", "1e-9")
    assert "--n" in run_fail(capsys, "cost", "--kappa", "20", "--sparsity", "2")
    out = run_json(capsys, "cost", "--n", "8", "--kappa", "2", "--sparsity", "2", "--clamp", "--classical-constant", "1e-9", "--json")
    assert out["kappa_used"] == pytest.approx(math.sqrt(12)) and any("clamped" in n for n in out["notes"])


def test_cost_sweep_crossover_and_plot(capsys, tmp_path):
    png = tmp_path / "fig5.png"
    C, n, d, t = 1e-10, 10000, 1000, 1e-9
    out = run_json(capsys, "cost", "--n", str(n), "--sparsity", str(d), "--kappa", "1e4", "--gate-time", str(t),
                   "--classical-constant", str(C), "--sweep", "kappa=10:1e6:21", "--sweep", "sparsity=1:10000:9",
                   "--plot", str(png), "--json")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kappa_panel, sparsity_panel = out["sweeps"]
    assert len(kappa_panel["rows"]) == 21 and [r["kappa"] for r in kappa_panel["rows"]][0] == pytest.approx(10)
    # the crossover the formulas predict: R_q(kappa) = C N^3 (alpha = d by default)
    target = C * n**3
    lo, hi = 10.0, 1e6
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if expected_queries(mid, 0.01, float(d)) * t < target else (lo, mid)
    (cx,) = kappa_panel["crossovers"]
    assert cx["to"] == "classical" and cx["between"][0] <= lo <= cx["between"][1]
    assert cx["x"] == pytest.approx(lo, rel=0.05)
    decisions = [r["decision"] for r in kappa_panel["rows"]]
    assert decisions[0] == "quantum" and decisions[-1] == "classical"
    # text mode prints the table and the crossover
    rc = main(["cost", "--n", str(n), "--sparsity", str(d), "--gate-time", str(t), "--classical-constant", str(C),
               "--sweep", "kappa=10:1e6:5", "--plot", "none"])
    text = capsys.readouterr().out
    assert rc == 0 and "crossover at kappa" in text and "decision" in text
    assert "PARAM" in run_fail(capsys, "cost", "--n", "8", "--sparsity", "2", "--sweep", "kappa10:100:3")
    assert "parameter" in run_fail(capsys, "cost", "--n", "8", "--sparsity", "2", "--sweep", "eps=0.1:0.2:3")


@pytest.fixture
def matrices(tmp_path, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    A = (Q * np.geomspace(1, 25, 30)) @ Q.T
    A = 0.5 * (A + A.T)
    paths = {"npy": tmp_path / "a.npy", "npz": tmp_path / "a.npz", "sparse": tmp_path / "s.npz", "mtx": tmp_path / "a.mtx"}
    np.save(paths["npy"], A)
    np.savez(paths["npz"], A=A)
    sp.save_npz(paths["sparse"], sp.csr_matrix(A))
    scipy.io.mmwrite(str(paths["mtx"]), sp.coo_matrix(A))
    return A, paths


def test_kappa_command_formats_and_methods(capsys, matrices):
    A, paths = matrices
    for kind, path in paths.items():
        out = run_json(capsys, "kappa", str(path), "--method", "exact", "--json")
        assert out["kappa"] == pytest.approx(25.0, rel=1e-8), kind
    bound = run_json(capsys, "kappa", str(paths["npy"]), "--json")
    assert bound["method"] == "bound" and bound["kappa"] >= 25.0
    lz = run_json(capsys, "kappa", str(paths["sparse"]), "--method", "lanczos", "--json")
    assert lz["kappa"] == pytest.approx(25.0, rel=0.02)
    rc = main(["kappa", str(paths["npy"])])
    assert rc == 0 and "kappa (bound)" in capsys.readouterr().out


def test_bad_files_one_line_exit_2(capsys, tmp_path):
    np.save(tmp_path / "rect.npy", np.ones((2, 3)))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [np.nan, 1.0]]))
    np.save(tmp_path / "cplx.npy", np.eye(2) * 1j)
    (tmp_path / "junk.npy").write_text("not numpy")
    (tmp_path / "m.txt").write_text("1 2")
    np.savez(tmp_path / "two.npz", x=np.eye(2), y=np.eye(2))
    assert "no such file" in run_fail(capsys, "kappa", str(tmp_path / "missing.npy"))
    assert "square" in run_fail(capsys, "kappa", str(tmp_path / "rect.npy"))
    assert "NaN" in run_fail(capsys, "kappa", str(tmp_path / "nan.npy"))
    assert "real" in run_fail(capsys, "kappa", str(tmp_path / "cplx.npy"))
    assert "not a .npy file" in run_fail(capsys, "kappa", str(tmp_path / "junk.npy"))
    assert "unsupported" in run_fail(capsys, "kappa", str(tmp_path / "m.txt"))
    assert "2 arrays (x, y) and none is named 'A'" in run_fail(capsys, "kappa", str(tmp_path / "two.npz"))
    np.save(tmp_path / "nonsym.npy", np.array([[2.0, 1.0], [0.0, 2.0]]))
    assert "symmetric" in run_fail(capsys, "prune", str(tmp_path / "nonsym.npy"), "--sparsity", "1", "--out", str(tmp_path / "o.npy"))
    assert "symmetric" in run_fail(capsys, "kappa", str(tmp_path / "nonsym.npy"), "--method", "lanczos")


def test_prune_command(capsys, matrices, tmp_path):
    A, paths = matrices
    out_path = tmp_path / "p.npy"
    out = run_json(capsys, "prune", str(paths["npy"]), "--sparsity", "4", "--out", str(out_path), "--json")
    P = np.load(out_path)
    assert np.array_equal(P, P.T) and np.count_nonzero(P, axis=1).max() <= 4
    np.testing.assert_array_equal(np.diag(P), np.diag(A))  # diagonal kept by default
    assert out["sparsity"] == 4 and out["symmetric"] is True and out["max_per_row"] <= 4
    mtx = tmp_path / "p.mtx"
    out = run_json(capsys, "prune", str(paths["mtx"]), "--sparsity", "mass", "--out", str(mtx), "--json")
    Pm = scipy.io.mmread(str(mtx)).toarray()
    assert np.array_equal(Pm, Pm.T) and np.count_nonzero(Pm, axis=1).max() <= out["sparsity"]
    assert "sparsity" in run_fail(capsys, "prune", str(paths["npy"]), "--sparsity", "0", "--out", str(out_path), "--force")


def test_calibrate_classical_writes_profile_atomically(capsys, tmp_path):
    target = tmp_path / "prof" / "classical.json"
    rc = main(["calibrate", "classical", "--sizes", "32,64,96", "--repeats", "1", "--out", str(target)])
    text = capsys.readouterr().out
    assert rc == 0 and "R^2" in text and "multiply-adds/s" in text
    data = json.loads(target.read_text())
    assert data["lu"]["constant"] > 0 and data["lu"]["sizes"] == [32, 64, 96] and len(data["lu"]["relative_residuals"]) == 3
    assert data["cg"]["multiply_adds_per_second"] > 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["classical.json"]
    # the cost command reads it
    out = run_json(capsys, "cost", "--n", "100", "--kappa", "20", "--sparsity", "4", "--profile", str(target), "--json")
    assert out["classical_seconds"] == pytest.approx(data["lu"]["constant"] * 100**3)
    assert "sizes" in run_fail(capsys, "calibrate", "classical", "--sizes", "32", "--out", str(target))


def test_output_paths_fail_first_with_one_line(capsys, tmp_path, matrices):
    A, paths = matrices
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (tmp_path / "folder.npy").mkdir()
    # prune: a file where the folder should be, a folder where the file should be, /proc
    assert "does not exist" in run_fail(capsys, "prune", str(paths["npy"]), "--sparsity", "2", "--out", str(a_file / "p.npy"))
    assert "is a directory" in run_fail(capsys, "prune", str(paths["npy"]), "--sparsity", "2", "--out", str(tmp_path / "folder.npy"))
    # the output path is checked before the input is even read
    assert "--out" in run_fail(capsys, "prune", str(tmp_path / "missing.npy"), "--sparsity", "2", "--out", str(a_file / "p.npy"))
    # cost --sweep --plot
    assert "--plot" in run_fail(capsys, "cost", "--n", "100", "--sparsity", "4", "--sweep", "kappa=10:100:3",
                                "--classical-constant", "1e-10", "--plot", str(a_file / "p.png"))
    # calibrate: refused before any timing (sizes that would take minutes are never run)
    assert "--out" in run_fail(capsys, "calibrate", "classical", "--sizes", "3000,6000", "--out", str(a_file / "c.json"))
    assert "is a directory" in run_fail(capsys, "calibrate", "classical", "--sizes", "3000,6000", "--out", str(tmp_path))
    assert "[2, 20000]" in run_fail(capsys, "calibrate", "classical", "--sizes", "64,100000000", "--out", str(tmp_path / "c.json"))
    assert "--threads" in run_fail(capsys, "calibrate", "classical", "--threads", "0", "--out", str(tmp_path / "c.json"))
    assert "TARGET" in run_fail(capsys, "calibrate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.npy"]  # nothing half-written
    # a binary file given as a classical profile
    assert "profile" in run_fail(capsys, "cost", "--n", "10", "--kappa", "20", "--sparsity", "2", "--profile", str(paths["npy"]))


def test_prune_mtx_keeps_non_symmetric_output(capsys, matrices, tmp_path):
    A, paths = matrices
    run_json(capsys, "prune", str(paths["npy"]), "--sparsity", "2", "--method", "row-topk", "--out", str(tmp_path / "r.npy"), "--json")
    run_json(capsys, "prune", str(paths["npy"]), "--sparsity", "2", "--method", "row-topk", "--out", str(tmp_path / "r.mtx"), "--json")
    P = np.load(tmp_path / "r.npy")
    assert not np.array_equal(P, P.T)  # row-topk breaks symmetry on this matrix
    np.testing.assert_array_equal(scipy.io.mmread(str(tmp_path / "r.mtx")).toarray(), P)  # both triangles written


def test_calibrate_records_blas_threads_and_umask_mode(capsys, tmp_path):
    import os

    target = tmp_path / "c.json"
    rc = main(["calibrate", "classical", "--sizes", "16,32", "--repeats", "1", "--threads", "1", "--out", str(target)])
    assert rc == 0 and "BLAS threads: 1" in capsys.readouterr().out
    assert json.loads(target.read_text())["blas_threads"] == 1
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    out = run_json(capsys, "cost", "--n", "10", "--kappa", "20", "--sparsity", "2", "--profile", str(target), "--json")
    assert "BLAS threads 1" in out["classical_source"]


def test_defaults_are_one_gate_time_and_the_pinned_constants(capsys, tmp_path, monkeypatch):
    """Without options: 1e-9 s per query and, with no saved profile, the pinned C and CG rate
    (never a wall-clock fit), each named in the output; the paper's 1e-18 s is asked for."""
    from qnewton.calibrate import classical_timing
    from qnewton.costs.classical import PINNED_CG_RATE, PINNED_LU_CONSTANT

    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path))
    monkeypatch.setattr(classical_timing, "time_classical_solver", lambda *a, **k: pytest.fail("timed"))
    argv = ["cost", "--n", "1000", "--kappa", "100", "--sparsity", "10", "--json"]
    out = run_json(capsys, *argv)
    assert out["seconds_per_query"] == 1e-9 and out["query_time_model"] == "gate-time"
    assert out["classical_seconds"] == pytest.approx(PINNED_LU_CONSTANT * 1000**3)
    assert out["classical_source"].startswith("pinned default")
    assert run_json(capsys, *argv, "--gate-time", "1e-18")["seconds_per_query"] == 1e-18
    cg = run_json(capsys, *argv, "--classical", "cg")
    assert cg["classical_seconds"] == pytest.approx(1000 * 10 * 10 * math.log(200) / PINNED_CG_RATE)
    given = run_json(capsys, *argv, "--classical", "cg", "--cg-rate", "1e9")
    assert given["classical_seconds"] == pytest.approx(cg["classical_seconds"] * PINNED_CG_RATE / 1e9)
    assert given["classical_source"] == "--cg-rate"
    assert "calibrate classical" in run_fail(capsys, *argv, "--classical-constant", "profile")
    assert "--classical-constant" in run_fail(capsys, *argv, "--classical-constant", "-1")
    assert "--cg-rate" in run_fail(capsys, *argv, "--cg-rate", "often")


def test_sweep_over_n_says_when_d_was_clamped(capsys):
    out = run_json(capsys, "cost", "--kappa", "20", "--sparsity", "50", "--sweep", "n=10:1000:3", "--plot", "none",
                   "--classical-constant", "1e-10", "--json")
    panel = out["sweeps"][0]
    assert [r["sparsity"] for r in panel["rows"]] == [10, 50, 50]
    assert "d = N used" in panel["note"] and "1 point" in panel["note"]
