"""The dense Newton step at scale: one Cholesky factorization per matrix (shared by the
definiteness test, the kappa bound and the solver), its seconds attributed to one stage, matrices
validated once; the directions equal those of separate factorizations."""

import numpy as np
import pytest
import scipy.linalg

from qnewton.analysis import _validate
from qnewton.analysis.factor import cholesky, factor_for
from qnewton.analysis.kappa import estimate_kappa
from qnewton.newton import NewtonStep, Scheduler
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver


def _spd(n, seed=0, coupling=0.3):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) * coupling / np.sqrt(n)
    h = a @ a.T
    return (h + h.T) / 2, rng.standard_normal(n)


class _PlainClassical:
    """The classical solver without factor sharing (the reference)."""

    name = "classical"
    kind = "classical"

    def __init__(self):
        self.inner = ClassicalSolver()

    def solve(self, A, b, decision=None):
        return self.inner.solve(A, b, decision)


def _count_factorizations(monkeypatch):
    calls = []
    real = scipy.linalg.cho_factor

    def counting(a, *args, **kw):
        calls.append(np.shape(a)[0])
        return real(a, *args, **kw)

    monkeypatch.setattr(scipy.linalg, "cho_factor", counting)
    real_chol = scipy.linalg.cholesky

    def counting_chol(a, *args, **kw):
        calls.append(np.shape(a)[0])
        return real_chol(a, *args, **kw)

    monkeypatch.setattr(scipy.linalg, "cholesky", counting_chol)
    return calls


@pytest.mark.parametrize("prune_classical", [False, True])
def test_one_factorization_per_matrix_and_same_direction(monkeypatch, prune_classical):
    H, g = _spd(300)
    kw = dict(eps=1.0, sparsity="offdiag-mass:50", exact_kappa_max_n=0, prune_classical=prune_classical)
    ref = NewtonStep(Scheduler(policy="classical-only"), _PlainClassical(), EmulatedQLSASolver(0.0), **kw)
    expected = ref.compute([H], [g])
    calls = _count_factorizations(monkeypatch)
    step = NewtonStep(Scheduler(policy="classical-only"), ClassicalSolver(), EmulatedQLSASolver(0.0), **kw)
    res = step.compute([H], [g])
    rec = res.blocks[0]
    assert rec["sparsity"] < 300  # P differs from R
    # R factored once (test + solve), P factored once (test + bound); no third or fourth factorization
    assert calls == [300, 300]
    assert rec["solve_info"]["shared_factor"] is True
    np.testing.assert_allclose(res.directions[0], expected.directions[0], rtol=1e-12, atol=0)
    assert rec["kappa_estimate"] == pytest.approx(expected.blocks[0]["kappa_estimate"], rel=1e-12)
    for key in ("regularize_prune", "kappa_estimate", "decision", "solve"):
        assert res.measured_seconds[key] >= 0.0


def test_unpruned_matrix_is_factored_once_for_bound_and_solve(monkeypatch):
    H, g = _spd(200, seed=1)
    calls = _count_factorizations(monkeypatch)
    step = NewtonStep(Scheduler(policy="classical-only"), ClassicalSolver(), EmulatedQLSASolver(0.0), eps=1.0,
                      sparsity=1.0, exact_kappa_max_n=0)
    res = step.compute([H], [g])
    assert res.blocks[0]["sparsity"] == 200
    assert calls == [200]  # d = N: P is R, one factorization for the test, the bound and the solve
    x = res.directions[0]
    np.testing.assert_allclose((H + np.eye(200)) @ x, g, rtol=0, atol=1e-10 * np.abs(g).max())


def test_quantum_solver_reuses_the_pruned_factor(monkeypatch):
    H, g = _spd(250, seed=2)
    calls = _count_factorizations(monkeypatch)
    step = NewtonStep(Scheduler(policy="quantum-only"), ClassicalSolver(), EmulatedQLSASolver(0.0), eps=1.0,
                      exact_kappa_max_n=0)
    res = step.compute([H], [g])
    assert res.blocks[0]["decision"] == "quantum"
    assert res.blocks[0]["solve_info"].get("shared_factor") is True
    assert calls == [250, 250]  # R (definiteness test only) and P (test, bound and the emulated solve)


def test_factor_is_tied_to_the_array_object():
    H, _ = _spd(50, seed=3)
    A = H + np.eye(50)
    f = cholesky(A)
    assert f is not None and factor_for(f, A) is f
    assert factor_for(f, A.copy()) is None  # an equal copy does not use it
    assert cholesky(-A) is None  # not positive definite
    shared = estimate_kappa(A, "bound", factorization=f)
    own = estimate_kappa(A, "bound")
    assert shared.details["shared_factorization"] and not own.details["shared_factorization"]
    assert shared.log_value == pytest.approx(own.log_value, rel=1e-13)


def test_validated_matrices_are_not_rescanned(monkeypatch):
    H, g = _spd(120, seed=4)
    scans = []
    real = _validate.symmetry_defect

    def counting(A, *args, **kw):
        if not _validate.is_validated(A):
            scans.append(A.shape)
        return real(A, *args, **kw)

    monkeypatch.setattr(_validate, "symmetry_defect", counting)
    step = NewtonStep(Scheduler(), ClassicalSolver(), EmulatedQLSASolver(0.0), eps=1.0, exact_kappa_max_n=0)
    step.compute([H], [g])
    assert len(scans) <= 1  # at most the caller's H, once (R and P are built symmetric and marked)
    R = _validate.mark_validated(H + np.eye(120))
    with pytest.raises(ValueError):
        R[0, 0] = 5.0  # read-only: the validation cannot go stale


def test_max_abs_is_remembered_only_for_validated_matrices():
    from qnewton.analysis._validate import _MAX_ABS
    from qnewton.analysis.scaling import max_abs

    plain = np.array([[1.0, -3.0], [-3.0, 2.0]])
    assert max_abs(plain) == 3.0 and id(plain) not in _MAX_ABS
    A = _validate.mark_validated(plain.copy())
    assert max_abs(A) == 3.0 and _MAX_ABS[id(A)] == 3.0
    A.flags.writeable = True  # a reused buffer: no longer validated, its cached value not used
    A[0, 1] = A[1, 0] = -7.0
    assert max_abs(A) == 7.0
    _validate.mark_validated(A)  # marked again: the stale value is gone
    assert id(A) not in _MAX_ABS and max_abs(A) == 7.0
