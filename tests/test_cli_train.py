"""`qnewton train` option handling: one-line errors with exit code 2 and nothing written."""

import subprocess
import sys

import pytest

from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.train.config import TrainConfig


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--eps", "-1"], "eps"),
        (["--steps", "0"], "steps"),
        (["--sparsity", "mass:150"], "sparsity"),
        (["--sparsity", "abc"], "sparsity"),
        (["--hidden", "16,x"], "hidden"),
        (["--qlsa-epsilon", "0.5"], "qlsa_epsilon"),
        (["--data", "mnist"], "data_dir"),
        (["--blocks", "rows"], "--blocks"),
        (["--stop-at-target", "maybe"], "--stop-at-target"),
        (["--gate-time", "0"], "gate_time"),
        (["--test-fraction", "0.001"], "test_fraction"),
        (["--test-fraction", "0.999"], "test_fraction"),
    ],
)
def test_invalid_option_exit_2_one_line_nothing_written(tmp_path, capsys, argv, needle):
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) if argv[0] in ("--blocks", "--stop-at-target") else _nullctx():
        code = main(["train", "--runs-dir", str(runs), *argv])
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err
    assert not runs.exists()


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_invalid_config_file_value_exit_2(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('eps = "big"\n')
    assert main(["train", "--config", str(cfg), "--runs-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "eps" in err and len(err.strip().splitlines()) == 1
    cfg.write_text("no_such_option = 1\n")
    assert main(["train", "--config", str(cfg), "--runs-dir", str(tmp_path / "r")]) == 2
    assert "no_such_option" in capsys.readouterr().err
    cfg.write_text("steps = [\n")
    assert main(["train", "--config", str(cfg), "--runs-dir", str(tmp_path / "r")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    cfg.write_bytes(b"\xff\xfe steps = 3\n")
    assert main(["train", "--config", str(cfg), "--runs-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "UTF-8" in err and len(err.strip().splitlines()) == 1
    # keys at the top level AND under [train]: the top-level ones would be silently ignored
    cfg.write_text("eps = 5.0\n[train]\nsteps = 3\n")
    assert main(["train", "--config", str(cfg), "--runs-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "eps" in err and "[train]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_unwritable_runs_dir_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = main(["train", "--runs-dir", str(blocker), "--method", "sgd", "--steps", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "runs_dir" in err and len(err.strip().splitlines()) == 1


def test_mnist_missing_folder_exit_2_nothing_written(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["train", "--runs-dir", str(runs), "--data", "mnist", "--data-dir", str(tmp_path / "nope"), "--quiet"])
    assert code == 2
    assert "data_dir" in capsys.readouterr().err
    assert not runs.exists()


def test_resume_of_missing_run_exit_2(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "resume" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes(b"\xff\xfe{}")
    assert main(["train", "--resume", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "resume" in err and len(err.strip().splitlines()) == 1


def test_toml_keys_and_flag_precedence(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[train]\nsteps = 7\neps = 2\nhidden = [8, 4]\nsparsity = 5\nblocks = "full"\n')
    c = TrainConfig.from_toml(cfg, steps=9)
    assert (c.steps, c.eps, c.hidden, c.sparsity, c.blocks) == (9, 2.0, "8,4", "5", "full")
    assert c.hidden_sizes() == (8, 4)
    with pytest.raises(UsageError, match="newton_lr"):
        TrainConfig(newton_lr=0)


def test_help_lists_every_option_with_default():
    out = subprocess.run([sys.executable, "-m", "qnewton", "train", "--help"], capture_output=True, text=True,
                         check=True).stdout
    flat = " ".join(out.split())
    for f in TrainConfig.__dataclass_fields__.values():
        assert "--" + f.name.replace("_", "-") in out, f.name
    assert "(default: 1.0)" in flat and "(default: 'offdiag-mass:50')" in flat and "(default: 'tensor')" in flat


def test_cli_run_then_resume(tmp_path, capsys):
    args = ["train", "--runs-dir", str(tmp_path), "--name", "x", "--method", "sgd", "--steps", "4", "--hidden", "4",
            "--train-limit", "100", "--batch-size", "16", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "MEASURED s/step" in out and "sgd" in out
    assert main(["train", "--resume", str(tmp_path / "x"), "--quiet"]) == 0
    assert main(["train", "--resume", str(tmp_path / "x"), "--steps", "9"]) == 2
    assert "cannot change on resume" in capsys.readouterr().err


def test_ctrl_c_writes_checkpoint_and_later_ctrl_c_are_quiet(tmp_path):
    import signal
    import time

    from qnewton.train.checkpoint import load_checkpoint

    args = [sys.executable, "-m", "qnewton", "train", "--runs-dir", str(tmp_path), "--name", "c", "--method", "sgd",
            "--steps", "100000", "--hidden", "4", "--train-limit", "100", "--batch-size", "8", "--eval-every", "1000",
            "--checkpoint-every", "100000", "--quiet"]
    # SIGINT at its default in the child even when the tests run as a background job (which starts
    # with SIGINT ignored, and an ignored SIGINT stays ignored across exec)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ledger = tmp_path / "c" / "sgd" / "ledger.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not ledger.exists() or ledger.stat().st_size < 2000):
        time.sleep(0.1)
    # a burst of Ctrl-C: the first stops the run, the others land in the checkpoint write or the
    # interpreter's exit handlers (torch's finalizers), which must not print a traceback
    for _ in range(8):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1, err
    assert "--resume" in err and "Traceback" not in err and "Exception ignored" not in err
    ck = load_checkpoint(tmp_path / "c" / "sgd" / "checkpoint.pt")
    assert ck["next_step"] > 0 and ck["totals"]["status"].startswith("interrupted")
    rows = ledger.read_text().splitlines()
    assert len(rows) >= ck["next_step"]
