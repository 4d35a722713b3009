"""Logical resources of one quantum linear solve on error-corrected hardware (pure formulas).

The paper prices a solve as queries x a gate time. On a fault-tolerant machine the time of one
query is the time of the *logical* circuit that implements it, and that circuit is dominated by
its non-Clifford gates (Toffolis / T gates), which need magic-state factories. This module counts
them for the sparse-access block encoding of a d-sparse N x N matrix, the preparation of the
right-hand side b, and Jennings et al.'s query count; `qnewton.calibrate.ft_estimate` turns the
counts into physical qubits and seconds with Microsoft's resource estimator.

Notation: n = ceil(log2 N) (system and column-index registers), m = ceil(log2 d) (offset
register), b = `entry_bits` (bits of each stored entry and amplitude angle), L = N d (stored
nonzeros). Every Toffoli is counted as one CCZ (they differ by Cliffords) and, where a T count is
quoted, as 4 T gates (Jones 2013, measurement-assisted Toffoli). Costs per primitive:

* in-place addition of two w-bit registers: w - 1 Toffolis; its uncomputation is done by
  measurement and costs no Toffolis (Gidney 2018, "Halving the cost of quantum addition").
* inequality test of two w-bit registers: w Toffolis (the comparator used for amplitude
  loading "without arithmetic", Sanders, Low, Scherer, Berry 2019, PRL 122, 020502).
* table lookup (QROM) of L entries by unary iteration: L - 1 Toffolis, independent of the output
  width w (Babbush et al. 2018, "Encoding electronic spectra ... linear T complexity", Sec. III.A).
* select-swap lookup (QROAM) with block size k (a power of two): ceil(L / k) + w (k - 1)
  Toffolis and w (k - 1) extra qubits, k chosen to minimise the Toffolis (Low, Kliuchnikov,
  Schaeffer 2018, arXiv:1812.00954; Berry, Gidney, Motta, McClean, Babbush 2019, App. A).
* erasing a lookup's output by X-basis measurement and phase fix-up: ceil(L / k) + k Toffolis,
  k the power of two minimising it (about sqrt(L); Berry et al. 2019, App. C).
* a lookup of a single entry is a constant and costs no Toffolis.
* uniform superposition over d values (d not a power of two): one round of amplitude
  amplification on an m-bit inequality test (Babbush et al. 2018, Sec. III.D); we charge three
  m-bit tests, 3 m Toffolis (0 when d is a power of two: Hadamards only).

Block encoding (one query; Gilyen, Su, Low, Wiebe 2019, Lemma 48, the sparse-access construction
also used by Childs, Kothari, Somma 2017): U_A = (prepare-offset and O_c with the column-side
amplitude rotation)^dagger-row-side x (the same on the column side), subnormalization alpha = d
for entries scaled to |A_ij| <= 1. Each of the two sides applies: the uniform superposition over
the d offsets, an index oracle (offset l -> column c(i, l)), an amplitude oracle (sqrt of the
entry, b bits, looked up and erased), and a rotation by that amplitude (one inequality test
against a reference register, computed and uncomputed: 2 b). The index/amplitude oracles come in
three kinds (`oracle`):

* "arithmetic": the matrix is structured (banded, Toeplitz-like), the column index is computed,
  c(i, l) = i + l - floor(d/2) mod 2^n (one n-bit addition per side), and the entry depends on the
  offset only (a lookup of d values per side). This is the explicit construction of Camps, Lin,
  Van Beeumen, Yang 2024 ("Explicit quantum circuits for block encodings of certain sparse
  matrices", SIAM J. Matrix Anal. Appl. 45) in Toffoli form; it grows like log N and d. It is the
  cost the paper's "polylog(N)" oracle assumption implies.
  Per query: 2 (n - 1) + 2 (d - 1 + erase(d)) + 4 b + 2 uniform(d) Toffolis.
* "qrom": an unstructured matrix (a Hessian), every (row, offset) pair stored: per side one
  lookup of L = N d entries of n + b bits and its erasure.
  Per query: 2 (L - 1 + erase(L)) + 4 b + 2 uniform(d) Toffolis.
* "qroam": as "qrom" with the select-swap lookup (about 2 sqrt(L (n + b)) Toffolis per lookup
  instead of L, paid in w (k - 1) extra logical qubits).

State preparation of b (an arbitrary real vector): the binary-tree method (Grover-Rudolph; with
lookups as in Low, Kliuchnikov, Schaeffer 2018): level j = 0..n-1 looks up 2^j angles of b bits,
rotates by adding the angle into a phase-gradient register (b - 1 Toffolis, Gidney 2018) and
erases the angles. `state_preparation` "qrom" uses unary iteration, "qroam" select-swap. Jennings
et al. query the state preparation twice per block-encoding query (`costs.quantum`).

One run of the solver (Jennings, Lostaglio, Pallister, Sornborger, Subasi 2023, Theorem 1):
Q = ceil(Q*(kappa, eps, alpha)) block-encoding queries and 2 Q state preparations, and
`rotations_per_query` arbitrary-angle single-qubit rotations per query (the schedule and filter
phases of the discrete adiabatic walk and the eigenstate filter; 2 by default), all in sequence.
A run succeeds with probability >= 0.39 - 0.201 eps, so the expected time is the run time over
that probability, i.e. expected queries x (run time / Q) -- the per-query time the FT query-time
model reports. Readout repetitions (the swap-test model) multiply whole runs (`costs.quantum`).

Logical qubits: n (system) + n (column index / offset) + 2 (the two rotation flags) + 6 (the
adiabatic-schedule and filtering ancillas of the paper's a + 6 + ceil(log2 N)) + 2 b (the
amplitude register and the reference / phase-gradient register) + the largest workspace of one
primitive (adder carries, lookup control qubits ceil(log2 L), select-swap copies w (k - 1)).

Everything here is arithmetic on integers; nothing is measured and nothing calls the estimator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from qnewton.costs.quantum import query_count, system_qubits
from qnewton.errors import UsageError

#: Oracle kinds of the block encoding (see the module docstring).
ORACLES: tuple[str, ...] = ("arithmetic", "qrom", "qroam")
#: State-preparation kinds.
STATE_PREPARATIONS: tuple[str, ...] = ("qrom", "qroam")
#: T gates per Toffoli (Jones 2013, with measurement-based uncomputation).
T_PER_TOFFOLI = 4
#: Ancillas the paper adds to a + ceil(log2 N) (Q-Newton Sec. II-E: a + 6 + ceil(log2 N)).
SOLVER_ANCILLAS = 6


def _count(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise UsageError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    v = int(value)
    if v < minimum:
        raise UsageError(f"{name}: must be an integer >= {minimum}, got {v}")
    return v


def ceil_log2(x: int) -> int:
    """ceil(log2 x) for x >= 1 (0 for x = 1)."""
    return (_count("x", x) - 1).bit_length()


def adder_toffolis(width: int) -> int:
    """Toffolis of an in-place w-bit addition: w - 1 (Gidney 2018); uncomputation by measurement is free."""
    return max(_count("width", width, 0) - 1, 0)


def comparator_toffolis(width: int) -> int:
    """Toffolis of a w-bit inequality test: w (Sanders et al. 2019)."""
    return _count("width", width, 0)


def qrom_toffolis(entries: int) -> int:
    """Toffolis of a unary-iteration lookup over L entries: L - 1 (Babbush et al. 2018, Sec. III.A)."""
    return _count("entries", entries) - 1


def _powers_of_two(upto: int) -> list[int]:
    ks, k = [], 1
    while k <= upto:
        ks.append(k)
        k *= 2
    return ks


def qroam_block(entries: int, width: int) -> int:
    """The select-swap block size k (a power of two <= L) minimising ceil(L / k) + w (k - 1)."""
    L, w = _count("entries", entries), _count("width", width)
    return min(_powers_of_two(L), key=lambda k: (-(-L // k) + w * (k - 1), k))


def qroam_toffolis(entries: int, width: int) -> int:
    """Toffolis of a select-swap lookup: ceil(L / k) + w (k - 1) at the best k (Low et al. 2018;
    Berry et al. 2019, App. A)."""
    L, w = _count("entries", entries), _count("width", width)
    if L == 1:
        return 0  # a constant: written with Cliffords
    k = qroam_block(L, w)
    return -(-L // k) + w * (k - 1)


def erase_toffolis(entries: int) -> int:
    """Toffolis of erasing a lookup's output by measurement: min over powers of two k of
    ceil(L / k) + k (Berry et al. 2019, App. C); 0 for a single entry."""
    L = _count("entries", entries)
    if L == 1:
        return 0
    return min(-(-L // k) + k for k in _powers_of_two(L))


def uniform_toffolis(d: int) -> int:
    """Toffolis of the uniform superposition over d values: 3 ceil(log2 d) for d not a power of
    two (three inequality tests, one amplitude-amplification round; Babbush et al. 2018,
    Sec. III.D), 0 for a power of two."""
    d = _count("d", d)
    return 0 if d & (d - 1) == 0 else 3 * ceil_log2(d)


@dataclass(frozen=True)
class LogicalModelOptions:
    """How the logical circuit is built (see the module docstring).

    oracle: "arithmetic" (structured matrix, polylog N), "qrom" or "qroam" (stored entries).
    state_preparation: "qrom" or "qroam" for the vector b.
    entry_bits: b, bits of each entry / amplitude / angle (1..64).
    rotations_per_query: arbitrary-angle rotations per block-encoding query (>= 0).
    """

    oracle: str = "arithmetic"
    state_preparation: str = "qroam"
    entry_bits: int = 16
    rotations_per_query: int = 2

    def __post_init__(self) -> None:
        if self.oracle not in ORACLES:
            raise UsageError(f"oracle: must be one of {', '.join(ORACLES)}, got {self.oracle!r}")
        if self.state_preparation not in STATE_PREPARATIONS:
            raise UsageError(f"state_preparation: must be one of {', '.join(STATE_PREPARATIONS)}, got {self.state_preparation!r}")
        b = _count("entry_bits", self.entry_bits)
        if b > 64:
            raise UsageError(f"entry_bits: must be at most 64, got {b}")
        _count("rotations_per_query", self.rotations_per_query, 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QueryCounts:
    """Toffolis and workspace of one block-encoding query and one state preparation."""

    n: int
    sparsity: int
    index_toffolis: int
    amplitude_toffolis: int
    rotation_toffolis: int
    uniform_toffolis: int
    state_preparation_toffolis: int
    workspace_qubits: int
    erased_bits: int

    @property
    def block_encoding_toffolis(self) -> int:
        """Toffolis of one block-encoding query."""
        return self.index_toffolis + self.amplitude_toffolis + self.rotation_toffolis + self.uniform_toffolis

    @property
    def toffolis(self) -> int:
        """Toffolis of one query with its two state preparations (Jennings et al.)."""
        return self.block_encoding_toffolis + 2 * self.state_preparation_toffolis

    @property
    def t_count(self) -> int:
        """T gates of one block-encoding query (4 per Toffoli)."""
        return T_PER_TOFFOLI * self.block_encoding_toffolis


def block_encoding_counts(n: int, sparsity: int, options: LogicalModelOptions = LogicalModelOptions()) -> QueryCounts:
    """Toffolis of one sparse-access block-encoding query and one state preparation of b, with the
    largest workspace either needs (formulas in the module docstring)."""
    N = _count("n", n)
    d = _count("sparsity", sparsity)
    if d > N:
        raise UsageError(f"sparsity: d = {d} exceeds N = {N}")
    nb = system_qubits(N)
    b = options.entry_bits
    L = N * d
    workspace = max(nb, b)  # adder / comparator carries
    erased = 0
    if options.oracle == "arithmetic":
        index = 2 * adder_toffolis(nb)
        amplitude = 2 * (qrom_toffolis(d) + erase_toffolis(d))
        workspace = max(workspace, ceil_log2(d))
        erased = 2 * b
    else:
        index = 0  # the lookup returns the column index together with the entry
        width = nb + b
        lookup = qrom_toffolis(L) if options.oracle == "qrom" else qroam_toffolis(L, width)
        amplitude = 2 * (lookup + erase_toffolis(L))
        extra = 0 if options.oracle == "qrom" else width * (qroam_block(L, width) - 1)
        workspace = max(workspace, ceil_log2(L) + extra + nb)
        erased = 2 * width
    rotation = 2 * 2 * comparator_toffolis(b)
    uniform = 2 * uniform_toffolis(d)
    prep = 0
    for level in range(nb):
        entries = 2 ** level
        lookup = qrom_toffolis(entries) if options.state_preparation == "qrom" else qroam_toffolis(entries, b)
        prep += lookup + erase_toffolis(entries) + adder_toffolis(b)
        if options.state_preparation == "qroam":
            workspace = max(workspace, ceil_log2(entries) + b * (qroam_block(entries, b) - 1))
        else:
            workspace = max(workspace, ceil_log2(entries))
    return QueryCounts(n=N, sparsity=d, index_toffolis=index, amplitude_toffolis=amplitude, rotation_toffolis=rotation,
                       uniform_toffolis=uniform, state_preparation_toffolis=prep, workspace_qubits=workspace,
                       erased_bits=erased)


def logical_qubits(n: int, sparsity: int, options: LogicalModelOptions = LogicalModelOptions()) -> int:
    """Logical qubits of the solver: 2 n + 2 + 6 + 2 b + workspace (module docstring)."""
    q = block_encoding_counts(n, sparsity, options)
    nb = system_qubits(q.n)
    return 2 * nb + 2 + SOLVER_ANCILLAS + 2 * options.entry_bits + q.workspace_qubits


@dataclass(frozen=True)
class SolveLogicalCounts:
    """Logical resources of one run of the solver: what the resource estimator takes.

    queries: block-encoding queries Q = ceil(Q*) of one run; toffolis (= CCZ count), t_count (T
    gates outside Toffolis: none in this model), rotations and their depth, measurements, logical
    qubits. `to_estimator()` gives the estimator's field names.
    """

    n: int
    sparsity: int
    queries: int
    logical_qubits: int
    toffolis: int
    t_count: int
    rotations: int
    rotation_depth: int
    measurements: int
    per_query: QueryCounts

    def to_estimator(self) -> dict[str, int]:
        """The logical counts in the resource estimator's names (numQubits, cczCount, ...)."""
        return {
            "numQubits": self.logical_qubits,
            "tCount": self.t_count,
            "rotationCount": self.rotations,
            "rotationDepth": self.rotation_depth,
            "cczCount": self.toffolis,
            "ccixCount": 0,
            "measurementCount": self.measurements,
        }

    @property
    def t_equivalent(self) -> int:
        """T gates of the run with every Toffoli as 4 T (rotations not included)."""
        return T_PER_TOFFOLI * self.toffolis + self.t_count


def solve_counts_for_queries(n: int, sparsity: int, queries: int,
                             options: LogicalModelOptions = LogicalModelOptions()) -> SolveLogicalCounts:
    """Logical counts of a run of `queries` block-encoding queries (each with 2 state
    preparations and `rotations_per_query` rotations) on an N x N matrix with sparsity d; the
    final readout measures the system register."""
    q = block_encoding_counts(n, sparsity, options)
    Q = _count("queries", queries)
    nb = system_qubits(q.n)
    rotations = Q * options.rotations_per_query
    return SolveLogicalCounts(
        n=q.n, sparsity=q.sparsity, queries=Q, logical_qubits=logical_qubits(n, sparsity, options),
        toffolis=Q * q.toffolis, t_count=0, rotations=rotations, rotation_depth=rotations,
        measurements=Q * (q.erased_bits + 2 * options.entry_bits) + nb, per_query=q,
    )


def solve_counts(n: int, sparsity: int, kappa: float, epsilon: float, alpha: float | None = None,
                 options: LogicalModelOptions = LogicalModelOptions()) -> SolveLogicalCounts:
    """Logical counts of one run at (N, d, kappa, eps): Q = ceil(Q*(kappa, eps, alpha)) queries
    (Jennings et al. Theorem 1; alpha = d when not given); `solve_counts_for_queries`."""
    a = float(sparsity) if alpha is None else alpha
    q = query_count(kappa, epsilon, a, clamp=True)
    if not math.isfinite(q):
        raise UsageError(f"kappa: the query count is infinite at kappa = {kappa!r}")
    return solve_counts_for_queries(n, sparsity, int(math.ceil(q)), options)
