"""End to end on a tiny configuration: run folder, ledger keys, report, decisions vs gate time,
resume equality (bitwise), non-finite steps, Ctrl-C checkpoint."""

import json

import pytest
import torch

from qnewton.train.checkpoint import load_checkpoint
from qnewton.train.config import TrainConfig
from qnewton.train.method_run import MethodRun
from qnewton.train.resume import load_run_config
from qnewton.train.runner import run_training

TINY = dict(hidden="4", train_limit=300, steps=8, sgd_steps=3, batch_size=32, eval_every=2, blocks="tensor",
            classical_constant=1e-10, target_accuracy=1.0, exact_kappa_max_n=64, checkpoint_every=3)


def _cfg(tmp_path, **kw):
    return TrainConfig(runs_dir=str(tmp_path), **{**TINY, **kw})


def _params(run_dir, method):
    return load_checkpoint(run_dir / method / "checkpoint.pt")["model"]


def test_run_folder_report_and_ledger(tmp_path):
    cfg = _cfg(tmp_path, name="r", gate_time=1e-18)
    report = run_training(cfg)
    run = tmp_path / "r"
    for f in ("config.json", "report.json", "report.md"):
        assert (run / f).exists()
    assert json.loads((run / "config.json").read_text())["classical_constant"] == 1e-10
    assert set(report) == {"sgd", "classical", "quantum", "qnewton"}
    for m, e in report.items():
        for key in ("steps", "measured_seconds_per_step", "modeled_quantum_seconds_per_step", "total_measured_seconds",
                    "total_modeled_quantum_seconds", "test_accuracy", "test_loss", "decisions"):
            assert key in e, (m, key)
        assert e["steps"] == 8
    assert report["classical"]["decisions"] == {"quantum": 0, "classical": 20}  # 5 Newton steps x 4 blocks
    assert report["quantum"]["decisions"] == {"quantum": 20, "classical": 0}
    assert report["classical"]["total_modeled_quantum_seconds"] == 0
    assert report["quantum"]["total_modeled_quantum_seconds"] > 0
    rows = [json.loads(l) for l in (run / "qnewton" / "ledger.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(8))
    assert [r["phase"] for r in rows] == ["sgd"] * 3 + ["newton"] * 5
    newton = rows[-1]
    assert set(newton["measured_seconds"]) == {"forward_backward", "hessian", "regularize_prune", "kappa_estimate",
                                               "decision", "solve", "update"}
    assert len(newton["blocks"]) == 4
    for blk in newton["blocks"]:
        for key in ("n", "sparsity", "kappa_estimate", "log_kappa_estimate", "kappa_method", "kappa_exact",
                    "quantum_seconds_model", "classical_seconds_model", "decision", "solver", "solve_info"):
            assert key in blk
    assert sum(newton["decision_counts"].values()) == 4
    md = (run / "report.md").read_text()
    assert "SGD" in md and "MODELED q total s" in md and "neither" in md


def test_hybrid_decisions_follow_the_gate_time(tmp_path):
    fast = run_training(_cfg(tmp_path, name="f", method="qnewton", gate_time=1e-18))["qnewton"]["decisions"]
    slow = run_training(_cfg(tmp_path, name="s", method="qnewton", gate_time=1.0))["qnewton"]["decisions"]
    assert slow == {"quantum": 0, "classical": 20}
    assert fast["quantum"] + fast["classical"] == 20 and fast["quantum"] >= 15
    # at 1e-18 s per query only a block without a finite kappa estimate (singular or indefinite
    # after pruning: no QLSA cost) can go to the classical solver
    rows = [json.loads(l) for l in (tmp_path / "f" / "qnewton" / "ledger.jsonl").read_text().splitlines()]
    for blk in (b for r in rows for b in r["blocks"]):
        assert (blk["decision"] == "classical") == (blk["kappa_estimate"] == "inf"), blk


class _Stop(Exception):
    pass


def test_resume_gives_bitwise_equal_parameters(tmp_path):
    kw = dict(momentum=0.9, steps=9, sgd_steps=4)
    run_training(_cfg(tmp_path, name="full", **kw))

    def interrupt(method, step):
        if method == "quantum" and step == 5:
            raise KeyboardInterrupt

    cfg = _cfg(tmp_path, name="cut", **kw)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, on_step=interrupt)
    ck = load_checkpoint(tmp_path / "cut" / "quantum" / "checkpoint.pt")
    assert ck["next_step"] == 6 and ck["totals"]["status"].startswith("interrupted")
    assert not (tmp_path / "cut" / "qnewton").exists()
    resumed = run_training(load_run_config(tmp_path / "cut"), run_dir=tmp_path / "cut", resume=True)
    assert set(resumed) == {"sgd", "classical", "quantum", "qnewton"}
    for method in ("sgd", "classical", "quantum", "qnewton"):
        a, b = _params(tmp_path / "full", method), _params(tmp_path / "cut", method)
        for name in a:
            assert torch.equal(a[name], b[name]), (method, name)
    rows = (tmp_path / "cut" / "quantum" / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == list(range(9))


def test_non_finite_steps_are_skipped_then_stop(tmp_path):
    def poison(method, step):
        if step == 3:
            with torch.no_grad():
                next(iter(runner_models[method].parameters())).fill_(float("nan"))

    runner_models = {}
    original = MethodRun.__init__

    def capture(self, *a, **k):
        original(self, *a, **k)
        runner_models[self.method] = self.model

    MethodRun.__init__ = capture
    try:
        report = run_training(_cfg(tmp_path, name="nan", method="qnewton", max_bad_steps=2, steps=12), on_step=poison)
    finally:
        MethodRun.__init__ = original
    e = report["qnewton"]
    assert e["status"].startswith("stopped: 2 non-finite steps in a row")
    assert e["skipped_steps"] == 2 and e["steps"] == 6
    rows = [json.loads(l) for l in (tmp_path / "nan" / "qnewton" / "ledger.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in rows[4:]] == ["non-finite loss"] * 2
    assert (tmp_path / "nan" / "qnewton" / "checkpoint.pt").exists()


def test_cg_classical_model_uses_the_qlsa_tolerance(tmp_path, monkeypatch):
    import json as _json
    import math

    from qnewton.train.setup import resolve_classical_model

    profile = tmp_path / "classical.json"
    profile.write_text(_json.dumps({"format": "qnewton-classical-profile", "version": 1,
                                    "lu": {"constant": 1e-10}, "cg": {"multiply_adds_per_second": 1e9}}))
    monkeypatch.setenv("QNEWTON_CACHE", str(tmp_path))
    model, _, _ = resolve_classical_model(TrainConfig(classical_model="cg", qlsa_epsilon=0.05))
    assert model.epsilon == 0.05
    assert model.seconds(100, 4, 25.0) == pytest.approx(100 * 4 * 5.0 * math.log(2 / 0.05) / 1e9)


def test_thread_limit_reaches_scipys_blas(tmp_path, monkeypatch):
    # SciPy ships its own OpenBLAS, loaded lazily by scipy.linalg; a threadpool limit set before it
    # is loaded does not reach it, and the classical solves would run multi-threaded.
    from threadpoolctl import threadpool_info

    seen = []
    import qnewton.train.runner as runner_mod

    real = runner_mod._run_training

    def spy(*args, **kwargs):
        import scipy.linalg  # noqa: F401

        seen.extend(int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_mod, "_run_training", spy)
    cfg = TrainConfig(method="sgd", steps=1, threads=1, runs_dir=str(tmp_path))
    runner_mod.run_training(cfg)
    assert seen and max(seen) == 1


def test_every_method_learns_digits(tmp_path):
    """End to end on the real digits data: each of the four methods lowers the mini-batch loss by a
    factor of three or more over 40 steps and ends above 80 % test accuracy (chance is 10 %); the
    Newton methods (30 Newton steps after 10 SGD steps) end with a lower loss than SGD alone."""
    cfg = TrainConfig(runs_dir=str(tmp_path), name="learn", hidden="8", steps=40, sgd_steps=10, batch_size=128,
                      eval_every=10, sgd_lr=0.5, target_accuracy=1.0, stop_at_target=False)
    report = run_training(cfg)
    last_loss = {}
    for method, entry in report.items():
        rows = [json.loads(line) for line in (tmp_path / "learn" / method / "ledger.jsonl").read_text().splitlines()]
        first = sum(r["loss"] for r in rows[:5]) / 5
        last_loss[method] = sum(r["loss"] for r in rows[-5:]) / 5
        assert last_loss[method] < first / 3, (method, first, last_loss[method])
        assert entry["test_accuracy"] > 0.80, (method, entry["test_accuracy"])
        assert entry["skipped_steps"] == 0
    for method in ("classical", "quantum", "qnewton"):
        assert last_loss[method] < 0.8 * last_loss["sgd"], last_loss
