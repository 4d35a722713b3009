"""The curvature kinds in the Newton methods: --curvature, the factored K-FAC step and its ledger.

Short digits runs (64-8-10, batch 128, 2 SGD steps then Newton, --blocks layer) with each kind
must cut the mini-batch loss by at least half within 16 steps; the K-FAC run's ledger must hold
two scheduling decisions (factor G, factor A) per Linear layer per Newton step.
"""

import json

import numpy as np
import pytest
import torch

from qnewton.cli import main
from qnewton.costs.classical import LUCostModel
from qnewton.costs.quantum import QuantumCostModel
from qnewton.costs.query_time import GateTimeModel
from qnewton.curvature import KFAC, Batch, BatchClosure, make_blocks
from qnewton.errors import UsageError
from qnewton.newton import NewtonStep, Scheduler
from qnewton.newton.step import KroneckerSystem
from qnewton.optim import QNewton
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver
from qnewton.train.models import MLP

STEPS = 16


def _step(policy="classical-only", eps=0.5, gate_time=1e-18, eps_q=0.0):
    sched = Scheduler(policy=policy, kappa_method="exact", quantum=QuantumCostModel(query_time=GateTimeModel(gate_time)),
                      classical=LUCostModel(1e-10))
    return NewtonStep(sched, ClassicalSolver(), EmulatedQLSASolver(eps_q, seed=0), eps=eps, sparsity=10**6)


def _spd(rng, n):
    M = rng.standard_normal((n, n))
    return M @ M.T / n + 0.1 * np.eye(n)


@pytest.mark.parametrize("policy", ["classical-only", "quantum-only"])
@pytest.mark.parametrize("o, c", [(3, 4), (3, 1), (1, 4)])  # (3, 1): a bias block, A = [[1]]
def test_factored_direction_solves_the_pi_damped_kronecker_system(rng, policy, o, c):
    A, G = _spd(rng, c), 3.0 * _spd(rng, o)
    index = rng.permutation(o * c).reshape(o, c)  # any layout of the block vector
    g = rng.standard_normal(o * c)
    step = _step(policy)
    result = step.compute([None], [g], factors=[KroneckerSystem(A, G, index)], curvature="kfac", names=["fc"])
    pi = np.sqrt((np.trace(A) / c) / (np.trace(G) / o))
    gamma = np.sqrt(0.5)
    K = np.kron(G + gamma / pi * np.eye(o), A + gamma * pi * np.eye(c))  # row-major layout of M (o x c)
    x_layout = np.linalg.solve(K, g[index.reshape(-1)])
    expected = np.empty(o * c)
    expected[index.reshape(-1)] = x_layout
    assert np.allclose(result.directions[0], expected, rtol=1e-10, atol=1e-12)
    assert [r["name"] for r in result.blocks] == ["fc.G", "fc.A"]
    assert [r["n"] for r in result.blocks] == [o, c]
    assert [r["right_hand_sides"] for r in result.blocks] == [c, o]
    assert all(r["curvature"] == "kfac" and r["block"] == "fc" for r in result.blocks)
    assert result.blocks[0]["damping"] == pytest.approx(gamma / pi)
    assert result.blocks[1]["damping"] == pytest.approx(gamma * pi)
    assert sum(result.decision_counts.values()) == 2
    side = "quantum" if policy == "quantum-only" else "classical"
    assert result.decision_counts[side] == 2


def test_scheduler_prices_k_right_hand_sides():
    rng = np.random.default_rng(0)
    A = _spd(rng, 8)
    sched = Scheduler(policy="hybrid", kappa_method="exact", quantum=QuantumCostModel(query_time=GateTimeModel(1e-9)),
                      classical=LUCostModel(1e-10))
    one = sched.decide(A, np.ones(8))
    five = sched.decide(A, np.ones((8, 5)), right_hand_sides=5)
    assert five.quantum_seconds == pytest.approx(5 * one.quantum_seconds)
    assert five.expected_queries == pytest.approx(5 * one.expected_queries)
    assert five.classical_seconds == one.classical_seconds  # one LU factorization serves every column
    assert five.extra["right_hand_sides"] == 5
    with pytest.raises(UsageError, match="right_hand_sides"):
        sched.decide(A, np.ones(8), right_hand_sides=0)


def test_qnewton_with_kfac_rejects_a_whole_model_block():
    model = MLP(5, [4], 3)
    with pytest.raises(UsageError, match="one Linear"):
        QNewton(model, _step(), blocks="full", curvature="kfac")


def test_qnewton_kfac_step_moves_like_the_dense_kronecker_solve():
    torch.manual_seed(0)
    model = MLP(5, [4], 3).double()
    x, y = torch.randn(20, 5, dtype=torch.float64), torch.randint(0, 3, (20,))
    blocks = make_blocks(model, "layer")
    curv = KFAC()(model, Batch(x, y), blocks)
    before = [p.detach().clone() for p in model.parameters()]
    opt = QNewton(model, _step(eps=0.0 + 1e-2), blocks=blocks, curvature=KFAC(dense_max_n=0))
    opt.step(BatchClosure(model, Batch(x, y)))
    assert all(b["curvature"] == "kfac" for b in opt.last_report.blocks)
    assert len(opt.last_report.blocks) == 4
    moved = torch.cat([(b - p.detach()).reshape(-1) for b, p in zip(before, model.parameters())]).numpy()
    # each layer's move is (R_G (x) R_A)^-1 g in the factors' layout
    start = 0
    for c in curv:
        f = c.factors
        A, G, g = f.A.numpy(), f.G.numpy(), c.g.numpy()
        pi = np.sqrt((np.trace(A) / len(A)) / (np.trace(G) / len(G)))
        gam = np.sqrt(1e-2)
        K = np.kron(G + gam / pi * np.eye(len(G)), A + gam * pi * np.eye(len(A)))
        idx = f.index.numpy().reshape(-1)
        expected = np.empty_like(g)
        expected[idx] = np.linalg.solve(K, g[idx])
        assert np.allclose(moved[start:start + len(g)], expected, rtol=1e-8, atol=1e-12)
        start += len(g)


def _train(tmp_path, curvature):
    runs = tmp_path / "runs"
    code = main(["train", "--method", "qnewton", "--curvature", curvature, "--blocks", "layer", "--steps", str(STEPS),
                 "--sgd-steps", "2", "--batch-size", "128", "--hidden", "8", "--runs-dir", str(runs), "--name", "r",
                 "--stop-at-target", "false", "--eval-every", str(STEPS), "--quiet"])
    assert code == 0
    return [json.loads(line) for line in (runs / "r" / "qnewton" / "ledger.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("curvature", ["ggn", "ef", "mc-fisher", "kfac"])
def test_training_with_each_curvature_learns_digits(tmp_path, curvature):
    rows = _train(tmp_path, curvature)
    assert len(rows) == STEPS
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]  # 2.36 -> below 1.18 within 16 steps
    assert rows[-1]["test_accuracy"] > 0.75
    newton = [r for r in rows if r["phase"] == "newton"]
    assert len(newton) == STEPS - 2 and not any(r["skipped"] for r in newton)
    for row in newton:
        assert {b["curvature"] for b in row["blocks"]} == {curvature}
        if curvature == "kfac":  # two decisions per Linear layer per Newton step: G and A
            assert [b["name"] for b in row["blocks"]] == ["layers.0.G", "layers.0.A", "layers.1.G", "layers.1.A"]
            assert sum(row["decision_counts"].values()) == 4
            assert [b["n"] for b in row["blocks"]] == [8, 65, 10, 9]
        else:
            assert [b["name"] for b in row["blocks"]] == ["layers.0", "layers.1"]


@pytest.mark.parametrize("argv, needle", [
    (["--curvature", "fisher"], "invalid choice: 'fisher' (choose from 'hessian', 'ggn', 'ef', 'mc-fisher', 'kfac')"),
    (["--curvature", "kfac", "--blocks", "full"], "curvature: kfac needs one block per Linear layer"),
])
def test_bad_curvature_option_exit_2_one_line_nothing_written(tmp_path, capsys, argv, needle):
    runs = tmp_path / "runs"
    try:
        code = main(["train", "--method", "qnewton", "--runs-dir", str(runs), *argv])
    except SystemExit as exc:  # argparse rejects a value outside the choices itself
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not runs.exists()
