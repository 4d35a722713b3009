"""State preparation |b> = b / ||b|| for a real vector (padded with zeros to a power of two).

The norm is taken after b is divided by a power of two that brings max|b_i| near 1 (exact), so
a vector with entries near 1e300 or 1e-310 gives the same state as its rescaled copy instead of
an overflowing (inf) or vanishing (0) norm.
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit.library import StatePreparation

from qnewton.analysis.scaling import unit_vector
from qnewton.errors import UsageError


def validate_vector(b: np.ndarray, size: int, name: str = "b") -> np.ndarray:
    """b as float64 of length `size`, finite and nonzero, or UsageError."""
    if np.iscomplexobj(b):
        raise UsageError(f"{name}: must be a real vector, got complex entries")
    try:
        v = np.asarray(b, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: must be a real numeric vector ({exc})") from None
    if v.shape[0] != size:
        raise UsageError(f"{name}: length {v.shape[0]} does not match the matrix size {size}")
    if not np.all(np.isfinite(v)):
        raise UsageError(f"{name}: contains NaN or infinite entries")
    if not np.any(v):
        raise UsageError(f"{name}: is the zero vector")
    return v


def pad_vector(b: np.ndarray, size: int) -> np.ndarray:
    """b followed by zeros up to length `size` (the padded system's right-hand side)."""
    out = np.zeros(size)
    out[: b.shape[0]] = b
    return out


def state_preparation(b: np.ndarray) -> StatePreparation:
    """A gate mapping |0...0> to b / ||b|| (len(b) a power of two; b finite and nonzero)."""
    v = np.asarray(b, dtype=np.float64)
    if not np.all(np.isfinite(v)) or not np.any(v):
        raise UsageError("b: must be a finite nonzero vector to be prepared as a state")
    return StatePreparation(unit_vector(v), label="prep(b)")
