"""The training loop: SGD, classical-only, quantum-only and hybrid Q-Newton, side by side.

`run_training(config)` runs each method of `config.methods()` from the same initialization
(torch seed) on the same mini-batches (drawn from numpy generators seeded by (seed, step)), and
writes `runs/<name>/`:

    config.json              the resolved config (incl. the classical constant C actually used)
    <method>/ledger.jsonl    one row per step (qnewton.train.ledger)
    <method>/checkpoint.pt   the state after the last completed step (qnewton.train.checkpoint)
    report.json, report.md   the Table-III-like comparison (qnewton.train.report)

Steps 0..K-1 of the Newton methods are SGD (paper Sec. IV-B); later steps follow Algorithm 2
through `qnewton.train.newton.NewtonStep`. A non-finite loss or Hessian skips the step (recorded);
`max_bad_steps` of them in a row stop the method cleanly with a checkpoint. Ctrl-C writes the
checkpoint of the last completed step and re-raises. `resume=True` continues from the
checkpoints and ends with exactly the parameters of an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from qnewton.curvature import curvature, make_blocks
from qnewton.errors import UsageError
from qnewton.train.checkpoint import load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from qnewton.train.config import METHODS, POLICY_OF_METHOD, TrainConfig
from qnewton.train.data import Dataset, load_dataset
from qnewton.train.ledger import STAGES, Ledger, json_ready
from qnewton.train.models import MLP
from qnewton.train.newton import NewtonStep
from qnewton.train.report import text_table, verdict, write_reports

StepCallback = Callable[[str, int], None]

#: Largest Hessian block the circuit solver simulates (statevector of a few qubits).
CIRCUIT_MAX_BLOCK = 16


# ---------------------------------------------------------------------------- building blocks
def resolve_classical_model(config: TrainConfig) -> tuple[Any, TrainConfig, str]:
    """The classical cost model; with kind "lu" the constant C is fixed in the returned config
    (given, or from A's saved profile / quick fit), so a resumed run decides identically."""
    from qnewton.costs.classical import LUCostModel, classical_cost_model

    if config.classical_model == "lu":
        if config.classical_constant is not None:
            return LUCostModel(config.classical_constant), config, "given"
        model = classical_cost_model("lu")
        constant = float(model.constant)
        return LUCostModel(constant), config.replace(classical_constant=constant), getattr(model, "source", "profile or fit")
    # CG at the QLSA's tolerance: a like-for-like comparison (docs/cost-model.md, section 6)
    return classical_cost_model(config.classical_model, epsilon=config.qlsa_epsilon), config, "cost model default"


def query_time_model(config: TrainConfig) -> Any:
    """Seconds per block-encoding query: a calibration profile if configured, else GateTimeModel(gate_time)."""
    from qnewton.costs.query_time import GateTimeModel

    if config.calibration:
        from qnewton.costs.calibration import query_time_model as _from_profile

        return _from_profile(config.calibration)
    return GateTimeModel(config.gate_time)


def build_scheduler(config: TrainConfig, method: str, classical_model: Any, query_time: Any) -> Any:
    """The Scheduler of one Newton method (policy from POLICY_OF_METHOD) with the configured cost models."""
    from qnewton.costs.quantum import QuantumCostModel
    from qnewton.scheduler import Scheduler

    quantum = QuantumCostModel(query_time=query_time, epsilon=config.qlsa_epsilon, readout=config.readout)
    return Scheduler(policy=POLICY_OF_METHOD[method], kappa_method=config.kappa_method, quantum=quantum,
                     classical=classical_model)


def build_quantum_solver(config: TrainConfig) -> Any:
    """The quantum LinearSolver: the emulated QLSA, or the Qiskit circuit solver."""
    if config.quantum_solver == "circuit":
        from qnewton.solvers.circuit import CircuitSolver  # lazy: imports Qiskit

        return CircuitSolver(method=config.circuit_method, backend=config.circuit_backend, seed=config.seed,
                             max_size=CIRCUIT_MAX_BLOCK, estimate_resources=False)
    from qnewton.solvers.emulated import EmulatedQLSASolver

    return EmulatedQLSASolver(config.qlsa_epsilon, seed=config.seed)


def build_model(config: TrainConfig, data: Dataset) -> MLP:
    """The MLP, initialized from the run seed (identical for every method)."""
    torch.manual_seed(config.seed)
    return MLP(data.num_features, config.hidden_sizes(), data.num_classes, config.activation)


def batch_indices(seed: int, step: int, n_train: int, batch_size: int) -> np.ndarray:
    """Mini-batch of step `step`: the same for every method and after a resume."""
    rng = np.random.default_rng([seed, 1, step])
    if batch_size >= n_train:
        return np.arange(n_train)
    return np.sort(rng.choice(n_train, size=batch_size, replace=False))


@torch.no_grad()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of `model` on (x, y), without gradients."""
    logits = model(x)
    loss = float(torch.nn.functional.cross_entropy(logits, y))
    acc = float((logits.argmax(dim=1) == y).double().mean())
    return acc, loss


def _method_seed(config: TrainConfig, method: str) -> int:
    return METHODS.index(method)


# ---------------------------------------------------------------------------- one method
class MethodRun:
    """State and loop of one method; `run()` returns its report.json entry."""

    def __init__(self, config: TrainConfig, method: str, data: Dataset, run_dir: Path, *, classical_model: Any,
                 query_time: Any, quiet: bool, on_step: StepCallback | None) -> None:
        self.config = config
        self.method = method
        self.data = data
        self.dir = run_dir / method
        self.ledger = Ledger(self.dir / "ledger.jsonl")
        self.ckpt_path = self.dir / "checkpoint.pt"
        self.quiet = quiet
        self.on_step = on_step
        self.hdtype = torch.float64 if config.hessian_dtype == "float64" else torch.float32
        self.model = build_model(config, data)
        self.blocks = make_blocks(self.model, config.blocks)
        self.sgd = torch.optim.SGD(self.model.parameters(), lr=config.sgd_lr, momentum=config.momentum)
        self.newton: NewtonStep | None = None
        self.quantum_solver = None
        if method != "sgd":
            from qnewton.solvers.classical import ClassicalSolver

            self.quantum_solver = build_quantum_solver(config)
            self.newton = NewtonStep(
                build_scheduler(config, method, classical_model, query_time),
                ClassicalSolver(),
                self.quantum_solver,
                eps=config.eps,
                sparsity=config.sparsity,
                prune_classical=config.prune_classical,
                exact_kappa_max_n=config.exact_kappa_max_n,
                fallback_scale=config.sgd_lr / config.newton_lr,
            )
        self.x_train = torch.as_tensor(data.x_train, dtype=torch.float32)
        self.y_train = torch.as_tensor(data.y_train)
        self.x_test = torch.as_tensor(data.x_test, dtype=torch.float32)
        self.y_test = torch.as_tensor(data.y_test)
        self.next_step = 0
        self.totals: dict[str, Any] = {
            "measured": 0.0, "modeled": 0.0, "emulation_measured": 0.0,
            "stages": {s: 0.0 for s in STAGES},
            "decisions": {"quantum": 0, "classical": 0},
            "sgd_steps": 0, "newton_steps": 0, "skipped": 0, "infinite_cost_inversions": 0, "safeguards": 0, "bad_in_a_row": 0,
            "steps_to_target": None, "test_accuracy": None, "test_loss": None, "status": "running",
        }
        self.snapshot: dict[str, Any] | None = None

    # -------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit: next step, model and SGD state, totals, RNG states."""
        return {
            "method": self.method,
            "next_step": self.next_step,
            "model": copy.deepcopy(self.model.state_dict()),
            "sgd": copy.deepcopy(self.sgd.state_dict()),
            "totals": copy.deepcopy(self.totals),
            "rng": rng_states(),
        }

    def save(self, payload: dict[str, Any] | None = None) -> None:
        """Write a checkpoint (atomically) of `payload`, default the current state."""
        save_checkpoint(self.ckpt_path, payload if payload is not None else self.state())

    def restore(self) -> None:
        """Load the checkpoint, restore model, optimizer, totals and RNGs, drop later ledger rows."""
        ck = load_checkpoint(self.ckpt_path)
        if ck.get("method") != self.method:
            raise UsageError(f"resume: checkpoint {self.ckpt_path} belongs to method {ck.get('method')!r}")
        self.model.load_state_dict(ck["model"])
        self.sgd.load_state_dict(ck["sgd"])
        self.totals = ck["totals"]
        self.next_step = int(ck["next_step"])
        restore_rng_states(ck["rng"])
        self.ledger.truncate_after(self.next_step - 1)

    # -------------------------------------------------------------- the loop
    def run(self, resume: bool) -> dict[str, Any]:
        """Run (or resume) the loop until the budget, the target or a stop; return the report entry."""
        cfg = self.config
        if resume and self.ckpt_path.exists():
            self.restore()
            if self.totals["status"] != "running" and not self.totals["status"].startswith("interrupted"):
                return self.summary()
            self.totals["status"] = "running"
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.ledger.reset()
        self.snapshot = self.state()
        bar = None
        if not self.quiet:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=self.next_step, desc=f"{self.method:>9}", leave=True, dynamic_ncols=True)
        try:
            while self.next_step < cfg.steps and self.totals["status"] == "running":
                step = self.next_step
                row = self.one_step(step)
                self.next_step = step + 1
                self.after_step(step, row)
                self.ledger.append(row)
                self.snapshot = self.state()
                if (step + 1) % cfg.checkpoint_every == 0:
                    self.save(self.snapshot)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.4g}" if isinstance(row["loss"], float) else row["loss"],
                                    acc=f"{self.totals['test_accuracy'] or 0:.3f}")
                if self.on_step is not None:
                    self.on_step(self.method, step)
        except KeyboardInterrupt:
            snap = self.snapshot
            snap["totals"]["status"] = f"interrupted after step {snap['next_step']}"
            self.save(snap)
            if bar is not None:
                bar.close()
            raise
        if bar is not None:
            bar.close()
        if self.totals["status"] == "running":
            self.totals["status"] = "completed"
        acc, loss = evaluate(self.model, self.x_test, self.y_test)
        self.totals["test_accuracy"], self.totals["test_loss"] = acc, loss
        self.save()
        return self.summary()

    def after_step(self, step: int, row: dict[str, Any]) -> None:
        """Bookkeeping after a step: bad-step counter and stop, periodic evaluation, target check."""
        cfg = self.config
        t = self.totals
        if row["skipped"]:
            t["skipped"] += 1
            t["bad_in_a_row"] += 1
            if t["bad_in_a_row"] >= cfg.max_bad_steps:
                t["status"] = (f"stopped: {t['bad_in_a_row']} non-finite steps in a row (last at step {step}); "
                               "checkpoint written")
        else:
            t["bad_in_a_row"] = 0
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            acc, loss = evaluate(self.model, self.x_test, self.y_test)
            t["test_accuracy"], t["test_loss"] = acc, loss
            row["test_accuracy"], row["test_loss"] = acc, loss
            if t["steps_to_target"] is None and acc >= cfg.target_accuracy:
                t["steps_to_target"] = step + 1
                if cfg.stop_at_target:
                    t["status"] = "completed"

    def one_step(self, step: int) -> dict[str, Any]:
        """One training step (SGD or Algorithm 2); returns its ledger row (MEASURED stage seconds, MODELED quantum seconds)."""
        cfg = self.config
        idx = torch.as_tensor(batch_indices(cfg.seed, step, self.x_train.shape[0], cfg.batch_size))
        xb, yb = self.x_train[idx], self.y_train[idx]
        phase = "sgd" if self.method == "sgd" or step < cfg.sgd_steps else "newton"
        seconds = {s: 0.0 for s in STAGES}
        row: dict[str, Any] = {"method": self.method, "step": step, "phase": phase, "skipped": None,
                               "modeled_quantum_seconds": 0.0, "decision_counts": {"quantum": 0, "classical": 0},
                               "blocks": []}
        t0 = time.perf_counter()
        self.sgd.zero_grad(set_to_none=True)
        logits = self.model(xb)
        loss = torch.nn.functional.cross_entropy(logits, yb)
        loss.backward() if phase == "sgd" else None
        seconds["forward_backward"] = time.perf_counter() - t0
        loss_value = float(loss.detach())
        row["loss"] = loss_value
        row["batch_accuracy"] = float((logits.detach().argmax(1) == yb).double().mean())
        grads_finite = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in self.model.parameters())
        if not math.isfinite(loss_value) or not grads_finite:
            row["skipped"] = "non-finite loss" if not math.isfinite(loss_value) else "non-finite gradient"
            self._account(row, seconds)
            return row
        if phase == "sgd":
            t1 = time.perf_counter()
            self.sgd.step()
            seconds["update"] = time.perf_counter() - t1
            self.totals["sgd_steps"] += 1
            self._account(row, seconds)
            return row
        # Newton phase (Algorithm 2)
        t1 = time.perf_counter()
        curv = curvature(self.model, self.blocks, xb, yb, dtype=self.hdtype, chunk_size="auto")
        seconds["hessian"] = time.perf_counter() - t1
        if not all(math.isfinite(c.loss) and bool(torch.isfinite(c.H).all()) and bool(torch.isfinite(c.g).all())
                   for c in curv):
            row["skipped"] = "non-finite Hessian or gradient"
            self._account(row, seconds)
            return row
        assert self.newton is not None
        solver = self.quantum_solver
        base = [cfg.seed, 2, _method_seed(cfg, self.method), step]

        def reseed(block_index: int) -> None:
            if hasattr(solver, "reseed"):
                solver.reseed(base + [block_index])

        result = self.newton.compute(
            [c.H.double().numpy() for c in curv], [c.g.double().numpy() for c in curv],
            reseed=reseed, names=[b.name for b in self.blocks],
        )
        for key, value in result.measured_seconds.items():
            seconds[key] += value
        t2 = time.perf_counter()
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for block, x in zip(self.blocks, result.directions):
                offset = 0
                for name, shape in zip(block.names, block.shapes):
                    p = params[name]
                    n = p.numel()
                    p.sub_(cfg.newton_lr * torch.as_tensor(x[offset:offset + n], dtype=p.dtype).reshape(shape))
                    offset += n
        seconds["update"] = time.perf_counter() - t2
        finite_modeled = sum(b["modeled_quantum_seconds"] for b in result.blocks
                             if math.isfinite(b["modeled_quantum_seconds"]))
        infinite = sum(1 for b in result.blocks if not math.isfinite(b["modeled_quantum_seconds"]))
        row["modeled_quantum_seconds"] = finite_modeled
        row["infinite_cost_inversions"] = infinite
        row["decision_counts"] = result.decision_counts
        row["blocks"] = result.blocks
        row["safeguards"] = result.safeguards
        t = self.totals
        t["newton_steps"] += 1
        t["modeled"] += finite_modeled
        t["infinite_cost_inversions"] += infinite
        t["safeguards"] += result.safeguards
        for k in ("quantum", "classical"):
            t["decisions"][k] += result.decision_counts[k]
        t["emulation_measured"] += sum(b["solve_measured_seconds"] for b in result.blocks if b["decision"] == "quantum")
        self._account(row, seconds)
        return row

    def _account(self, row: dict[str, Any], seconds: dict[str, float]) -> None:
        row["measured_seconds"] = seconds
        row["measured_seconds_total"] = sum(seconds.values())
        self.totals["measured"] += row["measured_seconds_total"]
        for k, v in seconds.items():
            self.totals["stages"][k] += v

    def summary(self) -> dict[str, Any]:
        """This method's report.json entry (MEASURED and MODELED totals in separate keys)."""
        t = self.totals
        steps = self.next_step
        per = (lambda v: v / steps) if steps else (lambda v: 0.0)
        return {
            "steps": steps,
            "steps_to_target": t["steps_to_target"],
            "reached_target": t["steps_to_target"] is not None,
            "sgd_steps": t["sgd_steps"],
            "newton_steps": t["newton_steps"],
            "measured_seconds_per_step": per(t["measured"]),
            "modeled_quantum_seconds_per_step": per(t["modeled"]),
            "total_measured_seconds": t["measured"],
            "total_modeled_quantum_seconds": t["modeled"],
            "total_measured_plus_modeled_seconds": t["measured"] + t["modeled"],
            "total_emulation_measured_seconds": t["emulation_measured"],
            "total_projected_seconds": t["measured"] - t["emulation_measured"] + t["modeled"],
            "test_accuracy": t["test_accuracy"],
            "test_loss": t["test_loss"],
            "decisions": dict(t["decisions"]),
            "infinite_cost_inversions": t["infinite_cost_inversions"],
            "safeguard_blocks": t["safeguards"],
            "skipped_steps": t["skipped"],
            "stage_seconds": dict(t["stages"]),
            "status": t["status"],
            "ledger": str(self.ledger.path),
        }


# ---------------------------------------------------------------------------- all methods
def run_training(config: TrainConfig, *, run_dir: Path | None = None, quiet: bool = True, resume: bool = False,
                 on_step: StepCallback | None = None, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every method of `config`, write runs/<name>/, return the report.json dict.

    Everything that can fail on user input (data, calibration profile, cost models) is resolved
    before the run folder is touched. `on_step(method, step)` is called after every completed
    step (tests use it to interrupt a run)."""
    previous_threads = torch.get_num_threads()
    limiter = None
    if config.threads is not None:
        torch.set_num_threads(config.threads)
        try:
            import scipy.linalg  # noqa: F401 - load SciPy's own OpenBLAS now: a limit only reaches loaded libraries
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(config.threads, user_api="blas")
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            limiter = None
    try:
        return _run_training(config, run_dir=run_dir, quiet=quiet, resume=resume, on_step=on_step, echo=echo)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        torch.set_num_threads(previous_threads)


def _run_training(config: TrainConfig, *, run_dir: Path | None, quiet: bool, resume: bool,
                  on_step: StepCallback | None, echo: Callable[[str], None] | None) -> dict[str, Any]:
    data = load_dataset(config.data, data_dir=config.data_dir, test_fraction=config.test_fraction,
                        train_limit=config.train_limit)
    notes: list[str] = []
    classical_model = query_time = None
    if any(m != "sgd" for m in config.methods()):
        query_time = query_time_model(config)
        classical_model, config, source = resolve_classical_model(config)
        c_text = f"{config.classical_constant:.3g}" if config.classical_constant is not None else "model default"
        notes.append(f"classical cost model: {config.classical_model}, C = {c_text} s per N^3 ({source})")
    if "sgd" in config.methods() and len(config.methods()) > 1:
        notes.append(f"SGD ran at learning rate {config.sgd_lr:g}; the step counts compare against that setting "
                     "only (docs/training.md, 'Newton versus SGD')")
    if config.quantum_solver == "circuit" and any(m in ("quantum", "qnewton") for m in config.methods()):
        sizes = [b.size for b in make_blocks(build_model(config, data), config.blocks)]
        if max(sizes) > CIRCUIT_MAX_BLOCK:
            raise UsageError(f"quantum_solver: the circuit solver takes blocks of at most {CIRCUIT_MAX_BLOCK} "
                             f"parameters, this model's {config.blocks} blocks have {sizes}; use a smaller model, "
                             "--blocks tensor, or --quantum-solver emulated")
        build_quantum_solver(config)  # validates circuit_method / circuit_backend before anything is written
    run_dir = Path(run_dir) if run_dir is not None else config.run_dir()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(json_ready(config.to_dict()), indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"runs_dir: cannot write the run folder {run_dir} ({exc.strerror or exc})") from None
    report: dict[str, Any] = {}
    if resume and (run_dir / "report.json").exists():
        report = json.loads((run_dir / "report.json").read_text())
    for method in config.methods():
        runner = MethodRun(config, method, data, run_dir, classical_model=classical_model, query_time=query_time,
                           quiet=quiet, on_step=on_step)
        try:
            report[method] = runner.run(resume)
        except KeyboardInterrupt:
            report[method] = runner.summary()
            write_reports(run_dir, report, config.to_dict(), notes)
            raise
        write_reports(run_dir, report, config.to_dict(), notes)
        if echo is not None and report[method]["status"].startswith("stopped"):
            echo(f"{method}: {report[method]['status']}")
    write_reports(run_dir, report, config.to_dict(), notes)
    return report


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config of an existing run folder (for --resume)."""
    p = Path(run_dir) / "config.json"
    if not p.exists():
        raise UsageError(f"resume: {run_dir} has no config.json (not a run folder)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"resume: {p} is not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"resume: cannot read {p} ({type(exc).__name__})") from None
    return TrainConfig.from_dict(data, origin=str(p))


__all__ = ["run_training", "load_run_config", "text_table", "verdict"]
