"""A batch of circuits run in this process or spread over the workers of a `concurrent.futures.Executor`.

qiskit-aer 0.18.2 documents an ``executor`` run option but never submits anything to it, so the
batch is split here: `run_batch(spec, runs, pool=...)` cuts the list of `CircuitRun`s into
consecutive chunks, submits one call of `run_chunk` per chunk to `pool` (a Dask
``Client.get_executor()``, a ``ProcessPoolExecutor``, ... or None for this process), and returns
the results in the order of `runs`. On the worker, `run_chunk` builds an Aer executor from the
`SimulatorSpec` (the same backend, device and transpiler seed as in the client; built once per
worker process and reused) and runs each circuit alone with its own simulator seed. A circuit's
result therefore depends only on the circuit, its shots and its seed, never on the chunk it
landed in or on the worker that ran it: the same batch gives the same counts in-process and on
any number of workers (and the same amplitudes for exact statevector runs).

This module creates no cluster and knows nothing of Dask: the caller that owns the pool (the
command line) starts and closes it.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import Executor as PoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
from qiskit import QuantumCircuit

from qnewton.errors import UsageError
from qnewton.quantum.run_options import MAX_SEED, check_seed, check_shots

#: Backends a worker can rebuild from their name alone (the Aer simulators of `backends.make_executor`).
DISPATCHABLE = ("statevector", "shots", "noisy-sherbrooke")

CircuitResult = Union[dict, np.ndarray]


@dataclass(frozen=True)
class SimulatorSpec:
    """What a worker needs to build the same simulator: the backend name (one of DISPATCHABLE),
    the Aer device and the executor's seed (the transpiler seed of noisy-sherbrooke)."""

    backend: str
    device: str = "CPU"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in DISPATCHABLE:
            raise UsageError(f"backend: circuit batches run on workers for {', '.join(DISPATCHABLE)} only, "
                             f"not {self.backend!r}")
        check_seed(self.seed)


@dataclass(frozen=True)
class CircuitRun:
    """One circuit of a batch: `shots` > 0 samples counts with simulator seed `seed` (None: Aer
    draws one); `shots` = 0 returns the exact final statevector (statevector backend, no
    measurements in the circuit)."""

    circuit: QuantumCircuit
    shots: int = 0
    seed: int | None = None


def derive_seed(base: int | None, index: int) -> int | None:
    """The simulator seed of the `index`-th circuit of a computation seeded with `base`.

    index 0 is `base` itself; every other index gets an independent 63-bit seed drawn from
    numpy's SeedSequence([base, index]) (so neighbouring circuits never share a random stream).
    None stays None."""
    if base is None:
        return None
    if index == 0:
        return int(base)
    state = np.random.SeedSequence([int(base), int(index)]).generate_state(1, np.uint64)[0]
    return int(state) & MAX_SEED


@functools.lru_cache(maxsize=8)
def simulator_for(spec: SimulatorSpec) -> Any:
    """The Aer executor for `spec`, built once per process (a worker keeps it between chunks)."""
    from qnewton.quantum.backends import make_executor

    return make_executor(spec.backend, device=spec.device, seed=spec.seed)


def run_chunk(spec: SimulatorSpec, runs: Sequence[CircuitRun], runner: Any = None) -> list[CircuitResult]:
    """Run `runs` one after the other (on a worker, or here); counts dicts or statevectors in order.

    runner: an executor already built for `spec` in this process (default: `simulator_for(spec)`)."""
    runner = simulator_for(spec) if runner is None else runner
    out: list[CircuitResult] = []
    for run in runs:
        if run.shots == 0:
            out.append(np.asarray(runner.statevector(run.circuit)))
        else:
            out.append(runner.counts_with_seed(run.circuit, run.shots, run.seed))
    return out


def pool_width(pool: Any) -> int:
    """How many calls `pool` runs at once, as far as it says (1 when it does not)."""
    width = getattr(pool, "_max_workers", None)
    if isinstance(width, int) and width > 0:
        return width
    client = getattr(pool, "_client", None)  # distributed's ClientExecutor
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:  # noqa: BLE001 - a scheduler that does not answer: one chunk per circuit
            return 0
    return 1


def split(runs: Sequence[CircuitRun], chunk_size: int) -> list[list[CircuitRun]]:
    """Consecutive chunks of at most `chunk_size` runs."""
    return [list(runs[i:i + chunk_size]) for i in range(0, len(runs), chunk_size)]


def check_runs(spec: SimulatorSpec, runs: Sequence[CircuitRun]) -> None:
    """Shots in [0, MAX_SHOTS] (0 only on the statevector backend) and seeds in range, or UsageError."""
    for run in runs:
        if not isinstance(run, CircuitRun) or not isinstance(run.circuit, QuantumCircuit):
            raise UsageError(f"runs: expected CircuitRun(QuantumCircuit, shots, seed) entries, got {type(run).__name__}")
        if run.shots == 0:
            if spec.backend != "statevector":
                raise UsageError(f"shots: 0 (exact statevector) needs the statevector backend, not {spec.backend!r}")
        else:
            check_shots(run.shots)
        check_seed(run.seed)


def run_batch(spec: SimulatorSpec, runs: Sequence[CircuitRun], *, pool: PoolExecutor | None = None,
              chunk_size: int | None = None, runner: Any = None) -> list[CircuitResult]:
    """Results of every circuit of `runs`, in order: in this process (`pool` None) or as chunks on
    `pool`'s workers (module docstring).

    chunk_size: circuits per submitted call; default ceil(len(runs) / width) with width the
    number of calls `pool` runs at once (`pool_width`), one circuit per call when unknown.
    runner: the in-process executor to use when `pool` is None (default: built from `spec`).
    If a chunk fails, the chunks not yet started are cancelled and its exception is raised."""
    check_runs(spec, runs)
    if not runs:
        return []
    if pool is None:
        return run_chunk(spec, runs, runner)
    if chunk_size is None:
        width = pool_width(pool)
        chunk_size = math.ceil(len(runs) / width) if width > 0 else 1
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise UsageError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    futures = [pool.submit(run_chunk, spec, chunk) for chunk in split(runs, chunk_size)]
    results: list[CircuitResult] = []
    try:
        for future in futures:
            part = future.result()
            results.extend(part)
    finally:
        for future in futures:
            future.cancel()  # no-op for those done; the rest never start
    if len(results) != len(runs):  # pragma: no cover - a worker that returned a short list
        raise RuntimeError(f"circuit batch: {len(runs)} circuits sent, {len(results)} results came back")
    return results


# ---------------------------------------------------------------- the pool of the current command

_CURRENT: list[PoolExecutor | None] = [None]


def current_pool() -> PoolExecutor | None:
    """The pool that circuit solvers built without one use (set by the command line, see `use_pool`)."""
    return _CURRENT[0]


class use_pool:  # noqa: N801 - used as a context manager, like open()
    """`with use_pool(pool):` circuit solvers that were given no pool send their batches to `pool`
    inside the block (the command line opens the pool, e.g. a Dask client's executor, and closes
    it after the block)."""

    def __init__(self, pool: PoolExecutor | None) -> None:
        self.pool = pool
        self.previous: PoolExecutor | None = None

    def __enter__(self) -> PoolExecutor | None:
        self.previous = _CURRENT[0]
        _CURRENT[0] = self.pool
        return self.pool

    def __exit__(self, *exc: object) -> None:
        _CURRENT[0] = self.previous
