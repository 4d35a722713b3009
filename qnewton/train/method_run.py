"""One method's training loop: `MethodRun`.

The loop is the same for every method of the registry (`qnewton.methods`): it draws the step's
mini-batch (the same for every method and after a resume), wraps it in a
`qnewton.curvature.BatchClosure`, and lets the method's optimizer take the step:

- an optimizer that evaluates the loss itself (`MethodInfo.needs_closure`: the Newton optimizer,
  L-BFGS, ...) gets `step(closure)`;
- any other gets `closure()` (loss and gradient) and then `step()`, unless the loss or a
  gradient is not finite (the step is then skipped and recorded).

An optimizer that reports its own steps (`qnewton.optim.ReportsSteps`, the Newton optimizer)
supplies the ledger's stage seconds, decisions and modeled quantum seconds; for others the loop
measures forward/backward and update itself. A checkpoint holds the model's and the optimizer's
state_dicts, the running totals and the RNG states, so a resumed run ends bit for bit where an
uninterrupted one would.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from qnewton.curvature import BatchClosure, make_blocks
from qnewton.methods import MethodContext, build_optimizer, get_method, resolve_hyper
from qnewton.optim.step_report import STAGES, ReportsSteps, StepReport, empty_stages, gradient_step
from qnewton.train.checkpoint import restore_rng_states, rng_states, save_checkpoint
from qnewton.train.config import TrainConfig
from qnewton.train.data import Dataset
from qnewton.train.ledger import Ledger
from qnewton.train.models import MLP
from qnewton.train.tasks import as_task
from qnewton.train.tasks.base import Task

StepCallback = Callable[[str, int], None]


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


@dataclass
class CountingClosure(BatchClosure):
    """The step's closure, counting its calls (each is one loss-and-gradient evaluation on the
    mini-batch); the ledger's `gradient_evaluations` of optimizers that do not report their own."""

    calls: int = field(default=0, init=False)

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        return super().__call__()


def gradient_evaluations(optimizer: Any, report: StepReport, closure: CountingClosure) -> int:
    """Loss-and-gradient evaluations of one step: the optimizer's own count (`last_gradient_evaluations`,
    else its report's), else the closure's calls, at least 1 (a Newton step computes its gradient
    with the Hessian, outside the closure)."""
    own = getattr(optimizer, "last_gradient_evaluations", None)
    if own is None:
        own = report.gradient_evaluations
    return int(own) if own is not None else max(1, closure.calls)


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


def method_context(config: TrainConfig, method: str, model: torch.nn.Module, *, classical_model: Any,
                   query_time: Any) -> MethodContext:
    """What method `method`'s factory gets: the model, its blocks, the run's options and cost models,
    and its noise seed prefix [seed, 2, the method's noise id]."""
    info = get_method(method)
    return MethodContext(model=model, blocks=make_blocks(model, config.blocks), options=config.to_dict(),
                         classical_cost=classical_model, query_time=query_time,
                         noise_seed=(config.seed, 2, info.seed_id),
                         hyper=resolve_hyper(method, config.method_options, config.methods()))


class MethodRun:
    """State and loop of one method; `run()` returns its report.json entry."""

    def __init__(self, config: TrainConfig, method: str, data: Dataset | Task, run_dir: Path, *, classical_model: Any,
                 query_time: Any, quiet: bool, on_step: StepCallback | None,
                 checkpoint: dict[str, Any] | None = None) -> None:
        self.config = config
        self.method = method
        self.info = get_method(method)
        #: what is trained: model, batches, metrics and target (`qnewton.train.tasks`)
        self.task = as_task(config, data)
        self.data = getattr(self.task, "data", data)
        self.dir = run_dir / method
        self.ledger = Ledger(self.dir / "ledger.jsonl")
        self.ckpt_path = self.dir / "checkpoint.pt"
        self.quiet = quiet
        self.on_step = on_step
        self.model: torch.nn.Module = self.task.build_model()
        self.optimizer = build_optimizer(method, method_context(config, method, self.model,
                                                                classical_model=classical_model,
                                                                query_time=query_time))
        self.next_step = 0
        self.totals: dict[str, Any] = new_totals()
        self.snapshot: dict[str, Any] | None = None
        #: the checkpoint to resume from, already read and checked by `qnewton.train.resume`
        self.checkpoint = checkpoint

    # -------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit: next step, model and optimizer state, totals, RNG states."""
        return {
            "method": self.method,
            "next_step": self.next_step,
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "totals": copy.deepcopy(self.totals),
            "rng": rng_states(),
        }

    def save(self, payload: dict[str, Any] | None = None) -> None:
        """Write a checkpoint (atomically) of `payload`, default the current state."""
        save_checkpoint(self.ckpt_path, payload if payload is not None else self.state())

    def restore(self, ck: dict[str, Any]) -> None:
        """Restore model, optimizer, totals and RNGs from a checkpoint checked by
        `qnewton.train.resume` (the ledger was already cut to match it)."""
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
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
                    postfix = {"loss": f"{row['loss']:.4g}" if isinstance(row["loss"], float) else row["loss"]}
                    if self.totals["test_loss"] is not None and self.totals["test_accuracy"] is None:
                        postfix[self.task.eval_split[:3] + "_loss"] = f"{self.totals['test_loss']:.4g}"
                    else:
                        postfix["acc"] = f"{self.totals['test_accuracy'] or 0:.3f}"
                    bar.set_postfix(**postfix)
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
        metrics = self.task.evaluate(self.model)
        self.totals["test_accuracy"], self.totals["test_loss"] = metrics.get("accuracy"), metrics["loss"]
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
            metrics = self.task.evaluate(self.model)
            acc, loss = metrics.get("accuracy"), metrics["loss"]
            t["test_accuracy"], t["test_loss"] = acc, loss
            row["test_accuracy"], row["test_loss"] = acc, loss
            if t["steps_to_target"] is None and self.task.reached_target(metrics):
                t["steps_to_target"] = step + 1
                t["gradient_evaluations_to_target"] = t.get("gradient_evaluations", 0)
                if cfg.stop_at_target:
                    t["status"] = "completed"

    def one_step(self, step: int) -> dict[str, Any]:
        """One training step of this method's optimizer; returns its ledger row (MEASURED stage
        seconds, MODELED quantum seconds)."""
        cfg = self.config
        idx = torch.as_tensor(batch_indices(cfg.seed, step, self.task.n_train, cfg.batch_size))
        closure = CountingClosure(self.model, self.task.batch(step, idx))
        if self.info.needs_closure:
            t0 = time.perf_counter()
            self.optimizer.step(closure)
            elapsed = time.perf_counter() - t0
            report = self.optimizer.last_report if isinstance(self.optimizer, ReportsSteps) else None
            if report is None:  # an optimizer that evaluates the loss itself but reports nothing
                report = StepReport(phase=self.info.phase)
                report.measured_seconds["update"] = elapsed
                if closure.loss is not None and not math.isfinite(float(closure.loss)):
                    report.skipped = "non-finite loss"
        else:
            report, _ = gradient_step(closure, self.optimizer.step, list(self.model.parameters()), self.info.phase)
        return self._record(step, closure, report)

    def _record(self, step: int, closure: CountingClosure, report: StepReport) -> dict[str, Any]:
        """The ledger row of a step and its contribution to the running totals."""
        seconds = {s: float(report.measured_seconds.get(s, 0.0)) for s in STAGES}
        loss = float(closure.loss) if closure.loss is not None else math.nan
        row: dict[str, Any] = {"method": self.method, "step": step, "phase": report.phase, "skipped": report.skipped,
                               "modeled_quantum_seconds": 0.0, "decision_counts": {"quantum": 0, "classical": 0},
                               "blocks": [], "loss": loss, "batch_accuracy": self.task.batch_accuracy(closure.batch, closure.logits),
                               "gradient_evaluations": gradient_evaluations(self.optimizer, report, closure)}
        t = self.totals
        t["gradient_evaluations"] = t.get("gradient_evaluations", 0) + row["gradient_evaluations"]
        if report.skipped is None:
            if report.phase == "newton":
                row["modeled_quantum_seconds"] = report.modeled_quantum_seconds
                row["infinite_cost_inversions"] = report.infinite_cost_inversions
                row["decision_counts"] = dict(report.decision_counts)
                row["blocks"] = report.blocks
                row["safeguards"] = report.safeguards
                t["newton_steps"] += 1
                t["modeled"] += report.modeled_quantum_seconds
                t["infinite_cost_inversions"] += report.infinite_cost_inversions
                t["safeguards"] += report.safeguards
                for k in ("quantum", "classical"):
                    t["decisions"][k] += int(report.decision_counts.get(k, 0))
                t["emulation_measured"] += report.emulation_measured_seconds
            elif report.phase == "sgd":
                t["sgd_steps"] += 1
            else:
                t["other_steps"] += 1
        row["measured_seconds"] = seconds
        row["measured_seconds_total"] = sum(seconds.values())
        t["measured"] += row["measured_seconds_total"]
        for k, v in seconds.items():
            t["stages"][k] += v
        return row

    def summary(self) -> dict[str, Any]:
        """This method's report.json entry (MEASURED and MODELED totals in separate keys)."""
        t = self.totals
        steps = self.next_step
        per = (lambda v: v / steps) if steps else (lambda v: 0.0)
        return {
            "steps": steps,
            "steps_to_target": t["steps_to_target"],
            "reached_target": t["steps_to_target"] is not None,
            "gradient_evaluations": t.get("gradient_evaluations", 0),
            "gradient_evaluations_to_target": t.get("gradient_evaluations_to_target"),
            "sgd_steps": t["sgd_steps"],
            "newton_steps": t["newton_steps"],
            "other_steps": t["other_steps"],
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


def new_totals() -> dict[str, Any]:
    """A method's running totals before its first step."""
    return {
        "measured": 0.0, "modeled": 0.0, "emulation_measured": 0.0,
        "stages": empty_stages(),
        "decisions": {"quantum": 0, "classical": 0},
        "sgd_steps": 0, "newton_steps": 0, "other_steps": 0, "skipped": 0, "infinite_cost_inversions": 0,
        "safeguards": 0, "bad_in_a_row": 0, "gradient_evaluations": 0, "gradient_evaluations_to_target": None,
        "steps_to_target": None, "test_accuracy": None, "test_loss": None, "status": "running",
    }
