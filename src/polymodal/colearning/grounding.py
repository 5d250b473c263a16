r"""Concept grounding: word meaning from text *and* from the images a word labels.

Non-parallel co-learning (Baltrušaitis, Ahuja & Morency, TPAMI 2019): the
linguistic space (word vectors trained on text) and the visual space (features
of images that carry a word in their caption) never share samples; they meet
only through the vocabulary. Two published recipes, both implemented here:

* **Visual word vectors** (Bruni, Tran & Baroni, "Multimodal distributional
  semantics", JAIR 2014; Kiela & Bottou, "Learning image embeddings using
  convolutional neural networks for improved multi-modal semantics", EMNLP
  2014): the visual vector of word :math:`w` aggregates the features of the
  images :math:`I(w)` whose caption contains :math:`w`,
  :math:`v_w = \frac{1}{|I(w)|}\sum_{i \in I(w)} f_i` (``"mean"``) or
  :math:`v_w = \max_{i \in I(w)} f_i` elementwise (``"max"``), Kiela & Bottou's
  two choices.
* **Fusion** of the L2-normalised linguistic vector :math:`t_w` and visual
  vector :math:`v_w` with weight :math:`\alpha` (Bruni et al. 2014, section 3):

  - feature level (``"feature"``; Kiela & Bottou's concatenation):
    :math:`m_w = [\alpha\, t_w ;\ (1-\alpha)\, v_w]`,
    :math:`\mathrm{sim}(a, b) = \cos(m_a, m_b)`;
  - scoring level (``"score"``):
    :math:`\mathrm{sim}(a, b) = \alpha \cos(t_a, t_b) + (1-\alpha)\cos(v_a, v_b)`;
  - optional latent multimodal mixing (``mixing_rank=r``): the rank-:math:`r`
    truncated SVD of the concatenated matrix
    :math:`[T\,;\,V] \approx U_r \Sigma_r W_r^\top`, split back into its textual
    and visual blocks before fusing, so each block is smoothed by the other.

Word similarity is scored as those papers do: Spearman's :math:`\rho` between
model similarities and human ratings over the pairs that both spaces cover
(:func:`word_similarity`, :func:`read_word_similarity` reads WordSim-353 and
SimLex-999 as gensim ships them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.encoders.text import WordVectors, tokenize
from polymodal.errors import ConfigError, DatasetError, ShapeError

__all__ = ["visual_word_vectors", "GroundedWordVectors", "read_word_similarity", "word_similarity",
           "WordSimilarityResult", "colour_hog_features"]


def colour_hog_features(images: np.ndarray, hue_bins: int = 8, sat_bins: int = 4, val_bins: int = 4,
                        cells: int = 4) -> np.ndarray:
    """Hand-made image features of the kind Bruni et al. (2014) ground words in, for use
    without a pretrained CNN: the square root of an HSV colour histogram
    (``hue_bins x sat_bins x val_bins``) beside a HOG descriptor (``cells x cells``
    cells, 2 x 2 blocks), each block L2-normalised. ``images``: uint8 RGB ``(n, h, w, 3)``.
    """
    import matplotlib.colors

    from polymodal.encoders.descriptors import HOGDescriptor

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ShapeError(f"images must be uint8 RGB (n, h, w, 3); got {images.dtype} {images.shape}")
    hsv = matplotlib.colors.rgb_to_hsv(images.astype(np.float64) / 255.0)
    index = np.zeros(hsv.shape[:3], dtype=int)
    for channel, n in enumerate((hue_bins, sat_bins, val_bins)):
        index = index * n + np.minimum(hsv[..., channel] * n, n - 1).astype(int)
    n_bins = hue_bins * sat_bins * val_bins
    colour = np.stack([np.bincount(i.ravel(), minlength=n_bins) for i in index]).astype(np.float64)
    gray = np.round(images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    side = min(images.shape[1:3]) // cells
    hog = HOGDescriptor(pixels_per_cell=(side, side), cells_per_block=(2, 2)).fit_transform(gray)
    blocks = [np.sqrt(colour), hog]
    return np.hstack([b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12) for b in blocks])


def visual_word_vectors(captions: Sequence[str], features: np.ndarray, aggregate: str = "mean",
                        min_images: int = 1, vocabulary: Sequence[str] | None = None) -> WordVectors:
    """Visual vector of every caption word: the mean (or elementwise max) of the
    features of the images whose caption contains it.

    Parameters
    ----------
    captions : one caption per image (tokenised with :func:`polymodal.encoders.text.tokenize`)
    features : (n_images, d) image features, row ``i`` for ``captions[i]``
    aggregate : ``"mean"`` or ``"max"`` (Kiela & Bottou 2014)
    min_images : keep words that label at least this many images
    vocabulary : restrict to these words (default: every caption word)

    Examples
    --------
    >>> wv = visual_word_vectors(["a red fox", "a fox"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> wv["fox"].tolist(), wv["red"].tolist()
    ([0.5, 0.5], [1.0, 0.0])
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(captions):
        raise ShapeError(f"features must be (n_images, d) with one row per caption ({len(captions)}), "
                         f"got {features.shape}")
    if not np.isfinite(features).all():
        raise ShapeError("features contain NaN or inf")
    if aggregate not in ("mean", "max"):
        raise ConfigError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")
    keep = None if vocabulary is None else set(vocabulary)
    images: dict[str, list[int]] = {}
    for i, caption in enumerate(captions):
        for word in set(tokenize(caption)):
            if keep is None or word in keep:
                images.setdefault(word, []).append(i)
    words = sorted(w for w, rows in images.items() if len(rows) >= min_images)
    if not words:
        raise DatasetError(f"no caption word labels at least {min_images} image(s)")
    reduce = np.mean if aggregate == "mean" else np.max
    return WordVectors(words, np.stack([reduce(features[images[w]], axis=0) for w in words]))


def _unit(M: np.ndarray) -> np.ndarray:
    return M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)


class GroundedWordVectors:
    r"""Linguistic + visual word vectors fused as in Bruni et al. (JAIR 2014).

    Only words present in both spaces are grounded (the shared vocabulary
    ``words_``); :meth:`similarity` is ``None`` for a pair outside it.

    Parameters
    ----------
    text, visual : :class:`~polymodal.encoders.text.WordVectors`
    fusion : ``"feature"`` (concatenation, :math:`\cos([\alpha t; (1-\alpha) v])`),
        ``"score"`` (:math:`\alpha \cos_t + (1-\alpha)\cos_v`), ``"text"`` or ``"visual"`` (one space only)
    alpha : weight of the linguistic space, in [0, 1]
    mixing_rank : rank of Bruni et al.'s latent multimodal mixing (truncated SVD
        of the concatenated normalised blocks); ``None`` for no mixing

    Examples
    --------
    >>> t = WordVectors(["a", "b", "c"], np.eye(3))
    >>> v = WordVectors(["a", "b"], np.array([[1.0, 0.0], [1.0, 0.0]]))
    >>> g = GroundedWordVectors(t, v, fusion="score", alpha=0.5)
    >>> g.similarity("a", "b"), g.similarity("a", "c")
    (0.5, None)
    """

    def __init__(self, text: WordVectors, visual: WordVectors, fusion: str = "feature", alpha: float = 0.5,
                 mixing_rank: int | None = None) -> None:
        if fusion not in ("feature", "score", "text", "visual"):
            raise ConfigError(f"fusion must be 'feature', 'score', 'text' or 'visual', got {fusion!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
        self.fusion, self.alpha, self.mixing_rank = fusion, float(alpha), mixing_rank
        self.words_ = [w for w in visual.words if w in text]
        if not self.words_:
            raise DatasetError("the linguistic and visual vocabularies share no word")
        self.index_ = {w: i for i, w in enumerate(self.words_)}
        T = _unit(np.stack([np.asarray(text[w], dtype=np.float64) for w in self.words_]))
        V = _unit(np.stack([np.asarray(visual[w], dtype=np.float64) for w in self.words_]))
        if mixing_rank is not None:
            if not 1 <= int(mixing_rank) <= min(len(self.words_), T.shape[1] + V.shape[1]):
                raise ConfigError(f"mixing_rank must be in [1, {min(len(self.words_), T.shape[1] + V.shape[1])}], "
                                  f"got {mixing_rank!r}")
            U, s, Wt = np.linalg.svd(np.hstack([T, V]), full_matrices=False)
            r = int(mixing_rank)
            M = (U[:, :r] * s[:r]) @ Wt[:r]
            T, V = _unit(M[:, : T.shape[1]]), _unit(M[:, T.shape[1]:])
        self.text_, self.visual_ = T, V

    def vectors(self) -> np.ndarray:
        """The feature-level multimodal vectors :math:`[\\alpha t; (1-\\alpha) v]`, one row per ``words_``."""
        return np.hstack([self.alpha * self.text_, (1.0 - self.alpha) * self.visual_])

    def similarity(self, a: str, b: str) -> float | None:
        """Fused similarity of two words, ``None`` when either is not grounded."""
        i, j = self.index_.get(a), self.index_.get(b)
        if i is None or j is None:
            return None
        cos_t = float(self.text_[i] @ self.text_[j])
        cos_v = float(self.visual_[i] @ self.visual_[j])
        if self.fusion == "text":
            return cos_t
        if self.fusion == "visual":
            return cos_v
        if self.fusion == "score":
            return self.alpha * cos_t + (1.0 - self.alpha) * cos_v
        wt, wv = self.alpha ** 2, (1.0 - self.alpha) ** 2  # |m|^2 = alpha^2 + (1 - alpha)^2 for unit blocks
        return (wt * cos_t + wv * cos_v) / (wt + wv)


def read_word_similarity(path: str | os.PathLike) -> list[tuple[str, str, float]]:
    """Word pairs and human ratings from a tab-separated file (``word1 word2 score``,
    ``#`` comments), the format of gensim's ``wordsim353.tsv`` and ``simlex999.txt``.
    Words are lower-cased."""
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            try:
                pairs.append((parts[0].strip().lower(), parts[1].strip().lower(), float(parts[2])))
            except (IndexError, ValueError):
                raise DatasetError(f"{path}:{number}: expected 'word1<TAB>word2<TAB>score', got {line.strip()!r}") \
                    from None
    if not pairs:
        raise DatasetError(f"{path}: no word pairs")
    return pairs


@dataclass
class WordSimilarityResult:
    """Spearman's rho over the covered pairs, how many pairs were covered, of how many."""

    spearman: float
    n_covered: int
    n_pairs: int


def word_similarity(similarity: Callable[[str, str], float | None],
                    pairs: Sequence[tuple[str, str, float]]) -> WordSimilarityResult:
    """Spearman's rho between ``similarity(a, b)`` and the human score over the
    pairs where ``similarity`` is not ``None`` (the usual "covered pairs" protocol)."""
    from scipy.stats import spearmanr

    model, human = [], []
    for a, b, score in pairs:
        s = similarity(a, b)
        if s is not None:
            model.append(s)
            human.append(score)
    if len(model) < 3:
        raise DatasetError(f"only {len(model)} of {len(pairs)} pairs are covered; Spearman needs at least 3")
    return WordSimilarityResult(float(spearmanr(model, human).statistic), len(model), len(pairs))
