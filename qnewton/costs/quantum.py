"""Quantum linear-solver cost: Jennings et al. (2023) query counts, qubits, seconds, readout.

Q-Newton Sec. II-E and IV-C price the quantum solver with the closed-form query count of
Jennings, Lostaglio, Pallister, Sornborger, Subasi (2023), Theorem 1 (the paper's ref. [16]),
natural logarithms throughout:

    Q*(kappa, eps, alpha) = (1741 alpha e / 500) sqrt(kappa^2 + 1)
                              * ((133/125 + 4 / (25 kappa^(1/3))) pi ln(2 kappa + 3) + 1)
                          + (351/50) ln^2(2 kappa + 3) (ln(451 ln^2(2 kappa + 3) / eps) + 1)
                          + alpha kappa ln(32 / eps)

alpha enters each term once (the public reference code multiplies by it twice). One run
succeeds with probability >= 0.39 - 0.201 eps (not 0.204), so the expected number of
block-encoding queries is Q* / (0.39 - 0.201 eps); the state-preparation oracle for b is queried
twice as often. The theorem is stated for kappa >= sqrt(12) and eps <= 0.24.

Logical qubits: a + 6 + ceil(log2 N), a the block encoding's ancillas (paper Sec. II-E).
Seconds: per-query time x expected queries, the per-query time from a `QueryTimeModel`
(`qnewton.costs.query_time`: one gate time per query, `DEFAULT_GATE_TIME` = 1e-9 s unless given,
or a device calibration). Readout (paper Sec. IV-E assumes it is free): "free", or "swap-test" =
N overlaps, each estimated to precision delta with ceil(1 / delta^2) shots, each shot one full run
of the solver.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from qnewton.costs.query_time import GateTimeModel, QueryTimeModel, seconds_per_query_at
from qnewton.enums import Readout, choices
from qnewton.errors import UsageError
from qnewton.jsonutil import json_ready

#: Validity range of Jennings et al. Theorem 1.
KAPPA_MIN = math.sqrt(12.0)
EPSILON_MAX = 0.24


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise UsageError(f"{name}: must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise UsageError(f"{name}: must be a number, got NaN")
    return v


def check_epsilon(epsilon: Any) -> float:
    """Validate the solver error tolerance: 0 < eps <= 0.24 (Theorem 1's range)."""
    eps = _number("epsilon", epsilon)
    if not (0.0 < eps <= EPSILON_MAX):
        raise UsageError(f"epsilon: must lie in (0, {EPSILON_MAX}] (Jennings et al. Theorem 1), got {eps:g}")
    return eps


def check_kappa(kappa: Any, *, clamp: bool = False) -> tuple[float, str | None]:
    """Validate kappa for Theorem 1. Returns (kappa used, note or None).

    kappa must be >= 1 (a condition number) or +inf. Values in [1, sqrt(12)) raise unless
    clamp=True, which raises them to sqrt(12) and returns a note saying so.
    """
    k = _number("kappa", kappa)
    if k < 1.0:
        raise UsageError(f"kappa: a condition number is >= 1, got {k:g}")
    if k < KAPPA_MIN:
        if not clamp:
            raise UsageError(
                f"kappa: Jennings et al. Theorem 1 needs kappa >= sqrt(12) = {KAPPA_MIN:.4f}, got {k:g} "
                "(use clamp=True / --clamp to raise it to sqrt(12))"
            )
        return KAPPA_MIN, f"kappa {k:.6g} < sqrt(12) clamped to {KAPPA_MIN:.6f} (Theorem 1's range)"
    return k, None


def check_alpha(alpha: Any) -> float:
    """Validate a block-encoding subnormalization: a positive finite number."""
    a = _number("alpha", alpha)
    if not (math.isfinite(a) and a > 0):
        raise UsageError(f"alpha: must be a positive finite number, got {a:g}")
    return a


def query_count(kappa: float, epsilon: float, alpha: float = 1.0, *, clamp: bool = False) -> float:
    """Q*(kappa, eps, alpha), Jennings et al. (2023) Theorem 1 (formula in the module docstring).

    Raises UsageError outside kappa >= sqrt(12), 0 < eps <= 0.24, alpha > 0 (clamp=True raises
    kappa in [1, sqrt(12)) to sqrt(12) instead; `QuantumCostModel` records such clamps).
    kappa = inf gives inf.
    """
    eps = check_epsilon(epsilon)
    a = check_alpha(alpha)
    k, _ = check_kappa(kappa, clamp=clamp)
    if math.isinf(k):
        return math.inf
    L = math.log(2.0 * k + 3.0)
    first = (1741.0 * a * math.e / 500.0) * math.sqrt(k * k + 1.0) * (
        (133.0 / 125.0 + 4.0 / (25.0 * k ** (1.0 / 3.0))) * math.pi * L + 1.0
    )
    second = (351.0 / 50.0) * L * L * (math.log(451.0 * L * L / eps) + 1.0)
    third = a * k * math.log(32.0 / eps)
    return first + second + third


def success_probability_bound(epsilon: float) -> float:
    """Lower bound on one run's success probability, 0.39 - 0.201 eps (Jennings et al. Thm. 1)."""
    return 0.39 - 0.201 * check_epsilon(epsilon)


def expected_queries(kappa: float, epsilon: float, alpha: float = 1.0, *, clamp: bool = False) -> float:
    """Expected block-encoding queries until success: Q* / (0.39 - 0.201 eps)."""
    return query_count(kappa, epsilon, alpha, clamp=clamp) / success_probability_bound(epsilon)


def state_preparation_queries(kappa: float, epsilon: float, alpha: float = 1.0, *, clamp: bool = False) -> float:
    """Expected queries to the state-preparation oracle for b: twice the block-encoding queries."""
    return 2.0 * expected_queries(kappa, epsilon, alpha, clamp=clamp)


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) and not (hasattr(n, "__index__")):
        raise UsageError(f"n: must be a positive integer, got {n!r}")
    n = int(n)
    if n < 1:
        raise UsageError(f"n: must be a positive integer, got {n}")
    return n


def system_qubits(n: int) -> int:
    """ceil(log2 N) qubits hold an N-dimensional vector (at least 1)."""
    n = _check_n(n)
    return max(1, (n - 1).bit_length())


def sparse_access_ancillas(n: int) -> int:
    """Our default ancilla count of a d-sparse oracle block encoding: ceil(log2 N) + 1
    (a column-index register plus one flag qubit, as in the standard sparse-access
    construction; Gilyen, Su, Low, Wiebe 2019, Lemma 48, up to workspace)."""
    return system_qubits(n) + 1


def logical_qubits(n: int, ancillas: int) -> int:
    """Logical qubits of the solver: a + 6 + ceil(log2 N) (Jennings et al.; paper Sec. II-E)."""
    if isinstance(ancillas, bool) or not isinstance(ancillas, int) or ancillas < 0:
        raise UsageError(f"ancillas: must be an integer >= 0, got {ancillas!r}")
    return ancillas + 6 + system_qubits(n)


def alpha_from_sparsity(d: int, max_entry: float, norm: float = 1.0) -> float:
    """Subnormalization of a d-sparse oracle block encoding: alpha = d * max|A_ij| / ||A||_2.

    The solver needs ||A / s|| <= 1; we scale by s = ||A||_2 (the spectral norm), so the scaled
    matrix has entries at most max|A_ij| / ||A||_2 and the sparse-access block encoding has
    alpha = d * max|A_ij| / ||A||_2. For a symmetric d-sparse matrix ||A||_2 <= d max|A_ij|,
    so alpha >= 1; smaller inputs are clamped to 1 (a block encoding cannot have alpha < ||A/s||).
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise UsageError(f"sparsity: must be an integer >= 1, got {d!r}")
    m = _number("max_entry", max_entry)
    s = _number("norm", norm)
    if not (math.isfinite(m) and m > 0):
        raise UsageError(f"max_entry: must be a positive finite number, got {m:g}")
    if not (math.isfinite(s) and s > 0):
        raise UsageError(f"norm: must be a positive finite number, got {s:g}")
    return max(1.0, d * m / s)


@dataclass(frozen=True)
class QuantumCost:
    """MODELED cost of one quantum linear solve (nothing here was measured).

    query_count: Q*; expected_queries: Q* / success_probability; state_preparation_queries:
    2 x expected_queries; seconds_per_query: from the query-time model; seconds: solve only
    (expected_queries x seconds_per_query); readout_seconds: reading x out (0 for "free");
    total_seconds: seconds + readout_seconds (both modeled). notes: clamps and assumptions.
    """

    n: int
    sparsity: int
    kappa: float
    kappa_used: float
    epsilon: float
    alpha: float
    query_count: float
    success_probability: float
    expected_queries: float
    state_preparation_queries: float
    seconds_per_query: float
    seconds: float
    readout: str
    readout_shots: float
    readout_seconds: float
    total_seconds: float
    logical_qubits: int
    ancillas: int
    query_time_model: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (`qnewton.jsonutil.json_ready`): infinities become "inf" / "-inf"."""
        return json_ready(asdict(self))


@dataclass(frozen=True)
class QuantumCostModel:
    """Prices one quantum solve of an N x N system with oracle sparsity d and condition number kappa.

    query_time: seconds per block-encoding query (default: `GateTimeModel()`, one gate time of
        `qnewton.costs.query_time.DEFAULT_GATE_TIME` = 1e-9 s per query; the paper's 1e-18 s is
        `GateTimeModel(PAPER_GATE_TIME)`).
    epsilon: solver error tolerance, 0 < eps <= 0.24 (the paper uses 1e-12; Sec. IV-C).
    readout: "free" (the paper) or "swap-test" (N overlaps at precision readout_precision).
    alpha: fixed subnormalization, or None to derive it from d, max|A_ij| and ||A||_2
        (`alpha_from_sparsity`), falling back to alpha = d when those are not given.
    ancillas: block-encoding ancillas a, or None for the sparse-access default ceil(log2 N) + 1.
    clamp: raise kappa in [1, sqrt(12)) to sqrt(12) and record it in `QuantumCost.notes`
        (default True, since regularized Hessians can be that well conditioned); False raises.
    """

    query_time: QueryTimeModel = field(default_factory=GateTimeModel)
    epsilon: float = 0.01
    readout: Readout | str = Readout.FREE
    readout_precision: float = 0.01
    alpha: float | None = None
    ancillas: int | None = None
    clamp: bool = True

    def __post_init__(self) -> None:
        check_epsilon(self.epsilon)
        if self.readout not in choices(Readout):
            raise UsageError(f"readout: must be one of {', '.join(choices(Readout))}, got {self.readout!r}")
        p = _number("readout_precision", self.readout_precision)
        if not (0.0 < p < 1.0):
            raise UsageError(f"readout_precision: must lie in (0, 1), got {p:g}")
        if self.alpha is not None:
            check_alpha(self.alpha)
        if self.ancillas is not None and (isinstance(self.ancillas, bool) or not isinstance(self.ancillas, int) or self.ancillas < 0):
            raise UsageError(f"ancillas: must be an integer >= 0, got {self.ancillas!r}")
        if not hasattr(self.query_time, "seconds_per_query"):
            raise UsageError("query_time: must provide seconds_per_query(n, sparsity)")

    def resolve_alpha(self, sparsity: int, max_entry: float | None = None, norm: float | None = None) -> tuple[float, str]:
        """(alpha, how it was obtained)."""
        if self.alpha is not None:
            return float(self.alpha), "fixed"
        if max_entry is not None:
            return alpha_from_sparsity(sparsity, max_entry, 1.0 if norm is None else norm), (
                "d * max|A_ij| / ||A||_2" if norm is not None else "d * max|A_ij| (A assumed scaled to ||A|| = 1)"
            )
        return float(sparsity), "d (upper bound: max|A_ij| <= ||A||_2 for symmetric A)"

    def estimate(
        self,
        n: int,
        sparsity: int,
        kappa: float,
        *,
        max_entry: float | None = None,
        norm: float | None = None,
        alpha: float | None = None,
    ) -> QuantumCost:
        """Modeled cost of one solve (see the module docstring for every formula)."""
        n = _check_n(n)
        if isinstance(sparsity, bool) or not isinstance(sparsity, int) or not 1 <= sparsity <= n:
            raise UsageError(f"sparsity: must be an integer in [1, N={n}], got {sparsity!r}")
        notes: list[str] = []
        kappa_in = _number("kappa", kappa)
        k_used, note = check_kappa(kappa_in, clamp=self.clamp)
        if note:
            notes.append(note)
        if alpha is not None:
            a, how = check_alpha(alpha), "given"
        else:
            a, how = self.resolve_alpha(sparsity, max_entry, norm)
        notes.append(f"alpha = {a:.6g} ({how})")
        eps = self.epsilon
        q = query_count(k_used, eps, a)
        p = success_probability_bound(eps)
        eq = q / p
        spq = seconds_per_query_at(self.query_time, n, sparsity, kappa=k_used, epsilon=eps, alpha=a)
        if not (math.isfinite(spq) and spq > 0):
            raise UsageError(f"query_time: seconds per query must be positive and finite, got {spq!r}")
        seconds = eq * spq
        if self.readout == Readout.FREE:
            shots = 0.0
            readout_seconds = 0.0
        else:
            delta_sq = float(self.readout_precision) ** 2
            inverse = 1.0 / delta_sq if delta_sq > 0 else math.inf  # delta < 1e-154 underflows delta^2
            per_overlap = float(math.ceil(inverse)) if math.isfinite(inverse) else math.inf
            shots = n * per_overlap
            readout_seconds = shots * seconds
            notes.append(f"swap-test readout: {n} overlaps x {per_overlap:.6g} shots, each shot one full solve")
        ancillas = self.ancillas if self.ancillas is not None else sparse_access_ancillas(n)
        return QuantumCost(
            n=n,
            sparsity=sparsity,
            kappa=kappa_in,
            kappa_used=k_used,
            epsilon=eps,
            alpha=a,
            query_count=q,
            success_probability=p,
            expected_queries=eq,
            state_preparation_queries=2.0 * eq,
            seconds_per_query=spq,
            seconds=seconds,
            readout=str(Readout(self.readout)),
            readout_shots=shots,
            readout_seconds=readout_seconds,
            total_seconds=seconds + readout_seconds,
            logical_qubits=logical_qubits(n, ancillas),
            ancillas=ancillas,
            query_time_model=str(getattr(self.query_time, "label", type(self.query_time).__name__)),
            notes=tuple(notes),
        )
