"""The backbones' text tokenizers: CLIP BPE (open_clip's copy of OpenAI's vocabulary) and BERT WordPiece.

- InternVideo: fixed length 77, padded with 0, truncated with the last token forced to end-of-text (as the
  original `tokenize(truncate=True)`).
- CLIP-ViP: padded to the longest text with end-of-text (49407), as HF `CLIPTokenizerFast(padding=True)`.
  The original passed no truncation; the position table has 77 slots, so longer texts are cut to 77 here,
  end-of-text kept last, instead of crashing.
- Singularity: bert-base-uncased WordPiece (lower-casing, accent stripping, punctuation splitting), read from
  the `vocab.txt` the user puts beside the checkpoint (the vocabulary is not shipped). Padded to the longest
  text with [PAD] = 0; texts longer than the 512 positions are cut, [SEP] kept last.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

CLIP_SOT, CLIP_EOT = 49406, 49407
CLIP_CONTEXT = 77


class VocabularyError(ValueError):
    """A WordPiece vocabulary file that is missing or lacks the special tokens."""


@lru_cache(maxsize=1)
def _clip_bpe():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def clip_token_ids(text: str) -> list[int]:
    """[SOT] + BPE ids + [EOT], untruncated."""
    return [CLIP_SOT, *_clip_bpe().encode(text), CLIP_EOT]


def _cut(ids: list[int], length: int, last: int) -> list[int]:
    return ids if len(ids) <= length else [*ids[: length - 1], last]


def clip_fixed(texts: list[str], context_length: int = CLIP_CONTEXT) -> torch.Tensor:
    """InternVideo: `[N, 77]` int64, zero-padded, truncated with end-of-text kept last."""
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for row, text in enumerate(texts):
        ids = _cut(clip_token_ids(text), context_length, CLIP_EOT)
        out[row, : len(ids)] = torch.tensor(ids)
    return out


def clip_padded(texts: list[str], max_length: int = CLIP_CONTEXT) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP-ViP: (ids `[N, L]` padded with end-of-text, mask `[N, L]` True on real tokens); L = longest text."""
    rows = [_cut(clip_token_ids(t), max_length, CLIP_EOT) for t in texts]
    return _pad(rows, CLIP_EOT)


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    return ids, mask


# -- BERT WordPiece (bert-base-uncased behaviour)


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII symbol as punctuation ("$", "^", "`" included)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )  # fmt: skip


def basic_tokens(text: str) -> list[str]:
    """BERT's basic tokenisation, uncased: clean, space CJK, lower-case, strip accents, split punctuation."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            chars.append(" ")
        elif _is_cjk(cp):
            chars.append(f" {ch} ")
        else:
            chars.append(ch)
    out: list[str] = []
    for word in "".join(chars).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    out.append(current)
                out.append(ch)
                current = ""
            else:
                current += ch
        if current:
            out.append(current)
    return out


@dataclass
class WordPiece:
    """bert-base-uncased tokenizer from a `vocab.txt` (one token a line; the line number is the id)."""

    vocab: dict[str, int]
    max_length: int = 512
    max_chars_per_word: int = 100

    @classmethod
    def from_file(cls, path: str | Path, max_length: int = 512) -> WordPiece:
        path = Path(path)
        if not path.is_file():
            raise VocabularyError(
                f"{path}: BERT vocabulary not found; put bert-base-uncased's vocab.txt beside the Singularity checkpoint"
            )
        vocab: dict[str, int] = {}
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            token = line.rstrip("\n")
            if token and token not in vocab:
                vocab[token] = i
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in vocab]
        if missing:
            raise VocabularyError(f"{path}: vocabulary lacks the special tokens {missing}")
        return cls(vocab, max_length)

    def wordpieces(self, word: str) -> list[str]:
        """Greedy longest-match-first; an unsplittable word is [UNK]."""
        if len(word) > self.max_chars_per_word:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return ["[UNK]"]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [p for w in basic_tokens(text) for p in self.wordpieces(w)]

    def ids(self, text: str) -> list[int]:
        """[CLS] + ids + [SEP], cut to max_length with [SEP] kept last."""
        body = [self.vocab.get(t, self.vocab["[UNK]"]) for t in self.tokenize(text)]
        return _cut([self.vocab["[CLS]"], *body, self.vocab["[SEP]"]], self.max_length, self.vocab["[SEP]"])

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids `[N, L]` padded with [PAD], mask `[N, L]` True on real tokens); L = longest text."""
        return _pad([self.ids(t) for t in texts], self.vocab["[PAD]"])
