"""Classical solve-time models: LU (the paper's R_c = C N^3) and conjugate gradients.

Pure formulas; the numbers they need come from elsewhere:

* LU (Q-Newton Sec. IV-C): "R_c = C * N^3, where C is a constant factor that can be easily
  determined through a benchmark calibration". `LUCostModel(C)` prices N^3 at C seconds.
* CG, the fair classical rival of a quantum solver on a sparse, well-conditioned matrix: about
  N d sqrt(kappa) ln(2 / eps) multiply-adds (sqrt(kappa) ln(2/eps) iterations of one d-sparse
  matrix-vector product each; the iteration count is left fractional, not rounded up, so the
  price is a smooth function of kappa), at a given multiply-add rate (`CGCostModel`).
* best: the cheaper of the two per matrix (`BestClassicalCostModel`).

C and the CG rate are measured by `qnewton calibrate classical` (`qnewton.calibrate`), which
saves them in a profile; `qnewton.calibrate.classical_cost_model` builds a model from that
profile or, without one, from the pinned constants below. A fresh wall-clock fit is made only on
request, because two fits differ from run to run and can flip a scheduling decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qnewton.enums import ClassicalModel
from qnewton.errors import UsageError

#: The default C of R_c = C N^3 and CG multiply-add rate when no profile is saved, fixed so that
#: two identical runs schedule identically (a fit from the wall clock differs from run to run,
#: e.g. 1.91e-11 and 2.43e-11, and can flip a decision). Measured with `qnewton calibrate
#: classical --threads 1 --sizes 128,256,384,512,1024 --repeats 5`, three runs on the idle 2-core
#: development machine (Intel Xeon, load 0.5): C = 2.13e-11, 2.15e-11 and 1.84e-11 s (the sizes
#: are the trainer's Hessian blocks on digits); CG rate 8.3e8, 6.1e8 and 9.8e8 multiply-adds/s;
#: the median of each, rounded.
PINNED_LU_CONSTANT = 2.1e-11
PINNED_CG_RATE = 8.3e8
PINNED_SOURCE = ("C = 2.1e-11 s per N^3 and CG rate 8.3e8 multiply-adds/s, medians of `qnewton calibrate "
                 "classical --threads 1` at N = 128..1024 on the 2-core development machine (docs/cost-model.md)")


def positive(name: str, value: Any) -> float:
    """`value` as a positive finite float, or a one-line UsageError naming `name`."""
    if isinstance(value, bool):
        raise UsageError(f"{name}: must be a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: must be a positive number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise UsageError(f"{name}: must be a positive finite number, got {value!r}")
    return v


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UsageError(f"n: must be a positive integer, got {n!r}")
    return int(n)


@dataclass(frozen=True)
class LUCostModel:
    """R_c = C N^3 seconds (paper Sec. IV-C). source: where C came from; fit_info: the
    measurements and fit quality behind C (sizes, seconds, r2, relative_residuals) when fitted."""

    constant: float
    source: str = "given"
    fit_info: dict[str, Any] = field(default_factory=dict)
    name: str = ClassicalModel.LU

    def __post_init__(self) -> None:
        positive("constant", self.constant)

    def seconds(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> float:
        """R_c = C N^3 seconds (sparsity and kappa are ignored: a dense factorization)."""
        n = _check_n(n)
        return float(self.constant) * float(n) ** 3

    def describe(self) -> str:
        """One line: the formula, C and where C came from."""
        return f"LU: R_c = {self.constant:.4g} * N^3 s ({self.source})"


@dataclass(frozen=True)
class CGCostModel:
    """Conjugate gradients: N d sqrt(kappa) ln(2/eps) multiply-adds at a measured rate."""

    multiply_adds_per_second: float
    epsilon: float = 0.01
    source: str = "given"
    name: str = ClassicalModel.CG

    def __post_init__(self) -> None:
        positive("multiply_adds_per_second", self.multiply_adds_per_second)
        eps = positive("epsilon", self.epsilon)
        if eps >= 1:
            raise UsageError(f"epsilon: must lie in (0, 1), got {eps:g}")

    def multiply_adds(self, n: int, sparsity: int, kappa: float) -> float:
        """N d sqrt(kappa) ln(2/eps) multiply-adds (inf for kappa = inf)."""
        n = _check_n(n)
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, np.integer)) or sparsity < 1:
            raise UsageError(f"sparsity: must be an integer >= 1, got {sparsity!r}")
        k = float(kappa)
        if math.isnan(k) or k < 1:
            raise UsageError(f"kappa: must be >= 1, got {kappa!r}")
        return float(n) * float(sparsity) * math.sqrt(k) * math.log(2.0 / self.epsilon)

    def seconds(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> float:
        """multiply_adds(N, d, kappa) / the measured multiply-add rate."""
        if sparsity is None or kappa is None:
            raise UsageError("cg cost model: needs the sparsity d and kappa")
        return self.multiply_adds(n, sparsity, kappa) / float(self.multiply_adds_per_second)

    def describe(self) -> str:
        """One line: the formula, the rate, eps and its source."""
        return f"CG: N d sqrt(kappa) ln(2/eps) multiply-adds at {self.multiply_adds_per_second:.3g}/s, eps={self.epsilon:g} ({self.source})"


@dataclass(frozen=True)
class BestClassicalCostModel:
    """The cheaper of LU and CG for each matrix."""

    lu: LUCostModel
    cg: CGCostModel
    name: str = ClassicalModel.BEST

    @property
    def source(self) -> str:
        """Where both constants came from."""
        return f"lu: {self.lu.source}; cg: {self.cg.source}"

    def choose(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> tuple[float, str]:
        """(seconds, "lu" or "cg"): the cheaper model for this matrix (LU when d or kappa is unknown)."""
        lu = self.lu.seconds(n)
        if sparsity is None or kappa is None:
            return lu, ClassicalModel.LU
        cg = self.cg.seconds(n, sparsity, kappa)
        return (cg, ClassicalModel.CG) if cg < lu else (lu, ClassicalModel.LU)

    def seconds(self, n: int, sparsity: int | None = None, kappa: float | None = None) -> float:
        """Seconds of the cheaper of LU and CG."""
        return self.choose(n, sparsity, kappa)[0]

    def describe(self) -> str:
        """One line naming both models."""
        return f"best of [{self.lu.describe()}] and [{self.cg.describe()}]"


ClassicalCostModel = LUCostModel | CGCostModel | BestClassicalCostModel


def check_kind(kind: Any) -> ClassicalModel:
    """`kind` as a `ClassicalModel` ("lu", "cg", "best"), or a one-line UsageError."""
    try:
        return ClassicalModel(kind)
    except ValueError:
        options = ", ".join(m.value for m in ClassicalModel)
        raise UsageError(f"classical model: must be one of {options}, got {kind!r}") from None
