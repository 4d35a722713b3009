"""Shared pieces of the linear solvers (input checks, rescaling of extreme systems).

The solver contract, `LinearSolver`, and its result, `SolveResult`, live in
`qnewton.newton.protocols`. A solver takes a real symmetric system A x = b (float64 numpy) and returns a `SolveResult`.
Measured time (wall clock spent on this machine) and modeled quantum time (what a quantum
computer would take according to a cost model) are separate fields and are never added here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qnewton.analysis.scaling import binary_exponent
from qnewton.errors import UsageError

# The result type and the solver contract belong to the Newton core, which consumes solvers.
from qnewton.newton.protocols import LinearSolver, SolveResult  # noqa: E402

__all__ = ["LinearSolver", "SolveResult", "SOLVE_WINDOW", "as_real_array", "rescale_solution"]


#: The direct solvers rescale A and b only when their largest entry lies outside
#: [2^-SOLVE_WINDOW, 2^SOLVE_WINDOW]: inside it LAPACK's factorizations neither overflow nor work
#: on subnormal numbers, and a matrix such as diag(1e300, 1e-300) is solved exactly as given.
SOLVE_WINDOW = 1000


def as_real_array(a: Any, name: str) -> np.ndarray:
    """`a` as a float64 array, or a one-line UsageError naming `name` (complex or non-numeric input)."""
    if np.iscomplexobj(a):
        raise UsageError(f"{name}: has complex entries; a real system is expected")
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: cannot be read as a float64 array ({str(exc).splitlines()[0]})") from None


def rescale_solution(x: np.ndarray, shift: int, info: dict[str, Any]) -> np.ndarray:
    """x 2^shift, the solution of the caller's system from that of the rescaled one.

    Entries beyond the float64 range become inf (noted in info["overflow"], also when the
    factorization itself overflowed); entries below it become subnormal or 0 (noted in
    info["underflow"]). No warnings are printed."""
    if not np.all(np.isfinite(x)):
        info["overflow"] = "the solution exceeds the float64 range (inf or NaN entries)"
        return np.ldexp(x, shift) if shift else x
    if not shift:
        return x
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(x, shift)
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if np.isfinite(top) and top > 0:
        if not np.all(np.isfinite(out)):
            info["overflow"] = f"the solution exceeds the float64 range (max|x| ~ 2^{binary_exponent(top) + shift})"
        elif binary_exponent(top) + shift < -1021:
            info["underflow"] = f"the solution lies below the normal float64 range (max|x| ~ 2^{binary_exponent(top) + shift}); digits are lost"
    return out
