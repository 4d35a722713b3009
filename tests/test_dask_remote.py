"""An existing Dask scheduler reached by address: `dask scheduler` and `dask worker` (2 processes,
1 thread each) started as separate processes on the loopback interface; the experiment run with
--scheduler (and with $QNEWTON_DASK_SCHEDULER) gives the serial run's numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from qnewton.cli import main

ROOT = Path(__file__).resolve().parents[1]

TINY_FIG8 = """
name = "fig8-regularization"
seeds = 1
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


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("dask")
    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    file = folder / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(file)], env=env, cwd=folder, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=(folder / "scheduler.log").open("w"))]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            time.sleep(0.2)
        time.sleep(0.2)
        address = json.loads(file.read_text())["address"]
        procs.append(subprocess.Popen([dask, "worker", "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                                       "--host", "127.0.0.1", "--scheduler-file", str(file)], env=env, cwd=folder,
                                      start_new_session=True, stdout=subprocess.DEVNULL,
                                      stderr=(folder / "worker.log").open("w")))
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(("measured_", "projected_"))} for r in rows]


def test_remote_scheduler_gives_the_serial_numbers(tmp_path: Path, scheduler: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "fig8.toml"
    cfg.write_text(TINY_FIG8, encoding="utf-8")
    run = ["experiment", "run", "fig8-regularization", "--config", str(cfg)]
    assert main([*run, "--out", str(tmp_path / "serial")]) == 0
    assert main([*run, "--out", str(tmp_path / "remote"), "--scheduler", scheduler, "--connect-timeout", "60"]) == 0
    err = capsys.readouterr().err
    assert f"dask: connected to {scheduler} (2 workers, 2 threads)" in err
    assert "fig8-regularization tasks: 2/2 done, 0 running, 0 failed" in err
    serial = json.loads((tmp_path / "serial" / "fig8-regularization" / "results.json").read_text())
    remote = json.loads((tmp_path / "remote" / "fig8-regularization" / "results.json").read_text())
    assert remote["executor"]["kind"] == "scheduler" and remote["executor"]["address"] == scheduler
    assert remote["executor"]["workers"] == 2
    raw_s, raw_r = serial["tables"]["regularization"]["raw"], remote["tables"]["regularization"]["raw"]
    assert len(raw_r) == 2 and _stable(raw_r) == _stable(raw_s)
    assert {t["worker"].split(":")[1] for t in remote["measured_seconds_per_task"]} != {str(os.getpid())}
    assert (tmp_path / "remote" / "fig8-regularization" / "runs" / "fig8-eps10-seed0" / "classical" / "ledger.jsonl").is_file()
    monkeypatch.setenv("QNEWTON_DASK_SCHEDULER", scheduler)
    assert main([*run, "--out", str(tmp_path / "env"), "--connect-timeout", "60"]) == 0
    env = json.loads((tmp_path / "env" / "fig8-regularization" / "results.json").read_text())
    assert env["executor"]["address"] == scheduler
    assert _stable(env["tables"]["regularization"]["raw"]) == _stable(raw_s)
