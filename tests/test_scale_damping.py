"""The damping search started from a Lanczos estimate of lambda_min (`--damping-start lanczos`,
the default) against the doubling rule of earlier versions: the chosen mu makes the system positive
definite with the same margin, the factorization attempts drop, the direction is the old rule's
when mu is the same, and the numpy and torch paths choose the same mu."""

import numpy as np
import pytest
import scipy.linalg
import torch

from qnewton.analysis import damping
from qnewton.analysis.damping import damping_shift, lambda_min_estimate, round_up
from qnewton.cli import main
from qnewton.errors import UsageError
from qnewton.newton import NewtonStep, Scheduler
from qnewton.newton import step as step_module
from qnewton.newton.step import damp_factored, is_positive_definite
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver


def _indefinite(n: int, low: float, seed: int = 0, high: float = 6.0) -> np.ndarray:
    """A symmetric n x n matrix with eigenvalues spread over [low, high] (low < 0), exactly symmetric."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.linspace(low, high, n)
    A = (q * lam) @ q.T
    return (A + A.T) / 2


def _step(start: str, policy: str = "classical-only", device=None, **kw) -> NewtonStep:
    return NewtonStep(Scheduler(policy=policy), ClassicalSolver(), EmulatedQLSASolver(0.01), eps=kw.pop("eps", 0.0),
                      sparsity=kw.pop("sparsity", 1.0), exact_kappa_max_n=kw.pop("exact_kappa_max_n", 0),
                      damping_start=start, device=device, **kw)


@pytest.mark.parametrize("n", [40, 300])  # exact eigvalsh below 128, Lanczos above
def test_lanczos_start_gives_the_old_margin_with_one_verifying_factorization(n):
    A = _indefinite(n, -2.5)
    lam_min = float(np.linalg.eigvalsh(A)[0])
    fixed, mu, attempts, factor, est = damp_factored(A, known_indefinite=True, start="lanczos")
    assert attempts == 2 and factor is not None and factor.of is fixed  # the failed test + one factorization
    assert est.lower <= lam_min <= est.theta + 1e-12  # the error bound of the estimate
    assert est.exact == (n <= damping.EXACT_MAX_N)
    lam_damped = float(np.linalg.eigvalsh(fixed)[0])
    assert lam_damped >= abs(lam_min)  # every eigenvalue of A + mu I is at least |lambda_min(A)|
    assert 2 * abs(lam_min) < mu <= 2 * (1.1 * abs(est.lower) + 1e-3 * np.abs(A).max()) * 1.125 + 1e-12
    _, mu_old, attempts_old, factor_old, _ = damp_factored(A, known_indefinite=True, start="doubling")
    assert attempts_old >= 8 and factor_old is None  # mu0 = 1e-3 max|A_ij| doubled up to ~2.5
    assert 2 * abs(lam_min) < mu_old <= 4 * abs(lam_min) + 1e-9


def test_factorizations_of_a_newton_step_drop(monkeypatch):
    """One classical Newton step on an indefinite 300 x 300 block: Cholesky calls counted."""
    A = _indefinite(300, -4.0, seed=1)
    g = np.random.default_rng(2).standard_normal(300)
    calls = {"n": 0}
    real = scipy.linalg.cho_factor

    def counting(*args, **kw):
        calls["n"] += 1
        return real(*args, **kw)

    monkeypatch.setattr(scipy.linalg, "cho_factor", counting)
    counts = {}
    records = {}
    for start in ("doubling", "lanczos"):
        calls["n"] = 0
        res = _step(start).compute([A], [g])
        counts[start] = calls["n"]
        records[start] = res.blocks[0]["indefinite_fix"]
    # doubling: failed test + ~12 tries + the solver's own factorization; lanczos: test + one
    assert counts["lanczos"] == 2 and records["lanczos"]["attempts"] == 2
    assert counts["doubling"] == records["doubling"]["attempts"] + 1 >= 10
    assert records["lanczos"]["start"] == "lanczos" and records["doubling"]["start"] == "doubling"
    est = records["lanczos"]["lambda_min_estimate"]
    assert est["lower"] <= float(np.linalg.eigvalsh(A)[0]) <= est["theta"] + 1e-12
    assert est["matvecs"] > 0 and records["lanczos"]["lambda_min_estimate_pruned"] is None


@pytest.mark.parametrize("policy", ["classical-only", "quantum-only"])
def test_direction_equals_the_old_rules_when_mu_is_the_same(monkeypatch, policy):
    A = _indefinite(200, -1.5, seed=3)
    g = np.random.default_rng(4).standard_normal(200)
    old = _step("doubling", policy, eps=0.5).compute([A], [g], noise_seed=[1])
    mu_old = old.blocks[0]["indefinite_fix"]["mu"]
    monkeypatch.setattr(step_module, "damping_shift", lambda estimate, beta: mu_old)
    new = _step("lanczos", policy, eps=0.5).compute([A], [g], noise_seed=[1])
    assert new.blocks[0]["indefinite_fix"]["mu"] == mu_old
    np.testing.assert_allclose(new.directions[0], old.directions[0], rtol=1e-12, atol=1e-14)
    assert new.blocks[0]["solve_info"].get("shared_factor") is True  # the verifying factor solved it


def test_a_missed_estimate_falls_back_to_doubling(monkeypatch):
    """An estimate that misses lambda_min (here: claims 0) leaves A + mu I indefinite; the search
    then doubles from 2 mu and still returns a positive definite matrix."""
    A = _indefinite(150, -3.0, seed=5)
    monkeypatch.setattr(step_module, "lambda_min_estimate",
                        lambda M: damping.LambdaMinEstimate(0.0, 0.0, 0, 0.0, False, False))
    fixed, mu, attempts, factor, _ = damp_factored(A, known_indefinite=True, start="lanczos")
    assert attempts > 3 and factor is None and is_positive_definite(fixed)
    assert float(np.linalg.eigvalsh(fixed)[0]) >= 3.0 - 1e-9  # doubling's own margin holds


def test_pruned_matrix_is_damped_from_its_own_estimate():
    R = np.array([[0.8, 1.0, -0.2, -1.1], [1.0, 2.5, -0.5, -0.8], [-0.2, -0.5, 0.9, 1.2], [-1.1, -0.8, 1.2, 4.2]])
    g = np.array([1.0, 0.5, -0.3, 0.2])
    res = _step("lanczos", "quantum-only", sparsity=3).compute([R], [g])
    fix = res.blocks[0]["indefinite_fix"]
    assert fix["mu"] is None and fix["mu_pruned"] > 0 and fix["attempts"] == 2
    assert fix["lambda_min_estimate"] is None and fix["lambda_min_estimate_pruned"]["exact"] is True


@pytest.mark.parametrize("n", [60, 260])
def test_torch_path_chooses_the_same_mu(n):
    A = _indefinite(n, -2.0, seed=6)
    g = np.random.default_rng(7).standard_normal(n)
    a = _step("lanczos", "hybrid", sparsity="offdiag-mass:50").compute([A], [g], noise_seed=[0])
    b = _step("lanczos", "hybrid", device="cpu", sparsity="offdiag-mass:50").compute(
        [torch.from_numpy(A)], [torch.from_numpy(g)], noise_seed=[0])
    fa, fb = a.blocks[0]["indefinite_fix"], b.blocks[0]["indefinite_fix"]
    assert fa["mu"] == fb["mu"] and fa["mu_pruned"] == fb["mu_pruned"] and fa["attempts"] == fb["attempts"]
    assert fb["lambda_min_estimate"]["theta"] == pytest.approx(fa["lambda_min_estimate"]["theta"], rel=1e-9)
    np.testing.assert_allclose(b.directions[0], a.directions[0], rtol=1e-9, atol=1e-12)


def test_round_up_and_shift():
    assert round_up(1.0) == 1.0 and round_up(1.01) == 1.125 and round_up(0.3) == 0.3125
    est = damping.LambdaMinEstimate(-1.0, 0.1, 10, 0.0, False, True)
    assert damping_shift(est, 0.0) == round_up(2 * 1.1 * 1.1)
    assert lambda_min_estimate(np.diag([3.0, -1.0, 2.0])).theta == -1.0


def test_bad_damping_start_is_refused():
    with pytest.raises(UsageError, match="damping_start: must be one of lanczos, doubling"):
        _step("bisection")


def test_cli_rejects_a_bad_damping_start_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--damping-start", "halving", "--runs-dir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--damping-start" in err[0] and not any(tmp_path.iterdir())
