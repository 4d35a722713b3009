"""Reading x = A^-1 b out of a solver circuit from measurement counts: norm, magnitudes, signs.

A device returns counts, not amplitudes. From a SolverCircuit we recover x in four steps:

1. Norm: the post-selection rate p_hat (flags at their required bits) gives
   ||x|| = norm_factor * sqrt(p_hat) (see `solver_circuit.py`).
2. Magnitudes: measuring the system register in the computational basis (shots that pass
   post-selection) gives q_i = |<i|x_hat>|^2, so |x_i| = ||x|| sqrt(q_i).
3. Relative signs (sign recovery): take the reference index r = argmax q_i. For every other i with
   q_i above a threshold, estimate the overlap o_i = |<+_ri|x_hat>|^2 with |+_ri> = (|r> + |i>)/sqrt 2
   by a SWAP test (or its Bell-basis variant, `swap_test.py`). Since
   o_i = (q_r + q_i + 2 s_i sqrt(q_r q_i)) / 2, the sign of x_i relative to x_r is
   s_i = sign(2 o_i - q_r - q_i). That is N - 1 overlap circuits.
4. Global sign: a quantum state carries none. For positive definite A, b^T A^-1 b > 0, so we take
   s = sign(b^T x) at no cost; for indefinite A we take the s in {+1, -1} minimizing ||A s x - b||
   (one classical O(N d) mat-vec, labelled in the result). Both rules are `global_sign` options.

Components never observed (q_i = 0, or below an optional threshold) keep sign + (their
magnitude estimate is 0 anyway). Shots per circuit come from a target precision (`shots_for_precision`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qnewton.errors import UsageError
from qnewton.quantum.solver_circuit import SolverCircuit
from qnewton.quantum.swap_test import OverlapTest, estimate_overlap, overlap_circuit, shots_for_precision

GlobalSign = Literal["spd", "residual"]


@dataclass
class SolutionEstimate:
    """x: estimated solution (original size). success_probability: estimated post-selection rate.
    magnitudes: |x_i| estimates. relative_signs: +-1 per component. global_sign_rule: how the overall
    sign was fixed. total_shots: shots over all circuits. circuits: how many circuits ran."""

    x: np.ndarray
    success_probability: float
    magnitudes: np.ndarray
    relative_signs: np.ndarray
    global_sign_rule: str
    total_shots: int
    circuits: int
    overlaps: dict[int, float] = field(default_factory=dict)


def distribution_from_counts(sc: SolverCircuit, counts: dict[str, int]) -> tuple[float, np.ndarray, int]:
    """(p_hat, q over system basis states given success, number of successful shots) from the
    counts of `sc.measured()` (classical bits [flags sorted..., system...])."""
    flag_q = sorted(sc.flags)
    want = [sc.flags[q] for q in flag_q]
    nf, ns = len(flag_q), len(sc.system_qubits)
    q = np.zeros(2**ns)
    total = good = 0
    for key, c in counts.items():
        bits = key.replace(" ", "")[::-1]
        total += c
        if any(int(bits[k]) != want[k] for k in range(nf)):
            continue
        good += c
        idx = sum(int(bits[nf + j]) << j for j in range(ns))
        q[idx] += c
    if total == 0:
        raise UsageError("counts: empty")
    if good:
        q /= good
    return good / total, q, good


def estimate_solution(
    sc: SolverCircuit,
    executor: Any,
    shots: int,
    *,
    b: np.ndarray,
    A: np.ndarray | None = None,
    test: OverlapTest = "swap",
    global_sign: GlobalSign = "spd",
    threshold: float | None = None,
    sign_sigmas: float = 4.0,
    max_shots: int = 200_000,
    precision: float | None = None,
    pool: Any = None,
    spec: Any = None,
) -> SolutionEstimate:
    """Estimate x from counts only (see module docstring). `b` is the (unpadded) right-hand side;
    `A` is needed for global_sign="residual".

    Shots: `shots` for the computational-basis circuit; each sign circuit gets
    max(shots, shots_for_precision(sqrt(q_r q_i) / sign_sigmas, o, p)) shots (capped at max_shots), so
    the two candidate overlaps (q_r + q_i)/2 +- sqrt(q_r q_i) are sign_sigmas standard deviations
    from the decision point. With `precision` = delta, the basis circuit is topped up after the
    first `shots` to S = 1 / (delta^2 p_hat) shots in all (capped at max_shots), so every q_i has
    standard deviation <= delta / 2 among the S p_hat post-selected shots.

    Seeds: an executor with `counts_with_seed` (the Aer executors) runs every circuit alone with
    its own simulator seed, `dispatch.derive_seed(executor.seed, k)` with k = 0 for the basis
    circuit, 1 for its top-up and 2 + j for the j-th sign circuit. The sign circuits are
    independent of each other and form one batch: with `pool` (a `concurrent.futures.Executor`)
    and `spec` (the `dispatch.SimulatorSpec` of the executor) they run on the pool's workers, with
    the same counts as in this process."""
    if global_sign not in ("spd", "residual"):
        raise UsageError(f"global_sign: must be 'spd' or 'residual', got {global_sign!r}")
    if global_sign == "residual" and A is None:
        raise UsageError("A: needed for global_sign='residual'")
    from qnewton.quantum.backends import check_shots

    shots = check_shots(shots)
    max_shots = check_shots(max_shots, "max_shots")
    if isinstance(sign_sigmas, bool) or not isinstance(sign_sigmas, (int, float)) or not 0 < sign_sigmas < math.inf:
        raise UsageError(f"sign_sigmas: must be a positive number, got {sign_sigmas!r}")
    from qnewton.quantum.dispatch import CircuitRun, derive_seed, run_batch

    seeded = hasattr(executor, "counts_with_seed")
    if pool is not None and (spec is None or not seeded):
        raise UsageError("pool: circuit batches on workers need an Aer backend and its SimulatorSpec")
    base_seed = getattr(executor, "seed", None) if seeded else None

    def run_one(circuit: Any, n: int, k: int) -> dict[str, int]:
        if seeded:
            return executor.counts_with_seed(circuit, n, derive_seed(base_seed, k))
        return executor.run_counts([circuit], n)[0]

    measured = sc.measured()
    counts = run_one(measured, shots, 0)
    p, q, good = distribution_from_counts(sc, counts)
    if good == 0:
        raise UsageError(f"shots: none of {shots} shots passed post-selection; raise --shots")
    basis_shots = int(shots)
    if precision is not None:
        if not (0 < precision < 1):
            raise UsageError(f"precision: must be in (0, 1), got {precision!r}")
        need = min(shots_for_precision(precision, 0.0, p), max_shots)
        if need > basis_shots:
            extra = run_one(measured, need - basis_shots, 1)
            for key, c in extra.items():
                counts[key] = counts.get(key, 0) + c
            basis_shots = need
            p, q, good = distribution_from_counts(sc, counts)
    size = q.size
    norm = sc.norm_factor * math.sqrt(p)
    mags = norm * np.sqrt(q)
    r = int(np.argmax(q))
    thr = threshold if threshold is not None else 0.0  # every component seen at least once
    signs = np.ones(size)
    overlaps: dict[int, float] = {}
    circuits = [1]
    todo = [i for i in range(size) if i != r and q[i] > thr]
    total_shots = basis_shots
    runs = []
    for j, i in enumerate(todo):
        ref = np.zeros(size)
        ref[r] = ref[i] = 1 / math.sqrt(2)
        qc = overlap_circuit(sc, ref, test)
        half_gap = math.sqrt(q[r] * q[i])
        need = shots_for_precision(min(half_gap / sign_sigmas, 0.5), 0.5 * (q[r] + q[i]), max(p, 1e-6))
        runs.append(CircuitRun(qc, int(min(max(shots, need), max_shots)), derive_seed(base_seed, 2 + j)))
    if pool is not None:
        sign_counts = run_batch(spec, runs, pool=pool)
    else:
        sign_counts = [run_one(run.circuit, run.shots, 2 + j) for j, run in enumerate(runs)]
    for i, run, found in zip(todo, runs, sign_counts):
        est = estimate_overlap(found, run.circuit)
        total_shots += run.shots
        overlaps[i] = est.value
        signs[i] = 1.0 if 2 * est.value - q[r] - q[i] >= 0 else -1.0
    circuits.append(len(todo))
    x = (signs * mags)[: sc.original_size]
    bb = np.asarray(b, dtype=np.float64).ravel()
    if global_sign == "spd":
        s = 1.0 if float(bb @ x) >= 0 else -1.0
        rule = "spd: sign(b^T x) > 0"
    else:
        Ax = np.asarray(A, dtype=np.float64) @ x
        s = 1.0 if np.linalg.norm(Ax - bb) <= np.linalg.norm(-Ax - bb) else -1.0
        rule = "residual: argmin_s ||A s x - b|| (one classical mat-vec)"
    return SolutionEstimate(
        x=s * x,
        success_probability=p,
        magnitudes=mags[: sc.original_size],
        relative_signs=signs[: sc.original_size],
        global_sign_rule=rule,
        total_shots=total_shots,
        circuits=int(sum(circuits)),
        overlaps=overlaps,
    )
