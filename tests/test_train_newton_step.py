"""One Newton step on a convex quadratic lands on its minimum; the scheduler's decision flips
with the gate time; the descent safeguard."""

import numpy as np
import pytest
import torch

from qnewton.costs.classical import LUCostModel
from qnewton.costs.quantum import QuantumCostModel
from qnewton.costs.query_time import GateTimeModel
from qnewton.curvature import Batch, BatchClosure
from qnewton.errors import UsageError
from qnewton.optim import QNewton
from qnewton.newton import Scheduler
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver
from qnewton.newton import NewtonStep


def _step(policy, gate_time=1e-18, *, eps=0.0, sparsity=10**6, eps_q=0.0, C=1e-10, indefinite="damping"):
    sched = Scheduler(policy=policy, kappa_method="bound", quantum=QuantumCostModel(query_time=GateTimeModel(gate_time)),
                      classical=LUCostModel(C))
    return NewtonStep(sched, ClassicalSolver(), EmulatedQLSASolver(eps_q, seed=0), eps=eps, sparsity=sparsity,
                      fallback_scale=0.5, indefinite=indefinite)


def _quadratic(rng, n=12):
    M = rng.standard_normal((n, n))
    Q = M @ M.T / n + np.eye(n)
    Q = (Q + Q.T) / 2
    b = rng.standard_normal(n)
    return Q, b


@pytest.mark.parametrize("policy", ["classical-only", "quantum-only", "hybrid"])
def test_one_newton_step_lands_on_quadratic_minimum(rng, policy):
    Q, b = _quadratic(rng)
    theta = rng.standard_normal(Q.shape[0])
    g = Q @ theta - b  # gradient of 1/2 t'Qt - b't
    res = _step(policy).compute([Q], [g])
    theta_new = theta - res.directions[0]
    assert np.allclose(theta_new, np.linalg.solve(Q, b), atol=1e-10)
    assert res.safeguards == 0
    expected = "classical" if policy == "classical-only" else "quantum"
    assert res.blocks[0]["decision"] == expected
    assert res.decision_counts[expected] == 1


class _Quadratic(torch.nn.Module):
    """J(theta) = 1/2 theta^T Q theta - b^T theta over two parameter tensors (the batch is ignored)."""

    def __init__(self, Q: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.Q, self.b = torch.tensor(Q), torch.tensor(b)
        self.w = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
        self.v = torch.nn.Parameter(torch.randn(2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.cat([self.w, self.v])
        return 0.5 * t @ self.Q @ t - self.b @ t


def _closure(model: torch.nn.Module) -> BatchClosure:
    return BatchClosure(model, Batch(torch.zeros(1), torch.zeros(1), loss_fn=lambda out, y: out))


def test_qnewton_optimizer_one_step_and_state_dict(rng):
    Q, b = _quadratic(rng, 6)
    model = _Quadratic(Q, b)
    opt = QNewton(model, _step("classical-only"), lr=1.0, blocks="full")
    opt.step(_closure(model))
    theta = torch.cat([model.w, model.v]).detach().numpy()
    assert np.allclose(theta, np.linalg.solve(Q, b), atol=1e-10)  # one Newton step solves a quadratic
    assert opt.last_report is not None and opt.last_report.phase == "newton"
    assert opt.last_report.decision_counts == {"quantum": 0, "classical": 1}
    sd = opt.state_dict()
    assert sd["steps_done"] == 1
    opt2 = QNewton(model, _step("classical-only"), lr=1.0, blocks="full")
    opt2.load_state_dict(sd)
    assert opt2.steps_done == 1 and opt2.state_dict()["base"] == sd["base"]
    with pytest.raises(ValueError):
        opt2.load_state_dict({"state": {}, "param_groups": []})


def test_qnewton_warmup_steps_are_sgd_then_newton(rng):
    Q, b = _quadratic(rng, 6)
    model = _Quadratic(Q, b)
    theta0 = torch.cat([model.w, model.v]).detach().clone()
    opt = QNewton(model, _step("classical-only"), lr=1.0, blocks="tensor", warmup_steps=1, warmup_lr=0.01)
    opt.step(_closure(model))
    assert opt.last_report.phase == "sgd"
    grad = torch.tensor(Q) @ theta0 - torch.tensor(b)
    assert torch.allclose(torch.cat([model.w, model.v]).detach(), theta0 - 0.01 * grad)
    opt.step(_closure(model))
    assert opt.last_report.phase == "newton" and len(opt.last_report.blocks) == 2  # one block per tensor


def test_qnewton_needs_a_batch_closure(rng):
    Q, b = _quadratic(rng, 6)
    model = _Quadratic(Q, b)
    opt = QNewton(model, _step("classical-only"))
    with pytest.raises(UsageError, match="BatchClosure"):
        opt.step(lambda: model(torch.zeros(1)))


def test_decision_flips_with_gate_time(rng):
    Q, b = _quadratic(rng, 64)
    g = Q @ np.ones(64) - b
    fast = _step("hybrid", gate_time=1e-18).compute([Q], [g]).blocks[0]
    slow = _step("hybrid", gate_time=1e-3).compute([Q], [g]).blocks[0]
    assert fast["decision"] == "quantum" and slow["decision"] == "classical"
    # the modeled costs that drove it: classical C N^3 is the same, quantum scales with the gate time
    assert fast["classical_seconds_model"] == pytest.approx(1e-10 * 64**3)
    assert slow["quantum_seconds_model"] == pytest.approx(fast["quantum_seconds_model"] * 1e15, rel=1e-9)
    assert fast["quantum_seconds_model"] < fast["classical_seconds_model"] < slow["quantum_seconds_model"]


def test_safeguard_replaces_non_descent_direction():
    # indefinite system solved as it is: the Newton direction for g = e_2 points uphill (g.x < 0)
    H = np.diag([1.0, -2.0])
    g = np.array([0.0, 1.0])
    res = _step("classical-only", indefinite="none").compute([H], [g])
    assert res.safeguards == 1 and res.indefinite_fixes == 0
    assert "descent" in res.blocks[0]["safeguard"]
    assert res.blocks[0]["indefinite_fix"] is None
    assert np.allclose(res.directions[0], 0.5 * g)


def test_damping_turns_the_uphill_direction_into_descent():
    # the same system with the default treatment: H + mu I is positive definite, no safeguard needed
    H = np.diag([1.0, -2.0])
    g = np.array([0.0, 1.0])
    res = _step("classical-only").compute([H], [g])
    assert res.safeguards == 0 and res.indefinite_fixes == 1
    fix = res.blocks[0]["indefinite_fix"]
    assert fix["method"] == "damping" and fix["mu"] > 2.0 and fix["mu_pruned"] is None
    # mu = 2 mu1 with mu1 the first value that factorizes: every eigenvalue of H + mu I exceeds |lambda_min|
    assert np.allclose(res.directions[0], g / (fix["mu"] - 2.0))
    assert float(g @ res.directions[0]) > 0
    assert res.blocks[0]["kappa_exact"] == pytest.approx((1.0 + fix["mu"]) / (fix["mu"] - 2.0))


def test_pruning_and_regularization_reach_the_solver(rng):
    Q, b = _quadratic(rng, 10)
    g = rng.standard_normal(10)
    res = _step("quantum-only", eps=1.0, sparsity=1).compute([Q], [g])
    # d = 1 keeps only the diagonal of Q + I: the quantum solver solves a diagonal system
    assert res.blocks[0]["sparsity"] == 1
    assert np.allclose(res.directions[0], g / (np.diag(Q) + 1.0), atol=1e-12)
    cls = _step("classical-only", eps=1.0, sparsity=1).compute([Q], [g])
    assert np.allclose(cls.directions[0], np.linalg.solve(Q + np.eye(10), g), atol=1e-10)
