"""Experiment tasks on Dask: a local cluster of 2 worker processes gives the serial run's numbers;
the fig1/fig8 task split gives the rows of the whole-seed function; bad --workers / --scheduler
values are one line and exit 2 with nothing written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.experiments.config import load_config
from qnewton.experiments.executor import (SerialExecutor, check_scheduler_address, open_executor, resolve_target)
from qnewton.experiments.runner import run_experiment
from qnewton.experiments.spec import RunContext

TINY_FIG8 = """
name = "fig8-regularization"
seeds = 2
[params]
classical_constant = 1e-10
eps_values = [0.1, 10.0]
hidden = "4"
steps = 4
sgd_steps = 2
batch_size = 64
eval_every = 2
sparsity = "1.0"
"""

TINY_FIG1 = """
name = "fig1-sparsity"
seeds = 1
[params]
classical_constant = 1e-10
ratios = [0.1, 1.0]
hidden = "4"
steps = 4
sgd_steps = 2
batch_size = 64
eval_every = 2
"""

VARYING = ("measured_", "projected_")


def _cfg(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(VARYING)} for r in rows]


def test_local_cluster_gives_the_serial_numbers(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, TINY_FIG8))
    serial = run_experiment(cfg, out=tmp_path / "serial")
    with open_executor(workers=2) as executor:
        assert executor.describe()["workers"] == 2
        dask = run_experiment(cfg, out=tmp_path / "dask", executor=executor)
    rows_s, rows_d = serial.raw["regularization"], dask.raw["regularization"]
    assert len(rows_s) == 2 * 2
    assert [(r["seed"], r["eps"]) for r in rows_d] == [(s, e) for s in (0, 1) for e in (0.1, 10.0)]
    assert _stable(rows_d) == _stable(rows_s)
    assert _stable(dask.summaries["regularization"]) == _stable(serial.summaries["regularization"])
    # the seeds differ from each other, so equality above is not trivially true
    assert rows_s[0]["test_accuracy"] != rows_s[2]["test_accuracy"]
    # every training run came back from the workers into runs/, with its ledger
    runs_s = sorted(p.name for p in (serial.directory / "runs").iterdir())
    runs_d = sorted(p.name for p in (dask.directory / "runs").iterdir())
    assert runs_d == runs_s and len(runs_d) == 4
    assert (dask.directory / "runs" / "fig8-eps10-seed1" / "classical" / "ledger.jsonl").stat().st_size > 0
    data = json.loads((dask.directory / "results.json").read_text())
    assert data["executor"]["kind"] == "local-cluster" and data["executor"]["workers"] == 2
    assert data["executor"]["threads_per_task"] == 1 and data["executor"]["tasks"] == 4
    tasks = data["measured_seconds_per_task"]
    assert [t["task"] for t in tasks[:2]] == [{"eps": 0.1}, {"eps": 10.0}]
    assert len({t["worker"] for t in tasks}) >= 1 and all(t["measured_seconds"] > 0 for t in tasks)
    assert json.loads((serial.directory / "results.json").read_text())["executor"]["kind"] == "serial"


def test_fig1_task_split_gives_the_whole_seed_rows(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, TINY_FIG1))
    exp = cfg.experiment
    tasks = exp.seed_tasks(cfg.params, 0)
    assert tasks == [{"part": "accuracy", "sparsity_ratio": 0.1}, {"part": "accuracy", "sparsity_ratio": 1.0},
                     {"part": "trace"}]
    split = run_experiment(cfg, out=tmp_path / "split")
    whole = exp.run_seed(cfg.params, 0, RunContext(work_dir=tmp_path / "whole"))
    assert _stable(split.raw["accuracy"]) == _stable([{"seed": 0, **r} for r in whole["accuracy"]])
    assert _stable(split.raw["trace"]) == _stable([{"seed": 0, **r} for r in whole["trace"]])
    assert [r["sparsity_ratio"] for r in split.raw["accuracy"]] == [0.1, 1.0]
    assert len(split.raw["trace"]) > 0 and all(r["modeled_classical_seconds"] > 0 for r in split.raw["trace"])


def test_experiments_without_a_split_run_one_task_per_seed() -> None:
    cfg = load_config("table2-kappa-time", quick=True)
    assert cfg.experiment.seed_tasks(cfg.params, 3) == [{}]


def test_target_resolution() -> None:
    assert resolve_target(None, None, env={}) == ("serial", None)
    assert resolve_target(1, None, env={}) == ("serial", None)
    assert resolve_target(3, None, env={}) == ("local", 3)
    assert resolve_target(None, "10.0.0.5:8786", env={}) == ("remote", "tcp://10.0.0.5:8786")
    env = {"QNEWTON_DASK_SCHEDULER": "tcp://head:8786"}
    assert resolve_target(None, None, env=env) == ("remote", "tcp://head:8786")
    assert resolve_target(2, None, env=env) == ("local", 2)  # an explicit --workers wins over the variable
    assert resolve_target(None, None, env={"QNEWTON_DASK_SCHEDULER": "  "}) == ("serial", None)
    for bad in ("", "tcp://host", "tcp://host:0", "tcp://host:99999", "host port", "http://host:80"):
        with pytest.raises(UsageError, match="--scheduler"):
            check_scheduler_address(bad)
    with pytest.raises(UsageError, match="exclude each other"):
        resolve_target(2, "tcp://h:1", env={})
    with pytest.raises(UsageError, match=r"--workers: must be an integer between 1 and"):
        resolve_target(0, None, env={})
    with open_executor(workers=1) as executor:
        assert isinstance(executor, SerialExecutor)


@pytest.mark.parametrize(("extra", "message"), [
    (["--workers", "0"], "qnewton experiment: error: --workers: must be an integer between 1 and 512, got 0"),
    (["--workers", "-3"], "qnewton experiment: error: --workers: must be an integer between 1 and 512, got -3"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "qnewton experiment: error: --workers and --scheduler exclude"),
    (["--scheduler", "not an address"], "qnewton experiment: error: --scheduler: an address has no spaces"),
    (["--task-threads", "-1"], "qnewton experiment: error: --task-threads: must be an integer >= 0"),
])
def test_bad_executor_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                                           message: str) -> None:
    out = tmp_path / "r"
    code = main(["experiment", "run", "fig8-regularization", "--config", str(_cfg(tmp_path, TINY_FIG8)),
                 "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists()


def test_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    t0 = time.perf_counter()
    code = main(["experiment", "run", "fig8-regularization", "--config", str(_cfg(tmp_path, TINY_FIG8)),
                 "--out", str(out), "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1"])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 15
    assert err.startswith("qnewton experiment: error: --scheduler: cannot reach a Dask scheduler at tcp://127.0.0.1:9 within 1 s")
    assert err.count("\n") == 1 and not out.exists()
    # the same through the environment variable
    monkeypatch.setenv("QNEWTON_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    code = main(["experiment", "run", "fig8-regularization", "--config", str(_cfg(tmp_path, TINY_FIG8)),
                 "--out", str(out), "--connect-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach a Dask scheduler at tcp://127.0.0.1:9" in err and not out.exists()


def test_progress_bar_on_a_terminal_and_in_a_file() -> None:
    import io

    from qnewton.cli.experiment import _Reporter
    from qnewton.experiments.executor import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    reporter = _Reporter(term)
    reporter.name = "fig8-regularization"
    reporter.progress(Progress(total=4, done=1, running=2, failed=1))
    reporter.log("a log line")
    reporter.progress(Progress(total=4, done=3, running=0, failed=1))
    text = term.getvalue()
    assert text.startswith("\r\033[K[###############...............] fig8-regularization tasks: 1/4 done, 2 running, 1 failed")
    # a log line clears the bar, is printed, and the bar is drawn again under it
    assert "\r\033[Ka log line\n[###############" in text
    assert text.endswith("fig8-regularization tasks: 3/4 done, 0 running, 1 failed\n")
    plain = io.StringIO()
    reporter = _Reporter(plain)
    reporter.name = "x"
    for done in (0, 1, 1, 2):
        reporter.progress(Progress(total=2, done=done, running=1 if done < 2 else 0))
    lines = plain.getvalue().splitlines()
    assert lines == ["[..............................] x tasks: 0/2 done, 1 running, 0 failed",
                     "[###############...............] x tasks: 1/2 done, 1 running, 0 failed",
                     "[##############################] x tasks: 2/2 done, 0 running, 0 failed"]
