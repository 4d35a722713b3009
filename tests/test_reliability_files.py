"""Hostile and mistaken user files and outputs: one line on stderr, exit 2, nothing written.

One table drives the command-line cases (matrix files for `kappa` / `prune` / `circuit`, JSON
profiles, MNIST IDX files, output paths, option ranges, command groups without a subcommand); each
row builds its files in a fresh folder, runs the command in-process from that folder and checks the
exit code, the single stderr line, an empty stdout and that no file in the folder was created,
changed or removed. Further tests cover what a table row cannot: the list that goes on past a bad
profile, --force actually replacing outputs, and the memory a header bomb may take.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from qnewton.cli import main
from qnewton.errors import UsageError

HYPO = {
    "schema": "qnewton-calibration", "schema_version": 1, "name": "mine", "kind": "hypothetical",
    "label": "test profile", "source": "tests", "units": {"time": "s"}, "gate_time": 2e-18,
}


# --------------------------------------------------------------------------------------------
# File builders (each writes into the case's folder d)


def npy_header_only(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> None:
    """A .npy file that is only a header declaring `shape` (no data)."""
    from numpy.lib import format as npformat

    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue())


def idx_bytes(shape: tuple[int, ...], payload: bytes = b"") -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape) + payload


def gzip_bomb(path: Path, declared: tuple[int, ...], zeros: int) -> None:
    """A gzip file whose IDX header declares `declared` but that inflates to `zeros` more bytes."""
    import zlib

    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        fh.write(co.compress(idx_bytes(declared)))
        chunk = bytes(1 << 22)
        for _ in range(zeros // len(chunk)):
            fh.write(co.compress(chunk))
        fh.write(co.flush())


def mnist_folder(d: Path, images: Callable[[Path], None]) -> None:
    """An MNIST folder whose training images file is made by `images`; the others are valid."""
    (d / "D").mkdir()
    images(d / "D" / "train-images-idx3-ubyte.gz")
    (d / "D" / "train-labels-idx1-ubyte").write_bytes(idx_bytes((2,), bytes([0, 1])))
    (d / "D" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes((2, 2, 2), bytes(8)))
    (d / "D" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes((2,), bytes([0, 1])))


def sparse_npz(path: Path, *, shape: tuple[int, int], indices: list[int], indptr: list[int]) -> None:
    np.savez(path, format=np.array(b"csr"), shape=np.array(shape), data=np.ones(len(indices)),
             indices=np.array(indices, dtype=np.int32), indptr=np.array(indptr, dtype=np.int32))


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return make


def system(d: Path) -> None:
    """A valid 2 x 2 system for the circuit commands and a valid matrix for prune."""
    np.save(d / "A.npy", np.array([[2.0, -0.5], [-0.5, 1.0]]))
    np.save(d / "b.npy", np.array([1.0, 0.5]))


def both(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        for m in makers:
            m(d)
    return make


def zip_member_bomb(d: Path) -> None:
    buf = io.BytesIO()
    from numpy.lib import format as npformat

    npformat.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (2_000_000_000, 2_000_000_000)})
    with zipfile.ZipFile(d / "m.npz", "w") as z:
        z.writestr("A.npy", buf.getvalue())


def symlink_loop(d: Path) -> None:
    os.symlink("l2.npy", d / "l1.npy")
    os.symlink("l1.npy", d / "l2.npy")


DEEP = "[" * 100_000 + "]" * 100_000

# --------------------------------------------------------------------------------------------
# The table: case id, files to build, argv (or a call), expected fragment, expected exit code.
# argv entries may contain {d}, the case's folder.

CASES = [
    # --- matrix headers checked before any allocation
    ("mtx-size-bomb", write("b.mtx", "%%MatrixMarket matrix coordinate real general\n2000000000 2000000000 1\n1 1 1.0\n"),
     ["kappa", "{d}/b.mtx"], "QNEWTON_MAX_MATRIX_ELEMENTS", 2),
    ("mtx-nonzeros-bomb", write("b.mtx", "%%MatrixMarket matrix coordinate real general\n10000 10000 4000000000\n"),
     ["kappa", "{d}/b.mtx"], "QNEWTON_MAX_MATRIX_NONZEROS", 2),
    ("mtx-not-square", write("r.mtx", "%%MatrixMarket matrix coordinate real general\n2 3 1\n1 1 1.0\n"),
     ["kappa", "{d}/r.mtx"], "must be square, the size line declares 2 x 3", 2),
    ("mtx-shorter-than-declared", write("t.mtx", "%%MatrixMarket matrix array real general\n1000 1000\n1.0\n2.0\n"),
     ["kappa", "{d}/t.mtx"], "truncated: the size line declares 1000000 entries", 2),
    ("mtx-complex", write("c.mtx", "%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1.0 0.0\n"),
     ["kappa", "{d}/c.mtx"], "complex matrices are not supported", 2),
    ("mtx-no-banner", write("n.mtx", "1 1 1\n1 1 1.0\n"), ["kappa", "{d}/n.mtx"], "no %%MatrixMarket banner", 2),
    ("mtx-huge-number", write("h.mtx", "%%MatrixMarket matrix coordinate real general\n" + "9" * 5000 + " 1 1\n"),
     ["kappa", "{d}/h.mtx"], "more than 30 digits", 2),
    ("npy-header-bomb", lambda d: npy_header_only(d / "b.npy", (2_000_000_000, 2_000_000_000)),
     ["kappa", "{d}/b.npy"], "matrix size 4e+18 entries exceeds the limit", 2),
    ("npy-shorter-than-header", lambda d: npy_header_only(d / "t.npy", (100, 100)),
     ["kappa", "{d}/t.npy"], "truncated: the header declares 80000 data bytes", 2),
    ("npy-pickle", lambda d: np.save(d / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True),
     ["kappa", "{d}/o.npy"], "pickled array", 2),
    ("npy-strings", lambda d: np.save(d / "s.npy", np.array([["a", "b"], ["c", "d"]])),
     ["kappa", "{d}/s.npy"], "expected numbers", 2),
    ("npy-garbage", write("g.npy", "not numpy at all"), ["kappa", "{d}/g.npy"], "not a .npy file", 2),
    ("npz-empty", lambda d: np.savez(d / "e.npz"), ["kappa", "{d}/e.npz"], "holds no array", 2),
    ("npz-several", lambda d: np.savez(d / "s.npz", x=np.eye(2), y=np.eye(2)),
     ["kappa", "{d}/s.npz"], "holds 2 arrays (x, y) and none is named 'A'", 2),
    ("npz-member-header-bomb", zip_member_bomb, ["kappa", "{d}/m.npz"], "member 'A': matrix size 4e+18", 2),
    ("npz-sparse-shape-bomb", lambda d: sparse_npz(d / "s.npz", shape=(3_000_000_000, 3_000_000_000), indices=[0], indptr=[0, 1]),
     ["kappa", "{d}/s.npz"], "QNEWTON_MAX_MATRIX_ELEMENTS", 2),
    ("npz-sparse-index-out-of-range", lambda d: sparse_npz(d / "s.npz", shape=(2, 2), indices=[0, 7], indptr=[0, 1, 2]),
     ["kappa", "{d}/s.npz"], "inconsistent sparse csr matrix", 2),
    ("npz-not-a-zip", write("z.npz", b"PK\x03\x04 definitely not a zip"), ["kappa", "{d}/z.npz"], "not a .npz (zip) archive", 2),
    ("npz-foreign-member", lambda d: zipfile.ZipFile(d / "f.npz", "w").writestr("readme.txt", "hi"),
     ["kappa", "{d}/f.npz"], "is not a .npy array", 2),
    # --- paths that are not regular files
    ("input-directory", lambda d: (d / "dir.npy").mkdir(), ["kappa", "{d}/dir.npy"], "is a directory", 2),
    ("input-fifo", lambda d: os.mkfifo(d / "f.npy"), ["kappa", "{d}/f.npy"], "is not a regular file", 2),
    ("input-symlink-loop", symlink_loop, ["kappa", "{d}/l1.npy"], "symbolic link loop", 2),
    ("input-dangling-symlink", lambda d: os.symlink("gone.npy", d / "s.npy"), ["kappa", "{d}/s.npy"], "points nowhere", 2),
    ("input-missing", lambda d: None, ["kappa", "{d}/missing.npy"], "no such file", 2),
    ("input-unsupported-type", write("m.txt", "1 0\n0 1\n"), ["kappa", "{d}/m.txt"], "unsupported file type .txt", 2),
    ("circuit-fifo", both(system, lambda d: os.mkfifo(d / "f.npy")), ["circuit", "solve", "{d}/f.npy", "{d}/b.npy"],
     "is not a regular file", 2),
    ("circuit-directory", both(system, lambda d: (d / "x.npy").mkdir()), ["circuit", "draw", "{d}/x.npy", "{d}/b.npy"],
     "is a directory", 2),
    ("circuit-binary-text", both(system, write("A.txt", bytes(range(256)))), ["circuit", "solve", "{d}/A.txt", "{d}/b.npy"],
     "not UTF-8 text", 2),
    ("circuit-ragged-csv", both(system, write("A.csv", "1,2\n3\n")), ["circuit", "solve", "{d}/A.csv", "{d}/b.npy"],
     "not a table of numbers", 2),
    ("circuit-empty-text", both(system, write("A.txt", "")), ["circuit", "solve", "{d}/A.txt", "{d}/b.npy"], "holds no numbers", 2),
    ("circuit-pickled-b", both(system, lambda d: np.save(d / "p.npy", np.array([None, 1]), allow_pickle=True)),
     ["circuit", "solve", "{d}/A.npy", "{d}/p.npy"], "b: ", 2),
    ("circuit-header-bomb-b", both(system, lambda d: npy_header_only(d / "big.npy", (3_000_000_000,))),
     ["circuit", "solve", "{d}/A.npy", "{d}/big.npy"], "b: ", 2),
    ("circuit-b-shorter-than-header", both(system, lambda d: npy_header_only(d / "t.npy", (2,))),
     ["circuit", "solve", "{d}/A.npy", "{d}/t.npy"], "truncated", 2),
    # --- outputs: never an input, --force to replace, checked before the work
    ("prune-out-is-input", system, ["prune", "{d}/A.npy", "--sparsity", "1", "--out", "{d}/A.npy", "--force"],
     "is also an input of this command", 2),
    ("prune-out-symlink-to-input", both(system, lambda d: os.symlink("A.npy", d / "link.npy")),
     ["prune", "{d}/A.npy", "--sparsity", "1", "--out", "{d}/link.npy", "--force"], "is also an input", 2),
    ("prune-out-exists", both(system, lambda d: np.save(d / "P.npy", np.eye(2))),
     ["prune", "{d}/A.npy", "--sparsity", "1", "--out", "{d}/P.npy"], "exists (pass --force to overwrite it)", 2),
    ("export-qasm3-is-input", system, ["circuit", "export", "{d}/A.npy", "{d}/b.npy", "--qasm3", "{d}/b.npy", "--force"],
     "is also an input", 2),
    ("export-qasm3-exists", both(system, write("c.qasm", "old")),
     ["circuit", "export", "{d}/A.npy", "{d}/b.npy", "--qasm3", "{d}/c.qasm"], "--qasm3: ", 2),
    ("export-reference-exists", write("manifest.json", "{}"), ["circuit", "export", "--reference", "{d}"],
     "already holds reference circuits (pass --force", 2),
    ("cost-plot-exists", write("cost_sweep.png", b"old"),
     ["cost", "--sweep", "kappa=10:100:3", "--n", "8", "--sparsity", "2", "--classical-constant", "1e-9"],
     "--plot: cost_sweep.png exists (pass --force", 2),
    ("cost-plot-not-png", lambda d: None,
     ["cost", "--sweep", "kappa=10:100:3", "--n", "8", "--sparsity", "2", "--classical-constant", "1e-9", "--plot", "x.jpg"],
     "use .png", 2),
    ("calibrate-out-exists", write("c.json", "{}"), ["calibrate", "classical", "--sizes", "32,64", "--out", "{d}/c.json"],
     "exists (pass --force", 2),
    ("calibration-export-out-exists", write("p.json", "{}"),
     ["calibration", "export", "--backend", "fake_no_such_device", "--out", "{d}/p.json"], "exists (pass --force", 2),
    ("calibration-export-no-folder-left", lambda d: None,
     ["calibration", "export", "--backend", "fake_no_such_device", "--out", "{d}/new/sub/p.json"], "no fake backend", 2),
    # --- option values
    ("cost-n-overflow", lambda d: None, ["cost", "--n", "1" * 400, "--kappa", "20", "--sparsity", "2"],
     "--n: must lie in [1, 2^53 = 9007199254740992], got an integer of 400 digits", 2),
    ("cost-sweep-n-beyond-2^53", lambda d: None,
     ["cost", "--sweep", "n=10:1e30:5", "--kappa", "20", "--sparsity", "2", "--plot", "none"], "[1, 2^53", 2),
    ("cost-sweep-sparsity-below-1", lambda d: None,
     ["cost", "--sweep", "sparsity=0.1:10:5", "--kappa", "20", "--n", "20", "--plot", "none"], "[1, 2^53", 2),
    ("calibration-show-n-overflow", lambda d: None, ["calibration", "show", "ibm_sherbrooke", "--n", "9" * 400],
     "--n: must lie in [1, 2^53", 2),
    ("calibration-show-kappa-infinite", lambda d: None, ["calibration", "show", "ibm_sherbrooke", "--n", "8", "--kappa", "1e400"],
     "--kappa: must be a finite number", 2),
    ("calibrate-sizes-empty", lambda d: None, ["calibrate", "classical", "--sizes", ""], "--sizes: empty", 2),
    ("calibrate-sizes-one-distinct", lambda d: None, ["calibrate", "classical", "--sizes", "64,64"], "two different sizes", 2),
    # --- command groups without their subcommand: usage on stderr, exit 2
    ("group-calibration", lambda d: None, ["calibration"], "usage: qnewton calibration", 2),
    ("group-circuit", lambda d: None, ["circuit"], "usage: qnewton circuit", 2),
    ("group-calibrate", lambda d: None, ["calibrate"], "usage: qnewton calibrate", 2),
    # --- JSON profiles: size and nesting depth checked before parsing
    ("profile-deep-show", write("deep.json", DEEP), ["calibration", "show", "{d}/deep.json"], "JSON nesting depth", 2),
    ("profile-deep-cost", write("deep.json", DEEP),
     ["cost", "--n", "8", "--kappa", "20", "--sparsity", "2", "--classical-constant", "1e-9", "--calibration", "{d}/deep.json"],
     "QNEWTON_MAX_JSON_DEPTH", 2),
    ("classical-profile-deep", write("deep.json", DEEP), ["cost", "--n", "8", "--kappa", "20", "--sparsity", "2", "--profile", "{d}/deep.json"],
     "--profile", 2),
    ("profile-directory", lambda d: (d / "p.json").mkdir(), ["calibration", "show", "{d}/p.json"], "is a directory", 2),
    ("profile-not-utf8", write("p.json", b"\xff\xfe{}"), ["calibration", "show", "{d}/p.json"], "not UTF-8", 2),
    # --- MNIST IDX files, plain and gzip
    ("idx-gzip-bomb", lambda d: mnist_folder(d, lambda p: gzip_bomb(p, (2, 2, 2), 64 << 20)),
     ["train", "--data", "mnist", "--data-dir", "{d}/D"], "holds more data bytes than the header says (8)", 2),
    ("idx-gzip-header-bomb", lambda d: mnist_folder(d, lambda p: p.write_bytes(gzip.compress(idx_bytes((60000, 100000, 100000))))),
     ["train", "--data", "mnist", "--data-dir", "{d}/D"], "QNEWTON_MAX_DECOMPRESSED_BYTES", 2),
    ("idx-gzip-corrupt", lambda d: mnist_folder(d, lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(200)))),
     ["train", "--data", "mnist", "--data-dir", "{d}/D"], "corrupt gzip data", 2),
    ("idx-gzip-truncated", lambda d: mnist_folder(d, lambda p: p.write_bytes(gzip.compress(idx_bytes((2, 2, 2), bytes(8)))[:-12])),
     ["train", "--data", "mnist", "--data-dir", "{d}/D"], "truncated", 2),
    ("idx-not-gzip", lambda d: mnist_folder(d, lambda p: p.write_bytes(b"plain bytes")),
     ["train", "--data", "mnist", "--data-dir", "{d}/D"], "is not a gzip file", 2),
    ("idx-directory", lambda d: mnist_folder(d, lambda p: p.mkdir()),
     ["train", "--data", "mnist", "--data-dir", "{d}/D"], "is a directory", 2),
]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: kind, size, mtime and (regular files) a content hash; FIFOs are
    never opened."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out


@pytest.mark.parametrize("case_id, build, argv, fragment, code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_nothing_written(tmp_path, monkeypatch, capsys, case_id, build, argv, fragment, code):
    d = tmp_path / "case"
    d.mkdir()
    monkeypatch.chdir(d)
    monkeypatch.setenv("QNEWTON_CALIBRATIONS", str(tmp_path / "no-profiles"))
    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path / "cache"))  # no saved classical profile
    build(d)
    before = snapshot(tmp_path)
    try:
        rc = main([a.format(d=d) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    out = capsys.readouterr()
    assert rc == code, (out.out, out.err)
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in out.err and out.out == ""
    assert snapshot(tmp_path) == before  # nothing created, changed or removed


# --------------------------------------------------------------------------------------------
# What the table cannot show


def test_calibration_list_warns_about_bad_files_and_goes_on(tmp_path, monkeypatch, capsys):
    (tmp_path / "deep.json").write_text(DEEP)
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "mine.json").write_text(json.dumps(HYPO))
    monkeypatch.setenv("QNEWTON_CALIBRATIONS", str(tmp_path))
    assert main(["calibration", "list"]) == 0
    out = capsys.readouterr()
    listed = [line.split()[0] for line in out.out.splitlines()]
    assert "mine" in listed and "attosecond" in listed and "ibm_sherbrooke" in listed
    assert not {"deep", "binary", "folder"} & set(listed)
    warnings = out.err.strip().splitlines()
    assert len(warnings) == 3
    for name, reason in (("binary.json", "not UTF-8"), ("deep.json", "nesting depth"), ("folder.json", "is a directory")):
        line = next(w for w in warnings if name in w)
        assert line.startswith("qnewton calibration: warning: skipped ") and reason in line, line


def test_prune_force_replaces_an_existing_output_only_with_force(tmp_path, capsys):
    A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    np.save(tmp_path / "A.npy", A)
    out = tmp_path / "P.npy"
    np.save(out, np.zeros(1))
    assert main(["prune", str(tmp_path / "A.npy"), "--sparsity", "2", "--out", str(out)]) == 2
    assert np.array_equal(np.load(out), np.zeros(1))
    assert main(["prune", str(tmp_path / "A.npy"), "--sparsity", "2", "--out", str(out), "--force"]) == 0
    P = np.load(out)
    assert P.shape == (3, 3) and np.array_equal(P, P.T) and np.count_nonzero(P, axis=1).max() <= 2
    # --force never lets the output be the input
    assert main(["prune", str(tmp_path / "A.npy"), "--sparsity", "2", "--out", str(tmp_path / "A.npy"), "--force"]) == 2
    assert np.array_equal(np.load(tmp_path / "A.npy"), A)
    capsys.readouterr()


def test_export_qasm3_force_and_reference_force(tmp_path, capsys):
    np.save(tmp_path / "A.npy", np.array([[2.0, -0.5], [-0.5, 1.0]]))
    np.save(tmp_path / "b.npy", np.array([1.0, 0.5]))
    out = tmp_path / "c.qasm"
    out.write_text("old")
    argv = ["circuit", "export", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"), "--method", "block-encoding", "--qasm3", str(out)]
    assert main(argv) == 2 and out.read_text() == "old"
    assert main(argv + ["--force"]) == 0 and out.read_text().startswith("OPENQASM 3")
    capsys.readouterr()


def test_cost_plot_force_replaces_the_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cost_sweep.png").write_bytes(b"old")
    argv = ["cost", "--sweep", "kappa=10:100:3", "--n", "8", "--sparsity", "2", "--classical-constant", "1e-9"]
    assert main(argv) == 2
    assert main(argv + ["--force"]) == 0
    assert (tmp_path / "cost_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cost_sweep.png"]  # no temporary left
    capsys.readouterr()


def test_cost_sweep_near_the_maximum_n_does_not_wrap(capsys):
    assert main(["cost", "--sweep", "n=10:9007199254740992:4", "--kappa", "20", "--sparsity", "2",
                 "--classical-constant", "1e-9", "--plot", "none", "--json"]) == 0
    out = capsys.readouterr()
    rows = json.loads(out.out)["sweeps"][0]["rows"]
    ns = [r["n"] for r in rows]
    assert ns == sorted(ns) and ns[0] == 10 and ns[-1] == 2**53 and all(n > 0 for n in ns)
    assert "Warning" not in out.err


def test_matrix_files_round_trip_through_matrixio(tmp_path):
    """The readers accept what numpy and scipy write: C and Fortran order, big-endian, every sparse
    format, Matrix Market coordinate / array / symmetric, text and CSV."""
    from qnewton.matrixio import load_matrix, read_array

    A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    np.save(tmp_path / "f.npy", np.asfortranarray(A))
    np.save(tmp_path / "be.npy", A.astype(">f8"))
    np.savez_compressed(tmp_path / "c.npz", A=A, note=np.array(["unused text member"]))
    scipy.io.mmwrite(tmp_path / "s.mtx", sp.coo_matrix(A), symmetry="symmetric")
    scipy.io.mmwrite(tmp_path / "d.mtx", A)
    for name in ("f.npy", "be.npy", "c.npz", "s.mtx", "d.mtx"):
        M = load_matrix(tmp_path / name)
        np.testing.assert_array_equal(M.toarray() if sp.issparse(M) else M, A, err_msg=name)
    for fmt in ("csr", "csc", "coo", "dia", "bsr"):
        sp.save_npz(tmp_path / f"{fmt}.npz", sp.csr_matrix(A).asformat(fmt))
        np.testing.assert_array_equal(load_matrix(tmp_path / f"{fmt}.npz").toarray(), A, err_msg=fmt)
    np.savetxt(tmp_path / "a.csv", A, delimiter=",")
    np.testing.assert_array_equal(read_array(tmp_path / "a.csv", field="A", suffixes=(".csv",)), A)


def test_text_matrix_size_bound_comes_from_the_file_size(tmp_path, monkeypatch):
    from qnewton.matrixio import read_text_array

    (tmp_path / "a.txt").write_text("1 2 3 4 5 6 7 8 9 10\n")
    monkeypatch.setenv("QNEWTON_MAX_MATRIX_ELEMENTS", "5")
    with pytest.raises(UsageError, match="QNEWTON_MAX_MATRIX_ELEMENTS"):
        read_text_array(tmp_path / "a.txt", field="A")


_BOMB_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from qnewton.cli import main
from qnewton.train.data import read_idx
from qnewton.errors import UsageError
codes = [main(["kappa", sys.argv[2]]), main(["kappa", sys.argv[3]])]
try:
    read_idx(sys.argv[4])
except UsageError:
    codes.append(2)
# VmHWM belongs to this process image (ru_maxrss would carry over the parent's peak across exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(codes, peak_kb // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_header_bombs_stay_small_in_memory(tmp_path):
    """With the limits raised past the declared sizes, the shortness checks still refuse a tiny
    .mtx declaring 2e9 x 2e9 dense entries and a .npy header declaring 4e18 entries, and a 64 MiB gzip bomb is
    never inflated past its declared size: the process stays far below the gigabytes the old
    readers took."""
    (tmp_path / "b.mtx").write_text("%%MatrixMarket matrix array real general\n2000000000 2000000000\n1.0\n")
    npy_header_only(tmp_path / "b.npy", (2_000_000_000, 2_000_000_000))
    gzip_bomb(tmp_path / "x.gz", (10, 28, 28), 256 << 20)
    env = dict(os.environ, QNEWTON_MAX_MATRIX_ELEMENTS="4e18", QNEWTON_MAX_MATRIX_NONZEROS="4e18",
               QNEWTON_MAX_DECOMPRESSED_BYTES="4e18", OPENBLAS_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parents[1])
    res = subprocess.run([sys.executable, "-c", _BOMB_SCRIPT, root, str(tmp_path / "b.mtx"), str(tmp_path / "b.npy"),
                          str(tmp_path / "x.gz")], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    codes, peak = res.stdout.split("]")
    assert codes.strip() == "[2, 2, 2"
    assert int(peak) < 400, res.stdout  # megabytes, imports included (the old readers took 4 to 8 GB)
    assert res.stderr.count("truncated") == 2, res.stderr
