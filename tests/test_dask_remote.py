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

# an experiment without a finer split (one task per seed) that trains nothing: the workers need no
# torch training stack, so they start fast
TINY_TABLE2 = """
name = "table2-kappa-time"
seeds = 2
[params]
sizes = [8, 24]
kappas = [10.0, 1000.0]
estimators = ["bound", "exact"]
repeats = 1
"""


WORKER_MODULES = ("qnewton.experiments.catalog.table2_kappa_time", "qnewton.experiments.executor", "torch", "scipy.linalg")


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
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
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
        from distributed import Client

        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)  # both worker processes have joined
            # the workers' one-time imports, before the timed test (a lambda travels by value)
            client.run(lambda: [__import__(m) for m in WORKER_MODULES])
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(("measured_", "projected_"))} for r in rows]


def test_remote_scheduler_gives_the_serial_numbers(tmp_path: Path, scheduler: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "table2.toml"
    cfg.write_text(TINY_TABLE2, encoding="utf-8")
    run = ["experiment", "run", "table2-kappa-time", "--config", str(cfg)]
    assert main([*run, "--out", str(tmp_path / "serial")]) == 0
    assert main([*run, "--out", str(tmp_path / "remote"), "--scheduler", scheduler, "--connect-timeout", "60"]) == 0
    err = capsys.readouterr().err
    assert f"dask: connected to {scheduler} (2 workers, 2 threads)" in err
    assert "table2-kappa-time tasks: 2/2 done, 0 running, 0 failed" in err
    serial = json.loads((tmp_path / "serial" / "table2-kappa-time" / "results.json").read_text())
    remote = json.loads((tmp_path / "remote" / "table2-kappa-time" / "results.json").read_text())
    assert remote["executor"]["kind"] == "scheduler" and remote["executor"]["address"] == scheduler
    assert remote["executor"]["workers"] == 2 and remote["executor"]["tasks"] == 2
    for table in ("kappa_accuracy", "table2"):
        raw_s, raw_r = serial["tables"][table]["raw"], remote["tables"][table]["raw"]
        assert len(raw_r) == len(raw_s) > 0 and _stable(raw_r) == _stable(raw_s)
    acc = serial["tables"]["kappa_accuracy"]["raw"]
    assert {r["seed"] for r in acc} == {0, 1}
    by_seed = [[r["log10_kappa_estimate"] for r in acc if r["seed"] == s and r["estimator"] == "bound"] for s in (0, 1)]
    assert by_seed[0] != by_seed[1]  # the seeds draw different matrices: equality above is not trivial
    assert {t["worker"].split(":")[1] for t in remote["measured_seconds_per_task"]} != {str(os.getpid())}
    assert {t["threads"] for t in remote["measured_seconds_per_task"]} == {1}
    monkeypatch.setenv("QNEWTON_DASK_SCHEDULER", scheduler)
    assert main([*run, "--out", str(tmp_path / "env"), "--connect-timeout", "60"]) == 0
    env = json.loads((tmp_path / "env" / "table2-kappa-time" / "results.json").read_text())
    assert env["executor"]["address"] == scheduler
    assert _stable(env["tables"]["kappa_accuracy"]["raw"]) == _stable(acc)
