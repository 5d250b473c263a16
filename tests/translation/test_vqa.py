"""VQA baseline (Antol et al. 2015, deeper LSTM Q + norm I): the paper's equations against a hand-built
2-layer LSTM, padding invariance, learning on the shapes data."""

import numpy as np
import pytest
import torch

from polymodal.data.vocab import Vocabulary
from polymodal.data.vqa_shapes import make_vqa_shapes
from polymodal.errors import ConfigError, ShapeError
from polymodal.translation import VQABaseline, fit_generator, vqa_accuracy, vqa_tensors


def _reference_question_feature(m, q, lengths):
    """Antol et al.'s "deeper LSTM Q": a hand-built 2-layer nn.LSTM (weights copied across) over
    tanh(word embedding), one question at a time without padding; [h1, c1, h2, c2] of the last step."""
    ref = torch.nn.LSTM(m.embed.embedding_dim, m.lstm.hidden_size, num_layers=2, batch_first=True)
    ref.load_state_dict(m.lstm.state_dict())
    rows = []
    for i in range(len(q)):
        _, (h, c) = ref(torch.tanh(m.embed.weight[q[i, : lengths[i]]])[None])
        rows.append(torch.cat([h[0, 0], c[0, 0], h[1, 0], c[1, 0]]))
    return torch.stack(rows)


@pytest.mark.parametrize("fusion", ["product", "concat"])
def test_deeper_lstm_q_norm_i_equations(fusion):
    """The model is Antol et al.'s "deeper LSTM Q + norm I": question feature = the last
    hidden and cell states of a 2-layer LSTM, L2-normalised image features, tanh layers to
    the common size, pointwise product (or the concat ablation), MLP. (Before the fix the
    LSTM had one layer, the question feature was h alone and the image was not normalised.)"""
    torch.manual_seed(0)
    m = VQABaseline(10, 7, image_size=24, widths=(4, 8), grid=3, embed_dim=5, hidden=6, fused=4, fusion=fusion).eval()
    images, q, lengths = torch.rand(3, 3, 24, 24), torch.tensor([[4, 5, 6], [7, 8, 0], [9, 0, 0]]), torch.tensor([3, 2, 1])
    state = _reference_question_feature(m, q, lengths)
    assert state.shape == (3, 4 * 6)
    torch.testing.assert_close(m.question_state(q, lengths), state, atol=1e-6, rtol=1e-6)
    phi = m.encoder(images).flatten(1).double()
    phi = phi / (phi ** 2).sum(1, keepdim=True).sqrt()  # unit L2 norm per image
    torch.testing.assert_close((phi ** 2).sum(1), torch.ones(3, dtype=torch.float64))
    v = torch.tanh(m.image_proj(phi.float()))
    torch.testing.assert_close(m.image_features(images), v, atol=1e-6, rtol=1e-6)
    qv = torch.tanh(m.question_proj(state))
    z = v * qv if fusion == "product" else torch.cat([v, qv], -1)
    lin = [layer for layer in m.classifier if isinstance(layer, torch.nn.Linear)]
    assert len(lin) == 3  # two tanh hidden layers, then the answer layer
    mlp = lin[2](torch.tanh(lin[1](torch.tanh(lin[0](z)))))
    torch.testing.assert_close(m(images, q, lengths), mlp, atol=1e-6, rtol=1e-6)
    # extra padding changes nothing
    padded = torch.cat([q, torch.zeros(3, 4, dtype=torch.long)], 1)
    assert torch.allclose(m(images, padded, lengths), m(images, q, lengths), atol=1e-6)
    # "norm I": scaling the CNN features leaves the answer unchanged
    m.encoder.register_forward_hook(lambda mod, inp, out: 7.5 * out)
    torch.testing.assert_close(m(images, q, lengths), mlp, atol=1e-5, rtol=1e-5)


def test_errors():
    with pytest.raises(ConfigError, match="fusion"):
        VQABaseline(10, 5, fusion="sum")
    m = VQABaseline(10, 5, image_size=24, widths=(4,), grid=3)
    with pytest.raises(ShapeError, match="lengths"):
        m(torch.rand(2, 3, 24, 24), torch.ones(2, 3, dtype=torch.long), torch.tensor([4, 1]))
    with pytest.raises(ShapeError, match="same batch size"):
        m(torch.rand(3, 3, 24, 24), torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 1]))


def test_learns_to_answer_from_image_and_question():
    """Runs in a fresh interpreter. After a DTW-heavy sequence of other test
    files in the same worker, oneDNN's convolution backward crashed in this
    training (free(): invalid pointer, SIGFPE or SIGSEGV) and took the xdist
    worker down. Cause: numba's OpenMP layer had loaded the system libgomp next
    to PyTorch's; the parallel kernels now use numba's workqueue layer
    (polymodal.alignment.dtw._numba_threads, tested in test_numba_threads.py), and
    the sequence passes. The isolation stays as a guard for other such state."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _learns_to_answer_from_image_and_question():
    d = make_vqa_shapes(500, questions_per_type=1, max_objects=2, image_size=24, seed=0)
    vocab = Vocabulary.build([d.questions[i] for i in d.indices("train")])
    tr, va, te = (vqa_tensors(d, s, vocab) for s in ("train", "val", "test"))
    torch.manual_seed(0)
    m = VQABaseline(len(vocab), len(d.answer_vocab), image_size=24, widths=(8, 16), fused=64, dropout=0.0)
    fit_generator(m, tr, va, max_epochs=12, batch_size=32, lr=3e-3, n_iter_no_change=3)
    ti, tei = d.indices("train"), d.indices("test")
    s = vqa_accuracy(m, te[0], te[1], d.question_type[tei], d.answers[ti], d.question_type[ti])
    # accuracy per type is the mean of correct answers of that type (recomputed here)
    pred = m(*te[0]).argmax(1).numpy()
    for t, acc in s.per_type.items():
        assert acc == pytest.approx(np.mean(pred[d.question_type[tei] == t] == te[1].numpy()[d.question_type[tei] == t]))
    # where-questions need the image and the question: far above always answering the commonest position
    assert s.per_type["position"] > s.majority_per_type["position"] + 0.3
    assert s.accuracy > 0.45


def test_vqa_report_table_shows_its_scores():
    from polymodal.translation import vqa_report

    rep = vqa_report(n_images=60, max_epochs=1, image_size=24)
    table = rep.table()
    for name, s in rep.scores.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        assert row.split("|")[2].strip() == f"{s.accuracy:.3f}"
        assert s.accuracy == pytest.approx(sum(s.per_type[t] * s.n_per_type[t] for t in s.per_type)
                                           / sum(s.n_per_type.values()))
    assert set(rep.scores) == {"product", "concat"} and sum(rep.n_questions.values()) > 0


if __name__ == "__main__":
    import torch as _torch

    _torch.set_num_threads(1)
    _learns_to_answer_from_image_and_question()
    print("ok")
