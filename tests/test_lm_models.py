"""The tiny transformer language models (`qnewton.train.tasks.language`): sizes and parameter
counts, determinism (dropout 0, seeded init), the loss reduction (the mean of per-sequence
losses, what the curvature kinds assume), the layer-wise empirical Fisher of a BERT layer against
a per-sequence double loop in float64, and the first-order rule for blocks above
--max-newton-block in the Newton optimizer."""

import pytest
import torch

import lm_fakes
from qnewton.curvature import Batch, make_blocks
from qnewton.curvature.fisher import empirical_fisher_block, empirical_fisher_blocks
from qnewton.errors import UsageError
from qnewton.train.config import TrainConfig
from qnewton.train.tasks import make_task
from qnewton.train.tasks.language import bert_tiny, lm_loss, mistral_tiny


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("build,expected", [(bert_tiny, 273_024), (mistral_tiny, 393_792)])
def test_table1_sizes_and_parameter_counts(build, expected):
    with torch.device("meta"):
        model = build(1024, 32)
    assert n_params(model) == expected
    embeddings = sum(p.numel() for n, p in model.named_parameters()
                     if "embed" in n or "lm_head" in n or n.endswith("predictions.bias"))
    # with the original vocabularies (BERT 30,522 tokens, Mistral 32,000) the counts are near Table I's 2.2M / 4.3M
    with torch.device("meta"):
        assert 2.1e6 < n_params(bert_tiny(30522, 512)) < 2.3e6
        assert 4.2e6 < n_params(mistral_tiny(32000, 512)) < 4.4e6
    assert embeddings > 0.2 * expected
    net = model.net
    assert net.config.hidden_size == 64 and net.config.num_hidden_layers == 4 and net.config.num_attention_heads == 4
    assert net.config.intermediate_size == 256 and net.config._attn_implementation == "eager"


@pytest.mark.parametrize("build", [bert_tiny, mistral_tiny])
def test_seeded_init_no_dropout_and_logits_shape(build):
    torch.manual_seed(5)
    a = build(300, 16, 16, 2, 2)
    torch.manual_seed(5)
    b = build(300, 16, 16, 2, 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    a.train()  # dropout 0: training mode gives the same logits twice
    x = torch.randint(5, 300, (3, 16))
    first, second = a(x), a(x)
    assert first.shape == (3, 16, 300) and torch.equal(first, second)


def test_lm_loss_is_the_mean_of_per_sequence_means():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11, dtype=torch.float64)
    targets = torch.randint(11, (3, 5))
    targets[0, :3] = -100
    targets[2, :] = -100
    targets[2, 4] = 7
    per = []
    for n in range(3):
        keep = targets[n] != -100
        per.append(torch.nn.functional.cross_entropy(logits[n][keep], targets[n][keep]))
    assert float(lm_loss(logits, targets)) == pytest.approx(float(torch.stack(per).mean()), rel=1e-14)
    full = torch.randint(11, (3, 5))  # every position scored: the plain token mean
    assert float(lm_loss(logits, full)) == pytest.approx(float(torch.nn.functional.cross_entropy(
        logits.reshape(15, 11), full.reshape(15))), rel=1e-14)


def test_empirical_fisher_of_a_bert_layer_equals_a_per_sequence_loop():
    torch.manual_seed(1)
    model = bert_tiny(300, 8, 16, 2, 2).double()
    x = torch.randint(5, 300, (6, 8))
    y = torch.where(torch.rand(6, 8) < 0.4, x, torch.full_like(x, -100))
    y[:, 0] = x[:, 0]
    batch = Batch(x, y, lm_loss)
    blocks = [b for b in make_blocks(model, "layer") if b.name.endswith(("layer.1.attention.self.query",
                                                                         "layer.0.intermediate.dense"))]
    assert [b.size for b in blocks] == [1088, 272]
    params = dict(model.named_parameters())
    for curv in (empirical_fisher_blocks(model, blocks, batch), [empirical_fisher_block(model, b, batch) for b in blocks]):
        for c in curv:
            rows = []
            for n in range(6):
                loss_n = lm_loss(model(x[n:n + 1]), y[n:n + 1])
                grads = torch.autograd.grad(loss_n, [params[k] for k in c.block.names])
                rows.append(torch.cat([g.reshape(-1) for g in grads]))
            G = torch.stack(rows)
            ref = G.T @ G / 6
            assert c.H.dtype == torch.float64
            assert float((c.H - ref).norm() / ref.norm()) < 1e-10
            assert float((c.g - G.mean(0)).norm() / G.mean(0).norm()) < 1e-10
            assert c.loss == pytest.approx(float(lm_loss(model(x), y)), rel=1e-12)


def test_language_task_batches_and_validation_metrics(monkeypatch):
    lm_fakes.install(monkeypatch)
    cfg = TrainConfig(model="mistral-tiny", data="shakespeare", block_len=12, vocab_size=300, lm_hidden=16,
                      lm_layers=1, lm_heads=2, max_blocks="64,16,16")
    task = make_task(cfg)
    assert (cfg.batch_size, cfg.curvature, cfg.eps, cfg.blocks, cfg.max_newton_block) == (32, "ef", 0.5, "layer", 4160)
    b = task.batch(0, torch.arange(4))
    assert torch.equal(b.inputs, task.data.train[:4, :-1]) and torch.equal(b.targets, task.data.train[:4, 1:])
    model = task.build_model()
    metrics = task.evaluate(model)
    logits = model(task.data.val[:, :-1])
    assert metrics["loss"] == pytest.approx(float(lm_loss(logits, task.data.val[:, 1:])), rel=1e-6)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and task.eval_split == "validation"
    assert not task.reached_target(metrics)
    assert make_task(cfg.replace(target_loss=100.0)).reached_target(metrics)
    bert = make_task(cfg.replace(model="bert-tiny"))
    masked = bert.batch(3, torch.arange(8))
    again = bert.batch(3, torch.arange(8))
    assert torch.equal(masked.inputs, again.inputs) and torch.equal(masked.targets, again.targets)
    scored = masked.targets != -100
    assert scored.any(1).all() and bool((masked.inputs[scored] != masked.targets[scored]).any())
    assert TrainConfig().batch_size == 256 and TrainConfig().curvature == "hessian"


@pytest.mark.parametrize("options,message", [
    (dict(model="gpt"), "model: must be one of mlp, bert-tiny, mistral-tiny, autoencoder, got 'gpt'"),
    (dict(model="mlp", data="shakespeare"), "data: model mlp trains on digits, breast-cancer, mnist, mnist5k, not on"),
    (dict(model="bert-tiny", data="digits"), "data: model bert-tiny trains on shakespeare, wikitext, not on 'digits'"),
    (dict(model="bert-tiny", data="shakespeare", vocab_size=200), "vocab_size: must be >= 261"),
    (dict(model="bert-tiny", data="shakespeare", block_len=1), "block_len: must be >= 2"),
    (dict(model="bert-tiny", data="wikitext"), "data_dir: required with data = 'wikitext'"),
    (dict(model="bert-tiny", data="shakespeare", lm_hidden=10, lm_heads=4), "lm_heads: must divide lm_hidden"),
    (dict(model="bert-tiny", data="shakespeare", max_blocks="1,2"), "max_blocks: must be"),
])
def test_bad_model_and_data_options(options, message):
    with pytest.raises(UsageError) as info:
        TrainConfig(**options)
    assert str(info.value).startswith(message)
