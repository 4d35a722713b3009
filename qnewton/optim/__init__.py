"""Optimizers: `QNewton`, the Q-Newton step as a torch.optim.Optimizer, and the step report an
optimizer can leave for the trainer."""

from qnewton.optim.qnewton import QNewton
from qnewton.optim.step_report import STAGES, ReportsSteps, StepReport

__all__ = ["QNewton", "ReportsSteps", "STAGES", "StepReport"]
