"""Jennings et al. (2023) Theorem 1 query counts, qubits, seconds and readout models."""

import math

import pytest

from qnewton.costs.quantum import (
    KAPPA_MIN,
    QuantumCostModel,
    alpha_from_sparsity,
    expected_queries,
    logical_qubits,
    query_count,
    state_preparation_queries,
    success_probability_bound,
)
from qnewton.costs.query_time import GateTimeModel
from qnewton.errors import UsageError

# DESIGN.md reference points, alpha = 1, eps = 0.01
REFERENCE = [(10.0, 2.209e3, 5.693e3), (100.0, 2.209e4, 5.694e4), (1e4, 3.342e6, 8.613e6)]


@pytest.mark.parametrize("kappa,q_star,expected", REFERENCE)
def test_reference_values(kappa, q_star, expected):
    assert query_count(kappa, 0.01, 1.0) == pytest.approx(q_star, rel=5e-4)
    assert expected_queries(kappa, 0.01, 1.0) == pytest.approx(expected, rel=5e-4)
    assert state_preparation_queries(kappa, 0.01, 1.0) == pytest.approx(2 * expected, rel=5e-4)


def test_formula_terms_independently():
    k, eps = 50.0, 1e-3
    L = math.log(2 * k + 3)
    first = 1741 * math.e / 500 * math.sqrt(k * k + 1) * ((133 / 125 + 4 / (25 * k ** (1 / 3))) * math.pi * L + 1)
    second = 351 / 50 * L**2 * (math.log(451 * L**2 / eps) + 1)
    third = k * math.log(32 / eps)
    for alpha in (1.0, 3.0, 17.5):
        # alpha multiplies the first and third terms exactly once (the reference code squares it)
        assert query_count(k, eps, alpha) == pytest.approx(alpha * first + second + alpha * third, rel=1e-13)


def test_success_probability_uses_0201():
    assert success_probability_bound(0.01) == pytest.approx(0.39 - 0.00201, rel=1e-15)
    assert success_probability_bound(0.2) == pytest.approx(0.3498, rel=1e-15)


def test_out_of_range_inputs_raise_or_clamp_visibly():
    with pytest.raises(UsageError, match="sqrt\\(12\\)"):
        query_count(3.0, 0.01, 1.0)
    assert query_count(3.0, 0.01, 1.0, clamp=True) == query_count(KAPPA_MIN, 0.01, 1.0)
    for bad in dict(kappa=0.5), dict(kappa=-2.0), dict(kappa=float("nan")), dict(epsilon=0.25), dict(epsilon=0.0), dict(
        epsilon=-0.1
    ), dict(alpha=0.0), dict(alpha=-1.0), dict(alpha=float("inf")):
        args = dict(kappa=10.0, epsilon=0.01, alpha=1.0) | bad
        with pytest.raises(UsageError):
            query_count(args["kappa"], args["epsilon"], args["alpha"])
    assert query_count(math.inf, 0.01, 1.0) == math.inf
    # the model records a clamp
    cost = QuantumCostModel(clamp=True).estimate(64, 4, 2.0, alpha=1.0)
    assert cost.kappa == 2.0 and cost.kappa_used == pytest.approx(KAPPA_MIN)
    assert any("clamped" in note for note in cost.notes)
    with pytest.raises(UsageError, match="kappa"):
        QuantumCostModel(clamp=False).estimate(64, 4, 2.0, alpha=1.0)
    with pytest.raises(UsageError, match="epsilon"):
        QuantumCostModel(epsilon=0.3)


def test_qubits_and_alpha():
    assert logical_qubits(1024, 11) == 11 + 6 + 10
    assert logical_qubits(1025, 0) == 6 + 11
    assert logical_qubits(2, 1) == 1 + 6 + 1
    assert alpha_from_sparsity(10, 0.5, 2.0) == pytest.approx(2.5)
    assert alpha_from_sparsity(1, 0.1, 1.0) == 1.0  # clamped: a block encoding has alpha >= ||A/s|| = 1
    with pytest.raises(UsageError):
        alpha_from_sparsity(0, 1.0, 1.0)
    with pytest.raises(UsageError):
        logical_qubits(8, -1)


class FixedQuery:
    label = "fixed-2ns"

    def seconds_per_query(self, n, sparsity):
        return 2e-9


def test_model_seconds_readout_and_alpha_derivation():
    model = QuantumCostModel(query_time=GateTimeModel(1e-9), epsilon=0.01)
    cost = model.estimate(1000, 10, 100.0, max_entry=0.5, norm=2.0)
    assert cost.alpha == pytest.approx(10 * 0.5 / 2.0)
    assert cost.expected_queries == pytest.approx(expected_queries(100.0, 0.01, 2.5), rel=1e-14)
    assert cost.seconds == pytest.approx(cost.expected_queries * 1e-9, rel=1e-14)
    assert cost.readout_seconds == 0.0 and cost.total_seconds == cost.seconds
    assert cost.logical_qubits == (10 + 1) + 6 + 10  # default ancillas ceil(log2 N) + 1
    # without max_entry alpha falls back to d (an upper bound for symmetric A)
    assert model.estimate(1000, 10, 100.0).alpha == 10.0
    # a calibrated per-query time
    calibrated = QuantumCostModel(query_time=FixedQuery()).estimate(1000, 10, 100.0, alpha=1.0)
    assert calibrated.seconds == pytest.approx(expected_queries(100.0, 0.01, 1.0) * 2e-9)
    assert calibrated.query_time_model == "fixed-2ns"
    # swap-test readout: N overlaps x ceil(1/delta^2) shots x one solve each
    swap = QuantumCostModel(query_time=GateTimeModel(1e-9), readout="swap-test", readout_precision=0.05)
    c = swap.estimate(1000, 10, 100.0, alpha=1.0)
    assert c.readout_shots == 1000 * 400
    assert c.readout_seconds == pytest.approx(1000 * 400 * c.seconds)
    assert c.total_seconds == pytest.approx(c.seconds + c.readout_seconds)
    # a precision so small that delta^2 underflows: infinite readout, not a ZeroDivisionError
    tiny = QuantumCostModel(query_time=GateTimeModel(1e-9), readout="swap-test", readout_precision=1e-300)
    assert math.isinf(tiny.estimate(1000, 10, 100.0, alpha=1.0).readout_seconds)
    with pytest.raises(UsageError, match="readout"):
        QuantumCostModel(readout="tomography")
    with pytest.raises(UsageError, match="sparsity"):
        model.estimate(10, 11, 100.0)
    assert math.isinf(model.estimate(10, 2, math.inf).seconds)
