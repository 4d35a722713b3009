"""The Newton core: the scheduler and the block Newton step (paper Algorithm 2, lines 4-17).

Both the trainer (`qnewton.train`) and the optimizer (`qnewton.optim.QNewton`) stand on it. It
depends on the pure layers only (`qnewton.analysis`, `qnewton.costs`) and reaches solvers and
cost models through the protocols in `qnewton.newton.protocols`.
"""

from qnewton.newton.decision import Decision
from qnewton.newton.protocols import (
    ChoosingClassicalCostModel,
    ClassicalCostModel,
    LinearSolver,
    QuantumCostModel,
    Reseedable,
    SolveResult,
)
from qnewton.newton.scheduler import POLICIES, Scheduler
from qnewton.newton.step import NewtonResult, NewtonStep, exact_kappa

__all__ = [
    "ChoosingClassicalCostModel", "ClassicalCostModel", "Decision", "LinearSolver", "NewtonResult", "NewtonStep",
    "POLICIES", "QuantumCostModel", "Reseedable", "Scheduler", "SolveResult", "exact_kappa",
]
