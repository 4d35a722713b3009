"""`qnewton train` against bad and hostile inputs: crafted checkpoints, damaged run folders, a run
folder in use, reused run names, oversized models, unsafe names, misplaced TOML tables; plus
Ctrl-C before the first checkpoint, --overwrite, a torn last ledger line and reproducible runs.

Every refusal must be one line on stderr, exit code 2, and leave every file under the test's
folder exactly as it was (same paths, bytes and modification times)."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qnewton.cli import main
from qnewton.costs.classical import PINNED_CG_RATE, PINNED_LU_CONSTANT
from qnewton.train.checkpoint import load_checkpoint
from qnewton.train.config import TrainConfig
from qnewton.train.runner import run_training

TINY = ["--hidden", "4", "--train-limit", "100", "--steps", "6", "--sgd-steps", "2", "--batch-size", "16",
        "--classical-constant", "1e-10", "--quiet"]


@pytest.fixture(autouse=True)
def _no_saved_profile(tmp_path_factory, monkeypatch):
    # "auto" cost constants must not depend on a profile saved on the machine running the tests
    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A completed four-method run (6 steps, checkpoints and ledgers) to copy into each case."""
    runs = tmp_path_factory.mktemp("base")
    cfg = TrainConfig(runs_dir=str(runs), name="base", hidden="4", train_limit=100, steps=6, sgd_steps=2,
                      batch_size=16, classical_constant=1e-10, checkpoint_every=2)
    run_training(cfg)
    return runs / "base"


def _snapshot(root: Path) -> dict[str, tuple[bool, bytes | None, int]]:
    return {str(p.relative_to(root)): (p.is_dir(), p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code)


# ------------------------------------------------------------------------------ case setups
class _RunsCode:
    """Pickles as a call of os.system: executing it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class _OpensFile:
    """Pickles as a call of open(marker, "w"): executing it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _crafted(payload_type):
    def setup(run: Path, tmp: Path, held: list) -> None:
        ck = run / "qnewton" / "checkpoint.pt"
        good = load_checkpoint(ck)
        torch.save({**good, "totals": payload_type(tmp / "MARKER")}, ck)
    return setup


def _old_numpy_rng(run: Path, tmp: Path, held: list) -> None:
    ck = run / "qnewton" / "checkpoint.pt"
    good = load_checkpoint(ck)
    torch.save({**good, "rng": {**good["rng"], "numpy": np.random.get_state()}}, ck)


def _garbage_checkpoint(run: Path, tmp: Path, held: list) -> None:
    (run / "qnewton" / "checkpoint.pt").write_bytes(b"this is not a checkpoint\n" * 10)


def _truncated_checkpoint(run: Path, tmp: Path, held: list) -> None:
    ck = run / "qnewton" / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])


def _other_methods_checkpoint(run: Path, tmp: Path, held: list) -> None:
    shutil.copy(run / "sgd" / "checkpoint.pt", run / "qnewton" / "checkpoint.pt")


def _edit_config(**changes):
    def setup(run: Path, tmp: Path, held: list) -> None:
        path = run / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return setup


def _config_text(text: str):
    def setup(run: Path, tmp: Path, held: list) -> None:
        (run / "config.json").write_text(text)
    return setup


def _ledger_middle_line_damaged(run: Path, tmp: Path, held: list) -> None:
    path = run / "qnewton" / "ledger.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + "\n"
    path.write_text("".join(lines))


def _ledger_rows_missing(run: Path, tmp: Path, held: list) -> None:
    path = run / "qnewton" / "ledger.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))


def _foreign_folder(run: Path, tmp: Path, held: list) -> None:
    (run.parent / "notes").mkdir()
    (run.parent / "notes" / "todo.txt").write_text("mine\n")


def _hold_lock(run: Path, tmp: Path, held: list) -> None:
    fd = os.open(run / ".lock", os.O_RDWR | os.O_TRUNC)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242\n")
    held.append(fd)


def _toml(text: str):
    def setup(run: Path, tmp: Path, held: list) -> None:
        (tmp / "c.toml").write_text(text)
    return setup


def _nothing(run: Path, tmp: Path, held: list) -> None:
    pass


RESUME = ["train", "--resume", "{run}", "--quiet"]
FRESH = ["train", "--runs-dir", "{tmp}/new", *TINY]
REUSE = ["train", "--runs-dir", "{runs}", "--name", "base", *TINY]
REFUSED_CHECKPOINT = "holds objects other than tensors and plain data"

# case id, setup, argv, expected fragment of the one-line message, expected exit code
CASES = [
    ("checkpoint-pickle-runs-os-system", _crafted(_RunsCode), RESUME, REFUSED_CHECKPOINT, 2),
    ("checkpoint-pickle-opens-a-file", _crafted(_OpensFile), RESUME, REFUSED_CHECKPOINT, 2),
    ("checkpoint-numpy-array-inside", _old_numpy_rng, RESUME, REFUSED_CHECKPOINT, 2),
    ("checkpoint-garbage", _garbage_checkpoint, RESUME, "is damaged or not a PyTorch checkpoint", 2),
    ("checkpoint-truncated", _truncated_checkpoint, RESUME, "is damaged or not a PyTorch checkpoint", 2),
    ("checkpoint-of-another-method", _other_methods_checkpoint, RESUME, "belongs to method 'sgd', not 'qnewton'", 2),
    ("config-hidden-size-edited", _edit_config(hidden="5"), RESUME, "does not fit the model of config.json", 2),
    ("config-steps-below-checkpoint", _edit_config(steps=2), RESUME, "outside 0..2", 2),
    ("config-not-json", _config_text('{"steps": 6,'), RESUME, "not valid JSON", 2),
    ("config-nested-too-deep", _config_text("[" * 100 + "]" * 100), RESUME, "QNEWTON_MAX_JSON_DEPTH", 2),
    ("config-unknown-option", _edit_config(turbo=True), RESUME, "turbo: unknown option", 2),
    ("ledger-middle-line-damaged", _ledger_middle_line_damaged, RESUME, "line 2: not valid JSON", 2),
    ("ledger-rows-missing", _ledger_rows_missing, RESUME, "does not match the checkpoint", 2),
    ("resume-with-overwrite", _nothing, ["train", "--resume", "{run}", "--overwrite"], "cannot be combined", 2),
    ("resume-name-with-newline", _nothing, ["train", "--resume", "{tmp}/a\nb"], "control characters", 2),
    ("name-reused", _nothing, REUSE, "already holds a run; continue it with --resume", 2),
    ("name-reused-says-overwrite", _nothing, REUSE, "or replace it with --overwrite", 2),
    ("folder-of-other-files", _foreign_folder, ["train", "--runs-dir", "{runs}", "--name", "notes", *TINY],
     "holds files that are not a qnewton run", 2),
    ("in-use-fresh", _hold_lock, REUSE, "is in use by another process (pid 4242)", 2),
    ("in-use-overwrite", _hold_lock, [*REUSE, "--overwrite"], "is in use by another process (pid 4242)", 2),
    ("in-use-resume", _hold_lock, RESUME, "is in use by another process (pid 4242)", 2),
    ("hidden-too-large", _nothing, [*FRESH, "--hidden", "100000000"], "QNEWTON_MAX_MATRIX_ELEMENTS", 2),
    ("hessian-block-too-large", _nothing, [*FRESH, "--hidden", "2000", "--blocks", "full", "--method", "qnewton"],
     "the Hessian of block all (150010 parameters)", 2),
    ("name-newline", _nothing, [*FRESH, "--name", "a\nb"], "name: must be", 2),
    ("name-slash", _nothing, [*FRESH, "--name", "a/b"], "name: must be", 2),
    ("name-dot-dot", _nothing, [*FRESH, "--name", ".."], "name: must be", 2),
    ("name-hidden", _nothing, [*FRESH, "--name", ".x"], "name: must be", 2),
    ("name-space", _nothing, [*FRESH, "--name", "a b"], "name: must be", 2),
    ("name-escape-sequence", _nothing, [*FRESH, "--name", "a\x1b[31m"], "name: must be", 2),
    ("runs-dir-newline", _nothing, ["train", "--runs-dir", "{tmp}/x\ny", *TINY], "runs_dir: must not contain control", 2),
    ("circuit-solver-on-digits", _nothing, [*FRESH, "--quantum-solver", "circuit", "--method", "qnewton"],
     "no model fits on digits", 2),
    ("toml-other-table", _toml("[other]\nsteps = 3\n"), [*FRESH, "--config", "{tmp}/c.toml"], "has a table [other]", 2),
    ("toml-train-and-other-table", _toml("[train]\nsteps = 3\n[other]\nx = 1\n"), [*FRESH, "--config", "{tmp}/c.toml"],
     "has a table [other]", 2),
    ("toml-train-subtable", _toml("[train]\nsteps = 3\n[train.more]\nx = 1\n"), [*FRESH, "--config", "{tmp}/c.toml"],
     "has a table [train.more]", 2),
    ("classical-constant-word", _nothing, [*FRESH, "--classical-constant", "fast"],
     "classical_constant: must be a positive number or one of auto, pinned, profile, fit", 2),
    ("classical-constant-negative", _nothing, [*FRESH, "--classical-constant", "-1"], "classical_constant", 2),
    ("cg-rate-zero", _nothing, [*FRESH, "--classical-model", "cg", "--cg-rate", "0"], "cg_rate", 2),
    ("classical-profile-missing", _nothing, [*FRESH, "--classical-constant", "profile", "--method", "qnewton"],
     "no saved profile", 2),
]


@pytest.mark.parametrize("case, setup, argv, fragment, code", CASES, ids=[c[0] for c in CASES])
def test_refusal_is_one_line_exit_2_and_writes_nothing(base_run, tmp_path, capsys, case, setup, argv, fragment, code):
    runs = tmp_path / "runs"
    run = runs / "base"
    shutil.copytree(base_run, run)
    held: list[int] = []
    setup(run, tmp_path, held)
    before = _snapshot(tmp_path)
    try:
        got = _main([a.format(run=run, runs=runs, tmp=tmp_path) for a in argv])
    finally:
        for fd in held:
            os.close(fd)
    err = capsys.readouterr().err
    assert got == code, err
    assert len(err.strip().splitlines()) == 1, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "MARKER").exists(), "the checkpoint's pickle ran code"
    assert _snapshot(tmp_path) == before


# ------------------------------------------------------------------------------ concurrent writer
def test_a_second_process_is_refused_while_the_first_holds_the_run(base_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    run = runs / "base"
    shutil.copytree(base_run, run)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_TRUNC)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, b'%d\\n' % os.getpid())\n"
         "print('locked', flush=True)\n"
         "time.sleep(120)\n", str(run / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        ledger = (run / "qnewton" / "ledger.jsonl").read_bytes()
        for extra in ([], ["--overwrite"]):
            assert main(["train", "--runs-dir", str(runs), "--name", "base", *TINY, *extra]) == 2
            err = capsys.readouterr().err
            assert err.strip() == (f"qnewton train: error: run folder {run} is in use by another process "
                                   f"(pid {holder.pid}); wait for it to finish or stop it")
        assert main(["train", "--resume", str(run), "--quiet"]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert (run / "qnewton" / "ledger.jsonl").read_bytes() == ledger
    finally:
        holder.kill()
        holder.wait()
    # the lock went with the process: the run can be continued now
    assert main(["train", "--resume", str(run), "--quiet"]) == 0


# ------------------------------------------------------------------------------ --overwrite
def test_overwrite_replaces_the_run_without_leaving_old_files(base_run, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(base_run, runs / "base")
    assert main(["train", "--runs-dir", str(runs), "--name", "base", *TINY, "--method", "sgd", "--overwrite"]) == 0
    names = sorted(p.name for p in (runs / "base").iterdir())
    assert names == [".lock", "config.json", "report.json", "report.md", "sgd"]
    assert json.loads((runs / "base" / "config.json").read_text())["method"] == "sgd"
    assert set(json.loads((runs / "base" / "report.json").read_text())) == {"sgd"}


# ------------------------------------------------------------------------------ torn last ledger line
def test_a_torn_last_ledger_line_is_dropped_on_resume(tmp_path, capsys):
    def stop(method, step):
        if step == 3:
            raise KeyboardInterrupt

    cfg = TrainConfig(runs_dir=str(tmp_path), name="t", method="sgd", hidden="4", train_limit=100, steps=8,
                      batch_size=16, checkpoint_every=100)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, on_step=stop)
    ledger = tmp_path / "t" / "sgd" / "ledger.jsonl"
    with ledger.open("a") as fh:  # a kill in the middle of the next append
        fh.write('{"method": "sgd", "step": 4, "phase": "sg')
    assert main(["train", "--resume", str(tmp_path / "t"), "--quiet"]) == 0
    assert "torn last line" in capsys.readouterr().err
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(8))


# ------------------------------------------------------------------------------ Ctrl-C before anything is kept
def test_ctrl_c_before_the_run_starts_writes_nothing(tmp_path, capsys, monkeypatch):
    import qnewton.train.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "load_dataset", interrupted)
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), *TINY]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "qnewton train: interrupted before the run started; nothing was written"
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_before_the_first_checkpoint_keeps_nothing_and_suggests_no_resume(tmp_path, capsys, monkeypatch):
    import qnewton.train.runner as runner

    real_run = runner.MethodRun.run

    def interrupted(self, resume):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.MethodRun, "run", interrupted)
    argv = ["train", "--runs-dir", str(tmp_path / "runs"), "--name", "x", *TINY, "--method", "sgd"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and "before the first checkpoint; nothing was kept" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(runner.MethodRun, "run", real_run)
    assert main(argv) == 0  # the same command runs as is: no half run folder in its way


# ------------------------------------------------------------------------------ circuit solver advice
def test_circuit_solver_message_suggests_a_change_that_helps(tmp_path, capsys):
    import gzip
    import struct

    def idx(path, arr):
        head = bytes([0, 0, 8, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
        path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))

    rng = np.random.default_rng(0)
    for part, n in (("train", 40), ("t10k", 20)):
        idx(tmp_path / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 2, 2)))
        idx(tmp_path / f"{part}-labels-idx1-ubyte.gz", rng.integers(0, 3, n))
    base = ["train", "--runs-dir", str(tmp_path / "runs"), "--data", "mnist", "--data-dir", str(tmp_path),
            "--quantum-solver", "circuit", "--method", "quantum", "--quiet"]
    assert main([*base, "--hidden", "2", "--blocks", "full"]) == 2  # 19 parameters in one block, 8 at most per tensor
    assert "--blocks tensor splits it into blocks of at most 8" in capsys.readouterr().err
    assert main([*base, "--hidden", "8"]) == 2  # tensor blocks already; the 4 x 8 weight is too big
    err = capsys.readouterr().err
    assert "--blocks tensor --hidden 4" in err, err
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), "--quantum-solver", "circuit"]) == 2
    err = capsys.readouterr().err
    assert "--blocks tensor" not in err and "--quantum-solver emulated" in err
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------ reproducible by default
def _checkpoints_equal(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca["next_step"] == cb["next_step"]
    for name in ca["model"]:
        assert torch.equal(ca["model"][name], cb["model"][name]), name


def test_two_identical_qnewton_runs_give_equal_checkpoints(tmp_path):
    argv = ["--hidden", "4", "--train-limit", "100", "--steps", "8", "--sgd-steps", "3", "--batch-size", "32",
            "--method", "qnewton", "--quiet"]
    for runs in ("a", "b"):
        assert main(["train", "--runs-dir", str(tmp_path / runs), *argv]) == 0
    _checkpoints_equal(tmp_path / "a" / "default" / "qnewton" / "checkpoint.pt",
                       tmp_path / "b" / "default" / "qnewton" / "checkpoint.pt")
    decisions = [[b["decision"] for r in (tmp_path / runs / "default" / "qnewton" / "ledger.jsonl").read_text()
                  .splitlines() for b in json.loads(r)["blocks"]] for runs in ("a", "b")]
    assert decisions[0] == decisions[1] and "quantum" in decisions[0] and "classical" in decisions[0]
    config = json.loads((tmp_path / "a" / "default" / "config.json").read_text())
    assert config["classical_constant"] == PINNED_LU_CONSTANT
    assert config["cost_sources"]["classical_constant"].startswith("pinned default")


def test_cost_sources_are_recorded_and_resume_reuses_the_numbers(tmp_path, monkeypatch, capsys):
    from qnewton.calibrate import classical_timing

    monkeypatch.setattr(classical_timing, "quick_profile",
                        lambda: {"lu": {"constant": 3e-11}, "cg": {"multiply_adds_per_second": 5e8}, "blas_threads": 1})
    argv = ["--hidden", "4", "--train-limit", "100", "--steps", "5", "--sgd-steps", "3", "--batch-size", "32",
            "--method", "qnewton", "--classical-model", "best", "--quiet"]
    assert main(["train", "--runs-dir", str(tmp_path), "--name", "fit", *argv, "--classical-constant", "fit",
                 "--cg-rate", "fit"]) == 0
    config = json.loads((tmp_path / "fit" / "config.json").read_text())
    assert (config["classical_constant"], config["cg_rate"]) == (3e-11, 5e8)
    assert config["cost_sources"]["cg_rate"].startswith("quick fit")

    def no_fit():
        raise AssertionError("resume must reuse config.json's numbers, not fit again")

    monkeypatch.setattr(classical_timing, "quick_profile", no_fit)
    assert main(["train", "--resume", str(tmp_path / "fit"), "--quiet"]) == 0
    assert "quick fit" in (tmp_path / "fit" / "report.md").read_text()
    # without a saved profile, cg and best price CG at the pinned rate
    assert main(["train", "--runs-dir", str(tmp_path), "--name", "pinned", *argv]) == 0
    config = json.loads((tmp_path / "pinned" / "config.json").read_text())
    assert (config["classical_constant"], config["cg_rate"]) == (PINNED_LU_CONSTANT, PINNED_CG_RATE)
    # a saved profile is the default once there is one
    profile = Path(os.environ["QNEWTON_CACHE"]) / "classical.json"
    profile.write_text(json.dumps({"format": "qnewton-classical-profile", "version": 1, "blas_threads": 1,
                                   "lu": {"constant": 4e-11}, "cg": {"multiply_adds_per_second": 7e8}}))
    assert main(["train", "--runs-dir", str(tmp_path), "--name", "profile", *argv]) == 0
    config = json.loads((tmp_path / "profile" / "config.json").read_text())
    assert (config["classical_constant"], config["cg_rate"]) == (4e-11, 7e8)
    assert config["cost_sources"]["classical_constant"].startswith(f"profile {profile}")


# ------------------------------------------------------------------------------ Ctrl-C inside torch
def test_ctrl_c_wrapped_by_torch_still_checkpoints(tmp_path, monkeypatch):
    # A KeyboardInterrupt raised while torch runs Python code from C++ (functorch, TorchScript)
    # comes back as a RuntimeError; it must stop the run like Ctrl-C, with a checkpoint.
    import qnewton.curvature.hessian as hessian
    import qnewton.train.method_run as method_run
    import qnewton.train.runner as runner

    real = hessian.curvature
    calls = []

    def cut(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("The following operation failed in the TorchScript interpreter.\n"
                               "RuntimeError: KeyboardInterrupt: <EMPTY MESSAGE>")
        return real(*args, **kwargs)

    monkeypatch.setattr(hessian, "curvature", cut)  # what the exact-Hessian curvature calls
    cfg = TrainConfig(runs_dir=str(tmp_path), name="w", method="qnewton", hidden="4", train_limit=100, steps=8,
                      sgd_steps=2, batch_size=16, classical_constant=1e-10)
    with pytest.raises(runner.TrainingInterrupted) as info:
        run_training(cfg)
    assert info.value.resumable
    ck = load_checkpoint(tmp_path / "w" / "qnewton" / "checkpoint.pt")
    assert ck["next_step"] == 3 and ck["totals"]["status"] == "interrupted after step 3"
    report = json.loads((tmp_path / "w" / "report.json").read_text())
    assert report["qnewton"]["status"] == "interrupted after step 3"

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(hessian, "curvature", broken)  # any other error is not an interrupt
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_training(cfg.replace(name="other"))
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        try:
            raise RuntimeError("INTERNAL ASSERT FAILED")  # raised while unwinding from Ctrl-C
        except RuntimeError as exc:
            assert method_run.is_interrupt(exc)


def test_sigint_handler_is_restored_and_an_ignored_sigint_stays_ignored(tmp_path, monkeypatch):
    import signal

    import qnewton.cli.train as cli_train

    seen = []
    real = cli_train._train

    def spy(*args, **kwargs):
        seen.append(signal.getsignal(signal.SIGINT))
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_train, "_train", spy)
    argv = ["train", "--runs-dir", str(tmp_path), *TINY, "--method", "sgd", "--steps", "1"]
    # start from Python's own handler, also when the tests run as a background job (SIGINT ignored)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    assert main([*argv, "--name", "a"]) == 0
    assert getattr(seen[-1], "__name__", "") == "_first"  # Ctrl-C handled by the CLI during the run
    assert signal.getsignal(signal.SIGINT) is before  # and the caller's handler back afterwards
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a background job of a shell script
    try:
        assert main([*argv, "--name", "b"]) == 0
        assert seen[-1] is signal.SIG_IGN and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)
