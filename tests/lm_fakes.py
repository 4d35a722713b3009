"""Small stand-ins for the text data in the language-model tests: token blocks drawn from a fixed
Markov chain over a few dozen tokens (learnable in a few steps, no corpus or tokenizer needed),
behind the names of `qnewton.train.text`."""

import torch

from qnewton.train import text
from qnewton.train.text import TextData

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def markov_blocks(n: int, block_len: int, vocab: int, seed: int, active: int = 40) -> torch.Tensor:
    """n blocks of a chain over tokens 5..5+active-1: next = successor[prev] with probability 0.8."""
    gen = torch.Generator().manual_seed(seed)
    successor = torch.randperm(active, generator=torch.Generator().manual_seed(99))
    out = torch.empty(n, block_len, dtype=torch.int64)
    state = torch.randint(active, (n,), generator=gen)
    for t in range(block_len):
        out[:, t] = state + 5
        jump = torch.rand(n, generator=gen) < 0.2
        state = torch.where(jump, torch.randint(active, (n,), generator=gen), successor[state])
    return out.clamp(max=vocab - 1)


def fake_text_data(name="shakespeare", *, block_len, vocab_size, data_dir=None, max_blocks=(None, None, None),
                   cache_dir=None) -> TextData:
    sizes = [m if m is not None else d for m, d in zip(max_blocks, (256, 64, 64))]
    return TextData(name, markov_blocks(sizes[0], block_len, vocab_size, 1), markov_blocks(sizes[1], block_len, vocab_size, 2),
                    markov_blocks(sizes[2], block_len, vocab_size, 3), vocab_size, dict(SPECIAL), "", {"fake": True})


def install(monkeypatch) -> None:
    """Use the fake corpus (the masking rule is the real one)."""
    monkeypatch.setattr(text, "load_text_data", fake_text_data)
