"""Circuit batches on Dask workers: a 2-worker local cluster gives exactly the in-process
statevectors and, with the same seeds, the same counts, whatever the chunking; the pool really
receives the circuits; `circuit solve` and `train --quantum-solver circuit` take --workers /
--scheduler and refuse bad values in one line (exit 2, nothing written)."""

from __future__ import annotations

import json
import math
import sys
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")

from qnewton.cli import main  # noqa: E402
from qnewton.errors import UsageError  # noqa: E402
from qnewton.experiments.executor import open_pool  # noqa: E402
from qnewton.quantum.dispatch import (CircuitRun, SimulatorSpec, derive_seed, run_batch, run_chunk,  # noqa: E402
                                      use_pool, current_pool)
from qnewton.quantum.swap_test import overlap_circuit  # noqa: E402
from qnewton.solvers.circuit import CircuitSolver, build_circuit  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_train_circuit import _tiny_mnist  # noqa: E402


class CountingPool(Executor):
    """Forwards to another pool and records how many circuits each submitted call carried."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        self.calls.append(len(args[1]))  # run_chunk(spec, runs)
        return self.inner.submit(fn, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # the inner pool's width (_client, _max_workers)
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def pool() -> Iterator[Executor]:
    with open_pool(workers=2) as p:
        assert p is not None
        yield p


def _system(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    return M @ M.T + n * np.eye(n), rng.normal(size=n)


def _sign_circuits(n: int = 4) -> list:
    A, b = _system(n, 1)
    sc = build_circuit("hhl", A, b)
    out = []
    for i in range(1, n):
        ref = np.zeros(n)
        ref[0] = ref[i] = 1 / math.sqrt(2)
        out.append(overlap_circuit(sc, ref, "swap"))
    return out


def test_statevector_batch_on_two_workers_equals_in_process_exactly(pool: Executor) -> None:
    spec = SimulatorSpec("statevector")
    runs = [CircuitRun(build_circuit(m, *_system(n, n)).circuit) for m, n in (("hhl", 2), ("qsvt", 4), ("hhl", 4))]
    here = run_batch(spec, runs)
    counting = CountingPool(pool)
    there = run_batch(spec, runs, pool=counting, chunk_size=1)
    assert counting.calls == [1, 1, 1]
    assert all(np.array_equal(a, b) for a, b in zip(here, there))
    assert [a.size for a in here] == [2**r.circuit.num_qubits for r in runs]
    assert all(abs(np.vdot(a, a) - 1) < 1e-9 for a in there)


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3])
def test_seeded_counts_do_not_depend_on_workers_or_chunking(pool: Executor, chunk_size: int | None) -> None:
    spec = SimulatorSpec("shots", seed=11)
    circuits = _sign_circuits()
    runs = [CircuitRun(c, 2000, derive_seed(11, 2 + j)) for j, c in enumerate(circuits)]
    here = run_chunk(spec, runs)
    counting = CountingPool(pool)
    there = run_batch(spec, runs, pool=counting, chunk_size=chunk_size)
    assert there == here
    assert sum(counting.calls) == len(runs)  # every circuit went to the pool ...
    size = chunk_size or math.ceil(len(runs) / 2)  # ... in chunks (default: one per worker)
    assert counting.calls == [min(size, len(runs) - k) for k in range(0, len(runs), size)]
    assert all(sum(c.values()) == 2000 for c in there)
    # different seeds give different samples (the seed really reaches the simulator)
    other = run_chunk(spec, [CircuitRun(c, 2000, derive_seed(12, 2 + j)) for j, c in enumerate(circuits)])
    assert other != here


def test_derive_seed() -> None:
    assert derive_seed(None, 3) is None and derive_seed(5, 0) == 5
    seeds = {derive_seed(5, k) for k in range(1, 50)}
    assert len(seeds) == 49 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(5, 7) == derive_seed(5, 7) != derive_seed(6, 7)


@pytest.mark.parametrize("backend", ["statevector", "shots"])
def test_circuit_solver_through_two_workers_gives_the_in_process_solution(pool: Executor, backend: str) -> None:
    A, b = _system(4, 0)
    local = CircuitSolver("hhl", backend, seed=7, estimate_resources=False).solve(A, b)
    counting = CountingPool(pool)
    remote = CircuitSolver("hhl", backend, seed=7, estimate_resources=False, pool=counting).solve(A, b)
    assert np.array_equal(local.x, remote.x)
    assert local.info["relative_error_vs_classical"] < 0.1
    if backend == "statevector":
        assert counting.calls == [1]  # the exact readout's one circuit
    else:
        assert remote.info["circuits_run"] == 4 and sum(counting.calls) == 3  # the 3 sign circuits, 1 batch
        assert counting.calls == [2, 1]  # split over the 2 workers


def test_solver_uses_the_pool_set_by_use_pool() -> None:
    A, b = _system(4, 0)
    solver = CircuitSolver("hhl", "shots", seed=3, estimate_resources=False)
    local = solver.solve(A, b)
    with ThreadPoolExecutor(2) as threads:
        counting = CountingPool(threads)
        with use_pool(counting):
            assert current_pool() is counting
            pooled = solver.solve(A, b)
    assert current_pool() is None
    assert np.array_equal(local.x, pooled.x) and sum(counting.calls) == 3


def test_bad_batches_are_one_line_errors() -> None:
    with pytest.raises(UsageError, match="backend: circuit batches run on workers"):
        SimulatorSpec("fake:sherbrooke")
    with pytest.raises(UsageError, match="shots: 0 .* needs the statevector backend"):
        run_batch(SimulatorSpec("shots"), [CircuitRun(_sign_circuits(2)[0], 0)])
    with pytest.raises(UsageError, match="chunk_size"):
        with ThreadPoolExecutor(1) as threads:
            run_batch(SimulatorSpec("shots"), [CircuitRun(_sign_circuits(2)[0], 10)], pool=threads, chunk_size=0)
    with ThreadPoolExecutor(1) as threads:
        with pytest.raises(UsageError, match="pool: circuit batches run on workers only for the Aer backends"):
            CircuitSolver("hhl", "statevector", executor=object(), pool=threads)


def test_circuit_solve_cli_on_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    A, b = _system(4, 0)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "b.npy", b)
    args = ["circuit", "solve", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"), "--backend", "shots",
            "--seed", "5", "--no-resources", "--json"]
    assert main(args) == 0
    here = json.loads(capsys.readouterr().out)
    assert main(args + ["--workers", "2"]) == 0
    captured = capsys.readouterr()
    there = json.loads(captured.out)
    assert "qnewton circuit: dask: local cluster of 2 worker processes x 1 thread started" in captured.err
    assert there["solution"] == here["solution"] and there["shots"] == here["shots"]
    assert here["relative_error"] < 0.1


@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "qnewton circuit: error: --workers: must be an integer between 1 and 512, got 0\n"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "qnewton circuit: error: --workers and --scheduler exclude each other"),
    (["--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "1"],
     "qnewton circuit: error: --scheduler: cannot reach a Dask scheduler at tcp://127.0.0.1:1 within 1 s"),
    (["--scheduler", "nohost"], "qnewton circuit: error: --scheduler: expected tcp://HOST:PORT"),
    (["--backend", "fake:sherbrooke", "--workers", "2"],
     "qnewton circuit: error: --workers/--scheduler: circuit batches run on Dask workers for the Aer backends"),
])
def test_circuit_solve_cli_refuses_bad_dask_options(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    extra: list[str], message: str) -> None:
    A, b = _system(2, 0)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "b.npy", b)
    code = main(["circuit", "solve", str(tmp_path / "A.npy"), str(tmp_path / "b.npy"), "--no-resources", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.npy", "b.npy"]


def _train_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return ["train", "--runs-dir", str(tmp_path / "runs"), "--name", name, "--method", "quantum", "--data", "mnist",
            "--data-dir", str(tmp_path), "--hidden", "2", "--blocks", "tensor", "--steps", "2", "--sgd-steps", "1",
            "--batch-size", "16", "--quantum-solver", "circuit", "--classical-constant", "1e-10", "--eval-every", "1",
            "--quiet", *extra]


def test_train_with_circuit_batches_on_two_workers_matches_in_process(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _tiny_mnist(tmp_path)
    assert main(_train_args(tmp_path, "here")) == 0
    assert main(_train_args(tmp_path, "there", "--workers", "2")) == 0
    err = capsys.readouterr().err
    assert "dask: local cluster of 2 worker processes x 1 thread started" in err
    here = json.loads((tmp_path / "runs" / "here" / "report.json").read_text())
    there = json.loads((tmp_path / "runs" / "there" / "report.json").read_text())
    a, b = here["methods"]["quantum"] if "methods" in here else here["quantum"], \
        there["methods"]["quantum"] if "methods" in there else there["quantum"]
    assert a["decisions"] == b["decisions"] == {"quantum": 4, "classical": 0}
    assert a["test_loss"] == b["test_loss"] and a["test_accuracy"] == b["test_accuracy"]


@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "qnewton train: error: --workers: must be an integer between 1 and 512, got 0\n"),
    (["--workers", "2", "--quantum-solver", "emulated"],
     "qnewton train: error: --workers: sends the circuit batches of --quantum-solver circuit to Dask workers"),
    (["--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "1"],
     "qnewton train: error: --scheduler: cannot reach a Dask scheduler at tcp://127.0.0.1:1 within 1 s"),
])
def test_train_refuses_bad_dask_options_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       extra: list[str], message: str) -> None:
    _tiny_mnist(tmp_path)
    code = main(_train_args(tmp_path, "bad", *extra))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()
