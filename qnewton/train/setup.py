"""Everything a run resolves before it trains: the classical cost model and where its numbers
came from, the per-query time model, the model itself, and the checks on sizes that must pass
before anything is allocated or written.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from qnewton.curvature import make_blocks
from qnewton.errors import UsageError
from qnewton.limits import check_limit
from qnewton.methods.newton import CIRCUIT_MAX_BLOCK
from qnewton.train.config import TrainConfig
from qnewton.train.data import Dataset
from qnewton.train.tasks import as_task
from qnewton.train.tasks.base import Task


def resolve_classical_model(config: TrainConfig) -> tuple[Any, TrainConfig, dict[str, str]]:
    """The classical cost model, the config with the numbers it uses fixed (so a resumed run
    decides identically) and where each number came from ({"classical_constant": ..., and/or
    "cg_rate": ...}). lu needs C, cg the multiply-add rate, best both; CG is priced at the QLSA's
    tolerance, a like-for-like comparison (docs/cost-model.md, section 6)."""
    from qnewton.calibrate.resolve import resolve_cost_value
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


def cost_notes(config: TrainConfig, sources: dict[str, str]) -> list[str]:
    """One line per resolved cost number for report.md: the value and where it came from."""
    notes = []
    if "classical_constant" in sources:
        notes.append(f"classical cost model: {config.classical_model}, C = {float(config.classical_constant):.3g} s per "
                     f"N^3 ({sources['classical_constant']})")
    if "cg_rate" in sources:
        notes.append(f"classical cost model: {config.classical_model}, CG at {float(config.cg_rate):.3g} multiply-adds "
                     f"per second ({sources['cg_rate']})")
    return notes


def query_time_model(config: TrainConfig) -> Any:
    """Seconds per block-encoding query: the calibration profile if configured, else the gate time
    (`qnewton.calibrate.query_time_model`, the one resolution every command uses)."""
    from qnewton.calibrate import query_time_model as resolve

    if config.calibration:
        return resolve(calibration=config.calibration)
    return resolve(gate_time=config.gate_time)


def build_model(config: TrainConfig, data: Dataset | Task) -> nn.Module:
    """The run's model (the MLP for a classification `Dataset`), initialized from the run seed
    (identical for every method)."""
    return as_task(config, data).build_model()


def template_model(config: TrainConfig, data: Dataset | Task) -> nn.Module:
    """The run's model on the meta device: names and shapes without allocating a single weight."""
    return as_task(config, data).template_model()


def check_model_size(config: TrainConfig, data: Dataset | Task) -> None:
    """Refuse a model too big for this process before anything is allocated: every weight matrix,
    and for the Newton methods every Hessian block (size x size float64), must stay within the
    `matrix_elements` limit (one line naming the limit and its environment variable)."""
    model = template_model(config, data)
    for name, p in model.named_parameters():
        if p.dim() == 2:
            check_limit("matrix_elements", p.numel(),
                        source=f"hidden: the weight matrix {name} ({p.shape[0]} x {p.shape[1]})")
    if config.uses_curvature():
        for block in make_blocks(model, config.blocks):
            check_limit("matrix_elements", block.size ** 2,
                        source=f"blocks {config.blocks}: the Hessian of block {block.name} ({block.size} parameters)")


def check_circuit_blocks(config: TrainConfig, data: Dataset | Task) -> None:
    """The circuit solver simulates blocks of at most CIRCUIT_MAX_BLOCK parameters; say which
    change would make this model fit (or that none does on this data)."""
    task = as_task(config, data)
    model = task.template_model()
    blocks = make_blocks(model, config.blocks)
    largest = max(blocks, key=lambda b: b.size)
    if largest.size <= CIRCUIT_MAX_BLOCK:
        return
    cap = CIRCUIT_MAX_BLOCK
    head = (f"quantum_solver: the circuit solver simulates blocks of at most {cap} parameters, and this model's "
            f"largest {config.blocks} block ({largest.name}) has {largest.size}")
    tensor_max = max(b.size for b in make_blocks(model, "tensor"))
    data = getattr(task, "data", None)
    if config.blocks != "tensor" and tensor_max <= cap:
        hint = f"--blocks tensor splits it into blocks of at most {tensor_max}"
    elif not isinstance(data, Dataset):
        hint = "use --quantum-solver emulated"
    elif max(data.num_features, data.num_classes) > cap:
        n_in, n_out = data.num_features, data.num_classes
        hint = (f"no model fits on {data.name}: its {n_in} input features and {n_out} classes make the first or last "
                f"weight matrix larger than {cap} entries even with --hidden 1; use --quantum-solver emulated")
    else:
        n_in, n_out = data.num_features, data.num_classes
        h = max(1, min(cap // n_in, cap // n_out))
        hint = (f"each weight matrix must have at most {cap} entries: try --blocks tensor --hidden {h}, or use "
                "--quantum-solver emulated")
    raise UsageError(f"{head}; {hint}")
