"""Scheduler decisions: the flip at the crossover the formulas predict, policies, inputs."""

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

from qnewton.costs.classical import CGCostModel, LUCostModel
from qnewton.costs.quantum import QuantumCostModel, expected_queries
from qnewton.costs.query_time import GateTimeModel
from qnewton.errors import UsageError
from qnewton.newton import Scheduler


def spd(n, kappa, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.geomspace(1.0, kappa, n)) @ Q.T
    return 0.5 * (A + A.T)


def test_decision_flips_at_the_predicted_crossover(rng):
    n, kappa, t_gate = 40, 50.0, 1e-9
    A = spd(n, kappa, rng)
    quantum = QuantumCostModel(query_time=GateTimeModel(t_gate), epsilon=0.01, alpha=2.0)
    r_q = expected_queries(kappa, 0.01, 2.0) * t_gate  # R_q from the formula, by hand
    c_star = r_q / n**3  # the C at which R_c = R_q
    above = Scheduler("hybrid", "exact", quantum, LUCostModel(c_star * 1.001)).decide(A, np.ones(n))
    below = Scheduler("hybrid", "exact", quantum, LUCostModel(c_star * 0.999)).decide(A, np.ones(n))
    assert above.solver == "quantum" and below.solver == "classical"
    assert above.quantum_seconds == pytest.approx(r_q, rel=1e-9)
    assert above.classical_seconds == pytest.approx(c_star * 1.001 * n**3)
    assert above.kappa == pytest.approx(kappa, rel=1e-9) and above.kappa_method == "exact"
    assert above.expected_queries == pytest.approx(expected_queries(kappa, 0.01, 2.0), rel=1e-9)
    assert "<=" in above.reason and "<" in below.reason


def test_policies_price_both_sides(rng):
    A = spd(20, 30.0, rng)
    q = QuantumCostModel(query_time=GateTimeModel(1.0))  # absurdly slow quantum
    hybrid = Scheduler("hybrid", "exact", q, LUCostModel(1e-9)).decide(A)
    forced = Scheduler("quantum-only", "exact", q, LUCostModel(1e-9)).decide(A)
    classical = Scheduler("classical-only", "exact", QuantumCostModel(), LUCostModel(1.0)).decide(A)
    assert hybrid.solver == "classical" and forced.solver == "quantum" and classical.solver == "classical"
    assert forced.quantum_seconds == hybrid.quantum_seconds and forced.reason == "policy quantum-only"
    assert classical.quantum_seconds < classical.classical_seconds


def test_alpha_from_matrix_and_sparsity_inferred(rng):
    A = spd(30, 20.0, rng)
    d = Scheduler("hybrid", "exact", QuantumCostModel(), LUCostModel(1e-9)).decide(A)
    assert d.sparsity == 30  # dense: every row full
    lam = np.linalg.eigvalsh(A)
    assert d.extra["alpha"] == pytest.approx(30 * np.abs(A).max() / lam[-1], rel=1e-9)
    # a pruned matrix: d = max nonzeros per row
    P = np.diag(np.linspace(1, 5, 10))
    P[0, 1] = P[1, 0] = 0.5
    d2 = Scheduler("hybrid", "bound", QuantumCostModel(), LUCostModel(1e-9)).decide(P)
    assert d2.sparsity == 2
    assert d2.extra["alpha"] >= 1.0 and d2.extra["norm"] <= 5.0 + 1e-9


def test_infinite_kappa_goes_classical_with_reason():
    singular = np.diag([1.0, 0.0, 2.0, 3.0])  # an indefinite matrix has a finite kappa_2: use a singular one
    d = Scheduler("hybrid", "bound", QuantumCostModel(), LUCostModel(1e-30)).decide(singular)
    assert d.solver == "classical" and math.isinf(d.kappa) and "infinite" in d.reason
    json.dumps(d.to_dict())  # infinities serialize


def test_operator_sparse_and_timings(rng):
    A = spd(50, 40.0, rng)
    op = aslinearoperator(A)
    s = Scheduler("hybrid", "lanczos", QuantumCostModel(), CGCostModel(1e9))
    d = s.decide(op, sparsity=5)
    assert d.sparsity == 5 and d.kappa_method == "lanczos" and d.kappa == pytest.approx(40.0, rel=0.02)
    assert d.extra["alpha"] == 5.0  # operator: alpha = d (upper bound)
    assert d.classical_model == "cg"
    assert set(d.timings) == {"kappa_estimate", "decision"} and min(d.timings.values()) >= 0
    with pytest.raises(UsageError, match="sparsity"):
        s.decide(op)
    with pytest.raises(UsageError, match="lanczos"):
        Scheduler("hybrid", "bound", QuantumCostModel(), LUCostModel(1e-9)).decide(op, sparsity=5)
    ds = Scheduler("hybrid", "exact", QuantumCostModel(), LUCostModel(1e-9)).decide(sp.diags(np.linspace(1, 9, 12)))
    assert ds.sparsity == 1 and ds.kappa == pytest.approx(9.0)


def test_constructor_and_input_validation():
    with pytest.raises(UsageError, match="policy"):
        Scheduler("greedy", "bound", QuantumCostModel(), LUCostModel(1e-9))
    with pytest.raises(UsageError, match="kappa_method"):
        Scheduler("hybrid", "svd", QuantumCostModel(), LUCostModel(1e-9))
    s = Scheduler("hybrid", "bound", QuantumCostModel(), LUCostModel(1e-9))
    with pytest.raises(UsageError, match="g"):
        s.decide(np.eye(4) * 2, np.ones(3))
    with pytest.raises(UsageError, match="sparsity"):
        s.decide(np.eye(4) * 2, sparsity=5)
    with pytest.raises(UsageError, match="square"):
        s.decide(np.ones((3, 4)))
