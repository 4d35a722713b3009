"""The fixed choices of the project, one enum each.

Each enum is a `StrEnum`, so a member compares equal to its string value (`KappaMethod.BOUND ==
"bound"`) and configs, JSON files and command-line options keep using the plain strings.
`choices(E)` gives the tuple of values for argparse and messages. Training methods are not an
enum: they live in the method registry (`qnewton.methods`), which new methods extend.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Type


class KappaMethod(StrEnum):
    """Condition-number estimators (`qnewton.analysis.kappa`)."""

    BOUND = "bound"  # the paper's determinant/trace bound (Sec. IV-C)
    LANCZOS = "lanczos"
    EXACT = "exact"


class ClassicalModel(StrEnum):
    """Classical cost models (`qnewton.costs.classical`)."""

    LU = "lu"  # R_c = C N^3 (the paper)
    CG = "cg"  # conjugate gradients: N d sqrt(kappa) ln(2/eps) multiply-adds
    BEST = "best"  # the cheaper of the two


class Readout(StrEnum):
    """How the cost of reading the solution vector out is priced (`qnewton.costs.quantum`)."""

    FREE = "free"  # the paper: no readout cost
    SWAP_TEST = "swap-test"


class Policy(StrEnum):
    """Scheduler policies (`qnewton.newton.scheduler`)."""

    HYBRID = "hybrid"
    CLASSICAL_ONLY = "classical-only"
    QUANTUM_ONLY = "quantum-only"


class SolverKind(StrEnum):
    """The two sides a scheduling decision can pick."""

    QUANTUM = "quantum"
    CLASSICAL = "classical"


class BlockKind(StrEnum):
    """How a model's parameters are split into curvature blocks (`qnewton.curvature.blocks`)."""

    FULL = "full"
    LAYER = "layer"
    TENSOR = "tensor"


class CurvatureKind(StrEnum):
    """Curvature matrices the Newton step can invert (`qnewton.curvature`)."""

    HESSIAN = "hessian"  # exact Hessian (torch.func)
    GGN = "ggn"  # generalized Gauss-Newton J^T H_L J
    EF = "ef"  # empirical Fisher (1/N) sum_n g_n g_n^T
    MC_FISHER = "mc-fisher"  # Monte-Carlo Fisher, labels sampled from the model
    KFAC = "kfac"  # Kronecker-factored A (x) G per Linear layer


class QuantumSolverKind(StrEnum):
    """The quantum linear solver used in training."""

    EMULATED = "emulated"
    CIRCUIT = "circuit"


class CircuitMethod(StrEnum):
    """Quantum linear-solver circuits (`qnewton.quantum`)."""

    HHL = "hhl"
    QSVT = "qsvt"


def choices(enum: Type[StrEnum]) -> tuple[str, ...]:
    """The string values of `enum`, in definition order."""
    return tuple(member.value for member in enum)
