"""torch.optim.Optimizer classes: `QNewton` (the baselines are torch.optim.SGD)."""

from qnewton.optim.qnewton import QNewton, group_hessian

__all__ = ["QNewton", "group_hessian"]
