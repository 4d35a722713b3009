"""A linear solver that really builds and simulates the quantum circuit (HHL or QSVT) for small blocks.

`CircuitSolver.solve(A, b)` (the `LinearSolver` interface, kind "quantum"):

1. validates A (square, symmetric, finite, nonsingular) and b, and refuses blocks larger than
   `max_size` (default 16) with a one-line UsageError;
2. builds the circuit (`qnewton.quantum.hhl` or `qnewton.quantum.qsvt`); both rescale internally:
   A' = A / lambda_max (HHL) or A / ||A||_2 (QSVT) and |b> = b / ||b||;
3. reads the solution: with the "statevector" backend, exactly from the amplitudes (sign included);
   otherwise from counts (`qnewton.quantum.readout`): norm from the post-selection rate, magnitudes
   from computational-basis counts, relative signs from SWAP (or Bell-basis) tests, the global sign
   from b^T x > 0 (positive definite) or the residual (indefinite). With a `pool` (any
   `concurrent.futures.Executor`, e.g. a Dask client's `get_executor()`; or the one set with
   `qnewton.quantum.dispatch.use_pool`), the readout's batch runs on the pool's workers
   (`qnewton.quantum.dispatch`): the N' - 1 sign circuits of a counts readout, or the one
   statevector circuit of an exact readout. Results are the same as in-process (per-circuit seeds);
4. optionally transpiles to ibm_sherbrooke for ECR count, depth and the MODELED device time
   shots x (one-shot duration + repetition delay), with shots = all shots of the counts readout
   (for exact readout: `shots` x N', the 1 + (N' - 1) circuits a device would need);
   `estimated_device_seconds_one_circuit_modeled` is one solver circuit x `shots`, the closest
   thing to the paper's free readout.

Extreme scales: A and b are divided by powers of two 2^ea, 2^eb that bring their largest entries
near 1 (exact; only outside [2^-64, 2^64]), the circuit is built and read for that system, and
x is multiplied back by 2^(eb - ea) (`info["rescaled_log2"]`). A solution that would overflow
float64 (or vanish to 0) is refused with one line before any circuit is built. Options that
reach the simulator are checked when the solver is made: shots in [1, 10^8], seed in
[0, 2^63 - 1], precision, target fidelity and epsilon in (0, 1).

`info` holds method, qubits, shots, post-selection rate, fidelity and relative error against the
classical (numpy) solution, ECR count, depth, modeled device seconds, and MEASURED build / transpile /
simulate seconds. `modeled_quantum_seconds` is the scheduler's modeled cost when a decision is passed
(as `LinearSolver` specifies), else the transpiled-circuit device model; `info["modeled_seconds_source"]`
says which.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

import numpy as np

from qnewton.analysis.scaling import binary_exponent, max_abs, power_of_two_scaled
from qnewton.errors import UsageError
from qnewton.quantum.backends import check_seed, check_shots, make_executor
from qnewton.quantum.block_encoding import padded_size, validate_symmetric
from qnewton.quantum.dispatch import DISPATCHABLE, CircuitRun, SimulatorSpec, current_pool, run_batch
from qnewton.quantum.hhl import build_hhl
from qnewton.quantum.qsvt import build_qsvt
from qnewton.quantum.readout import estimate_solution
from qnewton.quantum.solver_circuit import SolverCircuit, fidelity, readout_from_statevector, relative_error
from qnewton.quantum.spectrum import exact_bounds
from qnewton.quantum.state_prep import validate_vector
from qnewton.newton.decision import Decision
from qnewton.solvers.base import SolveResult

CircuitMethod = Literal["hhl", "qsvt"]
Readout = Literal["auto", "exact", "counts"]
METHODS = ("hhl", "qsvt")

#: Fraction of physical memory a statevector may take.
MEMORY_FRACTION = 0.5


def available_memory_bytes() -> int:
    """Physical memory of this machine in bytes (8 GiB if the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


def check_memory(num_qubits: int, backend: str) -> None:
    """Raise UsageError if a statevector of num_qubits (complex128) would not fit in memory.

    Live 'ibm:NAME' backends run on the device, not here: only the device's qubit count limits them
    (checked when the circuits are transpiled for it).
    """
    if backend.startswith("ibm:"):
        return
    need = 16 * 2.0 ** int(num_qubits) if num_qubits < 1000 else float("inf")  # 2.0 ** 1024 raises
    have = MEMORY_FRACTION * available_memory_bytes()
    if need > have:
        raise UsageError(
            f"A: the circuit needs {num_qubits} qubits ({need / 2**30:.3g} GiB statevector), "
            f"more than backend '{backend}' can hold here ({have / 2**30:.1f} GiB)"
        )


def estimate_qubits(method: CircuitMethod, n: int, kappa: float, signed: bool, target_fidelity: float = 0.99) -> int:
    """Qubits of the circuit before building it: HHL log2 N' + clock + 1 flag, QSVT log2 N' + 2."""
    from qnewton.quantum.hhl import choose_clock_qubits

    sys_q = int(np.log2(padded_size(n)))
    if method == "hhl":
        return sys_q + choose_clock_qubits(kappa, target_fidelity, signed) + 1
    return sys_q + 2


def check_dense_operators(method: CircuitMethod, n: int, clock_qubits: int = 1) -> None:
    """Raise UsageError if the dense gate matrices (2N' x 2N' per oracle) would not fit in memory."""
    size = 2 * padded_size(n)
    count = clock_qubits if method == "hhl" else 1
    need = 16.0 * size * size * count
    have = MEMORY_FRACTION * available_memory_bytes()
    if need > have:
        raise UsageError(
            f"A: size {n} needs {need / 2**30:.1f} GiB of dense gate matrices, more than fits here ({have / 2**30:.1f} GiB)"
        )


def build_circuit(method: CircuitMethod, A: np.ndarray, b: np.ndarray, **kwargs: Any) -> SolverCircuit:
    """Build the HHL or QSVT circuit for A x = b."""
    if method == "hhl":
        keys = {"clock_qubits", "target_fidelity", "bounds"}
        return build_hhl(A, b, **{k: v for k, v in kwargs.items() if k in keys})
    if method == "qsvt":
        keys = {"epsilon", "max_norm", "bounds"}
        return build_qsvt(A, b, **{k: v for k, v in kwargs.items() if k in keys})
    raise UsageError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")


def _check_open_unit(name: str, value: object) -> None:
    """A real number strictly between 0 and 1, or a one-line UsageError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (0 < value < 1):
        raise UsageError(f"{name}: must be a number in (0, 1), got {value!r}")


def _solution_out_of_range(x_scaled: np.ndarray, shift: int) -> str | None:
    """Why x = x_scaled 2^shift cannot be returned (overflow, or every entry 0), else None."""
    top = max_abs(x_scaled)
    if not np.isfinite(top):
        return "the rescaled system has no finite solution"
    e = binary_exponent(top) + shift
    if e > 1024:
        return f"the solution x = A^-1 b has max|x_i| about 2^{e}, above the float64 range"
    if e < -1074:
        return f"the solution x = A^-1 b has max|x_i| about 2^{e}, below the float64 range"
    return None


class CircuitSolver:
    """LinearSolver running HHL or QSVT circuits on a simulator backend (blocks up to max_size)."""

    kind = "quantum"

    def __init__(
        self,
        method: CircuitMethod = "hhl",
        backend: str = "statevector",
        *,
        device: str = "CPU",
        shots: int = 4096,
        max_size: int = 16,
        seed: int | None = None,
        target_fidelity: float = 0.99,
        epsilon: float = 1e-2,
        readout: Readout = "auto",
        overlap_test: Literal["swap", "bell"] = "swap",
        estimate_resources: bool = True,
        precision: float | None = None,
        executor: Any = None,
        runtime_mode: Literal["batch", "session"] = "batch",
        pool: Any = None,
    ) -> None:
        if method not in METHODS:
            raise UsageError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
        if isinstance(max_size, bool) or not (isinstance(max_size, (int, np.integer)) and max_size >= 1):
            raise UsageError(f"max_size: must be a positive integer, got {max_size!r}")
        shots = check_shots(shots)
        seed = check_seed(seed)
        if readout not in ("auto", "exact", "counts"):
            raise UsageError(f"readout: must be 'auto', 'exact' or 'counts', got {readout!r}")
        if overlap_test not in ("swap", "bell"):
            raise UsageError(f"overlap_test: must be 'swap' or 'bell', got {overlap_test!r}")
        _check_open_unit("target_fidelity", target_fidelity)
        _check_open_unit("epsilon", epsilon)
        if precision is not None:
            _check_open_unit("precision", precision)
        self.precision = precision
        self.method: CircuitMethod = method
        self.backend = backend
        self.shots = int(shots)
        self.max_size = int(max_size)
        self.seed = seed
        self.target_fidelity = float(target_fidelity)
        self.epsilon = float(epsilon)
        self.overlap_test = overlap_test
        self.estimate_resources = bool(estimate_resources)
        self.executor = executor if executor is not None else make_executor(
            backend, device=device, seed=seed, runtime_mode=runtime_mode
        )
        self.device = getattr(self.executor, "device", "CPU")
        # what a worker needs to rebuild this simulator (only for an executor built here from an Aer backend)
        self.spec = (SimulatorSpec(backend, device=self.device, seed=getattr(self.executor, "seed", None))
                     if executor is None and backend in DISPATCHABLE else None)
        if pool is not None and self.spec is None:
            raise UsageError(f"pool: circuit batches run on workers only for the Aer backends "
                             f"({', '.join(DISPATCHABLE)}) built by the solver, not {backend!r}")
        self.pool = pool
        exact_ok = bool(getattr(self.executor, "exact", False))
        if readout == "exact" and not exact_ok:
            raise UsageError(f"readout: 'exact' needs the statevector backend, not {backend!r}")
        self.readout = "exact" if (readout == "auto" and exact_ok) or readout == "exact" else "counts"
        self.name = f"circuit-{method}"

    def _validated_matrix(self, A: np.ndarray) -> np.ndarray:
        """A as an exactly symmetric float64 matrix no larger than max_size, or UsageError."""
        M = validate_symmetric(A)
        if M.shape[0] > self.max_size:
            raise UsageError(
                f"A: block of size {M.shape[0]} exceeds the circuit solver's max_size={self.max_size} "
                "(use the emulated or classical solver, or raise max_size)"
            )
        return M

    def build(self, A: np.ndarray, b: np.ndarray) -> SolverCircuit:
        """Validate and build the circuit (no simulation)."""
        M = self._validated_matrix(A)
        n = M.shape[0]
        v = validate_vector(b, n)
        return build_circuit(self.method, M, v, target_fidelity=self.target_fidelity, epsilon=self.epsilon)

    def solve(self, A: np.ndarray, b: np.ndarray, decision: Decision | None = None) -> SolveResult:
        """Build and simulate the circuit for A x = b; x read out exactly or from counts (module docstring).

        SolveResult.measured_seconds is MEASURED wall clock here; modeled_quantum_seconds is MODELED
        (the scheduler's figure if `decision` is given, else the transpiled-circuit device model).
        """
        t_start = time.perf_counter()
        M = self._validated_matrix(A)
        n = M.shape[0]
        raw = np.asarray(b)
        if raw.dtype.kind in "biuf" and raw.size == n and not np.any(raw):
            return SolveResult(
                x=np.zeros(n), method=self.name, kind="quantum",
                measured_seconds=time.perf_counter() - t_start,
                info={"method": self.method, "note": "b = 0: x = 0 without running a circuit"},
            )
        v = validate_vector(b, n)
        # the circuits see A / 2^ea and b / 2^eb; their solution is x 2^(ea - eb)
        Ms, ea = power_of_two_scaled(M)
        vs, eb = power_of_two_scaled(v)
        bounds = exact_bounds(Ms)
        x_classical_s = np.linalg.solve(Ms, vs)
        problem = _solution_out_of_range(x_classical_s, eb - ea)
        if problem:
            raise UsageError(f"b: {problem}; divide A or b by a power of two")
        est_q = estimate_qubits(self.method, n, bounds.kappa, bounds.signed, self.target_fidelity)
        check_memory(est_q if self.readout == "exact" else 2 * est_q + 1, self.backend)
        check_dense_operators(self.method, n, est_q)
        t0 = time.perf_counter()
        sc = build_circuit(self.method, Ms, vs, target_fidelity=self.target_fidelity, epsilon=self.epsilon, bounds=bounds)
        build_s = time.perf_counter() - t0
        sim_qubits = sc.num_qubits if self.readout == "exact" else 2 * sc.num_qubits + 1
        check_memory(sim_qubits, self.backend)

        pool = self.pool if self.pool is not None else (current_pool() if self.spec is not None else None)
        t0 = time.perf_counter()
        if self.readout == "exact":
            if pool is not None:
                [state] = run_batch(self.spec, [CircuitRun(sc.circuit, 0)], pool=pool)
            else:
                state = self.executor.statevector(sc.circuit)
            r = readout_from_statevector(sc, state)
            x, p, shots_used, circuits, sign_rule = r.x, r.success_probability, 0, 1, "exact amplitudes"
        else:
            est = estimate_solution(
                sc, self.executor, self.shots, b=vs, A=Ms, test=self.overlap_test,
                global_sign="residual" if bounds.signed else "spd", precision=self.precision,
                pool=pool, spec=self.spec,
            )
            x, p, shots_used, circuits, sign_rule = est.x, est.success_probability, est.total_shots, est.circuits, est.global_sign_rule
        sim_s = time.perf_counter() - t0

        x_scaled = np.asarray(x, dtype=np.float64)
        if eb - ea:
            with np.errstate(over="ignore", under="ignore"):
                x = np.ldexp(x_scaled, eb - ea)
        info: dict[str, Any] = {
            "method": self.method,
            "backend": self.backend,
            "device": self.device,
            "qubits": sc.num_qubits,
            "padded_size": padded_size(n),
            "readout": self.readout,
            "shots": int(shots_used),
            "circuits_run": int(circuits),
            "post_selection_rate": float(p),
            "fidelity_vs_classical": fidelity(x_scaled, x_classical_s),
            "relative_error_vs_classical": relative_error(x_scaled, x_classical_s),
            "sign_rule": sign_rule,
            "kappa": float(bounds.kappa),
            "details": {k: (v_ if not isinstance(v_, np.generic) else v_.item()) for k, v_ in sc.details.items()},
            "build_seconds_measured": build_s,
            "simulate_seconds_measured": sim_s,
        }
        if ea or eb:
            info["rescaled_log2"] = {"A": int(ea), "b": int(eb)}
        fb = getattr(self.executor, "fallback_reason", None)
        if fb:
            info["device_fallback"] = fb
        modeled_device = None
        if self.estimate_resources:
            from qnewton.quantum.resources import circuit_resources, device_seconds, rep_delay_seconds

            res = circuit_resources(sc.measured())
            # exact readout models the counts readout a device would need: 1 + (N' - 1) circuits
            shots_model = shots_used if shots_used else self.shots * padded_size(n)
            delay = rep_delay_seconds()
            modeled_device = device_seconds(res.duration_seconds, shots_model, delay)
            info["estimated_device_seconds_one_circuit_modeled"] = device_seconds(res.duration_seconds, self.shots, delay)
            info.update(
                {
                    "ecr_count": res.ecr_count,
                    "depth": res.depth,
                    "duration_seconds_per_shot_modeled": res.duration_seconds,
                    "estimated_device_seconds_modeled": modeled_device,
                    "shots_modeled": int(shots_model),
                    "transpile_seconds_measured": res.transpile_seconds,
                    "resource_backend": res.backend,
                }
            )
        if decision is not None:
            modeled = float(decision.quantum_seconds)
            info["modeled_seconds_source"] = "scheduler"
        elif modeled_device is not None:
            modeled = modeled_device
            info["modeled_seconds_source"] = "transpiled-circuit"
        else:
            modeled = 0.0
            info["modeled_seconds_source"] = "none"
        return SolveResult(
            x=np.asarray(x, dtype=np.float64),
            method=self.name,
            kind="quantum",
            measured_seconds=time.perf_counter() - t_start,
            modeled_quantum_seconds=modeled,
            info=info,
        )
