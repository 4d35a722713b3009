"""Test systems for the circuits: random SPD matrices with a chosen kappa, an indefinite 4 x 4."""

from __future__ import annotations

import numpy as np


def random_spd(rng: np.random.Generator, n: int, kappa: float) -> np.ndarray:
    """Q diag(w) Q^T with Haar-like Q, w containing 1 and kappa (so cond = kappa exactly), exactly symmetric."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.concatenate([[1.0, kappa], rng.uniform(1.0, kappa, max(n - 2, 0))])[:n]
    A = (Q * w) @ Q.T
    return 0.5 * (A + A.T)


def random_indefinite(rng: np.random.Generator, eigenvalues: tuple[float, ...] = (-1.0, 0.5, -3.0, 2.0)) -> np.ndarray:
    """Q diag(eigenvalues) Q^T: a symmetric indefinite matrix (default 4 x 4, kappa 6)."""
    w = np.asarray(eigenvalues, dtype=np.float64)
    Q, _ = np.linalg.qr(rng.standard_normal((w.size, w.size)))
    A = (Q * w) @ Q.T
    return 0.5 * (A + A.T)
