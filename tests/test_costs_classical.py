"""Classical cost models (LU C N^3, CG), their resolution from profiles or pinned constants,
the timing that fits them, and the classical solver."""

import json
import math

import numpy as np
import pytest

from qnewton.calibrate import classical_cost_model
from qnewton.calibrate.classical_profile import default_profile_path, load_profile, write_profile
from qnewton.calibrate.classical_timing import fit_cubic, fit_lu_model
from qnewton.costs.classical import (
    PINNED_CG_RATE,
    PINNED_LU_CONSTANT,
    BestClassicalCostModel,
    CGCostModel,
    LUCostModel,
)
from qnewton.errors import UsageError
from qnewton.solvers.classical import ClassicalSolver


def test_fit_cubic_recovers_constant_and_reports_quality():
    sizes = [100, 200, 400, 800]
    secs = [3e-10 * n**3 for n in sizes]
    fit = fit_cubic(sizes, secs)
    assert fit["constant"] == pytest.approx(3e-10, rel=1e-12)
    assert fit["r2"] == pytest.approx(1.0)
    assert max(abs(r) for r in fit["relative_residuals"]) < 1e-12
    noisy = fit_cubic(sizes, [s * f for s, f in zip(secs, (3.0, 1.0, 1.0, 1.0))])
    assert noisy["relative_residuals"][0] < -0.5  # the overhead-dominated small N shows up


def test_lu_cg_best_formulas():
    lu = LUCostModel(2e-10)
    assert lu.seconds(1000) == pytest.approx(0.2)
    cg = CGCostModel(1e9, epsilon=0.01)
    assert cg.seconds(1000, 10, 100.0) == pytest.approx(1000 * 10 * 10 * math.log(200) / 1e9)
    best = BestClassicalCostModel(lu, cg)
    assert best.choose(1000, 10, 100.0) == (pytest.approx(cg.seconds(1000, 10, 100.0)), "cg")
    assert best.choose(10, 10, 1e12)[1] == "lu"
    assert cg.seconds(1000, 10, math.inf) == math.inf
    with pytest.raises(UsageError):
        LUCostModel(0.0)
    with pytest.raises(UsageError):
        cg.seconds(1000)


def test_profile_roundtrip_atomic_and_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path / "cache"))
    assert default_profile_path() == tmp_path / "cache" / "classical.json"
    profile = {
        "format": "qnewton-classical-profile",
        "version": 1,
        "lu": {"constant": 4e-10},
        "cg": {"multiply_adds_per_second": 5e8},
    }
    path = write_profile(profile, default_profile_path())
    assert json.loads(path.read_text())["lu"]["constant"] == 4e-10
    assert [p.name for p in path.parent.iterdir()] == ["classical.json"]  # no temp file left behind
    model, source = classical_cost_model("lu")
    assert model.constant == 4e-10 and source == model.source and source.startswith(f"profile {path}")
    best, _ = classical_cost_model("best", profile=path, epsilon=1e-3)
    assert best.cg.multiply_adds_per_second == 5e8 and best.cg.epsilon == 1e-3
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="JSON"):
        load_profile(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(UsageError, match="not a"):
        load_profile(bad)
    with pytest.raises(UsageError, match="no such file"):
        load_profile(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="classical model"):
        classical_cost_model("qr", profile=path)
    bad.write_text(json.dumps({"format": "qnewton-classical-profile", "lu": {"constant": -1.0},
                               "cg": {"multiply_adds_per_second": 5e8}}))
    with pytest.raises(UsageError, match="lu.constant"):
        load_profile(bad)


def test_lu_fit_on_this_machine_is_positive():
    model = fit_lu_model(sizes=(64, 128), repeats=1)
    assert model.constant > 0 and model.fit_info["sizes"] == [64, 128] and "fitted" in model.source


def test_classical_solver_paths(rng):
    solver = ClassicalSolver()
    B = rng.standard_normal((30, 30))
    spd = B @ B.T + 30 * np.eye(30)
    b = rng.standard_normal(30)
    r = solver.solve(spd, b)
    assert r.method == "cholesky" and r.kind == "classical" and r.modeled_quantum_seconds == 0.0
    np.testing.assert_allclose(spd @ r.x, b, atol=1e-10)
    assert r.measured_seconds > 0 and r.info["relative_residual"] < 1e-12
    indef = np.diag([1.0, -2.0, 3.0])
    r = solver.solve(indef, np.ones(3))
    assert r.method == "lu" and "Cholesky failed" in r.info["fallback_reason"]
    np.testing.assert_allclose(r.x, [1.0, -0.5, 1 / 3])
    r = solver.solve(np.ones((2, 2)), np.ones(2))
    assert r.method == "lstsq"
    np.testing.assert_allclose(r.x, [0.5, 0.5])
    with pytest.raises(UsageError, match="b"):
        solver.solve(spd, np.ones(3))


def test_without_a_profile_the_pinned_constants_price_and_nothing_is_timed(tmp_path, monkeypatch):
    """No saved profile: C and the CG rate are the pinned defaults, the same on every call, and
    the wall clock is never read; the source says so. Asking for a profile that is not there is
    one line naming the command that makes it."""
    from qnewton.calibrate import classical_timing

    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path))
    monkeypatch.setattr(classical_timing, "time_classical_solver", lambda *a, **k: pytest.fail("timed"))
    best, source = classical_cost_model("best", epsilon=0.05)
    assert (best.lu.constant, best.cg.multiply_adds_per_second) == (PINNED_LU_CONSTANT, PINNED_CG_RATE)
    assert best.cg.epsilon == 0.05 and source.startswith("pinned default")
    given, source = classical_cost_model("best", 3e-11, given_source="--classical-constant")
    assert given.lu.constant == 3e-11 and given.cg.multiply_adds_per_second == PINNED_CG_RATE
    assert source == "lu: --classical-constant; cg: " + given.cg.source
    with pytest.raises(UsageError, match="calibrate classical"):
        classical_cost_model("lu", "profile")
    with pytest.raises(UsageError, match="classical_constant"):
        classical_cost_model("lu", "measured")
    with pytest.raises(UsageError, match="classical_constant"):
        classical_cost_model("lu", -1.0)


def test_a_fit_is_made_only_on_request_at_one_blas_thread(tmp_path, monkeypatch):
    """constant="fit" times this machine at one BLAS thread (like `calibrate classical` and the
    trainer) whatever the caller's threading, and the model's source says so."""
    from threadpoolctl import threadpool_info

    from qnewton.calibrate import classical_timing

    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path))
    monkeypatch.setattr(classical_timing, "_QUICK_FIT_CACHE", {})
    seen: list[int] = []
    real = classical_timing.time_classical_solver

    def spy(*args, **kwargs):
        seen.extend(int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(classical_timing, "time_classical_solver", spy)
    model, source = classical_cost_model("lu", "fit")
    assert seen and set(seen) == {1}
    assert "at 1 BLAS thread" in source and model.source == source
    assert model.constant > 0 and model.constant != PINNED_LU_CONSTANT
