"""Block encoding: the ancilla-|0> block of the dilation equals A / alpha, padding keeps kappa."""

import numpy as np
import pytest

from qnewton.errors import UsageError
from qnewton.quantum.block_encoding import block_encode, pad_to_power_of_two


def _random_symmetric(rng, n):
    M = rng.standard_normal((n, n))
    return M + M.T


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_top_left_block_is_a_over_alpha(rng, n):
    A = _random_symmetric(rng, n)
    be = block_encode(A)
    U = be.unitary()
    size = 2**be.num_system_qubits
    assert U.shape == (2 * size, 2 * size)
    np.testing.assert_allclose(U.conj().T @ U, np.eye(2 * size), atol=1e-10)
    np.testing.assert_allclose(U[:n, :n] * be.alpha, A, atol=1e-10)
    assert be.alpha == pytest.approx(np.linalg.norm(A, 2))
    assert be.num_ancillas == 1


def test_padding_keeps_kappa(rng):
    A = _random_symmetric(rng, 3) + 8 * np.eye(3)
    P = pad_to_power_of_two(A)
    assert P.shape == (4, 4)
    assert np.linalg.cond(P) == pytest.approx(np.linalg.cond(A), rel=1e-12)
    Z = pad_to_power_of_two(A, fill="zero")
    assert np.linalg.matrix_rank(Z) == 3


def test_rejects_bad_input():
    with pytest.raises(UsageError, match="symmetric"):
        block_encode(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(UsageError, match="alpha"):
        block_encode(np.eye(2) * 2, alpha=1.0)
    with pytest.raises(UsageError, match="square"):
        block_encode(np.ones((2, 3)))
