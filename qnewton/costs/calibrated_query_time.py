"""Calibrated per-query time: the duration of one block-encoding query on a profiled device.

The paper prices one query of the block encoding U_A at one gate time t_g (Q-Newton Sec. IV-C,
R_q = t_g * E[queries]). Here one query is the circuit we actually build for it,
`qnewton.quantum.block_encoding.block_encode(A)` (exact one-ancilla dilation of A / alpha on
m = log2 N' + 1 qubits, N' = N padded to a power of two), transpiled for the device of a
calibration profile (its gates, durations, errors and coupling map, via `profile_target`).

Small sizes (N' <= max(fit_sizes), default 64): the query circuit of a representative N' x N'
matrix with min(d, N') nonzeros per row is transpiled (optimization level 1, fixed seed) and

    t_query = transpiled.estimate_duration(target)            (critical path, seconds)
    log F_query = sum over gates g in the circuit of log(1 - e_g(qubits))

Larger sizes: a gate-count model fitted on the transpiled sizes. For each basis gate g

    c_g(m) = a_g * 4**m

A generic m-qubit unitary needs Theta(4^m) two-qubit gates (at least (4^m - 3m - 1)/4 CNOTs,
Shende, Markov, Bullock 2004; the quantum Shannon decomposition Qiskit uses reaches (23/48) 4^m),
and S = sqrt(I - B^2) makes the dilation generic, so the base is fixed at 4 and a_g is fitted on
the two largest fit sizes, where routing overhead has settled (growth="fitted" also fits the base;
at small m routing inflates it to about 4.8, which over-estimates large N). Then

    t_query(m)  = s * sum_g c_g(m) * median duration of g in the profile
    log F(m)    = sum_g c_g(m) * mean log(1 - e_g) over the g gates of the two largest
                  transpiled circuits (the errors of the qubits the layout pass chose)

where s (the "serialization factor", geometric mean over the two largest fit sizes of transpiled
critical path / summed gate time) accounts for gates that run in parallel. For the exact dilation,
d matters little once d >= 2 (S is dense anyway); d = 1 (diagonal A) is cheaper because the
dilation factorizes into ancilla rotations. A sparse-access oracle would scale with d and
polylog N instead; we do not build one, see docs/calibrations.md.

Fidelity of one solver run with Q queries and a readout of k qubits (independent errors):

    log F_run = Q * log F_query + sum over k measured qubits of log(1 - readout error)

and without error correction one needs on average 1 / F_run repetitions to see one error-free run
(`RunFidelity.expected_repetitions`). These are reported, not folded into seconds_per_query:
per-query time stays a duration, and the fidelity shows how far the device is from running it.

All transpiles are cached per (profile content, size, min(d, N'), options), so the scheduler
can call `seconds_per_query` every step at dictionary-lookup cost after the first call.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qnewton.costs.calibration import CalibrationProfile
from qnewton.errors import UsageError
from qnewton.quantum.block_encoding import padded_size  # N' = what block_encode pads N to

SparsityClass = Literal["diagonal", "general"]
EstimateSource = Literal["transpiled", "extrapolated"]
GrowthModel = Literal["fixed-4", "fitted"]
GROWTH_MODELS: tuple[str, ...] = ("fixed-4", "fitted")
DEFAULT_FIT_SIZES: tuple[int, ...] = (8, 16, 32, 64)
#: The largest query circuit we transpile on request (N' = 64 takes about a second on 2 cores).
MAX_TRANSPILE_SIZE = 64


def sparsity_class(sparsity: int) -> SparsityClass:
    """d = 1 -> "diagonal"; d >= 2 -> "general" (see module docstring)."""
    return "diagonal" if int(sparsity) == 1 else "general"


def representative_matrix(size: int, sparsity: int, seed: int = 0) -> np.ndarray:
    """A deterministic symmetric positive definite size x size matrix with <= sparsity nonzeros per row.

    Diagonal for d = 1; otherwise a symmetric band (offsets +-1, +-2, ... wrapping around) plus,
    for even d, one partner per row from a random perfect matching, with random entries and a
    dominant diagonal, so kappa is moderate and the dilation is generic.
    """
    rng = np.random.default_rng(seed)
    d = max(1, min(int(sparsity), size))
    A = np.diag(rng.uniform(1.0, 2.0, size) + float(d))
    if d > 1:
        half = (d - 1) // 2
        for k in range(1, half + 1):
            vals = rng.normal(size=size)
            for i in range(size):
                j = (i + k) % size
                A[i, j] = A[j, i] = vals[i]
        if (d - 1) % 2 == 1 and size % 2 == 0 and size > 2 * half + 1:
            # one extra partner per row from a random perfect matching (outside the band)
            perm = rng.permutation(size)
            for a, b in zip(perm[0::2], perm[1::2]):
                if A[a, b] == 0.0:
                    A[a, b] = A[b, a] = rng.normal()
    return 0.5 * (A + A.T)


@dataclass(frozen=True)
class TranspiledQuery:
    """One block-encoding query circuit transpiled for a device profile."""

    padded_n: int
    qubits: int
    sparsity_class: SparsityClass
    gate_counts: dict[str, int]
    duration_seconds: float
    depth: int
    log_fidelity: float
    log_fidelity_by_gate: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GateCountFit:
    """c_g(m) = exp(log_a[g] + log_r[g] * m) per basis gate g, fitted on transpiled sizes."""

    sparsity: int
    sparsity_class: SparsityClass
    fit_sizes: tuple[int, ...]
    growth_model: GrowthModel
    log_a: dict[str, float]
    log_r: dict[str, float]
    log1m_error: dict[str, float]
    serialization: float
    samples: tuple[TranspiledQuery, ...] = field(repr=False)

    def count(self, gate: str, qubits: int) -> float:
        """c_g(m): modeled count of `gate` in one query on m = `qubits` qubits."""
        return math.exp(self.log_a[gate] + self.log_r[gate] * qubits)

    def growth(self, gate: str) -> float:
        """r_g: factor by which the count of `gate` grows per extra qubit."""
        return math.exp(self.log_r[gate])


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


@dataclass(frozen=True)
class RunFidelity:
    """Expected fidelity of one solver run (Q queries + readout) and the repetitions it implies."""

    queries: float
    log_fidelity_gates: float
    log_fidelity_readout: float

    @property
    def log_fidelity(self) -> float:
        """log F_run = Q log F_query + sum of log(1 - readout error) over the measured qubits."""
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


def _log1m(e: float | None) -> float:
    if e is None or e <= 0:
        return 0.0
    return math.log1p(-e) if e < 1 else -math.inf


def transpile_query(
    profile: CalibrationProfile, size: int, sparsity: int, *, optimization_level: int = 1, seed: int = 0
) -> TranspiledQuery:
    """Transpile block_encode(representative_matrix(size, sparsity)) for the profile's device (cached)."""
    if size != padded_size(size):
        raise UsageError(f"size: must be a power of two >= 2, got {size}")
    if size > MAX_TRANSPILE_SIZE:
        raise UsageError(f"size: transpiling a dense {size} x {size} dilation is too slow here (limit {MAX_TRANSPILE_SIZE})")
    d = max(1, min(int(sparsity), size))
    key = (profile.fingerprint(), int(size), d, int(optimization_level), int(seed))
    with _CACHE_LOCK:
        hit = _TRANSPILE_CACHE.get(key)
    if hit is not None:
        return hit
    from qiskit import transpile

    from qnewton.costs.profile_target import profile_target
    from qnewton.quantum.block_encoding import block_encode

    target = profile_target(profile)
    be = block_encode(representative_matrix(size, d, seed=seed))
    if be.num_qubits > profile.num_qubits:
        raise UsageError(f"calibration: {profile.name} has {profile.num_qubits} qubits, a query on N'={size} needs {be.num_qubits}")
    if be.num_qubits > 1 and not profile.two_qubit_gates():
        raise UsageError(f"calibration: {profile.name} has no two-qubit gate, so a {be.num_qubits}-qubit query cannot run on it")
    try:
        tc = transpile(be.circuit, target=target, optimization_level=optimization_level, seed_transpiler=seed)
    except Exception as exc:  # noqa: BLE001 - e.g. a coupling map too sparse for the query: one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UsageError(
            f"calibration: cannot transpile a query on N'={size} ({be.num_qubits} qubits) for {profile.name} "
            f"({type(exc).__name__}: {first[:200]})"
        ) from None
    counts = {str(k): int(v) for k, v in tc.count_ops().items() if k not in ("barrier",)}
    log_f = 0.0
    by_gate: dict[str, float] = {}
    for inst in tc.data:
        name = inst.operation.name
        if name in ("barrier", "delay"):
            continue
        qargs = tuple(tc.find_bit(q).index for q in inst.qubits)
        props = target[name].get(qargs) if name in target.operation_names else None
        term = _log1m(getattr(props, "error", None))
        log_f += term
        by_gate[name] = by_gate.get(name, 0.0) + term
    result = TranspiledQuery(
        padded_n=size,
        qubits=be.num_qubits,
        sparsity_class=sparsity_class(sparsity),
        gate_counts=counts,
        duration_seconds=float(tc.estimate_duration(target, unit="s")),
        depth=int(tc.depth()),
        log_fidelity=log_f,
        log_fidelity_by_gate=by_gate,
    )
    with _CACHE_LOCK:
        _TRANSPILE_CACHE[key] = result
    return result


_TRANSPILE_CACHE: dict[tuple[Any, ...], TranspiledQuery] = {}
_CACHE_LOCK = threading.Lock()


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

    growth "fixed-4" (default): r_g = 4 for every gate (a generic m-qubit unitary needs Theta(4^m)
    two-qubit gates: at least (4^m - 3m - 1)/4 CNOTs, Shende-Markov-Bullock 2004), and a_g is the
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
    log1m: dict[str, float] = {}
    for g in gates:
        cnt = sum(s.gate_counts.get(g, 0) for s in top)
        log1m[g] = sum(s.log_fidelity_by_gate.get(g, 0.0) for s in top) / cnt if cnt else _log1m(profile.median_gate_error(g))
    return GateCountFit(
        int(sparsity), sparsity_class(sparsity), sizes, growth, log_a, log_r, log1m, serialization, samples
    )


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
        sizes = tuple(usable)
        if growth not in GROWTH_MODELS:
            raise UsageError(f"growth: must be one of {', '.join(GROWTH_MODELS)}, got {growth!r}")
        if optimization_level not in (0, 1, 2, 3):
            raise UsageError(f"optimization_level: must be 0..3, got {optimization_level!r}")
        self.profile = profile
        self.fit_sizes = tuple(sorted(set(sizes)))
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
                self.profile, sparsity, fit_sizes=self.fit_sizes, growth=self.growth, optimization_level=self.optimization_level, seed=self.seed
            )
        return self._fits[sparsity]

    def run_fidelity(self, n: int, sparsity: int, queries: float, measured_qubits: int | None = None) -> RunFidelity:
        """Fidelity of one run with `queries` queries and a readout of `measured_qubits` (default log2 N' + 1)."""
        if not (isinstance(queries, (int, float)) and math.isfinite(queries) and queries >= 0):
            raise UsageError(f"queries: must be a finite number >= 0, got {queries!r}")
        est = self.estimate(n, sparsity)
        k = est.qubits if measured_qubits is None else int(measured_qubits)
        if k < 0:
            raise UsageError(f"measured_qubits: must be >= 0, got {measured_qubits!r}")
        readout = k * _log1m(self.profile.median_qubit("readout_error") or 0.0)
        gates = queries * est.log_fidelity if queries > 0 else 0.0
        return RunFidelity(float(queries), gates, readout)

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
        fit = self.fit(sparsity)
        m = int(round(math.log2(size))) + 1
        counts = {g: fit.count(g, m) for g in fit.log_a}
        serial = sum(c * self.profile.median_gate_duration(g) for g, c in counts.items())
        log_f = sum(c * fit.log1m_error[g] for g, c in counts.items())
        two_q = sum(c for g, c in counts.items() if g in self.profile.two_qubit_gates())
        return QueryEstimate(
            n, sparsity, size, m, cls, "extrapolated", counts, float(two_q), fit.serialization * serial, log_f
        )

    def __repr__(self) -> str:
        return f"CalibratedQueryTimeModel(profile={self.profile.name!r}, fit_sizes={self.fit_sizes})"


def _check_n_d(n: Any, sparsity: Any) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UsageError(f"n: must be a positive integer, got {n!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, np.integer)) or sparsity < 1:
        raise UsageError(f"sparsity: must be a positive integer, got {sparsity!r}")
    return int(n), int(sparsity)
