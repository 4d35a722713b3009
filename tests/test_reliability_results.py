"""Experiment results under failure: bad --out paths and configs, kills at every step of a result
replacement, leftovers of killed runs, folder permissions, Ctrl-C and SIGTERM, command groups
without a subcommand."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from qnewton.cli import main
from qnewton.experiments import publish
from qnewton.experiments.config import load_config
from qnewton.experiments.publish import atomic_output_dir, clean_stale

REPO = Path(__file__).resolve().parents[1]
NAME = "table2-kappa-time"
TINY = f'name = "{NAME}"\nseeds = 1\n[params]\nsizes = [8]\nkappas = [10.0]\nestimators = ["bound"]\nrepeats = 1\n'


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for folders and links), to compare before/after."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = None if os.path.islink(p) else Path(p).read_bytes()
    return out


@contextlib.contextmanager
def _read_only_folder(path: Path) -> Iterator[bool]:
    """A folder nobody may create entries in, root included (immutable attribute where the mode
    bits do not stop the current user). Yields False when neither works here."""
    path.mkdir()
    path.chmod(0o555)
    immutable = False
    try:
        if _can_create_in(path):
            immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        yield not _can_create_in(path)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o755)


def _can_create_in(path: Path) -> bool:
    try:
        (path / "probe").mkdir()
    except OSError:
        return False
    (path / "probe").rmdir()
    return True


# One table of user mistakes: case id, argv ({cfg}, {tmp} filled in), config text, expected
# message fragment, exit code. Each prints one line and leaves nothing on disk.
BAD_INPUTS = [
    ("out-is-a-file", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/plain.txt"], TINY,
     "--out: {tmp}/plain.txt is not a folder", 2),
    ("out-below-a-file", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/plain.txt/results"], TINY,
     "--out: {tmp}/plain.txt is not a folder", 2),
    ("out-under-proc", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "/proc/self/qnewton-results"], TINY,
     "--out: cannot create folders in /proc/self", 2),
    ("out-read-only", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/ro/results"], TINY,
     "--out: cannot create folders in {tmp}/ro", 2),
    ("result-name-is-a-file", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/taken"], TINY,
     f"--out: {{tmp}}/taken/{NAME} exists and is not a result folder", 2),
    ("all-checks-out-first", ["experiment", "run", "all", "--quick", "--out", "{tmp}/plain.txt"], None,
     "--out: {tmp}/plain.txt is not a folder", 2),
    ("bad-data-dir", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new", "--data-dir", "{tmp}/none"], TINY,
     "--data-dir: not a folder", 2),
    ("toml-unknown-table", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     TINY + "[other]\nx = 1\n", "[other]: unknown table (known tables: [params], [quick])", 2),
    ("toml-unknown-array-of-tables", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     TINY + "[[other]]\nx = 1\n", "[other]: unknown table", 2),
    ("toml-table-inside-params", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     TINY + "[params.extra]\nx = 1\n", "[params.extra]: unexpected table", 2),
    ("toml-table-inside-quick", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     TINY + "[quick.extra]\nx = 1\n", "[quick.extra]: unexpected table", 2),
    ("toml-syntax-error", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     f'name = "{NAME}"\nseeds = = 1\n', "not valid TOML: Invalid value (at line 2, column 9)", 2),
    ("toml-nested-too-deeply", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     f'name = "{NAME}"\n[params]\nsizes = ' + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply", 2),
    ("toml-over-size-limit", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     TINY + "# " + "x" * 400 + "\n", "exceeds the limit of 300 bytes (set QNEWTON_MAX_JSON_BYTES to raise it)", 2),
    ("toml-not-utf8", ["experiment", "run", NAME, "--config", "{cfg}", "--out", "{tmp}/new"],
     None, "is not UTF-8 text", 2),
    ("no-command", [], None, "qnewton: error: missing COMMAND (choose from: train, ", 2),
    ("experiment-without-subcommand", ["experiment"], None,
     "qnewton experiment: error: missing SUBCOMMAND (choose from: list, run); usage: qnewton experiment [-h]", 2),
    ("nested-group-without-subcommand", ["calibrate"], None,
     "qnewton calibrate: error: missing TARGET (choose from: classical); usage: qnewton calibrate", 2),
]


@pytest.mark.parametrize("case, argv, config, message, code", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs_give_one_message_and_write_nothing(
    case: str, argv: list[str], config: str | None, message: str, code: int,
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_bytes(b'name = "\xff"\n' if case == "toml-not-utf8" else (config or TINY).encode())
    (tmp_path / "plain.txt").write_text("not a folder")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / NAME).write_text("a file where the result folder would go")
    if case == "toml-over-size-limit":
        monkeypatch.setenv("QNEWTON_MAX_JSON_BYTES", "300")
    with contextlib.ExitStack() as stack:
        if case == "out-read-only" and not stack.enter_context(_read_only_folder(tmp_path / "ro")):
            pytest.skip("cannot make a read-only folder here")
        before = _tree(tmp_path)
        assert main([a.format(cfg=cfg, tmp=tmp_path) for a in argv]) == code
        captured = capsys.readouterr()
        assert _tree(tmp_path) == before  # nothing written, nothing removed
    assert message.format(tmp=tmp_path) in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""


# --- one-step replacement under SIGKILL --------------------------------------------------------

FS_STEPS = ("mkdir", "rename", "replace", "symlink", "unlink", "rmdir")


def _publish_in_child(root: Path, text: str, kill_at: int, exchange: bool) -> bool:
    """Publish a two-file result `text` in a forked process that SIGKILLs itself right before its
    `kill_at`-th filesystem step. Returns True when it finished before reaching that step."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            count = [0]

            def step(fn: Callable) -> Callable:
                def wrapped(*args, **kwargs):
                    count[0] += 1
                    if count[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return fn(*args, **kwargs)
                return wrapped

            for name in FS_STEPS:
                setattr(os, name, step(getattr(os, name)))
            publish.exchange_paths = step(publish.exchange_paths if exchange else (lambda a, b: False))
            with atomic_output_dir(root, NAME) as tmp:
                (tmp / "a.txt").write_text(text)
                (tmp / "b.txt").write_text(text)
            os._exit(0)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return False
    assert os.WEXITSTATUS(status) == 0
    return True


def _result(root: Path) -> str:
    """The text of the complete result under root/NAME; fails on a missing or partial one."""
    final = root / NAME
    assert sorted(p.name for p in final.iterdir()) == ["a.txt", "b.txt"]
    a, b = (final / "a.txt").read_text(), (final / "b.txt").read_text()
    assert a == b
    return a


def _publish(root: Path, text: str) -> None:
    with atomic_output_dir(root, NAME) as tmp:
        (tmp / "a.txt").write_text(text)
        (tmp / "b.txt").write_text(text)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "link-layout"])
def test_a_kill_at_any_step_leaves_the_old_or_the_new_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             exchange: bool) -> None:
    if exchange and not publish._exchange_supported(tmp_path):
        pytest.skip("this filesystem cannot exchange two folders")
    if not exchange:
        monkeypatch.setattr(publish, "exchange_paths", lambda a, b: False)
    finished = False
    for kill_at in range(1, 60):
        root = tmp_path / f"kill{kill_at}"
        _publish(root, "old")
        finished = _publish_in_child(root, "new", kill_at, exchange)
        assert _result(root) in (("new",) if finished else ("old", "new"))
        # the next run removes what the killed one left, and publishes as usual
        _publish(root, "next")
        assert _result(root) == "next"
        left = sorted(os.listdir(root))
        if exchange:
            assert left == [NAME]
        else:
            assert len(left) == 2 and left[1] == NAME and left[0] == os.readlink(root / NAME)
        if finished:
            break
    assert finished and kill_at > 3  # every step was a kill point once


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_link_layout_takes_over_a_plain_folder_and_repairs_a_kill_in_between(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for kill_at in range(1, 60):
        root = tmp_path / f"kill{kill_at}"
        root.mkdir()
        plain = root / NAME
        plain.mkdir()  # a result as the exchange scheme leaves it: a plain folder
        (plain / "a.txt").write_text("old")
        (plain / "b.txt").write_text("old")
        finished = _publish_in_child(root, "new", kill_at, exchange=False)
        clean_stale(root, NAME)  # what the next run does first
        assert _result(root) in (("new",) if finished else ("old", "new"))
        if finished:
            break
    assert finished


def test_stale_temporary_folders_of_dead_runs_only_are_removed(tmp_path: Path) -> None:
    _publish(tmp_path, "old")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = publish._host()
        leftovers = {
            "dead": tmp_path / f".{NAME}.tmp-{host}-{dead.pid}-0a1b2c3d",
            "alive": tmp_path / f".{NAME}.tmp-{host}-{alive.pid}-0a1b2c3d",
            "other-host": tmp_path / f".{NAME}.tmp-elsewhere-{dead.pid}-0a1b2c3d",
            "other-experiment": tmp_path / f".fig1-sparsity.tmp-{host}-{dead.pid}-0a1b2c3d",
        }
        for path in leftovers.values():
            path.mkdir()
            (path / "half.csv").write_text("x")
        _publish(tmp_path, "new")
        assert _result(tmp_path) == "new"
        assert not leftovers["dead"].exists()
        assert all(leftovers[k].exists() for k in ("alive", "other-host", "other-experiment"))
    finally:
        alive.kill()
        alive.wait()


def test_result_folders_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        _publish(tmp_path / "results", "one")
    finally:
        os.umask(old)
    assert (tmp_path / "results" / NAME).stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "results").stat().st_mode & 0o777 == 0o750


def test_a_failed_run_leaves_the_previous_result_and_no_new_folders(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with atomic_output_dir(tmp_path / "a" / "b", NAME) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("the experiment failed")
    assert list(tmp_path.iterdir()) == []  # the folders it created are gone too
    _publish(tmp_path, "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(tmp_path, NAME) as tmp:
            (tmp / "a.txt").write_text("half")
            raise KeyboardInterrupt
    assert _result(tmp_path) == "old" and os.listdir(tmp_path) == [NAME]


def test_exchange_replaces_a_link_layout_result_and_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not publish._exchange_supported(tmp_path):
        pytest.skip("this filesystem cannot exchange two folders")
    with monkeypatch.context() as m:
        m.setattr(publish, "exchange_paths", lambda a, b: False)
        _publish(tmp_path, "linked")
    assert (tmp_path / NAME).is_symlink() and len(os.listdir(tmp_path)) == 2
    _publish(tmp_path, "plain")
    assert _result(tmp_path) == "plain" and not (tmp_path / NAME).is_symlink()
    assert os.listdir(tmp_path) == [NAME]


# --- fig6 loads checkpoints through the checked loader -------------------------------------------


def test_no_unsafe_checkpoint_loading_in_experiments() -> None:
    sources = (REPO / "qnewton" / "experiments").rglob("*.py")
    assert not [p for p in sources if "weights_only=False" in p.read_text(encoding="utf-8")]


def test_fig6_reads_the_trained_model_through_load_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qnewton.train.checkpoint as checkpoint
    from qnewton.experiments.runner import run_experiment

    calls: list[Path] = []
    real = checkpoint.load_checkpoint

    def spy(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(checkpoint, "load_checkpoint", spy)
    cfg = tmp_path / "fig6.toml"
    cfg.write_text('name = "fig6-row-sparsity"\n[params]\nclassical_constant = 1.4e-11\nhidden = "4"\n'
                   'at_steps = [0, 1]\nsteps = 1\nsgd_steps = 0\nhessian_examples = 32\nbins = 4\n')
    outcome = run_experiment(load_config(cfg), out=tmp_path / "out")
    # one trained model per trajectory (classical Newton and SGD), each read through the checked loader
    assert sorted(p.parent.name for p in calls) == ["classical", "sgd"]
    assert {p.name for p in calls} == {"checkpoint.pt"}
    assert {(r["method"], r["step"]) for r in outcome.raw["summary"]} == {
        ("classical", 0), ("classical", 1), ("sgd", 0), ("sgd", 1)}


# --- signals -------------------------------------------------------------------------------------

# Runs `qnewton experiment run` as the program (argv from sys.argv) with a seed that waits; the
# test signals it at barriers (marker files). SLOW_CLEANUP makes removing the temporary folder
# take a while, SLOW_EXIT adds a slow exit handler, so a second signal can land in either.
CHILD = r"""
import atexit, dataclasses, os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever the test runner set
marks = Path(sys.argv[1])
import qnewton.experiments.catalog.table2_kappa_time as mod
from qnewton.experiments import publish

def waiting_seed(params, seed, ctx):
    (marks / "running").write_text("")
    time.sleep(60)
    return {}

mod.EXPERIMENT = dataclasses.replace(mod.EXPERIMENT, run_seed=waiting_seed)
if os.environ.get("SLOW_CLEANUP"):
    remove = publish._remove
    def slow_remove(path):
        (marks / "cleaning").write_text("")
        time.sleep(1.5)
        remove(path)
        (marks / "cleaned").write_text("")
    publish._remove = slow_remove
if os.environ.get("SLOW_EXIT"):
    def slow_exit():
        (marks / "exiting").write_text("")
        time.sleep(1.5)
    atexit.register(slow_exit)
from qnewton.cli import main
sys.argv = ["qnewton", "experiment", "run", "table2-kappa-time", "--config", sys.argv[2], "--out", sys.argv[3]]
sys.exit(main())
"""


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"no {path.name} after {timeout} s"
        time.sleep(0.02)


def _run_and_signal(tmp_path: Path, plan: list[tuple[str, int]], env: dict[str, str]) -> tuple[int, str, Path]:
    """Start the waiting run over a previous result; at each (marker, signal) of `plan` wait for
    the marker, then send the signal. Returns exit code, stderr and the results root."""
    marks, out = tmp_path / "marks", tmp_path / "results"
    marks.mkdir()
    _publish(out, "old")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(TINY)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(marks), str(cfg), str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    try:
        for marker, sig in plan:
            _wait_for(marks / marker, proc)
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err, out


def test_sigterm_exits_143_with_one_line_and_keeps_the_previous_result(tmp_path: Path) -> None:
    code, err, out = _run_and_signal(tmp_path, [("running", signal.SIGTERM)], {})
    assert code == 143
    assert err.splitlines()[-1] == "qnewton: terminated" and "Traceback" not in err
    assert _result(out) == "old" and os.listdir(out) == [NAME]  # temporary folder removed


def test_a_second_ctrl_c_during_cleanup_is_quiet_and_cleanup_finishes(tmp_path: Path) -> None:
    code, err, out = _run_and_signal(tmp_path, [("running", signal.SIGINT), ("cleaning", signal.SIGINT)],
                                     {"SLOW_CLEANUP": "1"})
    assert code == 130
    assert err.splitlines()[-1] == "qnewton: interrupted" and "Traceback" not in err
    assert _result(out) == "old" and os.listdir(out) == [NAME]


def test_a_second_signal_during_interpreter_exit_is_quiet(tmp_path: Path) -> None:
    code, err, out = _run_and_signal(tmp_path, [("running", signal.SIGTERM), ("exiting", signal.SIGINT)],
                                     {"SLOW_EXIT": "1"})
    assert code == 143
    assert "Exception ignored" not in err and "Traceback" not in err
    assert err.splitlines()[-1] == "qnewton: terminated"
    assert _result(out) == "old"
