"""Logical resource counts of one QLSA run (qnewton.costs.ft_logical), checked against hand counts."""

from __future__ import annotations

import math

import pytest

from qnewton.costs.ft_logical import (
    LogicalModelOptions,
    block_encoding_counts,
    erase_toffolis,
    logical_qubits,
    qroam_toffolis,
    solve_counts,
    solve_counts_for_queries,
    uniform_toffolis,
)
from qnewton.costs.quantum import query_count
from qnewton.errors import UsageError

ARITH = LogicalModelOptions(oracle="arithmetic", state_preparation="qroam", entry_bits=16, rotations_per_query=2)


def test_primitive_costs_by_hand() -> None:
    # erase 7 entries: min over k of ceil(7/k) + k -> k = 2: 4 + 2 = 6
    assert erase_toffolis(7) == 6
    # erase 10240 entries: k = 128: 80 + 128 = 208 (k = 64: 224, k = 256: 296)
    assert erase_toffolis(10240) == 208
    # select-swap over 512 entries of 16 bits: k = 4: 128 + 48 = 176 (k = 2: 272, k = 16: 272)
    assert qroam_toffolis(512, 16) == 176
    # uniform superposition: free for powers of two, 3 ceil(log2 d) otherwise
    assert uniform_toffolis(16) == 0 and uniform_toffolis(7) == 9 and uniform_toffolis(1000) == 30


def test_block_encoding_at_held_out_points() -> None:
    # N = 1000 (n = 10), d = 7, b = 16, arithmetic oracles:
    #   index 2 (n - 1) = 18; amplitude 2 (d - 1 + erase(7)) = 2 (6 + 6) = 24; rotation 4 b = 64;
    #   uniform 2 * 3 * ceil(log2 7) = 18  -> 124 Toffolis, 496 T
    q = block_encoding_counts(1000, 7, ARITH)
    assert (q.index_toffolis, q.amplitude_toffolis, q.rotation_toffolis, q.uniform_toffolis) == (18, 24, 64, 18)
    assert q.block_encoding_toffolis == 124 and q.t_count == 496
    # N = 2^20 (n = 20), d = 16: 2 * 19 + 2 (15 + erase(16) = 8) + 64 + 0 = 148
    assert block_encoding_counts(2**20, 16, ARITH).block_encoding_toffolis == 38 + 46 + 64
    # qrom oracle, N = 1024, d = 10: 2 (10239 + 208) + 64 + 2 * 12 = 20982
    assert block_encoding_counts(1024, 10, LogicalModelOptions(oracle="qrom")).block_encoding_toffolis == 20982


def test_state_preparation_and_qubits_by_hand() -> None:
    # N = 4, qroam, b = 16: level 0 (1 angle) 0 + 0 + 15; level 1 (2 angles) 2 + 3 + 15 -> 35
    assert block_encoding_counts(4, 2, ARITH).state_preparation_toffolis == 35
    # N = 1000, d = 7: 2 n + 2 + 6 + 2 b + workspace; the workspace is the select-swap copies of the
    # last state-preparation level (512 angles, k = 4): 9 + 16 * 3 = 57 -> 20 + 2 + 6 + 32 + 57
    assert logical_qubits(1000, 7, ARITH) == 117


def test_toffolis_grow_with_d_and_log_n() -> None:
    be = lambda n, d: block_encoding_counts(n, d, ARITH).block_encoding_toffolis  # noqa: E731
    # at fixed d the arithmetic block encoding grows by 2 Toffolis per doubling of N (one adder bit per side)
    steps = [be(2 ** (k + 1), 8) - be(2**k, 8) for k in range(4, 16)]
    assert steps == [2] * len(steps)
    # at fixed N it grows with d (amplitude lookup of d values), powers of two compared
    ds = [2, 4, 8, 16, 32, 64]
    values = [be(4096, d) for d in ds]
    assert all(b > a for a, b in zip(values, values[1:]))
    # the stored-entry (qrom) oracle grows linearly in N d instead
    qrom = LogicalModelOptions(oracle="qrom")
    a, b = (block_encoding_counts(n, 4, qrom).block_encoding_toffolis for n in (2**12, 2**14))
    assert 3.8 < b / a < 4.1
    # select-swap grows like sqrt(N d)
    qroam = LogicalModelOptions(oracle="qroam")
    a, b = (block_encoding_counts(n, 4, qroam).block_encoding_toffolis for n in (2**12, 2**16))
    assert 3.0 < b / a < 5.0


def test_solve_counts_use_jennings_query_count() -> None:
    s = solve_counts(1000, 7, 100.0, 0.01, options=ARITH)
    Q = math.ceil(query_count(100.0, 0.01, 7.0))
    assert s.queries == Q
    per_query = 124 + 2 * block_encoding_counts(1000, 7, ARITH).state_preparation_toffolis
    assert s.toffolis == Q * per_query
    assert s.rotations == s.rotation_depth == 2 * Q
    est = s.to_estimator()
    assert est["cczCount"] == s.toffolis and est["numQubits"] == 117 and est["tCount"] == 0
    # more queries, proportionally more gates
    s2 = solve_counts_for_queries(1000, 7, 2 * Q, ARITH)
    assert s2.toffolis == 2 * s.toffolis


@pytest.mark.parametrize("kwargs, field", [
    ({"oracle": "dense"}, "oracle"),
    ({"state_preparation": "magic"}, "state_preparation"),
    ({"entry_bits": 0}, "entry_bits"),
    ({"entry_bits": 65}, "entry_bits"),
    ({"rotations_per_query": -1}, "rotations_per_query"),
])
def test_bad_options_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(UsageError, match=field):
        LogicalModelOptions(**kwargs)


def test_sparsity_above_n_refused() -> None:
    with pytest.raises(UsageError, match="sparsity"):
        block_encoding_counts(8, 9)
