"""The torch path of the Newton step (`device=`), checked on the CPU against the numpy path, and
the CPU fallback of `--device cuda` when no GPU is usable."""

import io
import json

import numpy as np
import pytest
import torch

from qnewton.newton import NewtonStep, Scheduler
from qnewton.newton import torch_path
from qnewton.solvers.classical import ClassicalSolver
from qnewton.solvers.emulated import EmulatedQLSASolver
from qnewton.train.models import MLP
from qnewton.curvature import make_blocks, curvature


def _problem(seed=0):
    torch.manual_seed(seed)
    model = MLP(20, [6], 4)
    x = torch.randn(64, 20)
    y = torch.randint(0, 4, (64,))
    return model, x, y


def _steps(policy, device="cpu", **kw):
    """The same Newton step on the numpy path and on the torch path on `device`."""
    def make(where):
        return NewtonStep(Scheduler(policy=policy), ClassicalSolver(), EmulatedQLSASolver(0.01), eps=kw.get("eps", 1.0),
                          sparsity=kw.get("sparsity", "offdiag-mass:50"), exact_kappa_max_n=200,
                          indefinite=kw.get("indefinite", "damping"), device=where)
    return make(None), make(device)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a machine with one)")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("policy", ["classical-only", "quantum-only", "hybrid"])
@pytest.mark.parametrize("blocks", ["full", "layer"])
def test_torch_step_equals_numpy_step(policy, blocks, device):
    """One Newton step of a 20-6-4 MLP (154 parameters) on the numpy path and on the torch path
    (torch on the CPU here; on the GPU where one is usable): directions agree to 1e-9 relative,
    kappa estimates to 1e-9, the same sparsity and decision per block; with the emulated QLSA the
    noise draws are the same (same stream), so quantum directions agree too."""
    model, x, y = _problem()
    curv = curvature(model, make_blocks(model, blocks), x, y)
    numpy_step, torch_step = _steps(policy, device)
    a = numpy_step.compute([c.H.numpy() for c in curv], [c.g.numpy() for c in curv], noise_seed=[0, 1])
    b = torch_step.compute([c.H.to(device) for c in curv], [c.g.to(device) for c in curv], noise_seed=[0, 1])
    assert len(a.directions) == len(b.directions) == len(curv)
    for xa, xb, ra, rb in zip(a.directions, b.directions, a.blocks, b.blocks):
        assert str(rb["device"]).startswith(device)
        assert ra["sparsity"] == rb["sparsity"] and ra["decision"] == rb["decision"]
        assert ra["solver"] == rb["solver"]
        np.testing.assert_allclose(xb, xa, rtol=1e-9, atol=1e-12 * np.abs(xa).max())
        assert rb["log_kappa_estimate"] == pytest.approx(ra["log_kappa_estimate"], rel=1e-9)
        assert rb["kappa_exact"] == pytest.approx(ra["kappa_exact"], rel=1e-8)
        assert rb["quantum_seconds_model"] == pytest.approx(ra["quantum_seconds_model"], rel=1e-6)
    assert a.decision_counts == b.decision_counts
    assert set(b.measured_seconds) == set(a.measured_seconds)


def test_torch_path_treats_indefinite_blocks_like_numpy():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    H = (q * np.linspace(-3.0, 5.0, 40)) @ q.T
    H = (H + H.T) / 2
    g = rng.standard_normal(40)
    for treatment in ("damping", "saddle-free"):
        numpy_step, torch_step = _steps("classical-only", indefinite=treatment, sparsity=1.0)
        a = numpy_step.compute([H], [g])
        b = torch_step.compute([torch.from_numpy(H)], [torch.from_numpy(g)])
        assert a.blocks[0]["indefinite_fix"]["method"] == b.blocks[0]["indefinite_fix"]["method"] == treatment
        np.testing.assert_allclose(b.directions[0], a.directions[0], rtol=1e-9, atol=1e-12)


def test_cuda_request_without_gpu_falls_back_to_cpu_with_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch_path, "_WARNED", set())
    err = io.StringIO()
    assert torch_path.resolve_device("cuda", stream=err) is None
    assert torch_path.resolve_device("cuda", stream=err) is None  # said once per process
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "device cuda" in lines[0] and "running on the CPU" in lines[0]
    assert torch_path.resolve_device("cpu", stream=err) is None


def test_train_with_device_cuda_runs_on_cpu_here(tmp_path, capsys, monkeypatch):
    from qnewton.train.config import TrainConfig
    from qnewton.train.runner import run_training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch_path, "_WARNED", set())
    cfg = TrainConfig(runs_dir=str(tmp_path), name="dev", device="cuda", method="classical", hidden="4",
                      train_limit=300, steps=6, sgd_steps=2, batch_size=32, eval_every=3, blocks="layer",
                      classical_constant=1e-10, target_accuracy=1.0, exact_kappa_max_n=0)
    report = run_training(cfg)
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "no usable GPU" in line]
    assert report["classical"]["skipped_steps"] == 0
    rows = [json.loads(line) for line in (tmp_path / "dev" / "classical" / "ledger.jsonl").read_text().splitlines()]
    newton = [r for r in rows if r.get("phase") == "newton"]
    assert newton and all(b.get("device") is None for r in newton for b in r.get("blocks", []))
    assert json.loads((tmp_path / "dev" / "config.json").read_text())["device"] == "cuda"


@needs_cuda
def test_training_on_cuda_equals_training_on_cpu(tmp_path):
    """The same seeded run (digits, 64-16-10, the full Hessian, 10 SGD then Newton steps) with
    --device cpu (numpy/scipy) and --device cuda: every step's training loss agrees to 1e-6
    relative, the Newton steps make the same quantum/classical decisions, the model learns."""
    from qnewton.train.config import TrainConfig
    from qnewton.train.runner import run_training

    ledgers = {}
    for device in ("cpu", "cuda"):
        cfg = TrainConfig(runs_dir=str(tmp_path), name=device, device=device, method="classical,qnewton",
                          hidden="16", blocks="full", steps=20, sgd_steps=10, stop_at_target=False)
        report = run_training(cfg)
        ledgers[device] = {m: [json.loads(line) for line in open(r["ledger"])] for m, r in report.items()}
    for method in ("classical", "qnewton"):
        a, b = ledgers["cpu"][method], ledgers["cuda"][method]
        assert len(a) == len(b) == 20
        np.testing.assert_allclose([r["loss"] for r in b], [r["loss"] for r in a], rtol=1e-6)
        newton = [(r, s) for r, s in zip(a, b) if r["phase"] == "newton"]
        assert len(newton) == 10 and all(r["decision_counts"] == s["decision_counts"] for r, s in newton)
        assert all(blk["device"].startswith("cuda") for _, s in newton for blk in s["blocks"])
        assert b[-1]["loss"] < 0.5 * b[0]["loss"]


def test_bad_device_and_cost_model_are_one_line_errors():
    from qnewton.costs.classical import CGCostModel
    from qnewton.errors import UsageError

    with pytest.raises(UsageError, match="device"):
        torch_path.resolve_device("tpu")
    with pytest.raises(UsageError, match="LU classical cost model"):
        NewtonStep(Scheduler(classical=CGCostModel(8e8)), ClassicalSolver(), EmulatedQLSASolver(0.01), device="cpu")
