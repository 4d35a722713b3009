"""`qnewton train --model bert-tiny|mistral-tiny`: small models on a small learnable token stream
(tests/lm_fakes.py) through the command line. The validation loss of Q-Newton falls by a real
margin on both models, every method of the comparison runs, blocks above --max-newton-block take
the first-order update with a ledger record saying so, and bad options are one line with nothing
written."""

import json

import pytest

import lm_fakes
from qnewton.cli import main

SMALL = ["--data", "shakespeare", "--block-len", "12", "--vocab-size", "300", "--lm-hidden", "16", "--lm-layers", "2",
         "--lm-heads", "2", "--max-blocks", "256,32,32", "--batch-size", "16", "--quiet", "--classical-constant",
         "pinned", "--eval-every", "2"]


def rows(run_dir, method):
    return [json.loads(line) for line in (run_dir / method / "ledger.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["mistral-tiny", "bert-tiny"])
def test_qnewton_lowers_the_validation_loss(model, tmp_path, monkeypatch, capsys):
    lm_fakes.install(monkeypatch)
    argv = ["train", "--model", model, "--method", "qnewton", "--steps", "10", "--sgd-steps", "1", "--sgd-lr", "2",
            "--max-newton-block", "1100", "--runs-dir", str(tmp_path), "--name", "r", *SMALL]
    assert main(argv) == 0
    ledger = rows(tmp_path / "r", "qnewton")
    report = json.loads((tmp_path / "r" / "report.json").read_text())["qnewton"]
    evals = [r["test_loss"] for r in ledger if "test_loss" in r]
    assert report["newton_steps"] == 9 and report["sgd_steps"] == 1
    # the loss before any step: the seeded model's validation loss, ln(300) = 5.70 at random init
    assert evals[-1] < 0.95 * 5.70, evals
    newton = [r for r in ledger if r["phase"] == "newton"]
    first_order = [b for b in newton[0]["blocks"] if b["decision"] == "first-order"]
    assert first_order and all(b["reason"] == f"first-order: N = {b['n']} > max 1100" and b["n"] > 1100
                               for b in first_order)
    assert newton[0]["decision_counts"]["first_order"] == len(first_order)
    inverted = [b for b in newton[0]["blocks"] if b["decision"] in ("quantum", "classical")]
    assert inverted and max(b["n"] for b in inverted) <= 1100 and all(b["curvature"] == "ef" for b in inverted)
    assert any("attention" in b["name"] or "_proj" in b["name"] for b in inverted)
    # the first-order blocks' SGD state is part of the checkpoint and loads back on resume
    import torch

    ck = torch.load(tmp_path / "r" / "qnewton" / "checkpoint.pt", weights_only=True)
    assert "first_order" in ck["optimizer"]
    assert main(["train", "--resume", str(tmp_path / "r"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "val loss" in out and "target validation loss (no target_loss set)" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mistral-tiny", "bert-tiny"])
def test_every_method_of_the_comparison_runs(model, tmp_path, monkeypatch):
    lm_fakes.install(monkeypatch)
    argv = ["train", "--model", model, "--method", "sgd,adam,classical,quantum,qnewton", "--steps", "3",
            "--sgd-steps", "1", "--runs-dir", str(tmp_path), "--name", "all", "--target-loss", "100", *SMALL]
    assert main(argv) == 0
    report = json.loads((tmp_path / "all" / "report.json").read_text())
    assert set(report) == {"sgd", "adam", "classical", "quantum", "qnewton"}
    for method, entry in report.items():
        assert entry["steps_to_target"] == 2 and entry["status"] == "completed"  # evaluated at step 2 first
    assert report["classical"]["decisions"]["quantum"] == 0 and report["quantum"]["decisions"]["classical"] == 0


@pytest.mark.parametrize("argv,message", [
    (["--model", "bert-tiny", "--data", "digits"], "data: model bert-tiny trains on shakespeare, wikitext, not on 'digits'"),
    (["--model", "mlp", "--data", "shakespeare"], "data: model mlp trains on digits, breast-cancer, mnist, mnist5k, not"),
    (["--model", "t5"], "model: must be one of mlp, bert-tiny, mistral-tiny, autoencoder, got 't5'"),
    (["--model", "mistral-tiny", "--data", "shakespeare", "--vocab-size", "100"], "vocab_size: must be >= 261"),
    (["--model", "mistral-tiny", "--data", "shakespeare", "--block-len", "1"], "block_len: must be >= 2"),
    (["--model", "mistral-tiny", "--data", "wikitext", "--data-dir", "NOPE"], "data_dir: "),
])
def test_bad_options_are_one_line_and_write_nothing(argv, message, tmp_path, capsys):
    rc = main(["train", *argv, "--runs-dir", str(tmp_path / "runs"), "--quiet", "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qnewton train: error: " + message), err
    assert not (tmp_path / "runs").exists()
