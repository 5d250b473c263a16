"""Captioners and seq2seq: formulas, teacher forcing == step-wise decoding, learning toy tasks."""

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError, ShapeError
from polymodal.alignment import AdditiveAttention, plot_attention, upsample_attention
from polymodal.translation import GridImageEncoder, Seq2SeqAttention, ShowAndTell, ShowAttendTell, fit_generator


def test_additive_attention_formula_and_mask():
    torch.manual_seed(0)
    att = AdditiveAttention(3, 4, 5).double()
    q, k = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 6, 4, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])

    def run(q_, k_):  # one decoding step: a single query per sequence, mask True = keep
        out = att(q_[:, None], k_, key_padding_mask=~mask)
        return out.context[:, 0], out.weights[:, 0]

    c, a = run(q, k)
    for b in range(2):
        n = int(mask[b].sum())
        e = torch.stack([att.v.weight[0] @ torch.tanh(att.W_k.weight @ k[b, i] + att.W_q.weight @ q[b]
                                                       + att.W_q.bias) for i in range(n)])
        ref = torch.softmax(e, 0)
        assert torch.allclose(a[b, :n], ref, atol=1e-12) and torch.all(a[b, n:] == 0)
        assert torch.allclose(c[b], ref @ k[b, :n], atol=1e-12)
    assert torch.autograd.gradcheck(lambda q_, k_: run(q_, k_)[0], (q.requires_grad_(), k.requires_grad_()))
    with pytest.raises(ShapeError, match="keys"):
        run(q, torch.randn(2, 6, 5, dtype=torch.float64))


def _models():
    torch.manual_seed(1)
    enc = lambda: GridImageEncoder(16, widths=(4, 8), grid=4)  # noqa: E731
    return [
        (ShowAndTell(9, encoder=enc(), embed_dim=6, hidden=8), torch.rand(3, 3, 16, 16)),
        (ShowAttendTell(9, encoder=enc(), embed_dim=6, hidden=8, attention_dim=5), torch.rand(3, 3, 16, 16)),
        (Seq2SeqAttention(9, source_vocab=7, embed_dim=6, hidden=8, attention_dim=5),
         (torch.tensor([[4, 5, 6, 4], [5, 6, 0, 0], [6, 6, 6, 0]]), torch.tensor([4, 2, 3]))),
        (Seq2SeqAttention(9, source_features=3, embed_dim=6, hidden=8, attention_dim=5),
         (torch.randn(3, 5, 3), torch.tensor([5, 1, 3]))),
    ]


@pytest.mark.parametrize("k", range(4))
def test_teacher_forcing_equals_stepwise_decoding(k):
    model, source = _models()[k]
    model.eval()
    tokens = torch.tensor([[1, 4, 5, 6, 7], [1, 8, 2, 0, 0], [1, 5, 5, 4, 2]])
    logp = torch.log_softmax(model(source, tokens).logits, -1)
    state = model.init_state(source)
    for t in range(tokens.shape[1]):
        lp, state = model.step(tokens[:, t], state)
        assert torch.allclose(lp, logp[:, t], atol=1e-5)
    # the decoder's reported log-probability is the model's, re-scored step by step
    res = model.generate(source, max_len=6, beam_size=3, length_penalty=0.7)
    ended = [h[0].ended for h in res.hypotheses]
    again = model.sequence_log_prob(source, res.sequences(), ended)
    assert torch.allclose(again, res.log_prob, atol=1e-5)


def test_doubly_stochastic_regulariser_and_gate():
    model, images = _models()[1]
    model.eval()
    tokens = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0], [1, 7, 7, 7]])
    out = model(images, tokens)
    valid = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.float32)
    cover = (out.attention * valid[:, :, None]).sum(1)
    assert torch.allclose(out.regulariser, ((1 - cover) ** 2).sum(1).mean() / cover.shape[1], atol=1e-6)
    assert torch.allclose(out.attention.sum(-1), torch.ones(3, 4), atol=1e-6)
    loss = model.compute_loss(images, tokens)
    model.doubly_stochastic = 0.0
    assert torch.allclose(loss - model.compute_loss(images, tokens), 0.1 * model(images, tokens[:, :-1]).regulariser)
    # a closed gate (beta -> 0) removes the image context from the step: same output for any image
    with torch.no_grad():
        model.gate.bias.fill_(-1e4)
        model.gate.weight.zero_()
        model.init_h.weight.zero_()
        model.init_c.weight.zero_()
    a = model(images, tokens).logits
    b = model(torch.rand_like(images), tokens).logits
    assert torch.allclose(a, b, atol=1e-6)


def test_seq2seq_padding_does_not_change_outputs():
    model, (src, lengths) = _models()[2]
    model.eval()
    tokens = torch.tensor([[1, 4, 5]])
    for i in range(3):
        alone = model((src[i:i + 1, : lengths[i]], lengths[i:i + 1]), tokens).logits
        garbage = src[i:i + 1].clone()
        garbage[0, lengths[i]:] = 5
        padded = model((garbage, lengths[i:i + 1]), tokens)
        assert torch.allclose(alone, padded.logits, atol=1e-6)
        assert torch.all(padded.attention[0, :, lengths[i]:] == 0)


def _reverse_task(n, seed, V=10, lo=3, hi=6):
    g = torch.Generator().manual_seed(seed)
    L = torch.randint(lo, hi + 1, (n,), generator=g)
    src = torch.zeros(n, hi, dtype=torch.long)
    tok = torch.zeros(n, hi + 2, dtype=torch.long)
    for i in range(n):
        x = torch.randint(4, V, (int(L[i]),), generator=g)
        src[i, : L[i]] = x
        tok[i, 0], tok[i, 1:L[i] + 1], tok[i, L[i] + 1] = 1, x.flip(0), 2
    return (src, L), tok


def test_seq2seq_learns_to_reverse_and_beam_never_worse_than_greedy():
    train, val, test = _reverse_task(1000, 0), _reverse_task(100, 1), _reverse_task(100, 2)
    torch.manual_seed(0)
    model = Seq2SeqAttention(10, source_vocab=10, embed_dim=24, hidden=48, attention_dim=24, dropout=0.0)
    # a partly trained model first (3 epochs, val loss ~0.3): beams often beat greedy, and must never score lower
    # (beam search may prune the greedy prefix, so this is a property of trained models, not a theorem:
    # over 4 init seeds x beams 2, 4 x 100 inputs at this stage, 1 of 800 decodes lost to greedy)
    fit_generator(model, train, val, max_epochs=3, batch_size=64, lr=3e-3)
    greedy = model.generate(test[0], max_len=9)
    for k in (2, 4):
        beam = model.generate(test[0], max_len=9, beam_size=k)
        assert torch.all(beam.log_prob >= greedy.log_prob - 1e-9)
        assert (beam.log_prob > greedy.log_prob + 1e-6).sum() >= 5
    fit = fit_generator(model, train, val, max_epochs=5, batch_size=64, lr=3e-3)
    assert fit.best_val_loss < 0.1
    res = model.generate(test[0], max_len=9, beam_size=3)
    truth = [test[1][i, 1:int(test[0][1][i]) + 1].tolist() for i in range(100)]
    assert np.mean([a == b for a, b in zip(res.sequences(), truth)]) >= 0.95


def test_sequence_to_text_copies_noisy_one_hot_frames():
    def task(n, seed):
        (src, L), tok = _reverse_task(n, seed, V=8, lo=2, hi=4)
        g = torch.Generator().manual_seed(seed + 100)
        x = torch.nn.functional.one_hot(src, 8).float() + 0.3 * torch.randn(*src.shape, 8, generator=g)
        for i in range(n):  # copy, not reverse
            tok[i, 1:L[i] + 1] = src[i, : L[i]]
        return (x, L), tok
    train, test = task(600, 0), task(100, 1)
    torch.manual_seed(0)
    model = Seq2SeqAttention(8, source_features=8, embed_dim=16, hidden=32, attention_dim=16, dropout=0.0)
    fit_generator(model, train, None, max_epochs=8, batch_size=32, lr=5e-3)
    res = model.generate(test[0], max_len=6)
    truth = [test[1][i, 1:int(test[0][1][i]) + 1].tolist() for i in range(100)]
    assert np.mean([a == b for a, b in zip(res.sequences(), truth)]) >= 0.9


COLOURS = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]


def _shapes_task(n, seed, S=16):
    """A 5x5 square of one of 3 colours in one of 4 quadrants; caption '<colour> <left|right>'."""
    rng = np.random.default_rng(seed)
    imgs = np.full((n, 3, S, S), 0.5, np.float32)
    tok = np.zeros((n, 4), np.int64)
    quad = np.zeros(n, int)
    for i in range(n):
        c, q = rng.integers(3), rng.integers(4)
        r, cc = divmod(q, 2)
        y0, x0 = r * 8 + rng.integers(0, 3), cc * 8 + rng.integers(0, 3)
        imgs[i, :, y0:y0 + 5, x0:x0 + 5] = np.array(COLOURS[c], np.float32)[:, None, None]
        tok[i], quad[i] = [1, 4 + c, 7 + cc, 2], q
    return torch.tensor(imgs), torch.tensor(tok), quad


def test_attention_captioner_learns_toy_and_attends_to_the_object(tmp_path):
    (xtr, ttr, _), (xva, tva, _), (xte, tte, qte) = _shapes_task(400, 0), _shapes_task(100, 1), _shapes_task(100, 2)
    torch.manual_seed(0)
    model = ShowAttendTell(9, encoder=GridImageEncoder(16, widths=(8, 16), grid=4), embed_dim=16, hidden=32,
                           attention_dim=16, dropout=0.0)
    fit_generator(model, (xtr, ttr), (xva, tva), max_epochs=12, batch_size=32, lr=5e-3, n_iter_no_change=3)
    res = model.generate(xte, max_len=5)
    assert np.mean([s == tte[i, 1:3].tolist() for i, s in enumerate(res.sequences())]) >= 0.95
    maps = model.attention_maps(xte, res.sequences())
    # attention while producing the position word, on the object's quadrant (uniform would give 0.25)
    mass = [float(maps[i][1][2 * (q // 2):2 * (q // 2) + 2, 2 * (q % 2):2 * (q % 2) + 2].sum()) for i, q in enumerate(qte)]
    assert np.mean(mass) > 0.35
    fig = plot_attention(maps[0].numpy(), image=xte[0].permute(1, 2, 0).numpy(), query_labels=["w1", "w2", "<eos>"],
                         path=tmp_path / "att.png")
    assert (tmp_path / "att.png").stat().st_size > 0
    drawn = fig.axes[1].images[1].get_array()
    assert np.allclose(drawn, upsample_attention(maps[0][1].numpy(), (16, 16)))


def test_show_and_tell_learns_toy():
    """Exact-caption rate >= 0.95 where the most frequent training caption (the
    best image-blind answer) scores < 0.3."""
    (xtr, ttr, _), (xva, tva, _), (xte, tte, _) = _shapes_task(300, 0), _shapes_task(100, 1), _shapes_task(100, 2)
    torch.manual_seed(0)
    model = ShowAndTell(9, encoder=GridImageEncoder(16, widths=(8, 16), grid=4), embed_dim=32, hidden=64, dropout=0.0)
    # BatchNorm statistics recomputed before each validation: with the running averages the eval-mode
    # validation loss spikes in some minibatch orders (seed 0 of train_network's order: 0.40 -> 0.85 at
    # epoch 4) and early stopping ends the run at 0.67 exact; recomputed, seeds 0-5 all reach 1.0
    fit_generator(model, (xtr, ttr), (xva, tva), max_epochs=12, batch_size=32, lr=5e-3, n_iter_no_change=3,
                  precise_bn_batches=4)
    res = model.generate(xte, max_len=5)
    assert np.mean([s == tte[i, 1:3].tolist() for i, s in enumerate(res.sequences())]) >= 0.95
    captions, counts = np.unique(ttr[:, 1:3].numpy(), axis=0, return_counts=True)
    assert np.mean((tte[:, 1:3].numpy() == captions[counts.argmax()]).all(1)) < 0.3


def test_upsample_attention_and_errors():
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    up = upsample_attention(a, (5, 4))
    assert up.sum() == pytest.approx(1.0) and up[0, 0] == pytest.approx(0.1 / 6) and up[4, 3] == pytest.approx(0.4 / 4)
    with pytest.raises(ShapeError, match="T=2"):
        plot_attention(np.ones((3, 2, 2)), image=np.zeros((4, 4, 3)), query_labels=["a", "b"])
    with pytest.raises(ShapeError, match="images must be"):
        ShowAndTell(9, encoder=GridImageEncoder(16, widths=(4,), grid=2))(torch.zeros(2, 3, 8, 8),
                                                                         torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ShapeError, match="token ids"):
        ShowAndTell(9, encoder=GridImageEncoder(16, widths=(4,), grid=2))(torch.zeros(2, 3, 16, 16),
                                                                         torch.full((2, 2), 9))
    with pytest.raises(ConfigError, match="exactly one"):
        Seq2SeqAttention(9)
    with pytest.raises(ShapeError, match="lengths"):
        Seq2SeqAttention(9, source_vocab=5).generate((torch.ones(2, 3, dtype=torch.long), torch.tensor([4, 1])))
