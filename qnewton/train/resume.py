"""Reading a run back for `--resume`: config.json, every checkpoint and every ledger are read and
checked before anything is written (a failed resume leaves the folder exactly as it was).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qnewton.errors import UsageError
from qnewton.jsonutil import loads_limited, read_text_limited
from qnewton.train.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, check_rng_states, load_checkpoint
from qnewton.train.config import TrainConfig
from qnewton.train.data import Dataset
from qnewton.train.ledger import Ledger, LedgerResume
from qnewton.train.setup import template_model
from qnewton.train.tasks.base import Task


#: Keys of a method's running totals and the types each may hold (checked on resume).
_TOTALS_TYPES: dict[str, tuple[type, ...]] = {
    "measured": (int, float), "modeled": (int, float), "emulation_measured": (int, float), "stages": (dict,),
    "decisions": (dict,), "sgd_steps": (int,), "newton_steps": (int,), "other_steps": (int,), "skipped": (int,),
    "infinite_cost_inversions": (int,), "safeguards": (int,), "bad_in_a_row": (int,),
    "steps_to_target": (int, type(None)), "test_accuracy": (float, type(None)), "test_loss": (float, type(None)),
    "status": (str,),
}


def check_resume_checkpoint(ck: dict[str, Any], *, path: Path, method: str, config: TrainConfig,
                            template: dict[str, torch.Tensor]) -> None:
    """Refuse (one line) a checkpoint that does not belong to this method and config: wrong format,
    method or step, a model whose tensors differ in name or shape from config.json's model (e.g. a
    hand-edited hidden size), malformed totals or RNG states. (The optimizer state is checked by
    loading it into the method's optimizer: `resume_plan`.)"""
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
    optimizer = ck.get("optimizer")
    if not isinstance(optimizer, dict):
        raise UsageError(f"{where}: the optimizer state is missing")
    totals = ck.get("totals")
    if not isinstance(totals, dict) or any(not isinstance(totals.get(k), t) or isinstance(totals.get(k), bool)
                                           for k, t in _TOTALS_TYPES.items()):
        raise UsageError(f"{where}: the running totals are malformed")
    reason = check_rng_states(ck.get("rng"))
    if reason is not None:
        raise UsageError(f"{where}: {reason}")


def resume_plan(config: TrainConfig, method: str, data: Dataset | Task, run_dir: Path, *, classical_model: Any = None,
                query_time: Any = None) -> tuple[dict[str, Any] | None, LedgerResume | None]:
    """(checkpoint, ledger plan) of one method, read and checked; (None, None) when the method has
    no checkpoint yet (it then starts from step 0)."""
    path = run_dir / method / "checkpoint.pt"
    if not path.exists() and not path.is_symlink():
        return None, None
    ck = load_checkpoint(path, field="resume")
    template = dict(template_model(config, data).state_dict())  # meta tensors: names, shapes, dtypes
    check_resume_checkpoint(ck, path=path, method=method, config=config, template=template)
    _check_optimizer_state(ck, path=path, method=method, config=config, data=data, classical_model=classical_model,
                           query_time=query_time)
    plan = Ledger(run_dir / method / "ledger.jsonl").plan_resume(int(ck["next_step"]), method)
    return ck, plan


#: Options whose default changed after their introduction, with the value that reproduces a run
#: whose config.json predates them (a missing key means the run was made with the old behaviour).
LEGACY_DEFAULTS: dict[str, Any] = {"indefinite": "none", "damping_start": "doubling", "factor_precision": "float64"}


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
    # Options added after a run was started: the value that continues it as it began.
    for key, value in LEGACY_DEFAULTS.items():
        data.setdefault(key, value)
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


def _check_optimizer_state(ck: dict[str, Any], *, path: Path, method: str, config: TrainConfig, data: Dataset | Task,
                           classical_model: Any, query_time: Any) -> None:
    """Load the checkpoint's model and optimizer state into a fresh model and optimizer of the
    method (reads only, nothing is written): any mismatch is a one-line UsageError now rather than
    a traceback once the run has started writing."""
    from qnewton.methods import build_optimizer
    from qnewton.train.method_run import method_context
    from qnewton.train.setup import build_model

    model = build_model(config, data)
    try:
        model.load_state_dict(ck["model"])
        opt = build_optimizer(method, method_context(config, method, model, classical_model=classical_model,
                                                              query_time=query_time))
        opt.load_state_dict(ck["optimizer"])
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises ValueError, KeyError, RuntimeError, TypeError here
        raise UsageError(f"resume: checkpoint {path}: the optimizer state does not fit method {method!r} "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
