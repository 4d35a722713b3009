"""Calibrated per-query time: the duration of one block-encoding query on a profiled device.

The paper prices one query of the block encoding U_A at one gate time t_g (Q-Newton Sec. IV-C,
R_q = t_g * E[queries]). Here one query is the circuit we actually build for it, transpiled for
the device of a calibration profile (`qnewton.calibrate.query_circuits`).

Small sizes (N' <= max(fit_sizes), default 64): the transpiled query circuit's duration and
fidelity, as they are. Larger sizes: a gate-count model fitted on the transpiled sizes, for each
basis gate g

    c_g(m) = a_g * 4**m

A generic m-qubit unitary needs Theta(4^m) two-qubit gates (at least (4^m - 3m - 1)/4 CNOTs,
Shende, Markov, Bullock 2004; the quantum Shannon decomposition Qiskit uses reaches (23/48) 4^m),
and S = sqrt(I - B^2) makes the dilation generic, so the base is fixed at 4 and a_g is fitted on
the two largest fit sizes, where routing overhead has settled (growth="fitted" also fits the base;
at small m routing inflates it to about 4.8, which over-estimates large N). The fitted numbers
become a `qnewton.costs.query_time.GateCountModel`, whose formulas give

    t_query(m)  = s * sum_g c_g(m) * median duration of g in the profile
    log F(m)    = sum_g c_g(m) * mean log(1 - e_g) over the g gates of the two largest
                  transpiled circuits (the errors of the qubits the layout pass chose)

where s (the "serialization factor", geometric mean over the two largest fit sizes of transpiled
critical path / summed gate time) accounts for gates that run in parallel. For the exact dilation,
d matters little once d >= 2 (S is dense anyway); d = 1 (diagonal A) is cheaper because the
dilation factorizes into ancilla rotations. A sparse-access oracle would scale with d and
polylog N instead; we do not build one, see docs/calibrations.md.

Fidelity of one solver run with Q queries and a readout of k qubits is reported separately
(`run_fidelity`, a `RunFidelity`), not folded into seconds_per_query: per-query time stays a
duration, and the fidelity shows how far the device is from running it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qnewton.calibrate.profiles import CalibrationProfile
from qnewton.calibrate.query_circuits import (
    MAX_TRANSPILE_SIZE,
    SparsityClass,
    TranspiledQuery,
    sparsity_class,
    transpile_query,
)
from qnewton.costs.query_time import GateCountModel, RunFidelity, log1m
from qnewton.errors import UsageError
from qnewton.quantum.block_encoding import padded_size

EstimateSource = Literal["transpiled", "extrapolated"]
GrowthModel = Literal["fixed-4", "fitted"]
GROWTH_MODELS: tuple[str, ...] = ("fixed-4", "fitted")
DEFAULT_FIT_SIZES: tuple[int, ...] = (8, 16, 32, 64)


@dataclass(frozen=True)
class GateCountFit:
    """The gate-count model of one sparsity d, with the transpiled circuits it was fitted on."""

    sparsity: int
    sparsity_class: SparsityClass
    fit_sizes: tuple[int, ...]
    growth_model: GrowthModel
    model: GateCountModel
    samples: tuple[TranspiledQuery, ...] = field(repr=False)

    @property
    def serialization(self) -> float:
        """s: transpiled critical path / summed gate time at the two largest fit sizes."""
        return self.model.serialization

    def count(self, gate: str, qubits: int) -> float:
        """c_g(m): modeled count of `gate` in one query on m = `qubits` qubits."""
        return self.model.count(gate, qubits)

    def growth(self, gate: str) -> float:
        """r_g: factor by which the count of `gate` grows per extra qubit."""
        return self.model.growth(gate)


@dataclass(frozen=True)
class QueryEstimate:
    """Per-query duration and fidelity for an N x N matrix with sparsity d on a profiled device."""

    n: int
    sparsity: int
    padded_n: int
    qubits: int
    sparsity_class: SparsityClass
    source: EstimateSource
    gate_counts: dict[str, float]
    two_qubit_gates: float
    duration_seconds: float
    log_fidelity: float

    @property
    def fidelity(self) -> float:
        """exp(log_fidelity): probability that one query runs without a gate error."""
        return math.exp(self.log_fidelity)


def fit_gate_counts(
    profile: CalibrationProfile,
    sparsity: int,
    *,
    fit_sizes: tuple[int, ...] = DEFAULT_FIT_SIZES,
    growth: GrowthModel = "fixed-4",
    optimization_level: int = 1,
    seed: int = 0,
) -> GateCountFit:
    """Fit c_g(m) = a_g r_g^m and the serialization factor s on transpiled query circuits.

    growth "fixed-4" (default): r_g = 4 for every gate (see the module docstring), and a_g is the
    geometric mean of c_g / 4^m over the two largest fit sizes, where routing overhead has settled.
    growth "fitted": a_g, r_g by least squares of log c_g on m over all fit sizes (the growth rate
    at small m is inflated by routing, so this over-estimates large N; kept for comparison).
    s: geometric mean over the two largest fit sizes of transpiled duration / sum_g c_g t_g.
    """
    if len(fit_sizes) < 2:
        raise UsageError(f"fit_sizes: need at least two sizes to fit, got {fit_sizes!r}")
    if growth not in GROWTH_MODELS:
        raise UsageError(f"growth: must be one of {', '.join(GROWTH_MODELS)}, got {growth!r}")
    sizes = tuple(sorted(fit_sizes))
    samples = tuple(transpile_query(profile, s, sparsity, optimization_level=optimization_level, seed=seed) for s in sizes)
    top = samples[-2:]
    m = np.array([s.qubits for s in samples], dtype=float)
    gates = sorted({g for s in samples for g in s.gate_counts if g in profile.gates})
    log_a: dict[str, float] = {}
    log_r: dict[str, float] = {}
    for g in gates:
        c = np.array([s.gate_counts.get(g, 0) for s in samples], dtype=float)
        ok = c > 0
        if growth == "fitted" and ok.sum() >= 2:
            slope, intercept = np.polyfit(m[ok], np.log(c[ok]), 1)
            log_a[g], log_r[g] = float(intercept), float(slope)
            continue
        top_ok = [s for s in top if s.gate_counts.get(g, 0) > 0] or [s for s in samples if s.gate_counts.get(g, 0) > 0]
        log_r[g] = math.log(4.0)
        log_a[g] = float(np.mean([math.log(s.gate_counts[g]) - log_r[g] * s.qubits for s in top_ok]))
    ratios = []
    for s in top:
        serial = sum(cnt * profile.median_gate_duration(g) for g, cnt in s.gate_counts.items() if g in profile.gates)
        if serial > 0 and s.duration_seconds > 0:
            ratios.append(s.duration_seconds / serial)
    serialization = float(np.exp(np.mean(np.log(ratios)))) if ratios else 1.0
    # effective log(1 - e_g) per gate on the qubits the transpiler chose at the largest sizes
    log1m_error: dict[str, float] = {}
    for g in gates:
        cnt = sum(s.gate_counts.get(g, 0) for s in top)
        log1m_error[g] = (sum(s.log_fidelity_by_gate.get(g, 0.0) for s in top) / cnt if cnt
                          else log1m(profile.median_gate_error(g)))
    model = GateCountModel(
        log_a=log_a,
        log_r=log_r,
        gate_seconds={g: profile.median_gate_duration(g) for g in gates},
        log1m_error=log1m_error,
        serialization=serialization,
        two_qubit_gates=tuple(g for g in gates if g in profile.two_qubit_gates()),
    )
    return GateCountFit(int(sparsity), sparsity_class(sparsity), sizes, growth, model, samples)


class CalibratedQueryTimeModel:
    """QueryTimeModel: seconds of one block-encoding query on a profiled device (see module docstring)."""

    def __init__(
        self,
        profile: CalibrationProfile,
        *,
        fit_sizes: tuple[int, ...] = DEFAULT_FIT_SIZES,
        growth: GrowthModel = "fixed-4",
        optimization_level: int = 1,
        seed: int = 0,
        label: str | None = None,
    ) -> None:
        if not isinstance(profile, CalibrationProfile) or not profile.is_device:
            raise UsageError("profile: CalibratedQueryTimeModel needs a device calibration profile")
        sizes = tuple(int(s) for s in fit_sizes)
        for s in sizes:
            if s < 2 or s != padded_size(s) or s > MAX_TRANSPILE_SIZE:
                raise UsageError(f"fit_sizes: each size must be a power of two in [2, {MAX_TRANSPILE_SIZE}], got {s}")
        # a query on N' needs log2 N' + 1 qubits: keep the sizes the device can hold
        usable = sorted({s for s in sizes if int(math.log2(s)) + 1 <= profile.num_qubits})
        if len(usable) < 2:
            raise UsageError(
                f"fit_sizes: need at least two distinct sizes whose query fits on {profile.name} "
                f"({profile.num_qubits} qubits), got {fit_sizes!r}"
            )
        if growth not in GROWTH_MODELS:
            raise UsageError(f"growth: must be one of {', '.join(GROWTH_MODELS)}, got {growth!r}")
        if optimization_level not in (0, 1, 2, 3):
            raise UsageError(f"optimization_level: must be 0..3, got {optimization_level!r}")
        self.profile = profile
        self.fit_sizes = tuple(usable)
        self.growth: GrowthModel = growth
        self.optimization_level = int(optimization_level)
        self.seed = int(seed)
        self.label = label or f"calibrated:{profile.name}"
        self._fits: dict[int, GateCountFit] = {}
        self._estimate = functools.lru_cache(maxsize=4096)(self._estimate_uncached)

    # --- QueryTimeModel -------------------------------------------------------------------
    def seconds_per_query(self, n: int, sparsity: int) -> float:
        """Duration (s) of one block-encoding query for an N x N matrix with sparsity d."""
        return self.estimate(n, sparsity).duration_seconds

    # --- details ----------------------------------------------------------------------------
    def estimate(self, n: int, sparsity: int) -> QueryEstimate:
        """Per-query duration (MODELED s), gate counts and fidelity; transpiled for N' <= max(fit_sizes),
        extrapolated by the gate-count fit above (`QueryEstimate.source` says which)."""
        n, sparsity = _check_n_d(n, sparsity)
        return self._estimate(n, min(sparsity, n))

    def fit(self, sparsity: int) -> GateCountFit:
        """The gate-count fit for sparsity d (d is clipped to each fit size's N')."""
        if sparsity not in self._fits:
            self._fits[sparsity] = fit_gate_counts(
                self.profile, sparsity, fit_sizes=self.fit_sizes, growth=self.growth,
                optimization_level=self.optimization_level, seed=self.seed,
            )
        return self._fits[sparsity]

    def run_fidelity(self, n: int, sparsity: int, queries: float, measured_qubits: int | None = None) -> RunFidelity:
        """Fidelity of one run with `queries` queries and a readout of `measured_qubits` (default log2 N' + 1)."""
        if not (isinstance(queries, (int, float)) and math.isfinite(queries) and queries >= 0):
            raise UsageError(f"queries: must be a finite number >= 0, got {queries!r}")
        est = self.estimate(n, sparsity)
        k = est.qubits if measured_qubits is None else int(measured_qubits)
        return RunFidelity.of_run(queries, est.log_fidelity, k, self.profile.median_qubit("readout_error"))

    def run_overhead_seconds(self) -> float:
        """Per shot, outside the queries: median readout duration + repetition delay (s)."""
        return float((self.profile.median_qubit("readout_duration") or 0.0) + (self.profile.rep_delay or 0.0))

    def _estimate_uncached(self, n: int, sparsity: int) -> QueryEstimate:
        size = padded_size(n)
        cls = sparsity_class(sparsity)
        if size <= max(self.fit_sizes):
            t = transpile_query(self.profile, size, sparsity, optimization_level=self.optimization_level, seed=self.seed)
            two_q = sum(c for g, c in t.gate_counts.items() if g in self.profile.two_qubit_gates())
            return QueryEstimate(
                n, sparsity, size, t.qubits, cls, "transpiled", dict(t.gate_counts), float(two_q),
                t.duration_seconds, t.log_fidelity,
            )
        model = self.fit(sparsity).model
        m = int(round(math.log2(size))) + 1
        return QueryEstimate(
            n, sparsity, size, m, cls, "extrapolated", model.counts(m), float(model.two_qubit_count(m)),
            model.seconds(m), model.log_fidelity(m),
        )

    def __repr__(self) -> str:
        return f"CalibratedQueryTimeModel(profile={self.profile.name!r}, fit_sizes={self.fit_sizes})"


def _check_n_d(n: Any, sparsity: Any) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UsageError(f"n: must be a positive integer, got {n!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, np.integer)) or sparsity < 1:
        raise UsageError(f"sparsity: must be a positive integer, got {sparsity!r}")
    return int(n), int(sparsity)
