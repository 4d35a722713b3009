"""Honest Newton steps: indefinite systems are treated before they are solved, the swap-test
readout's shot noise reaches the emulated solution, and the classical side is priced on the matrix
it really solves."""

import math

import numpy as np
import pytest
import torch

from qnewton.analysis.pruning import symmetric_prune
from qnewton.cli import main
from qnewton.costs.classical import CGCostModel, LUCostModel
from qnewton.costs.quantum import QuantumCostModel
from qnewton.costs.query_time import GateTimeModel
from qnewton.curvature import Batch, BatchClosure
from qnewton.errors import UsageError
from qnewton.newton import NewtonStep, Scheduler
from qnewton.newton.step import damp_to_definite, exact_kappa, is_positive_definite
from qnewton.optim import QNewton
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver

# ---------------------------------------------------------------- a harmful indefinite Newton step
#
# A third-order Taylor model around theta = 0 in the eigenbasis Q of H:
#     f(s) = g.s + 1/2 s^T H s + (c/6) (q2.s)^3
# H has eigenvalues (2, -0.6); with eps = 0.1, R = H + eps I has (2.1, -0.5): indefinite. For
# g = Q (0.25, 0.1) the raw Newton direction x = R^-1 g passes the first-order test (g.x > 0) but
# moves +0.2 along q2, where the cubic term bends the loss up: f rises after the step.

EPS = 0.1
CUBIC = 30.0


def _problem(seed: int = 7):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((2, 2)))
    H = Q @ np.diag([2.0, -0.6]) @ Q.T
    H = (H + H.T) / 2
    g = Q @ np.array([0.25, 0.1])
    return H, g, Q[:, 1]


def _model_loss(s: np.ndarray, H: np.ndarray, g: np.ndarray, q2: np.ndarray) -> float:
    return float(g @ s + 0.5 * s @ H @ s + CUBIC / 6.0 * (q2 @ s) ** 3)


def _step(indefinite: str, policy: str = "classical-only", **kw) -> NewtonStep:
    sched = Scheduler(policy, "exact", QuantumCostModel(query_time=GateTimeModel(1e-18)), LUCostModel(1e-10))
    return NewtonStep(sched, ClassicalSolver(), EmulatedQLSASolver(0.0, seed=0), eps=kw.pop("eps", EPS),
                      sparsity=kw.pop("sparsity", 10**6), fallback_scale=0.5, indefinite=indefinite, **kw)


def test_raw_newton_step_passes_the_old_guard_but_raises_the_loss():
    H, g, q2 = _problem()
    res = _step("none").compute([H], [g])
    x = res.directions[0]
    assert res.safeguards == 0 and res.indefinite_fixes == 0  # the g.x > 0 test stays silent
    assert float(g @ x) > 0
    assert _model_loss(-x, H, g, q2) > 0.02  # ... and the model loss rises


@pytest.mark.parametrize("policy", ["classical-only", "quantum-only"])
@pytest.mark.parametrize("treatment", ["damping", "saddle-free"])
def test_treated_step_decreases_the_model_loss_and_is_counted(policy, treatment):
    H, g, q2 = _problem()
    res = _step(treatment, policy).compute([H], [g])
    x = res.directions[0]
    assert res.safeguards == 0
    assert res.indefinite_fixes == 1 and res.extra["indefinite_fixes"] == 1
    fix = res.blocks[0]["indefinite_fix"]
    assert fix["method"] == treatment
    assert _model_loss(-x, H, g, q2) < -0.02
    # the solved matrix is positive definite and its exact kappa is the one recorded
    if treatment == "damping":
        mu = fix["mu"]
        solved = H + (EPS + mu) * np.eye(2)
        assert 0.5 < mu / 2 and mu <= 4 * 0.5 + 1e-9  # first mu1 in (|lambda_min|, 2|lambda_min|], mu = 2 mu1
    else:
        lam, V = np.linalg.eigh(H)
        solved = (V * (np.abs(lam) + EPS)) @ V.T
    assert np.allclose(x, np.linalg.solve(solved, g), atol=1e-10)
    assert res.blocks[0]["kappa_exact"] == pytest.approx(exact_kappa(solved), rel=1e-9)


def test_positive_definite_blocks_are_left_alone(rng):
    M = rng.standard_normal((8, 8))
    H = M @ M.T / 8
    g = rng.standard_normal(8)
    ref = _step("none").compute([H], [g])
    for treatment in ("damping", "saddle-free"):
        res = _step(treatment).compute([H], [g])
        assert res.indefinite_fixes == 0 and res.blocks[0]["indefinite_fix"] is None
        assert np.array_equal(res.directions[0], ref.directions[0])


def test_qnewton_loss_after_one_newton_step():
    """Through the optimizer on a torch model of the same cubic: the raw step raises the loss, the
    damped one lowers it."""
    H, g, q2 = _problem()
    Ht, gt, q2t = torch.tensor(H), torch.tensor(g), torch.tensor(q2)

    class Cubic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.theta = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.theta
            return gt @ s + 0.5 * s @ Ht @ s + CUBIC / 6.0 * (q2t @ s) ** 3

    losses = {}
    for treatment in ("none", "damping"):
        model = Cubic()
        closure = BatchClosure(model, Batch(torch.zeros(1), torch.zeros(1), loss_fn=lambda out, y: out))
        opt = QNewton(model, _step(treatment), lr=1.0, blocks="full")
        opt.step(closure)
        assert opt.last_report.phase == "newton" and opt.last_report.safeguards == 0
        with torch.no_grad():
            losses[treatment] = float(model(torch.zeros(1)))
        assert (opt.last_report.blocks[0]["indefinite_fix"] is None) == (treatment == "none")
    assert losses["none"] > 0.0 > losses["damping"]


def test_pruning_that_breaks_definiteness_is_damped_for_the_quantum_solver():
    R = np.array([[0.8, 1.0, -0.2, -1.1], [1.0, 2.5, -0.5, -0.8], [-0.2, -0.5, 0.9, 1.2], [-1.1, -0.8, 1.2, 4.2]])
    assert is_positive_definite(R)
    assert not is_positive_definite(symmetric_prune(R, 3))  # pruning to d = 3 breaks it
    g = np.array([1.0, 0.5, -0.3, 0.2])
    res = _step("damping", "quantum-only", eps=0.0, sparsity=3).compute([R], [g])
    b = res.blocks[0]
    assert b["indefinite_fix"]["mu"] is None and b["indefinite_fix"]["mu_pruned"] > 0
    assert b["kappa_exact_of"] == "P" and b["decision"] == "quantum"
    P = symmetric_prune(R, 3) + b["indefinite_fix"]["mu_pruned"] * np.eye(4)
    assert np.allclose(res.directions[0], np.linalg.solve(P, g), atol=1e-10)
    assert b["kappa_exact"] == pytest.approx(exact_kappa(P), rel=1e-9)


def test_damping_edge_cases():
    A, mu, attempts = damp_to_definite(np.eye(3))
    assert mu == 0.0 and attempts == 1 and np.array_equal(A, np.eye(3))
    Z, mu, _ = damp_to_definite(np.zeros((2, 2)))  # singular: mu from the unit floor
    assert mu > 0 and is_positive_definite(Z)
    big = np.diag([1e200, -1e200])
    D, mu, _ = damp_to_definite(big)
    assert math.isfinite(mu) and is_positive_definite(D)
    with pytest.raises(UsageError, match="indefinite: must be one of"):
        _step("cholesky")


# ---------------------------------------------------------------- readout shot noise

def _readout_step(readout: str, precision: float, seed: int = 0) -> np.ndarray:
    """One quantum Newton step's direction on a fixed SPD 32 x 32 system with the given readout."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((32, 32))
    H = M @ M.T / 32
    g = rng.standard_normal(32)
    q = QuantumCostModel(query_time=GateTimeModel(1e-18), readout=readout, readout_precision=precision)
    sched = Scheduler("quantum-only", "exact", q, LUCostModel(1e-10))
    step = NewtonStep(sched, ClassicalSolver(), EmulatedQLSASolver(0.01, seed=0), eps=1.0, sparsity=10**6)
    res = step.compute([H], [g], noise_seed=[seed, 2, 41])
    info = res.blocks[0]["solve_info"]
    assert info["readout"] == readout
    return res.directions[0], np.linalg.solve(H + np.eye(32), g), H, g


def test_coarse_swap_test_readout_hurts_and_fine_readout_does_not():
    free, exact, H, g = _readout_step("free", 0.3)
    coarse = _readout_step("swap-test", 0.3)[0]
    fine = _readout_step("swap-test", 1e-4)[0]
    rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    assert rel(free, exact) <= 0.011  # free readout: only the QLSA's eps_q = 0.01
    # delta = 0.3 with N = 32: about delta sqrt(N) = 1.7 before renormalizing, so the read-out
    # direction is far from the solution and the quadratic model gains much less
    assert rel(coarse, exact) > 0.5
    model = lambda x: float(-g @ x + 0.5 * x @ (H + np.eye(32)) @ x)  # noqa: E731
    assert model(coarse) > model(free) + 0.3 * abs(model(free))
    # delta = 1e-4: error about 1e-4 sqrt(32) = 6e-4 on top of the shared state error
    assert rel(fine, free) < 3e-3


def test_readout_noise_is_reproducible_and_shares_the_state_error():
    a = _readout_step("swap-test", 0.3, seed=5)[0]
    b = _readout_step("swap-test", 0.3, seed=5)[0]
    c = _readout_step("swap-test", 0.3, seed=6)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_solver_reads_readout_settings_from_the_decision_or_its_own(rng):
    A = np.diag(np.linspace(1.0, 3.0, 16))
    b = rng.standard_normal(16)
    own = EmulatedQLSASolver(0.0, seed=1, readout="swap-test", readout_precision=0.2).solve(A, b)
    assert own.info["readout"] == "swap-test" and own.info["readout_shots_per_component"] == 25
    assert own.info["readout_error"] > 0.05 and own.info["readout_norm_relative_error"] > 0
    q = QuantumCostModel(query_time=GateTimeModel(1e-18), readout="free")
    d = Scheduler("quantum-only", "exact", q, LUCostModel(1e-10)).decide(A, b)
    priced = EmulatedQLSASolver(0.0, seed=1, readout="swap-test", readout_precision=0.2).solve(A, b, d)
    assert priced.info["readout"] == "free"  # the decision says what was priced
    assert np.allclose(priced.x, np.linalg.solve(A, b), rtol=1e-12)
    with pytest.raises(UsageError, match="readout_precision"):
        EmulatedQLSASolver(0.01, readout_precision=1.0)
    with pytest.raises(UsageError, match="readout: must be one of"):
        EmulatedQLSASolver(0.01, readout="shadow")


# ---------------------------------------------------------------- consistent pricing

def _cg_step(prune_classical: bool, policy: str = "classical-only") -> NewtonStep:
    sched = Scheduler(policy, "exact", QuantumCostModel(query_time=GateTimeModel(1e-18)), CGCostModel(1e9))
    return NewtonStep(sched, ClassicalSolver(), EmulatedQLSASolver(0.0, seed=0), eps=1.0, sparsity=3,
                      prune_classical=prune_classical)


def test_classical_cost_and_kappa_are_of_the_matrix_solved(rng):
    M = rng.standard_normal((12, 12))
    H = M @ M.T / 12
    g = rng.standard_normal(12)
    R = H + np.eye(12)
    cg = CGCostModel(1e9)
    b = _cg_step(False).compute([H], [g]).blocks[0]
    assert b["decision"] == "classical" and b["classical_priced_on"] == "R" and b["kappa_exact_of"] == "R"
    assert b["classical_seconds_model"] == pytest.approx(cg.seconds(12, 12, exact_kappa(R)), rel=1e-9)
    assert b["kappa_exact"] == pytest.approx(exact_kappa(R), rel=1e-9)
    # with prune_classical the classical solver gets P: priced with d = 3 and kappa(P)
    p = _cg_step(True).compute([H], [g]).blocks[0]
    P = symmetric_prune(R, 3)
    assert p["classical_priced_on"] == "P" and p["kappa_exact_of"] == "P"
    assert p["classical_seconds_model"] == pytest.approx(cg.seconds(12, 3, exact_kappa(P)), rel=1e-9)
    assert p["kappa_exact"] == pytest.approx(exact_kappa(P), rel=1e-9)
    # a quantum decision records the pruned matrix it solved, the classical side still priced on R
    q = _cg_step(False, "quantum-only").compute([H], [g]).blocks[0]
    assert q["kappa_exact_of"] == "P" and q["kappa_exact"] == pytest.approx(exact_kappa(P), rel=1e-9)
    assert q["classical_seconds_model"] == pytest.approx(b["classical_seconds_model"], rel=1e-12)


def test_scheduler_classical_matrix_argument(rng):
    A = np.diag(np.linspace(1.0, 4.0, 6))
    sched = Scheduler("hybrid", "exact", QuantumCostModel(), CGCostModel(1e9))
    dense = np.full((6, 6), 0.01) + np.diag(np.linspace(1.0, 9.0, 6))
    d = sched.decide(A, sparsity=1, classical_matrix=dense)
    assert d.extra["classical_sparsity"] == 6 and d.extra["classical_kappa"] == pytest.approx(exact_kappa(dense))
    assert d.extra["classical_priced_on"] == "classical_matrix"
    plain = sched.decide(A, sparsity=1)
    assert plain.extra["classical_priced_on"] == "A" and plain.extra["classical_sparsity"] == 1
    with pytest.raises(UsageError, match="classical_matrix: must be 6 x 6"):
        sched.decide(A, classical_matrix=np.eye(5))
    with pytest.raises(UsageError, match="classical_sparsity"):
        sched.decide(A, classical_matrix=dense, classical_sparsity=0)


# ---------------------------------------------------------------- options

@pytest.mark.parametrize("args, message", [
    (["--indefinite", "flip"], "--indefinite: invalid choice"),
    (["--readout-precision", "0"], "readout_precision: must lie in (0.0, 1.0)"),
])
def test_bad_options_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    try:
        rc = main(["train", "--runs-dir", str(tmp_path / "runs"), "--name", "x", "--quiet", *args])
    except SystemExit as exc:  # argparse rejects a bad choice itself
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
