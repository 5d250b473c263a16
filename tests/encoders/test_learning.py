"""Every trainable unimodal encoder learns, in the default test run, a small
task that only its defining mechanism solves: the CNNs (LeNet, ResNetCNN,
AudioCNN) recognise a local pattern anywhere in the image / spectrogram,
where a linear model on the pixels (or on the time-averaged spectrum) is at
chance; the LSTM recognises the order of two events in variable-length
sequences, where a model on order-free pooled features is at chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from polymodal.encoders import MLP, AudioCNN, LeNet, LSTMEncoder, ResNetCNN


def _fit(model, head, x, y, epochs, lr, batch=50, seed=0, lengths=None):
    params = [*model.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch):
            z = model(x[idx]) if lengths is None else model(x[idx], lengths=lengths[idx])
            loss = F.cross_entropy(head(z), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return lambda x, lengths=None: head(model(x) if lengths is None else model(x, lengths=lengths)).argmax(1)


PLUS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.float32)
CROSS = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)


def _patterns(n, seed, size=12, noise=0.2):
    """A '+' (class 0) or an 'x' (class 1) of 5 pixels at a uniformly random
    position, plus Gaussian noise: both classes have the same mean image up to
    the borders, so a linear model on the pixels is near chance."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = noise * rng.standard_normal((n, 1, size, size)).astype(np.float32)
    pos = rng.integers(0, size - 2, (n, 2))
    for i in range(n):
        x[i, 0, pos[i, 0]:pos[i, 0] + 3, pos[i, 1]:pos[i, 1] + 3] += CROSS if y[i] else PLUS
    return torch.tensor(x), torch.tensor(y)


def _linear_pixels(x, y, xt, yt):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=0.1).fit(x.flatten(1).numpy(), y.numpy()).score(
        xt.flatten(1).numpy(), yt.numpy())


@pytest.mark.parametrize("name", ["lenet", "resnet_cnn"])
def test_cnns_recognise_a_pattern_anywhere_where_a_linear_model_is_at_chance(name):
    """'+' vs 'x' at a random position in a 12 x 12 image: the CNN reaches
    >= 0.9 test accuracy; logistic regression on the pixels stays < 0.65."""
    x, y = _patterns(600, 0)
    xt, yt = _patterns(500, 1)
    torch.manual_seed(0)
    if name == "lenet":
        model, epochs, lr = LeNet(144, image_size=12, channels=(8, 16), hidden=(32,)), 10, 1e-2
    else:
        model, epochs, lr = ResNetCNN(144, image_size=12, widths=(8, 16), blocks=1), 8, 3e-3
    head = nn.Linear(model.out_features, 2)
    predict = _fit(model, head, x, y, epochs=epochs, lr=lr)
    with torch.no_grad():
        acc = float((predict(xt) == yt).float().mean())
    lin = _linear_pixels(x, y, xt, yt)
    print(f"{name}: {acc:.3f}; logistic regression on pixels {lin:.3f}")
    assert lin < 0.65
    assert acc >= 0.9


def _chirps(n, seed, n_freq=16, n_time=24, span=6, noise=0.3):
    """Spectrogram images (F x T): a rising (class 1) or falling (class 0)
    diagonal stroke of ``span`` bins at a random time-frequency position, plus
    noise. Both strokes fill the same frequency bins over time: the
    time-averaged spectrum (a bag of frames) carries no class information."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = noise * rng.standard_normal((n, 1, n_freq, n_time)).astype(np.float32)
    f0 = rng.integers(0, n_freq - span + 1, n)
    t0 = rng.integers(0, n_time - span + 1, n)
    k = np.arange(span)
    for i in range(n):
        f = f0[i] + (k if y[i] else span - 1 - k)
        x[i, 0, f, t0[i] + k] += 1.0
    return torch.tensor(x), torch.tensor(y)


def test_audio_cnn_recognises_the_direction_of_a_chirp_that_the_average_spectrum_hides():
    """Rising vs falling stroke: AudioCNN >= 0.9 test accuracy; logistic
    regression on the time-averaged spectrum, and on all bins, < 0.65."""
    from sklearn.linear_model import LogisticRegression

    x, y = _chirps(600, 0)
    xt, yt = _chirps(500, 1)
    torch.manual_seed(0)
    model = AudioCNN(16 * 24, image_size=(16, 24), channels=(8, 16))
    head = nn.Linear(model.out_features, 2)
    predict = _fit(model, head, x, y, epochs=12, lr=5e-3)
    with torch.no_grad():
        acc = float((predict(xt) == yt).float().mean())
    avg = LogisticRegression(max_iter=2000).fit(x.mean(3).flatten(1).numpy(), y.numpy()).score(
        xt.mean(3).flatten(1).numpy(), yt.numpy())
    lin = _linear_pixels(x, y, xt, yt)
    print(f"AudioCNN: {acc:.3f}; average spectrum {avg:.3f}; all bins {lin:.3f}")
    assert avg < 0.65 and lin < 0.65
    assert acc >= 0.9


def _ordered_events(n, seed, t_min=5, t_max=12, noise=0.2):
    """Variable-length sequences (2 features) with a pulse in feature 0 and a
    pulse in feature 1 at two different random steps; label = the feature-0
    pulse comes first. Any order-free pooling (mean, max, sum) of the frames is
    identical in distribution for both classes."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(t_min, t_max + 1, n)
    x = np.zeros((n, t_max, 2), np.float32)
    y = rng.integers(0, 2, n)
    for i, t in enumerate(lengths):
        x[i, :t] = noise * rng.standard_normal((t, 2))
        a, b = rng.choice(t, 2, replace=False)
        a, b = (min(a, b), max(a, b)) if y[i] else (max(a, b), min(a, b))
        x[i, a, 0] += 1.0
        x[i, b, 1] += 1.0
    return torch.tensor(x), torch.tensor(lengths), torch.tensor(y)


def test_lstm_recognises_event_order_where_pooled_features_are_at_chance():
    """LSTMEncoder >= 0.9 test accuracy on 'which event came first'; an MLP on
    the mean- and max-pooled frames (order-free) stays < 0.65."""
    x, lengths, y = _ordered_events(600, 0)
    xt, lt, yt = _ordered_events(500, 1)
    torch.manual_seed(0)
    model = LSTMEncoder(2, hidden=16)
    head = nn.Linear(16, 2)
    predict = _fit(model, head, x, y, epochs=15, lr=1e-2, lengths=lengths)
    with torch.no_grad():
        acc = float((predict(xt, lt) == yt).float().mean())

    def pooled(x, lengths):
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
        mean = (x * mask).sum(1) / lengths[:, None]
        return torch.cat([mean, x.masked_fill(~mask, -1e9).max(1).values], 1)

    torch.manual_seed(0)
    mlp, mlp_head = MLP(4, hidden=[32]), nn.Linear(32, 2)
    base = _fit(mlp, mlp_head, pooled(x, lengths), y, epochs=30, lr=1e-2)
    with torch.no_grad():
        base_acc = float((base(pooled(xt, lt)) == yt).float().mean())
    print(f"LSTM: {acc:.3f}; MLP on pooled frames {base_acc:.3f}")
    assert base_acc < 0.65
    assert acc >= 0.9
