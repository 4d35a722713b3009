"""Where an experiment's tasks run: in this process, on a local Dask cluster, or on a running
Dask scheduler. The only module of `qnewton.experiments` that imports dask or distributed.

A *task* is one entry of `Experiment.seed_tasks(params, seed)` (one whole seed unless the
experiment splits it finer). `execute_job` runs one task wherever it is: it pins the BLAS and torch
thread counts (`threads`, 1 by default, so that N single-threaded workers do not oversubscribe N
cores), runs it with its own `RunContext`, and catches any exception, which becomes a failed
`TaskResult` carrying the task's parameters and the traceback (a deterministic error is never
retried; a `UsageError`, a user mistake such as a missing data file, stops the run with its
one-line message instead, as it does without Dask). Three executors share one interface, `run(jobs, work_dir=, log=, progress=)`:

* `SerialExecutor`: every task in this process, one after the other (today's behaviour); the
  training runs write straight into ``work_dir`` and log lines appear as they are written.
* `DaskExecutor` on a `LocalCluster` (``--workers N``, N >= 2): N worker processes with one thread
  each, on this machine. Its dashboard address is printed when it starts (the dashboard needs the
  bokeh package; without it one line says so).
* `DaskExecutor` on a running scheduler (``--scheduler ADDRESS`` or ``$QNEWTON_DASK_SCHEDULER``),
  reached with a short connect timeout. Its workers need the same qnewton installed; they need no
  shared folder: a task writes its training runs into a temporary folder of its worker and sends
  them back as one tar archive, which the client unpacks into ``work_dir``; log lines come back
  with the result and are printed when the task ends. ``--data-dir`` must name the same data on
  every worker.

A worker process that dies in the middle of a task (killed, out of memory) is replaced by its
nanny, and the scheduler gives the task to another worker; after `ALLOWED_FAILURES` such deaths
(a local cluster's setting; a remote scheduler keeps its own ``distributed.scheduler.allowed-failures``,
3 by default) the task fails with KilledWorker, reported like any other failure. Interrupting
the client (Ctrl-C, SIGTERM) cancels every outstanding task before the exception goes on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from qnewton.errors import UsageError
from qnewton.experiments.spec import Experiment, RunContext, Tables, Task

#: Environment variable holding a scheduler address used when neither --workers nor --scheduler is given.
ENV_SCHEDULER = "QNEWTON_DASK_SCHEDULER"
#: Worker deaths a task survives on a local cluster before it fails (distributed.scheduler.allowed-failures).
ALLOWED_FAILURES = 2
#: Default seconds to wait for a scheduler to answer (and for its first worker).
DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_WORKERS = 512
#: Dask settings of the local cluster. worker-saturation 1.0: a worker holds only the task it
#: computes, so a worker that dies takes no queued task down with it (each death counts against
#: every task the worker held). The workers' statistical profiler is off and glibc's malloc trim
#: threshold is left alone: with both at Dask's defaults a training task took about 1.6x the CPU
#: seconds it takes in the client process (the profiler samples the running thread every 10 ms).
#: BLAS and OpenMP start with one thread, as Dask does by default.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
}
#: Seconds `DaskExecutor` waits for the result of a task reported finished before it looks again
#: (the worker holding it may die meanwhile: then the scheduler computes the task again).
RESULT_WAIT = 5.0
#: Seconds a run may go on with no worker at all before its outstanding tasks fail.
NO_WORKER_LIMIT = 120.0
#: Largest tar archive of training runs one task may send back (bytes).
MAX_RUNS_ARCHIVE = 512 * 1024 * 1024


@dataclass(frozen=True)
class TaskJob:
    """One task to run: which experiment, parameters, seed and task, and how.

    index: position of the task within its seed; extra: `RunContext.extra` as prepared on the
    client (e.g. the resolved classical constant), copied into the task's own context; threads:
    BLAS and torch threads while the task runs (0: leave the libraries' setting)."""

    experiment: Experiment
    params: Any
    seed: int
    index: int
    task: Task
    quick: bool = False
    data_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    count: int = 1  # tasks in this seed

    @property
    def label(self) -> str:
        """'seed 0' or 'seed 0, task 2/5 (eps=0.1)': how the task is named in logs and reports."""
        text = f"seed {self.seed}"
        if self.count > 1 or self.task:
            text += f", task {self.index + 1}/{self.count}"
            if self.task:
                text += " (" + ", ".join(f"{k}={v}" for k, v in self.task.items()) + ")"
        return text


@dataclass
class TaskResult:
    """What one task gave back: its tables, or the error that stopped it.

    error: "ExceptionType: message" (None on success); traceback: the formatted traceback;
    measured_seconds: wall clock of the task on its worker; logs: the lines it logged (replayed
    on the client); extra: its `RunContext.extra` afterwards (cost sources); runs: a tar archive
    of its training runs (None when it wrote straight into the client's folder); worker: host:pid."""

    seed: int
    index: int
    task: Task
    label: str
    tables: Tables | None = None
    error: str | None = None
    traceback: str | None = None
    measured_seconds: float = 0.0
    logs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    runs: bytes | None = None
    worker: str = ""
    threads: int = 1
    usage_error: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Progress:
    """Counts of the tasks of a run: total, done (finished without error), running, failed."""

    total: int
    done: int = 0
    running: int = 0
    failed: int = 0


ProgressCallback = Callable[[Progress], None]


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Limit torch and the BLAS libraries to `threads` threads for the block (0: leave them)."""
    if threads <= 0:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    limiter = None
    try:
        import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS: a limit reaches loaded libraries only
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(threads, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limiter = None
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        torch.set_num_threads(previous)


def _pack(folder: Path) -> bytes | None:
    """The folder's content as an uncompressed tar archive (None when it holds nothing)."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for entry in sorted(folder.iterdir()):
            tar.add(entry, arcname=entry.name)
    data = buffer.getvalue()
    if len(data) > MAX_RUNS_ARCHIVE:
        raise RuntimeError(f"training runs of one task take {len(data)} bytes, over the {MAX_RUNS_ARCHIVE}-byte limit")
    return data


def unpack_runs(data: bytes, work_dir: Path) -> None:
    """Unpack a task's training runs into `work_dir` (regular files and folders only, no member
    leaving the folder: the archive comes from a worker, which may be another machine)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(work_dir, filter="data")


def execute_job(job: TaskJob, work_dir: Path | None = None, log: Callable[[str], None] | None = None) -> TaskResult:
    """Run one task and return its result; an exception inside the task becomes a failed result.

    With `work_dir` None (on a Dask worker) the task writes into a temporary folder that is sent
    back as a tar archive and removed; its log lines are collected. Given `work_dir` and `log`
    (in-process), it writes and logs directly."""
    lines: list[str] = []

    def collect(message: str) -> None:
        lines.append(message)

    scratch = Path(tempfile.mkdtemp(prefix="qnewton-task-")) if work_dir is None else None
    ctx = RunContext(quick=job.quick, data_dir=Path(job.data_dir) if job.data_dir else None,
                     work_dir=(scratch / "runs") if scratch is not None else work_dir,
                     log=log if log is not None else collect, extra=_copy_extra(job.extra),
                     data_name=getattr(job.params, "data", None))
    result = TaskResult(seed=job.seed, index=job.index, task=dict(job.task), label=job.label,
                        worker=f"{socket.gethostname()}:{os.getpid()}", threads=job.threads)
    t0 = time.perf_counter()
    try:
        with pinned_threads(job.threads):
            result.tables = job.experiment.execute(job.params, job.seed, dict(job.task), ctx)
        if scratch is not None:
            result.runs = _pack(scratch / "runs")
    except UsageError as exc:  # a user mistake found by the task (e.g. a missing data file): one line
        result.error = str(exc)
        result.usage_error = True
    except Exception as exc:  # every failure of a task is reported, the other tasks go on
        result.tables = None
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    finally:
        result.measured_seconds = time.perf_counter() - t0
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    result.logs = lines
    result.extra = {"cost_sources": dict(ctx.extra.get("cost_sources", {}))}
    return result


def _copy_extra(extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(extra)
    if "cost_sources" in out:
        out["cost_sources"] = dict(out["cost_sources"])
    return out


class Executor(Protocol):
    """Runs task jobs and returns one result per job (in any order)."""

    def describe(self) -> dict[str, Any]:
        """What ran the tasks, for results.json: kind, workers, threads per worker."""
        ...

    def run(self, jobs: Sequence[TaskJob], *, work_dir: Path, log: Callable[[str], None],
            progress: ProgressCallback | None = None) -> list[TaskResult]:
        ...


class SerialExecutor:
    """Every task in this process, in order: the behaviour of one worker."""

    def describe(self) -> dict[str, Any]:
        return {"kind": "serial", "workers": 1, "threads_per_worker": 1, "address": None}

    def run(self, jobs: Sequence[TaskJob], *, work_dir: Path, log: Callable[[str], None],
            progress: ProgressCallback | None = None) -> list[TaskResult]:
        state = Progress(total=len(jobs))
        results = []
        for job in jobs:
            state.running = 1
            if progress:
                progress(state)
            log(f"[{job.experiment.name}] {job.label} ({'quick' if job.quick else 'full'} settings)")
            result = execute_job(job, work_dir=work_dir, log=log)
            if result.usage_error:
                raise UsageError(result.error or "")
            results.append(result)
            state.running = 0
            if result.ok:
                state.done += 1
            else:
                state.failed += 1
                log(f"[{job.experiment.name}] {job.label} FAILED: {result.error}")
            if progress:
                progress(state)
        return results


def _failed_result(job: TaskJob, exc: BaseException | None, tb: Any, status: str) -> TaskResult:
    if exc is None:
        error = f"task {status} by the scheduler"
        text = ""
    else:
        error = f"{type(exc).__name__}: {exc}"
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    return TaskResult(seed=job.seed, index=job.index, task=dict(job.task), label=job.label, error=error,
                      traceback=text, threads=job.threads)


class DaskExecutor:
    """Tasks on the workers of a Dask client (a LocalCluster of ours, or a remote scheduler)."""

    def __init__(self, client: Any, *, kind: str, address: str, cluster: Any = None, threads: int = 1,
                 workers: int = 0) -> None:
        self.client = client
        self.cluster = cluster
        self.workers = workers  # worker processes a local cluster keeps (0: not ours to keep)
        self.kind = kind
        self.address = address
        self.threads = threads

    def describe(self) -> dict[str, Any]:
        nthreads = self._nthreads()
        return {"kind": self.kind, "workers": len(nthreads), "threads_per_worker": sorted(set(nthreads.values())),
                "address": self.address}

    def _nthreads(self) -> dict[str, int]:
        try:
            return dict(self.client.nthreads())
        except Exception:  # pragma: no cover - the scheduler went away; describe what we can
            return {}

    def _running(self, outstanding: int) -> int:
        """Tasks being computed now: per worker, at most its thread count of the tasks it holds."""
        try:
            processing = self.client.processing()
            nthreads = self.client.nthreads()
        except Exception:  # pragma: no cover
            return 0
        running = sum(min(len(keys), nthreads.get(w, 1)) for w, keys in processing.items())
        return min(running, outstanding)

    def run(self, jobs: Sequence[TaskJob], *, work_dir: Path, log: Callable[[str], None],
            progress: ProgressCallback | None = None) -> list[TaskResult]:
        from distributed import as_completed

        state = Progress(total=len(jobs))
        if not jobs:
            return []
        token = os.urandom(4).hex()
        futures = {}
        for job in jobs:
            key = f"qnewton-{job.experiment.name}-seed{job.seed}-task{job.index}-{token}"
            futures[self.client.submit(execute_job, job, key=key, pure=False)] = job
        results: list[TaskResult] = []
        pending = set(futures)
        last_poll = last_check = time.monotonic()
        no_worker_since: float | None = None
        try:
            ac = as_completed(list(futures), loop=self.client.loop)
            while pending:
                batch = ac.next_batch(block=False)
                if not batch:
                    now = time.monotonic()
                    if now - last_check > 2.0:
                        last_check = now
                        if self._worker_count() == 0:
                            no_worker_since = now if no_worker_since is None else no_worker_since
                            if now - no_worker_since > NO_WORKER_LIMIT:  # nothing left to run them
                                with contextlib.suppress(Exception):
                                    self.client.cancel(list(pending), force=True)
                                for future in sorted(pending, key=lambda f: (futures[f].seed, futures[f].index)):
                                    job = futures[future]
                                    lost = RuntimeError(f"no Dask worker was left for {NO_WORKER_LIMIT:g} s")
                                    results.append(_failed_result(job, lost, None, "cancelled"))
                                    state.failed += 1
                                    log(f"[{job.experiment.name}] {job.label} FAILED: {results[-1].error}")
                                pending.clear()
                                if progress:
                                    progress(state)
                                break
                        else:
                            no_worker_since = None
                        self._keep_workers()
                    if progress and now - last_poll > 1.0:
                        running = self._running(len(pending))
                        if running != state.running:
                            state.running = running
                            progress(state)
                        last_poll = now
                    time.sleep(0.05)
                    continue
                for future in batch:
                    if future.status in ("lost", "pending"):
                        # its worker died after finishing it: the scheduler computes it again
                        ac.add(future)
                        continue
                    job = futures[future]
                    result = self._collect(future, job, work_dir, log)
                    if result is None:  # its worker died after finishing it: computed again
                        ac.add(future)
                        continue
                    pending.discard(future)
                    if result.usage_error:  # the same mistake would stop the other tasks too
                        raise UsageError(result.error or "")
                    results.append(result)
                    if result.ok:
                        state.done += 1
                    else:
                        state.failed += 1
                        log(f"[{job.experiment.name}] {job.label} FAILED: {result.error}")
                state.running = self._running(len(pending)) if pending else 0
                if progress:
                    progress(state)
        except BaseException:
            # interrupted: workers that got the terminal's SIGINT too may log their exit; the
            # client reports the interruption in one line
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
            # Every task of the run is cancelled, the finished ones too: the exception's traceback
            # keeps this frame and its futures alive until the garbage collector breaks the cycle,
            # and until then the scheduler would keep their results.
            with contextlib.suppress(Exception):
                self.client.cancel(list(futures), force=True)
            pending.clear()
            raise
        finally:
            if pending:  # interrupted: nothing keeps running on the workers
                with contextlib.suppress(Exception):
                    self.client.cancel(list(pending), force=True)
            # The futures sit in reference cycles (as_completed's callbacks), so without this the
            # scheduler would keep every task's result in its worker's memory until the next
            # garbage collection, well after the run.
            for future in futures:
                with contextlib.suppress(Exception):
                    future.release()
        return results

    def _worker_count(self) -> int:
        try:
            return len(self.client.nthreads())
        except Exception:  # pragma: no cover - the scheduler went away
            return 0

    def _keep_workers(self) -> None:
        """A local cluster back to its size: a nanny whose worker died while it was starting (a task
        that kills its worker at once can do that) closes for good instead of restarting it; it
        is forgotten and a new worker process takes its place (the scheduler's retry limit still
        bounds how often one task may kill a worker)."""
        if self.cluster is None or not self.workers or self._worker_count() >= self.workers:
            return
        with contextlib.suppress(Exception):
            from distributed.core import Status

            for name, nanny in list(self.cluster.workers.items()):
                if getattr(nanny, "status", None) in (Status.closed, Status.failed):
                    del self.cluster.workers[name]
            self.cluster.scale(self.workers)

    def _collect(self, future: Any, job: TaskJob, work_dir: Path, log: Callable[[str], None]) -> TaskResult | None:
        """The task's result; None when it is no longer available (its worker died after finishing
        it, and the scheduler computes it again): the caller waits for it once more. Never waits
        more than RESULT_WAIT seconds, so a lost result cannot block the run."""
        status = future.status
        if status == "finished":
            try:
                result: TaskResult = future.result(timeout=RESULT_WAIT)
            except TimeoutError:
                return None
            except Exception as exc:  # its last retry failed meanwhile (KilledWorker, ...)
                if future.status in ("lost", "pending"):
                    return None
                result = _failed_result(job, exc, exc.__traceback__, future.status)
        elif status == "error":
            result = _failed_result(job, future.exception(), future.traceback(), status)
        else:
            result = _failed_result(job, None, None, status)
        name = job.experiment.name
        for line in result.logs:
            log(f"[{name}] {job.label}: {line.strip()}")
        if result.ok:
            log(f"[{name}] {job.label} done on {result.worker} ({result.measured_seconds:.1f} s measured)")
        if result.runs:
            unpack_runs(result.runs, work_dir)
            result.runs = None
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=10)


def check_workers(workers: int | None) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers: must be an integer between 1 and {MAX_WORKERS}, got {workers!r}")
    return workers


def check_scheduler_address(address: str, field: str = "--scheduler") -> str:
    """A scheduler address: tcp://HOST:PORT (or HOST:PORT, tls://..., inproc://...)."""
    text = address.strip()
    if not text:
        raise UsageError(f"{field}: empty address (expected tcp://HOST:PORT)")
    if any(c.isspace() for c in text):
        raise UsageError(f"{field}: an address has no spaces, got {address!r}")
    rest = text.split("://", 1)[1] if "://" in text else text
    scheme = text.split("://", 1)[0] if "://" in text else "tcp"
    if scheme not in ("tcp", "tls", "ucx", "inproc", "ws", "wss"):
        raise UsageError(f"{field}: unknown protocol {scheme!r} in {address!r} (expected tcp://HOST:PORT)")
    if scheme in ("tcp", "tls", "ws", "wss"):
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"{field}: expected tcp://HOST:PORT with a port 1-65535, got {address!r}")
    return text if "://" in text else f"tcp://{text}"


def _dashboard_available() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_target(workers: int | None, scheduler: str | None, env: dict[str, str] | None = None) -> tuple[str, Any]:
    """("serial", None), ("local", N) or ("remote", address) from --workers / --scheduler / env.

    --workers and --scheduler exclude each other; without either, $QNEWTON_DASK_SCHEDULER (when set
    and not empty) names a scheduler; else one worker (in-process)."""
    env = os.environ if env is None else env
    workers = check_workers(workers)
    if workers is not None and scheduler is not None:
        raise UsageError("--workers and --scheduler exclude each other: give one (--workers N starts a local cluster)")
    if scheduler is not None:
        return "remote", check_scheduler_address(scheduler)
    if workers is None and env.get(ENV_SCHEDULER, "").strip():
        return "remote", check_scheduler_address(env[ENV_SCHEDULER], field=f"${ENV_SCHEDULER}")
    if workers is None or workers == 1:
        return "serial", None
    return "local", workers


@contextlib.contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None, *, threads: int = 1,
                  connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, log: Callable[[str], None] = lambda m: None,
                  env: dict[str, str] | None = None) -> Iterator[SerialExecutor | DaskExecutor]:
    """The executor for --workers / --scheduler (see `resolve_target`), closed on the way out.

    A scheduler that does not answer, or has no worker, within `connect_timeout` seconds is a
    one-line UsageError."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise UsageError(f"--task-threads: must be an integer >= 0 (0 = the libraries' choice), got {threads!r}")
    if not (connect_timeout > 0 and connect_timeout < 3600):
        raise UsageError(f"--connect-timeout: must be more than 0 and less than 3600 seconds, got {connect_timeout!r}")
    kind, target = resolve_target(workers, scheduler, env)
    if kind == "serial":
        yield SerialExecutor()
        return
    executor = _start_local(target, threads, log) if kind == "local" else _connect(target, threads, connect_timeout, log)
    try:
        yield executor
    finally:
        executor.close()


def _ignore_sigint() -> None:
    """In a local worker process: leave Ctrl-C to the client, which cancels the tasks and closes
    the cluster (a terminal sends SIGINT to every process of its foreground group)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_local(workers: int, threads: int, log: Callable[[str], None]) -> DaskExecutor:
    import dask
    from distributed import Client, LocalCluster

    dashboard = _dashboard_available()
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # "Port 8787 is already in use ... on port N instead": the address printed below is the real one
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            # the scheduler's HTTP server (health and metrics routes, the dashboard with bokeh) on
            # 8787 when free; without bokeh on any free port, so two runs never contend for it
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":8787" if dashboard else ":0", silence_logs=logging.ERROR)
        client = Client(cluster, set_as_default=False)
    with contextlib.suppress(Exception):  # a nicety: without it Ctrl-C still stops everything
        from distributed.diagnostics.plugin import WorkerPlugin

        class IgnoreSigint(WorkerPlugin):
            name = "qnewton-ignore-sigint"

            def setup(self, worker: Any) -> None:
                _ignore_sigint()

        client.register_plugin(IgnoreSigint())
    log(f"dask: local cluster of {workers} worker processes x 1 thread started in {time.perf_counter() - t0:.1f} s "
        f"({cluster.scheduler_address})")
    if dashboard:
        log(f"dask: dashboard at {cluster.dashboard_link}")
    else:
        log("dask: no dashboard (the bokeh package is not installed)")
    return DaskExecutor(client, kind="local-cluster", address=cluster.scheduler_address, cluster=cluster, threads=threads,
                        workers=workers)


def _connect(address: str, threads: int, timeout: float, log: Callable[[str], None]) -> DaskExecutor:
    import dask
    from distributed import Client

    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
            client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UsageError(f"--scheduler: cannot reach a Dask scheduler at {address} within {timeout:g} s ({reason})") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        with contextlib.suppress(Exception):
            client.close()
        raise UsageError(f"--scheduler: the scheduler at {address} has no worker (none joined within {timeout:g} s)") from None
    n = len(client.nthreads())
    log(f"dask: connected to {address} ({n} workers, {sum(client.nthreads().values())} threads)")
    return DaskExecutor(client, kind="scheduler", address=address, threads=threads)


@contextlib.contextmanager
def open_pool(workers: int | None = None, scheduler: str | None = None, *,
              connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
              log: Callable[[str], None] = lambda m: None) -> Iterator[Any]:
    """A `concurrent.futures.Executor` over Dask workers for circuit batches, or None (in-process).

    --workers N (N >= 2) starts a local cluster of N single-threaded worker processes (the same
    cluster as `open_executor`), --scheduler ADDRESS connects to a running scheduler; --workers 1
    or neither gives None. $QNEWTON_DASK_SCHEDULER is not consulted: circuit batches leave this
    process only when the command asks for it. The client and a local cluster are closed on the
    way out. A bad --workers value or a scheduler that does not answer is a one-line UsageError."""
    with open_executor(workers, scheduler, threads=1, connect_timeout=connect_timeout, log=log, env={}) as executor:
        if isinstance(executor, SerialExecutor):
            yield None
            return
        pool = executor.client.get_executor(pure=False)
        try:
            yield pool
        finally:
            with contextlib.suppress(Exception):
                pool.shutdown(wait=False)
