"""The training loop: SGD, classical-only, quantum-only and hybrid Q-Newton, side by side.

`run_training(config)` runs each method of `config.methods()` from the same initialization
(torch seed) on the same mini-batches (drawn from numpy generators seeded by (seed, step)), and
writes `runs/<name>/`:

    config.json              the resolved config (incl. the classical cost constants actually used
                             and, under "cost_sources", where they came from)
    <method>/ledger.jsonl    one row per step (qnewton.train.ledger)
    <method>/checkpoint.pt   the state after the last completed step (qnewton.train.checkpoint)
    report.json, report.md   the Table-III-like comparison (qnewton.train.report)
    .lock                    the folder's lock (qnewton.train.rundir)

Order of work: everything that can fail on user input (data, model size, cost models, circuit
solver, the run folder's state and lock, and on resume every checkpoint and ledger) is checked
before the first byte is written; a refusal writes nothing. A fresh run needs a missing or empty
folder, or `overwrite=True`, which clears the old run's files under the lock just before the new
config.json is written.

Steps 0..K-1 of the Newton methods are SGD (paper Sec. IV-B); later steps follow Algorithm 2
through `qnewton.train.newton.NewtonStep`. A non-finite loss or Hessian skips the step (recorded);
`max_bad_steps` of them in a row stop the method cleanly with a checkpoint. Ctrl-C writes the
checkpoint of the last completed step and raises `TrainingInterrupted`; a fresh run interrupted
before its first checkpoint removes what it wrote, so the same command can simply be run again.
`resume=True` continues from the checkpoints and ends with exactly the parameters of an
uninterrupted run.
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
from qnewton.files import write_text_atomic
from qnewton.jsonutil import loads_limited, read_text_limited
from qnewton.limits import check_limit
from qnewton.train.checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, check_rng_states, load_checkpoint,
                                      restore_rng_states, rng_states, save_checkpoint)
from qnewton.train.config import METHODS, POLICY_OF_METHOD, TrainConfig
from qnewton.train.data import Dataset, load_dataset
from qnewton.train.ledger import STAGES, Ledger, LedgerResume, json_ready
from qnewton.train.models import MLP
from qnewton.train.newton import NewtonStep
from qnewton.train.report import text_table, verdict, write_reports
from qnewton.train.rundir import RunLock, checkpoint_written, clear_run, folder_state

StepCallback = Callable[[str, int], None]

#: Largest Hessian block the circuit solver simulates (statevector of a few qubits).
CIRCUIT_MAX_BLOCK = 16


def is_interrupt(exc: BaseException) -> bool:
    """True for Ctrl-C, also when torch hands it back wrapped: a KeyboardInterrupt raised while torch
    runs Python code from C++ (functorch transforms, TorchScript, autograd) comes back as a
    RuntimeError whose message names it ("KeyboardInterrupt: <EMPTY MESSAGE>") or that was raised
    while unwinding from it (it is then in the exception's context chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        if isinstance(current, RuntimeError) and "KeyboardInterrupt" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C after the run folder was claimed. `resumable`: a checkpoint was written (or the run
    was itself a resume), so `--resume run_dir` continues it; otherwise nothing was kept."""

    def __init__(self, run_dir: Path, resumable: bool) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir
        self.resumable = resumable


# ---------------------------------------------------------------------------- building blocks
def resolve_cost_value(spec: float | str, which: str) -> tuple[float, str]:
    """(value, source) of `classical_constant` (which="classical_constant", C of R_c = C N^3) or
    `cg_rate` (which="cg_rate", multiply-adds per second) from its spec: a number, or "pinned",
    "profile", "fit", "auto" (see `qnewton.train.config.COST_SPECS`)."""
    from qnewton.costs import classical as cc

    lu = which == "classical_constant"
    if not isinstance(spec, str):
        return float(spec), "given"
    if spec == "auto":
        spec = "profile" if cc.default_profile_path().is_file() else "pinned"
    if spec == "pinned":
        value = cc.PINNED_LU_CONSTANT if lu else cc.PINNED_CG_RATE
        return float(value), f"pinned default: {cc.PINNED_SOURCE}"
    if spec == "profile":
        path = cc.default_profile_path()
        if not path.is_file():
            raise UsageError(f"{which}: no saved profile at {path}; run `qnewton calibrate classical` first, or give a "
                             "number or 'pinned'")
        data = cc.load_profile(path)
        value = data["lu"]["constant"] if lu else data["cg"]["multiply_adds_per_second"]
        threads = data.get("blas_threads", "unrecorded")
        return float(value), f"profile {path} (BLAS threads {'library default' if threads is None else threads})"
    if spec == "fit":
        data = cc._quick_profile()
        value = data["lu"]["constant"] if lu else data["cg"]["multiply_adds_per_second"]
        return float(value), (f"quick fit on this machine at {data['blas_threads']} BLAS thread(s); it differs from run "
                              "to run")
    raise UsageError(f"{which}: must be a positive number or one of auto, pinned, profile, fit, got {spec!r}")


def resolve_classical_model(config: TrainConfig) -> tuple[Any, TrainConfig, dict[str, str]]:
    """The classical cost model, the config with the numbers it uses fixed (so a resumed run
    decides identically) and where each number came from ({"classical_constant": ..., and/or
    "cg_rate": ...}). lu needs C, cg the multiply-add rate, best both; CG is priced at the QLSA's
    tolerance, a like-for-like comparison (docs/cost-model.md, section 6)."""
    from qnewton.costs.classical import BestClassicalCostModel, CGCostModel, LUCostModel

    kind = config.classical_model
    sources: dict[str, str] = {}
    changes: dict[str, float] = {}
    lu = cg = None
    if kind in ("lu", "best"):
        value, sources["classical_constant"] = resolve_cost_value(config.classical_constant, "classical_constant")
        changes["classical_constant"] = value
        lu = LUCostModel(value, source=sources["classical_constant"])
    if kind in ("cg", "best"):
        value, sources["cg_rate"] = resolve_cost_value(config.cg_rate, "cg_rate")
        changes["cg_rate"] = value
        cg = CGCostModel(value, epsilon=config.qlsa_epsilon, source=sources["cg_rate"])
    model = BestClassicalCostModel(lu, cg) if kind == "best" else (lu if kind == "lu" else cg)
    return model, config.replace(**changes), sources


def _cost_notes(config: TrainConfig, sources: dict[str, str]) -> list[str]:
    notes = []
    if "classical_constant" in sources:
        notes.append(f"classical cost model: {config.classical_model}, C = {float(config.classical_constant):.3g} s per "
                     f"N^3 ({sources['classical_constant']})")
    if "cg_rate" in sources:
        notes.append(f"classical cost model: {config.classical_model}, CG at {float(config.cg_rate):.3g} multiply-adds "
                     f"per second ({sources['cg_rate']})")
    return notes


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


def template_model(config: TrainConfig, data: Dataset) -> MLP:
    """The run's MLP on the meta device: names and shapes without allocating a single weight."""
    with torch.device("meta"):
        return MLP(data.num_features, config.hidden_sizes(), data.num_classes, config.activation)


def check_model_size(config: TrainConfig, data: Dataset) -> None:
    """Refuse a model too big for this process before anything is allocated: every weight matrix,
    and for the Newton methods every Hessian block (size x size float64), must stay within the
    `matrix_elements` limit (one line naming the limit and its environment variable)."""
    model = template_model(config, data)
    for name, p in model.named_parameters():
        if p.dim() == 2:
            check_limit("matrix_elements", p.numel(),
                        source=f"hidden: the weight matrix {name} ({p.shape[0]} x {p.shape[1]})")
    if any(m != "sgd" for m in config.methods()):
        for block in make_blocks(model, config.blocks):
            check_limit("matrix_elements", block.size ** 2,
                        source=f"blocks {config.blocks}: the Hessian of block {block.name} ({block.size} parameters)")


def check_circuit_blocks(config: TrainConfig, data: Dataset) -> None:
    """The circuit solver simulates blocks of at most CIRCUIT_MAX_BLOCK parameters; say which
    change would make this model fit (or that none does on this data)."""
    model = template_model(config, data)
    blocks = make_blocks(model, config.blocks)
    largest = max(blocks, key=lambda b: b.size)
    if largest.size <= CIRCUIT_MAX_BLOCK:
        return
    cap = CIRCUIT_MAX_BLOCK
    head = (f"quantum_solver: the circuit solver simulates blocks of at most {cap} parameters, and this model's "
            f"largest {config.blocks} block ({largest.name}) has {largest.size}")
    tensor_max = max(b.size for b in make_blocks(model, "tensor"))
    n_in, n_out = data.num_features, data.num_classes
    if config.blocks != "tensor" and tensor_max <= cap:
        hint = f"--blocks tensor splits it into blocks of at most {tensor_max}"
    elif max(n_in, n_out) > cap:
        hint = (f"no model fits on {data.name}: its {n_in} input features and {n_out} classes make the first or last "
                f"weight matrix larger than {cap} entries even with --hidden 1; use --quantum-solver emulated")
    else:
        h = max(1, min(cap // n_in, cap // n_out))
        hint = (f"each weight matrix must have at most {cap} entries: try --blocks tensor --hidden {h}, or use "
                "--quantum-solver emulated")
    raise UsageError(f"{head}; {hint}")


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
                 query_time: Any, quiet: bool, on_step: StepCallback | None,
                 checkpoint: dict[str, Any] | None = None) -> None:
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
        #: the checkpoint to resume from, already read and checked by `check_resume_checkpoint`
        self.checkpoint = checkpoint

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

    def restore(self, ck: dict[str, Any]) -> None:
        """Restore model, optimizer, totals and RNGs from a checkpoint checked by
        `check_resume_checkpoint` (the ledger was already cut to match it)."""
        self.model.load_state_dict(ck["model"])
        self.sgd.load_state_dict(ck["sgd"])
        self.totals = ck["totals"]
        self.next_step = int(ck["next_step"])
        restore_rng_states(ck["rng"])

    # -------------------------------------------------------------- the loop
    def run(self, resume: bool) -> dict[str, Any]:
        """Run (or resume) the loop until the budget, the target or a stop; return the report entry."""
        cfg = self.config
        if resume and self.checkpoint is not None:
            self.restore(self.checkpoint)
            self.checkpoint = None
            if self.totals["status"] != "running" and not self.totals["status"].startswith("interrupted"):
                return self.summary()
            self.totals["status"] = "running"
        else:
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
        except Exception as exc:
            if not is_interrupt(exc):
                raise
            self._save_interrupted(bar)
            raise KeyboardInterrupt from None
        except KeyboardInterrupt:
            self._save_interrupted(bar)
            raise
        if bar is not None:
            bar.close()
        if self.totals["status"] == "running":
            self.totals["status"] = "completed"
        acc, loss = evaluate(self.model, self.x_test, self.y_test)
        self.totals["test_accuracy"], self.totals["test_loss"] = acc, loss
        self.save()
        return self.summary()

    def _save_interrupted(self, bar: Any) -> None:
        """Ctrl-C: checkpoint the state after the last completed step (the snapshot, a deep copy, so
        a step cut halfway leaves no trace) and close the progress bar."""
        snap = self.snapshot
        assert snap is not None
        snap["totals"]["status"] = f"interrupted after step {snap['next_step']}"
        self.save(snap)
        self.totals, self.next_step = copy.deepcopy(snap["totals"]), snap["next_step"]  # what summary() reports
        if bar is not None:
            bar.close()

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
                 overwrite: bool = False, on_step: StepCallback | None = None,
                 echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every method of `config`, write runs/<name>/ (or `run_dir`), return the report.json dict.

    Everything that can fail on user input is checked before the run folder is touched (see the
    module docstring). resume: continue the run in the folder from its checkpoints. overwrite:
    replace a run the folder already holds (without it such a folder is refused). The folder is
    locked for the whole call. `on_step(method, step)` is called after every completed step
    (tests use it to interrupt a run)."""
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
        return _run_training(config, run_dir=run_dir, quiet=quiet, resume=resume, overwrite=overwrite,
                             on_step=on_step, echo=echo)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        torch.set_num_threads(previous_threads)


def _run_training(config: TrainConfig, *, run_dir: Path | None, quiet: bool, resume: bool, overwrite: bool,
                  on_step: StepCallback | None, echo: Callable[[str], None] | None) -> dict[str, Any]:
    if resume and overwrite:
        raise UsageError("overwrite: cannot be combined with resume (resume continues a run, overwrite replaces it)")
    data = load_dataset(config.data, data_dir=config.data_dir, test_fraction=config.test_fraction,
                        train_limit=config.train_limit)
    check_model_size(config, data)
    run_dir = Path(run_dir) if run_dir is not None else config.run_dir()
    notes: list[str] = []
    sources: dict[str, str] = {}
    classical_model = query_time = None
    if any(m != "sgd" for m in config.methods()):
        query_time = query_time_model(config)
        classical_model, config, sources = resolve_classical_model(config)
        if resume:
            saved = saved_cost_sources(run_dir)
            sources = {k: saved.get(k, v) for k, v in sources.items()}
        notes += _cost_notes(config, sources)
    if "sgd" in config.methods() and len(config.methods()) > 1:
        notes.append(f"SGD ran at learning rate {config.sgd_lr:g}; the step counts compare against that setting "
                     "only (docs/training.md, 'Newton versus SGD')")
    if config.quantum_solver == "circuit" and any(m in ("quantum", "qnewton") for m in config.methods()):
        check_circuit_blocks(config, data)
        build_quantum_solver(config)  # validates circuit_method / circuit_backend before anything is written

    if resume:
        def check() -> dict[str, tuple[dict[str, Any] | None, LedgerResume | None]]:
            if folder_state(run_dir) != "run":
                raise UsageError(f"resume: {run_dir} is not a run folder")
            return {m: _resume_plan(config, m, data, run_dir) for m in config.methods()}
    else:
        def check() -> dict[str, tuple[dict[str, Any] | None, LedgerResume | None]]:
            state = folder_state(run_dir)
            if state == "run" and not overwrite:
                raise UsageError(f"name: run folder {run_dir} already holds a run; continue it with --resume {run_dir}, "
                                 "or replace it with --overwrite (or pick another --name)")
            if state == "foreign":
                raise UsageError(f"name: {run_dir} exists and holds files that are not a qnewton run; pick another "
                                 "--name or --runs-dir")
            return {}

    lock, created, plans = _claim_run_folder(run_dir, check)
    try:
        return _train_in_folder(config, data, run_dir, plans, resume=resume, overwrite=overwrite, notes=notes,
                                sources=sources, classical_model=classical_model, query_time=query_time, quiet=quiet,
                                on_step=on_step, echo=echo, lock=lock, created=created)
    finally:
        lock.release()


def _claim_run_folder(run_dir: Path, check: Callable[[], Any]) -> tuple[RunLock, list[Path], Any]:
    """Lock the run folder and run `check` (reads only) under the lock; returns (lock, the folders
    this call created, deepest first, check's result). A folder without a `.lock` file is checked
    first, then locked (creating `.lock`) and checked again, so a refusal writes nothing."""
    created = _missing_folders(run_dir)
    lock = RunLock.acquire(run_dir, create=False) if run_dir.is_dir() else None
    try:
        result = check()
        if lock is None:
            lock = RunLock.acquire(run_dir, create=True)
            assert lock is not None
            try:
                result = check()
            except BaseException:
                _undo_claim(lock, created)
                lock = None
                raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    lock.record_pid()
    return lock, created, result


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first (what mkdir(parents=True) makes)."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _undo_claim(lock: RunLock, created: list[Path]) -> None:
    """Release `lock`, removing the `.lock` file if this process created it and the folders it
    created (each only if empty)."""
    lock.release(remove=lock.created_lock_file)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


def _train_in_folder(config: TrainConfig, data: Dataset, run_dir: Path,
                     plans: dict[str, tuple[dict[str, Any] | None, LedgerResume | None]], *, resume: bool,
                     overwrite: bool, notes: list[str], sources: dict[str, str], classical_model: Any, query_time: Any,
                     quiet: bool, on_step: StepCallback | None, echo: Callable[[str], None] | None, lock: RunLock,
                     created: list[Path]) -> dict[str, Any]:
    """The writing part of a run, in a folder already locked and checked."""
    report: dict[str, Any] = {}
    try:
        if resume:
            for method, (_, ledger_plan) in plans.items():
                if ledger_plan is not None:
                    if ledger_plan.torn_last_line and echo is not None:
                        echo(f"{method}: dropped a torn last line of {run_dir / method / 'ledger.jsonl'} (an "
                             "interrupted write after the checkpoint; that step runs again)")
                    Ledger(run_dir / method / "ledger.jsonl").apply_resume(ledger_plan)
        else:
            if overwrite:
                clear_run(run_dir)
            write_run_config(run_dir, config, sources)
        for method in config.methods():
            checkpoint = plans.get(method, (None, None))[0]
            runner = MethodRun(config, method, data, run_dir, classical_model=classical_model, query_time=query_time,
                               quiet=quiet, on_step=on_step, checkpoint=checkpoint)
            try:
                report[method] = runner.run(resume)
            except BaseException as exc:
                if not is_interrupt(exc):
                    raise
                report[method] = runner.summary()
                write_reports(run_dir, report, config.to_dict(), notes)
                raise
            write_reports(run_dir, report, config.to_dict(), notes)
            if echo is not None and report[method]["status"].startswith("stopped"):
                echo(f"{method}: {report[method]['status']}")
        write_reports(run_dir, report, config.to_dict(), notes)
        return report
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        resumable = resume or checkpoint_written(run_dir)
        if not resumable:  # nothing worth keeping: leave the folder as a fresh run found it
            clear_run(run_dir)
            if created:
                _undo_claim(lock, created)
        raise TrainingInterrupted(run_dir, resumable) from None


def write_run_config(run_dir: Path, config: TrainConfig, sources: dict[str, str]) -> None:
    """config.json: every option (cost constants resolved to numbers) and, under "cost_sources",
    where each resolved number came from; written atomically."""
    payload = {**json_ready(config.to_dict()), "cost_sources": dict(sources)}
    write_text_atomic(run_dir / "config.json", json.dumps(payload, indent=2) + "\n", field="runs_dir")


#: Keys of a method's running totals and the types each may hold (checked on resume).
_TOTALS_TYPES: dict[str, tuple[type, ...]] = {
    "measured": (int, float), "modeled": (int, float), "emulation_measured": (int, float), "stages": (dict,),
    "decisions": (dict,), "sgd_steps": (int,), "newton_steps": (int,), "skipped": (int,),
    "infinite_cost_inversions": (int,), "safeguards": (int,), "bad_in_a_row": (int,),
    "steps_to_target": (int, type(None)), "test_accuracy": (float, type(None)), "test_loss": (float, type(None)),
    "status": (str,),
}


def check_resume_checkpoint(ck: dict[str, Any], *, path: Path, method: str, config: TrainConfig,
                            template: dict[str, torch.Tensor]) -> None:
    """Refuse (one line) a checkpoint that does not belong to this method and config: wrong format,
    method or step, a model whose tensors differ in name or shape from config.json's model (e.g. a
    hand-edited hidden size), a malformed optimizer state, totals or RNG states."""
    where = f"resume: checkpoint {path}"
    if ck.get("format") != CHECKPOINT_FORMAT or ck.get("version") != CHECKPOINT_VERSION:
        raise UsageError(f"{where} is not a version-{CHECKPOINT_VERSION} qnewton checkpoint")
    if ck.get("method") != method:
        raise UsageError(f"{where} belongs to method {ck.get('method')!r}, not {method!r}")
    step = ck.get("next_step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= config.steps:
        raise UsageError(f"{where}: next step {step!r} is outside 0..{config.steps} (config.json's steps)")
    model = ck["model"]
    if list(model) != list(template):
        raise UsageError(f"{where} does not fit the model of config.json (hidden {config.hidden!r}): tensors "
                         f"{', '.join(model)} in the checkpoint, {', '.join(template)} in the model")
    for name, want in template.items():
        got = model[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise UsageError(f"{where} does not fit the model of config.json (hidden {config.hidden!r}): {name} is "
                             f"{list(got.shape)} {got.dtype} in the checkpoint, {list(want.shape)} {want.dtype} in the "
                             "model")
    shapes = [tuple(t.shape) for t in template.values()]
    sgd = ck.get("sgd")
    groups = sgd.get("param_groups") if isinstance(sgd, dict) else None
    state = sgd.get("state") if isinstance(sgd, dict) else None
    if (not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict)
            or groups[0].get("params") != list(range(len(shapes))) or not isinstance(state, dict)):
        raise UsageError(f"{where}: the SGD optimizer state does not match the model")
    for index, entry in state.items():
        buf = entry.get("momentum_buffer") if isinstance(entry, dict) else "?"
        if (not isinstance(index, int) or not 0 <= index < len(shapes)
                or not (buf is None or (isinstance(buf, torch.Tensor) and tuple(buf.shape) == shapes[index]))):
            raise UsageError(f"{where}: the SGD optimizer state does not match the model")
    totals = ck.get("totals")
    if not isinstance(totals, dict) or any(not isinstance(totals.get(k), t) or isinstance(totals.get(k), bool)
                                           for k, t in _TOTALS_TYPES.items()):
        raise UsageError(f"{where}: the running totals are malformed")
    reason = check_rng_states(ck.get("rng"))
    if reason is not None:
        raise UsageError(f"{where}: {reason}")


def _resume_plan(config: TrainConfig, method: str, data: Dataset,
                 run_dir: Path) -> tuple[dict[str, Any] | None, LedgerResume | None]:
    """(checkpoint, ledger plan) of one method, read and checked; (None, None) when the method has
    no checkpoint yet (it then starts from step 0)."""
    path = run_dir / method / "checkpoint.pt"
    if not path.exists() and not path.is_symlink():
        return None, None
    ck = load_checkpoint(path, field="resume")
    template = dict(template_model(config, data).state_dict())  # meta tensors: names, shapes, dtypes
    check_resume_checkpoint(ck, path=path, method=method, config=config, template=template)
    plan = Ledger(run_dir / method / "ledger.jsonl").plan_resume(int(ck["next_step"]), method)
    return ck, plan


def _read_config_json(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir) / "config.json"
    if not p.exists():
        raise UsageError(f"resume: {run_dir} has no config.json (not a run folder)")
    data = loads_limited(read_text_limited(p, field="resume"), field=f"resume: {p}")
    if not isinstance(data, dict):
        raise UsageError(f"resume: {p} is not a JSON object of options")
    return data


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config of an existing run folder (for --resume); reads only, size- and
    depth-checked, one-line UsageError on any problem."""
    data = _read_config_json(run_dir)
    data.pop("cost_sources", None)
    return TrainConfig.from_dict(data, origin=str(Path(run_dir) / "config.json"))


def saved_cost_sources(run_dir: str | Path) -> dict[str, str]:
    """The "cost_sources" entry of a run's config.json ({} if absent or not a table of strings)."""
    try:
        raw = _read_config_json(run_dir).get("cost_sources")
    except UsageError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, str)}


__all__ = ["run_training", "load_run_config", "TrainingInterrupted", "text_table", "verdict"]
