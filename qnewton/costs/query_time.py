"""Per-query time models: how many seconds one block-encoding query takes on a device.

The paper prices the quantum solver as R_q = t_g * E[queries] (Q-Newton, Sec. IV-C and
Algorithm 2 line 5), i.e. one gate time per query: `GateTimeModel`. Its default is
`DEFAULT_GATE_TIME` = 1e-9 s, a hypothetical 1 GHz query rate; the paper's own 1e-18 s
(`PAPER_GATE_TIME`) is always asked for explicitly (`--gate-time 1e-18`, the "attosecond"
calibration profile), so that no run silently assumes attosecond hardware.

A device calibration replaces t_g by the duration of the query circuit on that device. The
numbers behind it (gate-count laws fitted on transpiled circuits, per-gate durations and errors)
are measured in `qnewton.calibrate`; the formulas that turn them into seconds and fidelities live
here (`GateCountModel`, `RunFidelity`), free of Qiskit and of any file. Every model implements
`QueryTimeModel`; `qnewton.calibrate.query_time_model` picks one from the user's options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

from qnewton.errors import UsageError

#: The default seconds per query wherever none is given: a hypothetical 1 GHz query rate.
DEFAULT_GATE_TIME = 1e-9

#: The paper's gate time (attosecond physics), Q-Newton Sec. V-B; only used when asked for.
PAPER_GATE_TIME = 1e-18


@runtime_checkable
class QueryTimeModel(Protocol):
    """Seconds per block-encoding query for an N x N matrix with oracle sparsity d."""

    label: str

    def seconds_per_query(self, n: int, sparsity: int) -> float: ...


def seconds_per_query_at(model: QueryTimeModel, n: int, sparsity: int, *, kappa: float, epsilon: float,
                         alpha: float) -> float:
    """Seconds per query of `model` for a solve at (N, d, kappa, eps, alpha).

    A model whose per-query time depends on the whole solve (a fault-tolerant profile: the code
    distance grows with the run's length, `qnewton.calibrate.ft_query_time`) provides
    `seconds_per_solve_query(n, sparsity, kappa=, epsilon=, alpha=)`; every other model is asked
    `seconds_per_query(n, sparsity)`, as before.
    """
    per_solve = getattr(model, "seconds_per_solve_query", None)
    if per_solve is None:
        return float(model.seconds_per_query(n, sparsity))
    return float(per_solve(n, sparsity, kappa=kappa, epsilon=epsilon, alpha=alpha))


@dataclass(frozen=True)
class GateTimeModel:
    """The paper's model: one query costs one gate time t_g, independent of N and d."""

    gate_time_seconds: float = DEFAULT_GATE_TIME
    label: str = "gate-time"

    def __post_init__(self) -> None:
        t = self.gate_time_seconds
        if isinstance(t, bool) or not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise UsageError(f"gate_time_seconds: must be a positive finite number of seconds, got {t!r}")

    def seconds_per_query(self, n: int, sparsity: int) -> float:
        """t_g, whatever N and d."""
        return float(self.gate_time_seconds)


def log1m(error: float | None) -> float:
    """log(1 - e) of a gate error probability e (0 for an unreported or zero error)."""
    if error is None or error <= 0:
        return 0.0
    return math.log1p(-error) if error < 1 else -math.inf


@dataclass(frozen=True)
class GateCountModel:
    """One query on m qubits priced from gate-count laws, per basis gate g:

        c_g(m)       = exp(log_a[g] + log_r[g] * m)            (gates of type g in one query)
        t_query(m)   = serialization * sum_g c_g(m) * gate_seconds[g]
        log F(m)     = sum_g c_g(m) * log1m_error[g]           (probability of no gate error)

    serialization: critical path / summed gate time of the circuits the laws were fitted on
    (gates on different qubits overlap). two_qubit_gates: the g counted as two-qubit gates.
    """

    log_a: Mapping[str, float]
    log_r: Mapping[str, float]
    gate_seconds: Mapping[str, float]
    log1m_error: Mapping[str, float]
    serialization: float = 1.0
    two_qubit_gates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if set(self.log_r) != set(self.log_a):
            raise UsageError("gate-count model: log_a and log_r must name the same gates")
        for g in self.log_a:
            if g not in self.gate_seconds or g not in self.log1m_error:
                raise UsageError(f"gate-count model: gate {g!r} has no duration or error")
        s = self.serialization
        if not (math.isfinite(s) and s > 0):
            raise UsageError(f"gate-count model: serialization must be positive and finite, got {s!r}")

    def count(self, gate: str, qubits: int) -> float:
        """c_g(m): modeled count of `gate` in one query on m = `qubits` qubits."""
        return math.exp(self.log_a[gate] + self.log_r[gate] * qubits)

    def growth(self, gate: str) -> float:
        """r_g: factor by which the count of `gate` grows per extra qubit."""
        return math.exp(self.log_r[gate])

    def counts(self, qubits: int) -> dict[str, float]:
        """c_g(m) for every gate of the model."""
        return {g: self.count(g, qubits) for g in self.log_a}

    def seconds(self, qubits: int) -> float:
        """t_query(m) in seconds."""
        return self.serialization * sum(c * self.gate_seconds[g] for g, c in self.counts(qubits).items())

    def log_fidelity(self, qubits: int) -> float:
        """log F(m): natural log of the probability that one query runs without a gate error."""
        return sum(c * self.log1m_error[g] for g, c in self.counts(qubits).items())

    def two_qubit_count(self, qubits: int) -> float:
        """Modeled two-qubit gates in one query."""
        return sum(c for g, c in self.counts(qubits).items() if g in self.two_qubit_gates)


@dataclass(frozen=True)
class RunFidelity:
    """Expected fidelity of one solver run (Q queries + readout) and the repetitions it implies.

    log F_run = Q log F_query + sum over the measured qubits of log(1 - readout error), for
    independent errors; without error correction one needs 1 / F_run runs on average to see one
    without any error.
    """

    queries: float
    log_fidelity_gates: float
    log_fidelity_readout: float = field(default=0.0)

    @classmethod
    def of_run(cls, queries: float, log_fidelity_query: float, measured_qubits: int,
               readout_error: float | None) -> "RunFidelity":
        """The fidelity of `queries` queries of log fidelity `log_fidelity_query` each, then a
        readout of `measured_qubits` qubits with error probability `readout_error` each."""
        if not (isinstance(queries, (int, float)) and math.isfinite(queries) and queries >= 0):
            raise UsageError(f"queries: must be a finite number >= 0, got {queries!r}")
        if measured_qubits < 0:
            raise UsageError(f"measured_qubits: must be >= 0, got {measured_qubits!r}")
        gates = queries * log_fidelity_query if queries > 0 else 0.0
        return cls(float(queries), gates, measured_qubits * log1m(readout_error or 0.0))

    @property
    def log_fidelity(self) -> float:
        """log F_run (see the class docstring)."""
        return self.log_fidelity_gates + self.log_fidelity_readout

    @property
    def fidelity(self) -> float:
        """F_run = exp(log_fidelity) (underflows to 0 for long runs; use log_fidelity)."""
        return math.exp(self.log_fidelity)

    @property
    def log10_expected_repetitions(self) -> float:
        """log10(1 / F_run): runs needed on average to get one without any error."""
        return -self.log_fidelity / math.log(10.0)

    @property
    def expected_repetitions(self) -> float:
        """1 / F_run (inf when it overflows a float)."""
        x = -self.log_fidelity
        return math.exp(x) if x < 709 else math.inf
