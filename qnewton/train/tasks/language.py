"""The language-model tasks: `--model bert-tiny` (masked LM) and `--model mistral-tiny` (causal
LM) on token blocks of `qnewton.train.text` (`--data shakespeare` or `--data wikitext`).

Models (Q-Newton Table I sizes: hidden 64, 4 layers, 4 heads; `--lm-hidden`, `--lm-layers`,
`--lm-heads` change them for quick checks): Hugging Face `BertForMaskedLM` and
`MistralForCausalLM` built from configs (no download: HF_HUB_OFFLINE=1 is set before
transformers is imported), eager attention (plain torch operations, which torch.func
differentiates twice on the CPU), dropout 0 everywhere (the loss is then a deterministic
function of the weights, which a Newton step needs), weights initialized by the models' own
initializers from the run seed. The intermediate (feed-forward) size is 4 x hidden = 256, the
ratio of BERT (3072 / 768) and of the original Transformer; Mistral-7B's own ratio is 3.5
(14336 / 4096), which would give 224; one ratio for both keeps the two models comparable.
Mistral uses plain multi-head attention (as many key/value heads as query heads) and untied
input/output embeddings, like Mistral-7B; BERT ties its output layer to the word embeddings, as
BERT does. The vocabulary is the tokenizer's; position tables hold `block_len` positions.
`TokenLM` wraps either model so that the trainer and the curvature code see a plain module
mapping input_ids (B, T) to logits (B, T, V).

Loss (`lm_loss`): token cross-entropy, reduced so that the batch loss is the MEAN OF
PER-SEQUENCE LOSSES, J = (1/B) sum_n l_n with l_n the mean cross-entropy over the scored
positions of sequence n (targets -100 are not scored). This is the reduction the curvature kinds
assume (an example is one sequence; `qnewton.curvature.functional.check_mean_reduction`). With
every position scored (causal LM) it equals the plain mean over all tokens.

Metrics on the VALIDATION split (`evaluate`): the same loss over all validation sequences and
the token accuracy (argmax equal to the target, over scored positions). BERT's validation masks
are drawn once with a fixed seed (0, 4), the same for every run, so the validation loss is a
function of the weights only. Target: validation loss <= `target_loss` (none by default).
With `validation_fraction` > 0 the evaluation split is instead a fixed held-out part of the
training blocks (`hold_out_training_blocks`), used to choose hyper-parameters.
Training batches of BERT are masked with the seed (run seed, 3, step): the same for every method
and after a resume.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from qnewton.curvature import Batch
from qnewton.errors import UsageError
from qnewton.train import text as text_data
from qnewton.train.tasks.base import Task

#: fixed seed of BERT's validation masks (independent of the run seed)
VALIDATION_MASK_SEED = (0, 4)
#: sequences per forward pass when evaluating
EVAL_CHUNK = 64


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over sequences of each sequence's mean token cross-entropy over its scored positions
    (targets != -100); logits (B, T, V), targets (B, T). A sequence with no scored position
    contributes 0."""
    per_token = nn.functional.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none")
    scored = (targets != -100).to(per_token.dtype)
    per_sequence = (per_token * scored).sum(1) / scored.sum(1).clamp(min=1.0)
    return per_sequence.mean()


class TokenLM(nn.Module):
    """input_ids (B, T) -> logits (B, T, V) of a Hugging Face language model `net`."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids=input_ids).logits


def _transformers() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    return transformers


def bert_tiny(vocab_size: int, block_len: int, hidden: int = 64, layers: int = 4, heads: int = 4) -> nn.Module:
    """BertForMaskedLM of the given sizes (module docstring), wrapped in `TokenLM`."""
    tf = _transformers()
    cfg = tf.BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, max_position_embeddings=block_len, type_vocab_size=1,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0)
    return TokenLM(tf.BertForMaskedLM._from_config(cfg, attn_implementation="eager"))


def mistral_tiny(vocab_size: int, block_len: int, hidden: int = 64, layers: int = 4, heads: int = 4) -> nn.Module:
    """MistralForCausalLM of the given sizes (module docstring), wrapped in `TokenLM`."""
    tf = _transformers()
    cfg = tf.MistralConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, num_key_value_heads=heads, intermediate_size=4 * hidden,
                           max_position_embeddings=block_len, attention_dropout=0.0, tie_word_embeddings=False,
                           pad_token_id=0, bos_token_id=2, eos_token_id=3, sliding_window=None)
    return TokenLM(tf.MistralForCausalLM._from_config(cfg, attn_implementation="eager"))


#: fixed seed of the shuffle that picks the held-out training blocks (`validation_fraction`)
HOLD_OUT_SEED = 5


def hold_out_training_blocks(data: text_data.TextData, fraction: float) -> text_data.TextData:
    """`data` with a fixed part (round(fraction * n), picked by a shuffle of seed `HOLD_OUT_SEED`)
    of its TRAINING blocks held out of the training split (`--validation-fraction`, as for the image
    data): hyper-parameters can then be chosen on held-out blocks while the data set's own
    validation and test blocks stay untouched. The evaluation split is the first of the held-out
    blocks in that shuffle, at most as many as the data set's validation split has (so that an
    evaluation costs what it costs without a hold-out; a fifth of all Shakespeare blocks would make
    every evaluation 50 times dearer)."""
    import dataclasses

    n = int(data.train.shape[0])
    n_held = int(round(fraction * n))
    if n_held < 1 or n_held >= n:
        raise UsageError(f"validation_fraction: {fraction:g} of {n} training blocks leaves {n_held} held-out and "
                         f"{n - n_held} training blocks; both must be at least 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(HOLD_OUT_SEED))
    n_eval = min(n_held, int(data.val.shape[0])) if data.val.shape[0] > 0 else n_held
    held, kept = order[:n_eval].sort().values, order[n_held:].sort().values
    info = {**data.info, "held_out_training_blocks": n_held, "evaluated_held_out_blocks": n_eval}
    return dataclasses.replace(data, train=data.train[kept], val=data.train[held], info=info)


class LanguageModelTask(Task):
    """A tiny transformer language model on token blocks (module docstring)."""

    #: "masked" (BERT) or "causal" (Mistral)
    objective = "causal"

    def __init__(self, config: Any, data: text_data.TextData | None = None) -> None:
        super().__init__(config)
        if data is None:
            data = text_data.load_text_data(config.data, block_len=config.block_len,
                                            vocab_size=config.vocab_size, data_dir=config.data_dir,
                                            max_blocks=config.max_blocks_tuple())
        fraction = float(getattr(config, "validation_fraction", 0.0) or 0.0)
        if fraction > 0:
            data = hold_out_training_blocks(data, fraction)
        self.data = data
        for split in ("train", "val"):
            blocks = getattr(data, split)
            if blocks.dim() != 2 or blocks.shape[0] < 1:
                raise UsageError(f"max_blocks: the {split} split of {config.data} has no block of {config.block_len} "
                                 "tokens")
        self._val_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def from_data(cls, config: Any, data: Any) -> "LanguageModelTask":
        if not isinstance(data, text_data.TextData):
            return super().from_data(config, data)  # type: ignore[return-value]
        return cls(config, data)

    # ------------------------------------------------------------------ model
    def builder(self) -> Any:
        return mistral_tiny

    def new_model(self) -> nn.Module:
        c = self.config
        return self.builder()(self.data.vocab_size, self.data.train.shape[1], c.lm_hidden, c.lm_layers, c.lm_heads)

    # ------------------------------------------------------------------ data
    @property
    def n_train(self) -> int:
        return int(self.data.train.shape[0])

    def make_batch(self, blocks: torch.Tensor, seed: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of `blocks` for this objective."""
        return text_data.causal_lm_batch(blocks)

    def batch(self, step: int, indices: torch.Tensor) -> Batch:
        inputs, targets = self.make_batch(self.data.train[indices], (int(self.config.seed), 3, int(step)))
        return Batch(inputs, targets, lm_loss)

    # ------------------------------------------------------------------ metrics
    def validation_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All validation sequences as (inputs, targets), made once (fixed masks for BERT)."""
        if self._val_batch is None:
            self._val_batch = self.make_batch(self.data.val, VALIDATION_MASK_SEED)
        return self._val_batch

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss (`lm_loss` over all validation sequences) and token accuracy."""
        inputs, targets = self.validation_batch()
        total = correct = scored = 0.0
        for start in range(0, inputs.shape[0], EVAL_CHUNK):
            x, y = inputs[start:start + EVAL_CHUNK], targets[start:start + EVAL_CHUNK]
            logits = model(x)
            total += float(lm_loss(logits, y)) * x.shape[0]
            mask = y != -100
            correct += float(((logits.argmax(-1) == y) & mask).sum())
            scored += float(mask.sum())
        return {"loss": total / inputs.shape[0], "accuracy": correct / max(scored, 1.0)}

    def batch_accuracy(self, batch: Batch, logits: torch.Tensor | None) -> float | None:
        """Token accuracy of the batch over its scored positions."""
        if logits is None or logits.dim() != 3:
            return None
        mask = batch.targets != -100
        return float(((logits.argmax(-1) == batch.targets) & mask).sum()) / max(float(mask.sum()), 1.0)

    def reached_target(self, metrics: dict[str, float]) -> bool:
        target = self.config.target_loss
        return target is not None and metrics["loss"] <= target

    @classmethod
    def target_text(cls, config: Any) -> str:
        target = getattr(config, "target_loss", None)
        return f"loss {target:g}" if target is not None else "loss (no target_loss set)"

    @classmethod
    def evaluation_split(cls, config: Any) -> str:
        return "validation"

    def describe(self) -> str:
        return f"Data {self.config.data}, model {self.name}"


class MistralTinyTask(LanguageModelTask):
    """Causal LM: MistralForCausalLM predicting token t+1 from tokens 1..t."""

    name = "mistral-tiny"
    objective = "causal"


class BertTinyTask(LanguageModelTask):
    """Masked LM: BertForMaskedLM predicting BERT-masked tokens (15 %, 80/10/10 rule)."""

    name = "bert-tiny"
    objective = "masked"

    def builder(self) -> Any:
        return bert_tiny

    def make_batch(self, blocks: torch.Tensor, seed: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.data.special_ids
        return text_data.masked_lm_batch(blocks, mask_id=ids["mask"], vocab_size=self.data.vocab_size,
                                         special_ids=ids, seed=seed)
