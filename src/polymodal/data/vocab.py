"""A caption vocabulary: min-count filtering, special tokens, encode/decode, JSON save/load."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from polymodal.jsonio import read_json
from polymodal.errors import DatasetError

__all__ = ["SPECIAL_TOKENS", "Vocabulary"]

#: Special tokens, always the first ids in this order: padding, begin, end, unknown.
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
_FORMAT = "polymodal.vocabulary"


class Vocabulary:
    """Token <-> id mapping for captioning and sequence-to-sequence models.

    Ids 0..3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; then the tokens seen at
    least ``min_count`` times, most frequent first, ties in alphabetical order (so
    the same corpus always gives the same ids). Tokens outside the vocabulary
    encode to ``<unk>``. This is the usual captioning set-up (Vinyals, Toshev,
    Bengio & Erhan, "Show and Tell", CVPR 2015: words seen fewer than 5 times dropped).

    Parameters
    ----------
    tokens : sequence of str
        The regular tokens in id order (ids start after the special tokens).

    Examples
    --------
    >>> v = Vocabulary.build([["a", "dog"], ["a", "cat"]], min_count=2)
    >>> v.tokens, v.encode(["a", "dog"])
    (['<pad>', '<bos>', '<eos>', '<unk>', 'a'], [1, 4, 3, 2])
    >>> v.decode([1, 4, 3, 2, 0])
    ['a', '<unk>']
    """

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, tokens: Sequence[str], min_count: int = 1) -> None:
        if isinstance(tokens, str):  # its characters would become the vocabulary
            raise DatasetError(f"tokens must be a sequence of str, got one str {tokens!r:.50}: pass [token, ...]")
        tokens = list(tokens)
        bad = [t for t in tokens if not isinstance(t, str) or not t]
        if bad:
            raise DatasetError(f"vocabulary tokens must be non-empty str, got {bad[0]!r}")
        clash = [t for t in tokens if t in SPECIAL_TOKENS]
        if clash:
            raise DatasetError(f"vocabulary tokens must not repeat the special tokens {SPECIAL_TOKENS}, got {clash[0]!r}")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t, c in Counter(tokens).items() if c > 1)
            raise DatasetError(f"vocabulary tokens must be unique, {dup!r} appears more than once")
        self.tokens: list[str] = list(SPECIAL_TOKENS) + tokens
        self.min_count = min_count
        self._index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1,
              max_size: int | None = None) -> "Vocabulary":
        """Count the tokens of ``sentences`` (lists of tokens) and keep those seen >= ``min_count`` times.

        ``max_size`` caps the number of regular tokens (the most frequent kept).
        """
        if min_count < 1:
            raise DatasetError(f"min_count must be >= 1, got {min_count}")
        counts: Counter[str] = Counter()
        for i, sent in enumerate(sentences):
            if isinstance(sent, str):
                raise DatasetError(f"sentences[{i}] must be a list of tokens, got a str {sent[:30]!r}; split it first")
            counts.update(sent)
        kept = sorted((t for t, c in counts.items() if c >= min_count and t not in SPECIAL_TOKENS),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, min_count=min_count)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens incl. {len(SPECIAL_TOKENS)} special, min_count={self.min_count})"

    def token_to_id(self, token: str) -> int:
        """The id of ``token`` (``<unk>``'s id when out of vocabulary)."""
        return self._index.get(token, self.unk_id)

    def id_to_token(self, index: int) -> str:
        """The token of id ``index``."""
        if not 0 <= int(index) < len(self.tokens):
            raise DatasetError(f"token id must be in [0, {len(self.tokens)}), got {index}")
        return self.tokens[int(index)]

    def encode(self, tokens: Sequence[str], add_bos: bool = True, add_eos: bool = True) -> list[int]:
        """Ids of ``tokens``, framed by ``<bos>`` ... ``<eos>``; unknown tokens -> ``<unk>``."""
        if isinstance(tokens, str):
            raise DatasetError(f"tokens must be a list of str, got a str {tokens[:30]!r}; split it first")
        ids = [self._index.get(t, self.unk_id) for t in tokens]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def encode_batch(self, sentences: Sequence[Sequence[str]], max_len: int | None = None,
                     add_bos: bool = True, add_eos: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Padded ids (B, T) int64 (``<pad>`` = 0) and lengths (B,); sequences longer than ``max_len`` are cut."""
        seqs = [self.encode(s, add_bos, add_eos) for s in sentences]
        if max_len is not None:
            seqs = [s[:max_len] for s in seqs]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        out = np.full((len(seqs), int(lengths.max(initial=0))), self.pad_id, dtype=np.int64)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = s
        return out, lengths

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Tokens of ``ids``; with ``strip_special`` stop at ``<eos>`` and drop ``<pad>``/``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if strip_special:
                if i == self.eos_id:
                    break
                if i in (self.pad_id, self.bos_id):
                    continue
            out.append(self.id_to_token(i))
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically: a temporary file, then a rename)."""
        data = {"format": _FORMAT, "version": 1, "special_tokens": list(SPECIAL_TOKENS),
                "min_count": self.min_count, "tokens": self.tokens[len(SPECIAL_TOKENS):]}
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=0)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        """Read a vocabulary written by :meth:`save`."""
        data = read_json(path, "vocabulary file")
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DatasetError(f"{os.fspath(path)!r} is not a polymodal vocabulary: expected "
                               f"format {_FORMAT!r}, got {data.get('format') if isinstance(data, dict) else None!r}")
        if data.get("special_tokens") != list(SPECIAL_TOKENS):
            raise DatasetError(f"{os.fspath(path)!r}: special_tokens must be {list(SPECIAL_TOKENS)}, "
                               f"got {data.get('special_tokens')!r}")
        if not isinstance(data.get("tokens"), list):
            raise DatasetError(f"{os.fspath(path)!r}: missing field 'tokens' (a list of str)")
        return cls(data["tokens"], min_count=int(data.get("min_count", 1)))
