"""Per-query time models: how many seconds one block-encoding query takes on a device.

The paper prices the quantum solver as R_q = t_g * E[queries] (Q-Newton, Sec. IV-C and
Algorithm 2 line 5), i.e. one gate time per query. A calibrated model replaces t_g with the
duration of a transpiled query circuit on a real device (see `qnewton.costs.calibration`).
Every model implements `QueryTimeModel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from qnewton.errors import UsageError

#: The paper's gate time (attosecond physics), Q-Newton Sec. V-B.
PAPER_GATE_TIME_SECONDS = 1e-18


@runtime_checkable
class QueryTimeModel(Protocol):
    """Seconds per block-encoding query for an N x N matrix with oracle sparsity d."""

    label: str

    def seconds_per_query(self, n: int, sparsity: int) -> float: ...


@dataclass(frozen=True)
class GateTimeModel:
    """The paper's model: one query costs one gate time t_g, independent of N and d."""

    gate_time_seconds: float = PAPER_GATE_TIME_SECONDS
    label: str = "gate-time"

    def __post_init__(self) -> None:
        t = self.gate_time_seconds
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise UsageError(f"gate_time_seconds: must be a positive finite number of seconds, got {t!r}")

    def seconds_per_query(self, n: int, sparsity: int) -> float:
        return float(self.gate_time_seconds)
