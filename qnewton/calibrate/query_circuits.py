"""One block-encoding query transpiled for a profiled device: gate counts, duration, fidelity.

One query of the block encoding U_A is the circuit we actually build for it,
`qnewton.quantum.block_encoding.block_encode(A)` (exact one-ancilla dilation of A / alpha on
m = log2 N' + 1 qubits, N' = N padded to a power of two), for a representative N' x N' matrix
with min(d, N') nonzeros per row. `transpile_query` transpiles it (optimization level 1, fixed
seed) for the `Target` of a device calibration profile (`qnewton.calibrate.profile_target`) and
records

    duration     = transpiled.estimate_duration(target)          (critical path, seconds)
    log F_query  = sum over gates g in the circuit of log(1 - e_g(qubits))

Transpiles are cached per (profile content, size, min(d, N'), options), so the scheduler can ask
every step at dictionary-lookup cost after the first call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qnewton.calibrate.profiles import CalibrationProfile
from qnewton.costs.query_time import log1m
from qnewton.errors import UsageError
from qnewton.quantum.block_encoding import padded_size  # N' = what block_encode pads N to

SparsityClass = Literal["diagonal", "general"]
#: The largest query circuit we transpile on request (N' = 64 takes about a second on 2 cores).
MAX_TRANSPILE_SIZE = 64


def sparsity_class(sparsity: int) -> SparsityClass:
    """d = 1 -> "diagonal" (the dilation factorizes into ancilla rotations); d >= 2 -> "general"."""
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

    from qnewton.calibrate.profile_target import profile_target
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
        term = log1m(getattr(props, "error", None))
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
