"""Mixed-precision factorizations of the Newton step (qnewton.analysis.factor, "Mixed precision"):
a float32 Cholesky factor with float64-refined solves, certified as a definiteness test by one
refined solve, checked against float64 references."""

import numpy as np
import pytest
import scipy.linalg

from qnewton.analysis.factor import (MIXED_MIN_N, MixedCholeskyFactor, cholesky, cholesky_mixed,
                                     resolve_precision)
from qnewton.errors import UsageError
from qnewton.newton import NewtonStep, Scheduler
from qnewton.newton.step import definiteness_factor
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver


def _spectrum_matrix(n, lam_min_rel, seed=0):
    """Symmetric A = B B^T / k + 0.05 I with its smallest eigenvalue replaced by lam_min_rel * lambda_max."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n // 4))
    A = B @ B.T / (n // 4) + 0.05 * np.eye(n)
    w, V = np.linalg.eigh((A + A.T) / 2)
    if lam_min_rel is not None:
        w[0] = lam_min_rel * w[-1]
    A = (V * w) @ V.T
    return (A + A.T) / 2, rng.standard_normal(n)


def _count_cho_factor(monkeypatch):
    calls = []
    real = scipy.linalg.cho_factor

    def counting(a, *args, **kw):
        calls.append(np.asarray(a).dtype.name)
        return real(a, *args, **kw)

    monkeypatch.setattr(scipy.linalg, "cho_factor", counting)
    return calls


def test_refined_solves_match_float64_and_log_det_is_close():
    A, b = _spectrum_matrix(600, None)
    ref = cholesky(A)
    f, status = cholesky_mixed(A, b)
    assert status == "ok" and isinstance(f, MixedCholeskyFactor) and f.precision == "mixed"
    assert f.c.dtype == np.float32
    x_ref = ref.solve(b)
    assert np.linalg.norm(f.solve(b) - x_ref) <= 1e-12 * np.linalg.norm(x_ref)
    # several right-hand sides, one of them tiny (scaled per column before the float32 solve)
    X = f.solve(np.stack([b, 1e-30 * b, -3.0 * b], axis=1))
    for j, s in enumerate((1.0, 1e-30, -3.0)):
        assert np.linalg.norm(X[:, j] - s * x_ref) <= 1e-12 * np.linalg.norm(s * x_ref)
    assert abs(f.log_det() - ref.log_det()) <= 1e-6 * abs(ref.log_det()) + 1e-3
    assert 1 <= f.refinement_steps <= 10


def test_float32_test_refuses_indefinite_and_nearly_singular_matrices():
    statuses = []
    for rel in (-1e-9, -1e-6, -1e-3):
        A, b = _spectrum_matrix(400, rel, seed=1)
        assert cholesky(A) is None
        f, status = cholesky_mixed(A, b)
        statuses.append(status)
        assert f is None  # never taken for positive definite: spotrf fails, or the refined solve diverges
        assert definiteness_factor(A, "mixed", b)[0] is None
    assert statuses[-1] == "float32-failed"
    # positive definite, but too close to singular for float32: refinement does not converge in time
    A, b = _spectrum_matrix(400, 1e-9, seed=1)
    assert cholesky(A) is not None
    f, status = cholesky_mixed(A, b)
    assert f is None and status in ("uncertified", "float32-failed")
    factor, estimate, tries = definiteness_factor(A, "mixed", b)
    assert factor is not None and factor.precision == "float64" and tries == 2  # float64 decided


def test_failed_float32_test_with_lanczos_proof_skips_the_float64_test(monkeypatch):
    A, b = _spectrum_matrix(400, -0.05, seed=2)
    calls = _count_cho_factor(monkeypatch)
    factor, estimate, tries = definiteness_factor(A, "mixed", b, estimate_first=True)
    assert factor is None and estimate is not None and estimate.proves_indefinite()
    assert calls == ["float32"] and tries == 1


def test_unconverged_refinement_falls_back_to_float64_or_raises():
    A, b = _spectrum_matrix(300, None, seed=3)
    f, _ = cholesky_mixed(A, b)
    other, _ = _spectrum_matrix(300, 1e-3, seed=4)  # a different matrix: the float32 factor is no preconditioner
    wrong = MixedCholeskyFactor(other, f.c)
    x = wrong.solve(b)
    assert wrong.fallback is not None and wrong.fallback.precision == "float64"
    np.testing.assert_allclose(x, np.linalg.solve(other, b), rtol=1e-8, atol=1e-10)
    indefinite, _ = _spectrum_matrix(300, -0.1, seed=4)
    with pytest.raises(np.linalg.LinAlgError):
        MixedCholeskyFactor(indefinite, f.c).solve(b)
    # the classical solver then solves the system itself (LU), and still gets it right
    bad = MixedCholeskyFactor(indefinite, f.c)
    out = ClassicalSolver().solve(indefinite, b, factorization=bad)
    assert out.method == "lu" and "shared_factor" not in out.info
    np.testing.assert_allclose(out.x, np.linalg.solve(indefinite, b), rtol=1e-8, atol=1e-10)


def test_auto_is_mixed_from_the_threshold_and_bad_values_are_one_line():
    assert resolve_precision("auto", MIXED_MIN_N - 1) == "float64"
    assert resolve_precision("auto", MIXED_MIN_N) == "mixed"
    assert resolve_precision("float64", 10**6) == "float64"
    with pytest.raises(UsageError, match="factor_precision: must be one of auto, float64, mixed"):
        resolve_precision("half", 10)
    with pytest.raises(UsageError, match="factor_precision"):
        NewtonStep(Scheduler(policy="classical-only"), ClassicalSolver(), EmulatedQLSASolver(0.0),
                   factor_precision="float16")


@pytest.mark.parametrize("policy", ["classical-only", "quantum-only", "hybrid"])
def test_mixed_step_gives_the_float64_step_directions_and_decisions(monkeypatch, policy):
    H, g = _spectrum_matrix(500, None, seed=5)
    H = H - 0.04 * np.eye(500)  # eigenvalues down to 0.01, H + eps I well conditioned
    kw = dict(eps=3.0, sparsity="offdiag-mass:50", exact_kappa_max_n=0)
    ref = NewtonStep(Scheduler(policy=policy), ClassicalSolver(), EmulatedQLSASolver(0.0),
                     factor_precision="float64", **kw).compute([H], [g])
    calls = _count_cho_factor(monkeypatch)
    res = NewtonStep(Scheduler(policy=policy), ClassicalSolver(), EmulatedQLSASolver(0.0),
                     factor_precision="mixed", **kw).compute([H], [g])
    assert calls == ["float32", "float32"]  # R and P, each factored once, in float32
    a, b = res.blocks[0], ref.blocks[0]
    assert a["decision"] == b["decision"] and a["sparsity"] == b["sparsity"] < 500
    assert a["log_kappa_estimate"] == pytest.approx(b["log_kappa_estimate"], abs=1e-4)
    assert a["solve_info"].get("shared_factor") is True
    assert a["factorization"]["R"]["precision"] == "mixed" and a["factorization"]["P"]["precision"] == "mixed"
    assert not a["factorization"]["R"]["float64_fallback"]
    assert b["factorization"] == {"R": {"precision": "float64"}, "P": {"precision": "float64"}}
    x, x_ref = res.directions[0], ref.directions[0]
    assert np.linalg.norm(x - x_ref) <= 1e-10 * np.linalg.norm(x_ref)


def test_mixed_step_damps_an_indefinite_block_like_the_float64_step(monkeypatch):
    H, g = _spectrum_matrix(500, -0.3, seed=6)
    kw = dict(eps=0.1, sparsity="offdiag-mass:50", exact_kappa_max_n=0)
    ref = NewtonStep(Scheduler(policy="classical-only"), ClassicalSolver(), EmulatedQLSASolver(0.0),
                     factor_precision="float64", **kw).compute([H], [g])
    calls = _count_cho_factor(monkeypatch)
    res = NewtonStep(Scheduler(policy="classical-only"), ClassicalSolver(), EmulatedQLSASolver(0.0),
                     factor_precision="mixed", **kw).compute([H], [g])
    fix, fix_ref = res.blocks[0]["indefinite_fix"], ref.blocks[0]["indefinite_fix"]
    assert fix["mu"] == fix_ref["mu"] > 0  # the same Lanczos estimate, the same rounded mu
    # R: the failed float32 test (the Lanczos estimate proves it indefinite), the damped R; then P
    assert calls == ["float32", "float32", "float32"]
    x, x_ref = res.directions[0], ref.directions[0]
    assert np.linalg.norm(x - x_ref) <= 1e-10 * np.linalg.norm(x_ref)
    assert float(g @ x) > 0


def test_workspace_reuses_the_large_arrays_and_changes_no_result():
    from qnewton.newton.step import Workspace

    H, g = _spectrum_matrix(400, None, seed=7)
    kw = dict(eps=3.0, sparsity="offdiag-mass:50", exact_kappa_max_n=0, factor_precision="mixed")
    fresh = [NewtonStep(Scheduler(policy="hybrid"), ClassicalSolver(), EmulatedQLSASolver(0.0), **kw)
             .compute([H], [g * s]).directions[0] for s in (1.0, -2.0)]
    step = NewtonStep(Scheduler(policy="hybrid"), ClassicalSolver(), EmulatedQLSASolver(0.0), **kw)
    step.workspace = Workspace(min_n=0)
    first = step.compute([H], [g]).directions[0]
    kept = {k: [id(a) for a in v] for k, v in step.workspace._free.items()}
    assert sorted(k[1:] for k in kept) == [("<f4", "F"), ("<f8", "C")]  # the factors' and P's arrays
    assert len(kept[((400, 400), "<f4", "F")]) == 2
    second = step.compute([H], [-2.0 * g]).directions[0]
    again = {k: sorted(id(a) for a in v) for k, v in step.workspace._free.items()}
    assert again == {k: sorted(v) for k, v in kept.items()}  # the same arrays went round again
    np.testing.assert_array_equal(first, fresh[0])
    np.testing.assert_array_equal(second, fresh[1])


def test_workspace_keeps_no_array_someone_else_holds():
    from qnewton.newton.step import Workspace

    ws = Workspace(min_n=0)
    held = np.zeros((50, 50))
    alias = held  # a second reference outside the workspace
    ws.give(held)
    assert ws.take((50, 50), np.float64, "C") is None
    del alias
    ws.give(held, references=1)  # the caller's own name `held` is the one other reference
    assert ws.take((50, 50), np.float64, "C") is held and held.flags.writeable
    small = Workspace()  # the default keeps only arrays from N = 4096 on
    small.give(np.zeros((50, 50)))
    assert small.take((50, 50), np.float64, "C") is None


def test_a_failed_float32_attempt_gives_its_array_back():
    from qnewton.newton.step import Workspace

    ws = Workspace(min_n=0)
    A, b = _spectrum_matrix(300, -0.05, seed=8)
    ws.give(np.empty((300, 300), dtype=np.float32, order="F"))
    kept = id(ws._free[((300, 300), "<f4", "F")][0])  # no reference held here: it may go back
    factor, estimate, _ = definiteness_factor(A, "mixed", b, estimate_first=True, workspace=ws)
    assert factor is None and estimate.proves_indefinite()
    assert id(ws.take((300, 300), np.float32, "F")) == kept
