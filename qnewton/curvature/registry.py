"""The curvature kinds by name. Adding a kind: one module implementing the `Curvature` protocol
(`qnewton.curvature.base`) plus one line here (and its name in `qnewton.enums.CurvatureKind`)."""

from __future__ import annotations

from typing import Any

from qnewton.curvature.base import Curvature
from qnewton.curvature.fisher import EmpiricalFisher, MonteCarloFisher
from qnewton.curvature.ggn import GGN
from qnewton.curvature.hessian import ExactHessian
from qnewton.curvature.kfac import KFAC
from qnewton.enums import CurvatureKind
from qnewton.errors import UsageError

CURVATURES: dict[str, type] = {
    CurvatureKind.HESSIAN.value: ExactHessian,
    CurvatureKind.GGN.value: GGN,
    CurvatureKind.EF.value: EmpiricalFisher,
    CurvatureKind.MC_FISHER.value: MonteCarloFisher,
    CurvatureKind.KFAC.value: KFAC,
}


def curvature_kinds() -> tuple[str, ...]:
    """The curvature names `make_curvature` accepts."""
    return tuple(CURVATURES)


def make_curvature(kind: CurvatureKind | str = CurvatureKind.HESSIAN, **options: Any) -> Curvature:
    """The curvature of kind `kind`, built with `options` (e.g. dtype, chunk_size for the Hessian;
    samples, seed for the Monte-Carlo Fisher; fisher_type, kfac_approx for K-FAC)."""
    if kind not in CURVATURES:
        raise UsageError(f"curvature: must be one of {', '.join(CURVATURES)}, got {kind!r}")
    return CURVATURES[str(kind)](**options)
