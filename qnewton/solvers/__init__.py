"""Linear solvers for H x = g: classical (Cholesky/LU), emulated QLSA, circuit QLSA."""

from qnewton.solvers.base import LinearSolver, SolveResult

__all__ = ["LinearSolver", "SolveResult"]
