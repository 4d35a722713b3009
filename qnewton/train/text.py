"""Text data for the language-model tasks: the interface only.

This file is a stand-in with the names and signatures the language-model tasks
(`qnewton.train.tasks.language`) are written against; the real module (corpus reading, BPE
tokenizer, blocks and masking) replaces it. `causal_lm_batch` is complete; `load_text_data` and
`masked_lm_batch` raise NotImplementedError here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

TEXT_DATA = ("shakespeare", "wikitext")


@dataclass
class TextData:
    """Token blocks of a corpus: train / val / test are (n_blocks, block_len) int64 tensors."""

    name: str
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    vocab_size: int
    special_ids: dict[str, int]
    tokenizer_file: str
    info: dict[str, Any] = field(default_factory=dict)


def load_text_data(name: str, *, block_len: int, vocab_size: int, data_dir: str | None = None,
                   max_blocks: tuple[int | None, int | None, int | None] = (None, None, None),
                   cache_dir: str | None = None) -> TextData:
    """The corpus `name` tokenized and cut into blocks of `block_len` tokens."""
    raise NotImplementedError("qnewton.train.text.load_text_data")


def causal_lm_batch(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token prediction: inputs = blocks[:, :-1], targets = blocks[:, 1:] (every position scored)."""
    return blocks[:, :-1], blocks[:, 1:]


def masked_lm_batch(blocks: torch.Tensor, *, mask_id: int, vocab_size: int, special_ids: dict[str, int],
                    seed: Any, probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of `blocks`: (inputs, targets), targets -100 where a position is not scored."""
    raise NotImplementedError("qnewton.train.text.masked_lm_batch")
