"""A tiny model trained by Newton's method with every inversion done by a simulated circuit: the loss drops.

Logistic regression with 4 parameters (3 weights + bias) on a fixed synthetic data set: each step
solves (H + eps I) x = g with the CircuitSolver (exact statevector readout and a shots backend),
then theta -= x. This is the library-level check that a training run whose inversions are all done
by the circuit solver lowers the loss; `qnewton train --quantum-solver circuit` (the trainer) uses
the same solver.
"""

import numpy as np
import pytest

from qnewton.solvers.circuit import CircuitSolver


def _data(rng):
    X = rng.standard_normal((200, 3))
    w_true = np.array([1.5, -2.0, 0.7])
    y = (X @ w_true + 0.3 + 0.5 * rng.standard_normal(200) > 0).astype(float)
    return np.hstack([X, np.ones((200, 1))]), y


def _loss_grad_hess(theta, X, y):
    z = X @ theta
    p = 1 / (1 + np.exp(-z))
    loss = float(np.mean(np.logaddexp(0, z) - y * z))
    g = X.T @ (p - y) / len(y)
    H = (X * (p * (1 - p))[:, None]).T @ X / len(y)
    return loss, g, 0.5 * (H + H.T)


@pytest.mark.parametrize(("method", "backend"), [("hhl", "statevector"), ("qsvt", "statevector"), ("qsvt", "shots")])
def test_newton_with_circuit_solver_lowers_loss(rng, method, backend):
    X, y = _data(rng)
    solver = CircuitSolver(method, backend, shots=20000, seed=7, estimate_resources=False)
    theta = np.zeros(4)
    losses = []
    for _ in range(4):
        loss, g, H = _loss_grad_hess(theta, X, y)
        losses.append(loss)
        res = solver.solve(H + 1e-2 * np.eye(4), g)
        assert res.info["fidelity_vs_classical"] >= 0.97
        theta = theta - res.x
    losses.append(_loss_grad_hess(theta, X, y)[0])
    assert losses[-1] < 0.6 * losses[0]
    assert all(b < a for a, b in zip(losses, losses[1:]))
