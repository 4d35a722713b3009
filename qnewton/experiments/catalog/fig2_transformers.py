"""fig2-transformers: paper Fig. 2 -- training and validation loss of SGD, Adam and the Newton
methods (classical-only, Q-Newton) against steps on the tiny BERT and Mistral.

Paper (Fig. 2, Table I models on WikiText): the Newton methods reach SGD's loss in fewer steps;
it states that Newton saves 75 % of SGD's steps on BERT and 67 % on Mistral. Here the models of
`qnewton train --model bert-tiny|mistral-tiny` (docs/transformers.md) train on the Shakespeare
blocks at the sizes of the experiment file, with the protocol of table4-transformers (same
batches and initialization for every method; with ``tune = true`` hyper-parameters from the
validation sweep on held-out training blocks; losses reported on the validation blocks).

Steps saved ("savings" table), for each Newton method M against SGD on each model:
level L = max(min_t val_SGD(t), min_t val_M(t)), the lowest validation loss that BOTH reach
(at the evaluation steps); s_SGD and s_M the first evaluation step at which each is <= L; saved
fraction = 1 - s_M / s_SGD (positive: M needs fewer steps; the paper's 75 % / 67 % are this
number). Also the same at the fixed level ``target_loss`` when both reach it. Steps count SGD
warm-up steps of the Newton methods as steps; per-step cost differs by orders of magnitude
(MEASURED seconds per step are in the "table4" table), so a step saving is not a time saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qnewton.experiments.catalog.table4_transformers import (COLUMNS, CURVES_TABLE, DECISIONS_TABLE, TUNING_TABLE,
                                                             LMParams, plot_curves, train_all)
from qnewton.experiments.spec import Experiment, RunContext, TableSpec, Tables

#: the paper's stated step savings of Newton over SGD (Fig. 2)
PAPER_SAVED = {"bert-tiny": 0.75, "mistral-tiny": 0.67}


def first_reach(curve: list[tuple[int, float]], level: float) -> int | None:
    """The first step whose loss is <= level (curve sorted by step), None if none."""
    for step, loss in curve:
        if loss <= level:
            return step
    return None


def saved_fraction(sgd: list[tuple[int, float]], other: list[tuple[int, float]], level: float) -> tuple[int | None, int | None, float | None]:
    """(SGD's steps to `level`, the other method's, 1 - other / SGD) -- None where one does not reach it."""
    s_sgd, s_other = first_reach(sgd, level), first_reach(other, level)
    if s_sgd is None or s_other is None:
        return s_sgd, s_other, None
    return s_sgd, s_other, 1.0 - s_other / s_sgd


def savings_rows(p: LMParams, curves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The "savings" rows of one seed from its curves (module docstring)."""
    rows = []
    for model in p.models:
        def curve(method: str) -> list[tuple[int, float]]:
            return sorted((int(r["step"]), float(r["val_loss"])) for r in curves
                          if r["model"] == model and r["method"] == method)

        sgd = curve("sgd")
        if not sgd:
            continue
        for method in p.methods:
            other = curve(method)
            if method == "sgd" or not other:
                continue
            level = max(min(v for _, v in sgd), min(v for _, v in other))
            s_sgd, s_other, saved = saved_fraction(sgd, other, level)
            t_sgd, t_other, t_saved = saved_fraction(sgd, other, p.target_loss)
            rows.append({"model": model, "method": method, "common_level": level, "sgd_steps_to_level": s_sgd,
                         "steps_to_level": s_other, "saved_fraction": saved, "target_loss": p.target_loss,
                         "sgd_steps_to_target": t_sgd, "steps_to_target": t_other, "saved_fraction_at_target": t_saved,
                         "paper_saved_fraction": PAPER_SAVED.get(model)})
    return rows


def run_seed(p: LMParams, seed: int, ctx: RunContext) -> Tables:
    tables = train_all(p, seed, ctx, "fig2")
    tables["savings"] = savings_rows(p, tables["curves"])
    for r in tables["savings"]:
        saved = "n/a" if r["saved_fraction"] is None else f"{100 * r['saved_fraction']:.0f} %"
        ctx.log(f"  {r['model']} / {r['method']}: reaches val loss {r['common_level']:.4f} at step {r['steps_to_level']} "
                f"vs SGD {r['sgd_steps_to_level']}: saves {saved} of SGD's steps")
    return tables


def plot(p: LMParams, tables: Tables, out: Path) -> list[Path]:
    return plot_curves(p, tables, out, "fig2-transformers", "Fig. 2 here: training and validation loss against steps")


SAVINGS_COLUMNS = ("common_level", "sgd_steps_to_level", "steps_to_level", "saved_fraction", "target_loss",
                   "sgd_steps_to_target", "steps_to_target", "saved_fraction_at_target", "paper_saved_fraction")

EXPERIMENT = Experiment(
    name="fig2-transformers",
    title="Training and validation loss of SGD, Adam and Newton on the tiny BERT and Mistral; steps Newton saves",
    paper="Fig. 2",
    params_type=LMParams,
    tables=(TableSpec("savings", ("model", "method"), "Fraction of SGD's steps a method saves to reach the lowest "
                      "validation loss both reach (1 - steps / SGD's steps); the paper states 0.75 (BERT), 0.67 (Mistral)",
                      SAVINGS_COLUMNS),
            CURVES_TABLE,
            TableSpec("table4", ("model", "method"), "Per run: steps, losses on the validation blocks, MEASURED / MODELED / "
                      "PROJECTED seconds (as in table4-transformers)", COLUMNS),
            DECISIONS_TABLE,
            TUNING_TABLE),
    run_seed=run_seed,
    plot=plot,
)
