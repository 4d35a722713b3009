"""Reports: the Table-III-like comparison (report.md, report.json, the printed table).

MEASURED seconds are wall clock on this machine (for the quantum solver that includes the
classical emulation of the QLSA). MODELED quantum seconds come from the cost model
(R_q = t_query * E[queries] + readout, Q-Newton Sec. IV-C). The table shows them in separate
columns, then two labelled combinations:
  measured+modeled   = total measured + total modeled (emulation time counted too), and
  projected          = total measured - measured emulated-QLSA seconds + total modeled, i.e.
                       what the run would take with a real quantum solver in place of the
                       emulation, the quantity the paper's Table III reports.
A quantum inversion whose modeled cost is infinite (kappa estimate inf: the pruned block is
singular or indefinite) is counted in its own column and left out of the modeled totals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from qnewton.files import write_text_atomic
from qnewton.train.ledger import json_ready


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{digits + 1}g}"


COLUMNS: tuple[tuple[str, str], ...] = (
    ("method", "method"),
    ("steps", "steps"),
    ("steps_to_target", "to target"),
    ("measured_seconds_per_step", "MEASURED s/step"),
    ("modeled_quantum_seconds_per_step", "MODELED q s/step"),
    ("total_measured_seconds", "MEASURED total s"),
    ("total_modeled_quantum_seconds", "MODELED q total s"),
    ("total_measured_plus_modeled_seconds", "SUM meas+model s"),
    ("total_projected_seconds", "PROJECTED s"),
    ("test_accuracy", "test acc"),
    ("test_loss", "test loss"),
    ("decisions", "inversions q/c"),
    ("infinite_cost_inversions", "inf-cost q"),
)


def _task_of(config: Any) -> tuple[Any, Any]:
    """(task class, config as an object with attributes) of a run's config (dict or TrainConfig),
    or (None, None) for the MLP classifier or a config without a registered model."""
    from types import SimpleNamespace

    from qnewton.train.tasks import TASKS, task_class

    model = config.get("model", "mlp") if isinstance(config, dict) else getattr(config, "model", "mlp")
    if model == "mlp" or model not in TASKS:
        return None, None
    return task_class(model), (SimpleNamespace(**config) if isinstance(config, dict) else config)


def split_name(config: Any) -> str:
    """The split the run evaluated on: for the MLP "validation" when it held one out
    (validation_fraction > 0), else "test"; other tasks say it themselves (`Task.evaluation_split`)."""
    cls, obj = _task_of(config)
    if cls is not None:
        return cls.evaluation_split(obj)
    fraction = config.get("validation_fraction", 0.0) if isinstance(config, dict) else getattr(config, "validation_fraction", 0.0)
    return "validation" if float(fraction or 0.0) > 0 else "test"


def target_phrase(config: Any) -> str:
    """The run's target without the split: "accuracy 0.95" for the MLP, else the task's
    (`Task.target_text`, e.g. "loss 5")."""
    cls, obj = _task_of(config)
    if cls is not None:
        return cls.target_text(obj)
    target = config.get("target_accuracy", 0.0) if isinstance(config, dict) else getattr(config, "target_accuracy", 0.0)
    return f"accuracy {float(target):g}"


def _labels(split: str) -> list[str]:
    return [label.replace("test ", "val ") if split == "validation" else label for _, label in COLUMNS]


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """One list of formatted cells per method, in the order of `COLUMNS`."""
    rows = []
    for method, entry in report.items():
        row = []
        for key, _ in COLUMNS:
            if key == "method":
                row.append(method)
            elif key == "decisions":
                dec = entry.get("decisions", {})
                row.append(f"{dec.get('quantum', 0)}/{dec.get('classical', 0)}" if method != "sgd" else "-")
            elif key == "infinite_cost_inversions":
                row.append(str(entry.get(key, 0)) if method != "sgd" else "-")
            elif key == "steps_to_target":
                row.append(_fmt(entry.get(key)) if entry.get(key) is not None else "not reached")
            else:
                row.append(_fmt(entry.get(key)))
        rows.append(row)
    return rows


LEGEND = (
    "MEASURED = wall clock on this machine (quantum solves: their classical emulation). "
    "MODELED q = quantum cost model R_q = t_query x E[queries] (+ readout), never measured. "
    "SUM = MEASURED total + MODELED total, added as they are. "
    "PROJECTED = MEASURED total - measured emulated-QLSA seconds + MODELED total (a real QLSA in place of the emulation). "
    "to target = steps until the metric on the evaluation split (test, or validation when the run held one out) "
    "first reached the target (evaluated every eval_every steps; accuracy for the classifier, loss for the language "
    "models). "
    "inversions q/c = Hessian-block inversions sent to the quantum / classical solver. "
    "inf-cost q = quantum inversions whose modeled cost is infinite (kappa estimate inf), left out of the MODELED totals."
)


def markdown_table(report: dict[str, Any], split: str = "test") -> str:
    """The comparison table as Markdown (report.md); `split` names the evaluation split in the headers."""
    header = _labels(split)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in table_rows(report):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def text_table(report: dict[str, Any], split: str = "test") -> str:
    """The comparison table as aligned plain text (printed by `qnewton train`); `split` names the
    evaluation split ("test", or "validation" when the run held one out) in the headers."""
    header = _labels(split)
    rows = table_rows(report)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]
    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def verdict(report: dict[str, Any], target: float | str, split: str = "test") -> list[str]:
    """Plain sentences: did each Newton method reach the target in fewer steps than SGD? `target`:
    the accuracy (a number) or the target phrase ("loss 5", `target_phrase`)."""
    what = target if isinstance(target, str) else f"accuracy {target:g}"
    out = []
    sgd = report.get("sgd")
    for method in ("classical", "quantum", "qnewton"):
        entry = report.get(method)
        if entry is None:
            continue
        mine = entry.get("steps_to_target")
        if sgd is None:
            out.append(f"{method}: {'reached' if mine else 'did not reach'} {split} {what}"
                       + (f" after {mine} steps" if mine else "") + " (SGD not run, no comparison).")
            continue
        theirs = sgd.get("steps_to_target")
        if mine is None and theirs is None:
            out.append(f"{method}: neither {method} nor SGD reached {split} {what} within the step budget.")
        elif mine is None:
            out.append(f"{method}: did NOT reach {split} {what}; SGD reached it after {theirs} steps.")
        elif theirs is None:
            out.append(f"{method}: reached {split} {what} after {mine} steps; SGD did not reach it: fewer steps than SGD.")
        elif mine < theirs:
            out.append(f"{method}: reached {split} {what} after {mine} steps, SGD after {theirs}: fewer steps than SGD.")
        elif mine == theirs:
            out.append(f"{method}: reached {split} {what} after {mine} steps, the same as SGD.")
        else:
            out.append(f"{method}: reached {split} {what} after {mine} steps, SGD after {theirs}: NOT fewer steps than SGD.")
    return out


def write_reports(run_dir: Path, report: dict[str, Any], config: dict[str, Any], notes: list[str] | None = None) -> None:
    """Write report.json (the dict as is, non-finite floats as strings) and report.md into run_dir,
    each atomically (a reader never sees half a report)."""
    write_text_atomic(run_dir / "report.json", json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n",
                      field="runs_dir", make_parents=True)
    target = target_phrase(config)
    model = config.get("model", "mlp")
    lines = [
        f"# qnewton train: run `{config.get('name')}`",
        "",
        f"Data {config.get('data')}, "
        + (f"hidden {config.get('hidden')}" if model == "mlp" else f"model {model}") + f", blocks {config.get('blocks')}, eps {config.get('eps')}, "
        f"sparsity {config.get('sparsity')}, kappa estimator {config.get('kappa_method')}, "
        f"query time {config.get('calibration') or str(config.get('gate_time')) + ' s/query'}, "
        f"classical C {_fmt(config.get('classical_constant'))}, seed {config.get('seed')}, step budget {config.get('steps')}, "
        f"first {config.get('sgd_steps')} steps SGD, target {split_name(config)} {target}.",
        "",
        LEGEND,
        "",
        markdown_table(report, split_name(config)),
        "",
        "## Did Newton reach the target in fewer steps than SGD?",
        "",
        *[f"- {s}" for s in verdict(report, target, split_name(config))],
    ]
    for method, entry in report.items():
        if entry.get("status", "completed") != "completed":
            lines.append(f"- {method}: {entry.get('status')}")
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    write_text_atomic(run_dir / "report.md", "\n".join(lines) + "\n", field="runs_dir", make_parents=True)
