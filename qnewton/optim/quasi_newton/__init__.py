"""Quasi-Newton and conjugate-gradient peers of Q-Newton, written from their papers.

`BFGS` (dense inverse update, line search; survey 003 Sec. 3.3), `SLIMQN` (momentum-averaged
L-BFGS pairs with adaptive damping; paper 002 Algorithm 2) and `NonlinearCG` (Fletcher-Reeves /
Polak-Ribiere+ with restarts and a line search; survey 003 Sec. 3.2). Each is a
`torch.optim.Optimizer` driven by `step(closure)` that counts its gradient evaluations.
"""

from qnewton.optim.quasi_newton.bfgs import BFGS, bfgs_update
from qnewton.optim.quasi_newton.ncg import NonlinearCG, conjugacy_beta
from qnewton.optim.quasi_newton.slimqn import SLIMQN, damping_tau

__all__ = ["BFGS", "NonlinearCG", "SLIMQN", "bfgs_update", "conjugacy_beta", "damping_tau"]
