"""The transformer experiments table4-transformers (paper Table IV) and fig2-transformers (paper
Fig. 2) on the stand-in token blocks of tests/lm_fakes.py: their tables and columns, the
measured/modeled split, per-block decision counts, the held-out tuning split, steps saved."""

import json
from pathlib import Path

import pytest
import torch

import lm_fakes
from qnewton.errors import UsageError
from qnewton.experiments.catalog.fig2_transformers import saved_fraction
from qnewton.experiments.config import load_config
from qnewton.experiments.runner import run_experiment
from qnewton.train.tasks.language import hold_out_training_blocks

SIZES = """
data = "shakespeare"
lm_hidden = 8
lm_layers = 1
lm_heads = 2
block_len = 8
vocab_size = 261
max_blocks = "64,32,32"
batch_size = 8
eval_every = 2
classical_constant = 1.4e-11
max_newton_block = 1000   # the embeddings and output layer (2,088 parameters) take SGD steps
"""

TABLE4 = f"""
name = "table4-transformers"
seeds = 1
[params]
models = ["mistral-tiny"]
methods = ["sgd", "adam", "classical", "quantum", "qnewton"]
{SIZES}
steps = 4
sgd_budget = 6
sgd_steps = 1
target_loss = 5.5
tune = true
validation_fraction = 0.2
[params.grids]
sgd = {{sgd_lr = [0.0001, 1.0]}}
adam = {{lr = [0.03]}}
classical = {{newton_lr = [1.0], eps = [0.5]}}
"""

FIG2 = f"""
name = "fig2-transformers"
seeds = 1
[params]
models = ["bert-tiny", "mistral-tiny"]
methods = ["sgd", "classical", "qnewton"]
{SIZES}
steps = 4
sgd_budget = 4
sgd_steps = 1
sgd_lr = 1.0
target_loss = 5.5
tune = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "e.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_table4_columns_decisions_and_tuning_split(tmp_path: Path, monkeypatch) -> None:
    lm_fakes.install(monkeypatch)
    out = run_experiment(load_config(write(tmp_path, TABLE4)), out=tmp_path / "r")
    rows = {r["method"]: r for r in out.raw["table4"]}
    assert list(rows) == ["sgd", "adam", "classical", "quantum", "qnewton"]
    header = (tmp_path / "r" / "table4-transformers" / "table4.md").read_text()
    for col in ("steps_to_target", "final_val_loss", "measured_seconds_per_step", "threads",
                "modeled_quantum_seconds_per_step", "projected_seconds_per_step", "quantum_blocks", "first_order_blocks"):
        assert col in header, col
    # MODELED quantum seconds: > 0 only where the quantum solver runs; none for first-order methods
    assert rows["sgd"]["modeled_quantum_seconds_per_step"] is None and rows["adam"]["modeled_quantum_seconds_per_step"] is None
    assert rows["classical"]["modeled_quantum_seconds_per_step"] == 0.0
    assert rows["quantum"]["modeled_quantum_seconds_per_step"] > 0 and rows["qnewton"]["modeled_quantum_seconds_per_step"] > 0
    for m in ("classical", "quantum", "qnewton"):
        r = rows[m]
        assert r["steps"] == 4 and r["newton_steps"] == 3 and r["threads"] == 1
        assert r["measured_seconds_per_newton_step"] > r["measured_seconds_per_step"] > 0
        assert r["projected_total_seconds"] == pytest.approx(r["projected_seconds_per_step"] * r["steps"])
        # every block gets one decision per Newton step
        assert r["quantum_blocks"] + r["classical_blocks"] + r["first_order_blocks"] == r["newton_steps"] * r["blocks"]
        per_block = [d for d in out.raw["decisions"] if d["method"] == m]
        assert len(per_block) == r["blocks"] > 0
        assert all(d["quantum"] + d["classical"] + d["first_order"] == 3 for d in per_block)
    assert rows["classical"]["quantum_blocks"] == 0 and rows["quantum"]["classical_blocks"] == 0
    # the embeddings and output layer (> max_newton_block) take first-order steps
    first_order = {d["block"] for d in out.raw["decisions"] if d["method"] == "qnewton" and d["first_order"] == 3}
    assert any("embed" in b for b in first_order) and any("lm_head" in b for b in first_order)
    assert rows["sgd"]["steps"] == rows["adam"]["steps"] == 6 and rows["sgd"]["newton_steps"] == 0
    # tuning: a tiny learning rate loses; candidates ran on held-out training blocks, final runs did not
    assert rows["sgd"]["settings"] == "sgd_lr=1" and rows["adam"]["settings"] == "lr=0.03"
    runs = tmp_path / "r" / "table4-transformers" / "runs"
    tune_cfg = json.loads((runs / "table4-mistral-tiny-tune-sgd-00-seed0" / "config.json").read_text())
    final_cfg = json.loads((runs / "table4-mistral-tiny-qnewton-seed0" / "config.json").read_text())
    assert tune_cfg["validation_fraction"] == 0.2 and final_cfg["validation_fraction"] == 0.0
    assert final_cfg["sgd_lr"] == 1.0 and final_cfg["stop_at_target"] is False
    # it learns: SGD's validation loss falls from the first evaluation to the last
    curve = [r["val_loss"] for r in out.raw["curves"] if r["method"] == "sgd"]
    assert len(curve) == 3 and curve[-1] < curve[0] - 0.05
    assert (tmp_path / "r" / "table4-transformers" / "table4-curves.png").stat().st_size > 0


@pytest.mark.slow
def test_fig2_curves_and_savings(tmp_path: Path, monkeypatch) -> None:
    lm_fakes.install(monkeypatch)
    out = run_experiment(load_config(write(tmp_path, FIG2)), out=tmp_path / "r")
    savings = {(r["model"], r["method"]): r for r in out.raw["savings"]}
    assert set(savings) == {(m, n) for m in ("bert-tiny", "mistral-tiny") for n in ("classical", "qnewton")}
    for (model, _), r in savings.items():
        assert r["paper_saved_fraction"] == {"bert-tiny": 0.75, "mistral-tiny": 0.67}[model]
        assert r["sgd_steps_to_level"] is not None and r["steps_to_level"] is not None
        assert r["saved_fraction"] == pytest.approx(1 - r["steps_to_level"] / r["sgd_steps_to_level"])
    curves = [r for r in out.raw["curves"] if r["model"] == "bert-tiny" and r["method"] == "qnewton"]
    assert [r["step"] for r in curves] == [2, 4]
    assert all(r["val_loss"] > 0 and r["train_loss"] > 0 for r in curves)
    md = (tmp_path / "r" / "fig2-transformers" / "savings.md").read_text()
    assert "saved_fraction" in md and "paper_saved_fraction" in md
    assert (tmp_path / "r" / "fig2-transformers" / "fig2-transformers.png").stat().st_size > 0


def test_saved_fraction_counts_first_steps_at_the_level() -> None:
    sgd = [(5, 6.5), (10, 6.2), (15, 6.0), (20, 5.9)]
    newton = [(5, 6.4), (10, 5.95), (15, 5.8)]
    assert saved_fraction(sgd, newton, 5.95) == (20, 10, 0.5)
    assert saved_fraction(sgd, newton, 6.2) == (10, 10, 0.0)
    assert saved_fraction(sgd, newton, 5.8) == (None, 15, None)


def test_hold_out_training_blocks_is_fixed_and_disjoint() -> None:
    data = lm_fakes.fake_text_data(block_len=8, vocab_size=261, max_blocks=(50, 10, 10))
    data.train[:, 0] = torch.arange(50)  # tag every block
    a, b = hold_out_training_blocks(data, 0.2), hold_out_training_blocks(data, 0.2)
    assert a.val.shape[0] == 10 and a.train.shape[0] == 40
    assert torch.equal(a.val, b.val)  # fixed, not drawn from the run seed
    assert set(a.val[:, 0].tolist()).isdisjoint(a.train[:, 0].tolist())
    assert sorted(a.val[:, 0].tolist() + a.train[:, 0].tolist()) == list(range(50))
    assert torch.equal(a.test, data.test)
    # the evaluation split is at most as large as the data set's validation split
    few = lm_fakes.fake_text_data(block_len=8, vocab_size=261, max_blocks=(50, 4, 4))
    few.train[:, 0] = torch.arange(50)
    c = hold_out_training_blocks(few, 0.2)
    assert c.val.shape[0] == 4 and c.train.shape[0] == 40
    assert set(c.val[:, 0].tolist()) <= set(range(50)) - set(c.train[:, 0].tolist())
    with pytest.raises(UsageError, match="validation_fraction"):
        hold_out_training_blocks(data, 0.001)


@pytest.mark.parametrize("edit, field", [
    ('models = ["mistral-tiny"]', "models"),
    ("validation_fraction = 0.2", "validation_fraction"),
    ("lm_heads = 2", "lm_heads"),
    ("adam = {lr = [0.03]}", "grids.adam.beta9"),
])
def test_bad_settings_are_one_line_usage_errors(tmp_path: Path, edit: str, field: str) -> None:
    bad = {"models": 'models = ["gpt-huge"]', "validation_fraction": "validation_fraction = 1.5",
           "lm_heads": "lm_heads = 3", "grids.adam.beta9": "adam = {beta9 = [0.9]}"}[field]
    with pytest.raises(UsageError, match=field.replace(".", r"\.")):
        load_config(write(tmp_path, TABLE4.replace(edit, bad)))
